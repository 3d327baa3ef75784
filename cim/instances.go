package cim

import (
	"slices"
	"strings"

	mdl "mgmtd/model"

	"mgmtd/wbem"
)

// The mapping of a model snapshot to instances, one function per class.
// Every key is derived from configured names (cluster, node, resource,
// domain), never from placement or state.

// Capabilities instance ids.
const (
	capResource = "MGMTD:Capabilities:Resource"
	capNode     = "MGMTD:Capabilities:Node"
	capVM       = "MGMTD:Capabilities:VirtualSystem"
)

// capabilityOf returns the capabilities instance id of a computer system,
// or "" when it accepts no state change.
func capabilityOf(sy *system) string {
	switch {
	case sy.node != nil:
		return capNode
	case sy.vm != nil && sy.vm.Resource != "":
		return capVM
	}
	return ""
}

// Registered profile instance ids.
const (
	profileDSP1033 = "DMTF:DSP1033-ProfileRegistration-1.0.0"
	profileCluster = "MGMTD:Cluster-1.0.0"
)

// Software identities.
var softwareNames = []string{"mgmtd", "pacemaker", "corosync"}

func (p *ModelProvider) implementations() map[string]*classImpl {
	m := map[string]*classImpl{}
	set := func(ns, class string, each func(*snapIndex, func(*wbem.Instance) bool), get func(*snapIndex, *wbem.InstancePath) *wbem.Instance) {
		m[strings.ToLower(class)] = &classImpl{ns: ns, each: each, get: get}
	}
	mn := ModelNamespace
	set(mn, ClassCluster, func(x *snapIndex, y func(*wbem.Instance) bool) { y(p.clusterInst(x)) },
		func(x *snapIndex, path *wbem.InstancePath) *wbem.Instance {
			if keyValue(path, "Name") == x.cluster && keyValue(path, "CreationClassName") == ClassCluster {
				return p.clusterInst(x)
			}
			return nil
		})
	set(mn, ClassComputerSystem, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, n := range x.systems {
			if !y(p.systemInst(x, x.sys[n])) {
				return
			}
		}
	}, func(x *snapIndex, path *wbem.InstancePath) *wbem.Instance {
		if keyValue(path, "CreationClassName") != ClassComputerSystem {
			return nil
		}
		if sy := x.sys[keyValue(path, "Name")]; sy != nil {
			return p.systemInst(x, sy)
		}
		return nil
	})
	set(mn, ClassParticipatingCS, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for i := range x.s.Nodes {
			if !y(p.participatingInst(x, &x.s.Nodes[i])) {
				return
			}
		}
	}, nil)
	set(mn, ClassClusteringService, func(x *snapIndex, y func(*wbem.Instance) bool) { y(p.clusteringInst(x)) }, nil)
	set(mn, ClassHostedClusterService, func(x *snapIndex, y func(*wbem.Instance) bool) {
		y(p.newInst(ClassHostedClusterService, 2).ref("Antecedent", ClusterPath(x.cluster)).
			ref("Dependent", servicePath(x.cluster, ClassClusteringService, "pacemaker")).in)
	}, nil)
	set(mn, ClassMigrationService, func(x *snapIndex, y func(*wbem.Instance) bool) { y(p.migrationInst(x)) }, nil)
	set(mn, ClassHostedService, func(x *snapIndex, y func(*wbem.Instance) bool) {
		cl := ClusterPath(x.cluster)
		if !y(p.newInst(ClassHostedService, 2).ref("Antecedent", cl).ref("Dependent", servicePath(x.cluster, ClassMigrationService, "migration")).in) {
			return
		}
		for _, r := range x.s.Resources {
			if !y(p.newInst(ClassHostedService, 2).ref("Antecedent", cl).ref("Dependent", ResourcePath(x.cluster, r)).in) {
				return
			}
		}
	}, nil)
	for _, rc := range []string{ClassResource, ClassResourceGroup, ClassResourceClone, ClassResourceBundle, ClassFencingDevice} {
		set(mn, rc, func(x *snapIndex, y func(*wbem.Instance) bool) {
			for i := range x.s.Resources {
				r := &x.s.Resources[i]
				if resourceClass(*r) == rc && !y(p.resourceInst(x, r)) {
					return
				}
			}
		}, func(x *snapIndex, path *wbem.InstancePath) *wbem.Instance {
			if keyValue(path, "SystemName") != x.cluster || keyValue(path, "SystemCreationClassName") != ClassCluster ||
				keyValue(path, "CreationClassName") != rc {
				return nil
			}
			r, ok := x.s.Resource(keyValue(path, "Name"))
			if !ok || resourceClass(r) != rc {
				return nil
			}
			return p.resourceInst(x, &r)
		})
	}
	set(mn, ClassActiveOn, func(x *snapIndex, y func(*wbem.Instance) bool) {
		seen := map[[2]string]bool{}
		for i := range x.s.Instances {
			in := &x.s.Instances[i]
			if !in.Active || in.Node == "" {
				continue
			}
			r, ok := x.s.Resource(in.Primitive)
			if !ok || x.sys[in.Node] == nil || seen[[2]string{in.Node, r.ID}] {
				continue
			}
			seen[[2]string{in.Node, r.ID}] = true
			if !y(p.activeOnInst(x, in, r)) {
				return
			}
		}
	}, nil)
	set(mn, ClassServiceComponent, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, r := range x.s.Resources {
			for i, c := range r.Children {
				cr, ok := x.s.Resource(c)
				if !ok {
					continue
				}
				b := p.newInst(ClassServiceComponent, 3).ref("GroupComponent", ResourcePath(x.cluster, r)).ref("PartComponent", ResourcePath(x.cluster, cr))
				if r.Kind == mdl.KindGroup {
					b.u("AssignedSequence", uint64(i+1))
				}
				if !y(b.in) {
					return
				}
			}
		}
	}, nil)
	set(mn, ClassOrderDependency, func(x *snapIndex, y func(*wbem.Instance) bool) {
		seen := map[[2]string]bool{}
		for _, c := range x.s.Constraints {
			if c.Type != mdl.ConstraintOrder {
				continue
			}
			first, ok1 := x.s.Resource(c.Resource)
			then, ok2 := x.s.Resource(c.With)
			if !ok1 || !ok2 || seen[[2]string{first.ID, then.ID}] {
				continue
			}
			seen[[2]string{first.ID, then.ID}] = true
			kind := uint64(2)
			switch strings.ToLower(c.Kind) {
			case "optional":
				kind = 3
			case "serialize":
				kind = 4
			}
			b := p.newInst(ClassOrderDependency, 8).ref("Antecedent", ResourcePath(x.cluster, first)).ref("Dependent", ResourcePath(x.cluster, then)).
				u("TypeOfDependency", 3).s("ConstraintID", c.ID).so("FirstAction", c.Action).so("ThenAction", c.WithAction).u("Kind", kind)
			if !y(b.in) {
				return
			}
		}
	}, nil)
	set(mn, ClassHostedDependency, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, n := range x.systems {
			sy := x.sys[n]
			if sy.vm == nil {
				continue
			}
			h := x.hostSystem(sy.vm.Host)
			if h == n || x.sys[h] == nil {
				continue
			}
			if !y(p.newInst(ClassHostedDependency, 2).ref("Antecedent", SystemPath(h)).ref("Dependent", SystemPath(n)).in) {
				return
			}
		}
	}, nil)
	set(mn, ClassAffectsElement, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, n := range x.systems {
			sy := x.sys[n]
			if sy.vm == nil || sy.vm.Resource == "" {
				continue
			}
			r, ok := x.s.Resource(sy.vm.Resource)
			if !ok {
				continue
			}
			if !y(p.newInst(ClassAffectsElement, 3).ref("AffectedElement", SystemPath(n)).ref("AffectingElement", ResourcePath(x.cluster, r)).ua("ElementEffects", 5).in) {
				return
			}
		}
		for _, r := range x.s.Resources {
			if resourceClass(r) != ClassFencingDevice {
				continue
			}
			for _, t := range fenceTargets(x, r) {
				b := p.newInst(ClassAffectsElement, 4).ref("AffectedElement", SystemPath(t)).ref("AffectingElement", ResourcePath(x.cluster, r)).
					ua("ElementEffects", 1).a("OtherElementEffectsDescriptions", "Fences")
				if !y(b.in) {
					return
				}
			}
		}
	}, nil)
	set(mn, ClassCapabilities, func(x *snapIndex, y func(*wbem.Instance) bool) {
		if !y(p.newInst(ClassCapabilities, 4).s("InstanceID", capResource).s("ElementName", "Resource state changes").
			b("ElementNameEditSupported", false).ua("RequestedStatesSupported", 2, 3, 9, 10, 11).in) {
			return
		}
		if !y(p.newInst(ClassCapabilities, 4).s("InstanceID", capNode).s("ElementName", "Node state changes").
			b("ElementNameEditSupported", false).ua("RequestedStatesSupported", 2, 6).in) {
			return
		}
		y(p.newInst(ClassCapabilities, 4).s("InstanceID", capVM).s("ElementName", "Cluster-managed virtual machine state changes").
			b("ElementNameEditSupported", false).ua("RequestedStatesSupported", 2, 3, 11).in)
	}, nil)
	set(mn, ClassElementCapabilities, func(x *snapIndex, y func(*wbem.Instance) bool) {
		capR := instanceIDPath(ModelNamespace, ClassCapabilities, capResource)
		for _, r := range x.s.Resources {
			if !y(p.newInst(ClassElementCapabilities, 3).ref("ManagedElement", ResourcePath(x.cluster, r)).ref("Capabilities", capR).ua("Characteristics", 3).in) {
				return
			}
		}
		for _, n := range x.systems {
			c := capabilityOf(x.sys[n])
			if c == "" {
				continue
			}
			if !y(p.newInst(ClassElementCapabilities, 3).ref("ManagedElement", SystemPath(n)).
				ref("Capabilities", instanceIDPath(ModelNamespace, ClassCapabilities, c)).ua("Characteristics", 3).in) {
				return
			}
		}
	}, nil)
	set(mn, ClassSoftwareIdentity, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, n := range softwareNames {
			if !y(p.softwareInst(x, n)) {
				return
			}
		}
	}, nil)
	set(mn, ClassInstalledSoftware, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, n := range softwareNames {
			if !y(p.newInst(ClassInstalledSoftware, 2).ref("System", ClusterPath(x.cluster)).
				ref("InstalledSoftware", instanceIDPath(ModelNamespace, ClassSoftwareIdentity, "MGMTD:SoftwareIdentity:"+n)).in) {
				return
			}
		}
	}, nil)
	set(mn, ClassConcreteJob, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, id := range p.jobIDs() {
			if in := p.jobInst(id); in != nil && !y(in) {
				return
			}
		}
	}, func(x *snapIndex, path *wbem.InstancePath) *wbem.Instance {
		id, ok := strings.CutPrefix(keyValue(path, "InstanceID"), jobPrefix)
		if !ok {
			return nil
		}
		return p.jobInst(id)
	})
	// Served in both namespaces (DSP1033).
	set("", ClassConformsToProfile, func(x *snapIndex, y func(*wbem.Instance) bool) {
		if !y(p.newInst(ClassConformsToProfile, 2).ref("ConformantStandard", instanceIDPath(InteropNamespace, "CIM_RegisteredProfile", profileDSP1033)).
			ref("ManagedElement", p.objectManagerPath()).in) {
			return
		}
		y(p.newInst(ClassConformsToProfile, 2).ref("ConformantStandard", instanceIDPath(InteropNamespace, "CIM_RegisteredProfile", profileCluster)).
			ref("ManagedElement", ClusterPath(x.cluster)).in)
	}, nil)

	in := InteropNamespace
	set(in, ClassObjectManager, func(x *snapIndex, y func(*wbem.Instance) bool) { y(p.objectManagerInst()) }, nil)
	set(in, "CIM_Namespace", func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, ns := range p.Namespaces() {
			b := p.newInst("CIM_Namespace", 9).s("SystemCreationClassName", "CIM_ComputerSystem").s("SystemName", p.opts.SystemName).
				s("ObjectManagerCreationClassName", ClassObjectManager).s("ObjectManagerName", "mgmtd").
				s("CreationClassName", "CIM_Namespace").s("Name", ns).u("ClassInfo", 0).u("ClassType", 2).s("ClassTypeVersion", "2.41.0")
			if !y(b.in) {
				return
			}
		}
	}, nil)
	set(in, "CIM_RegisteredProfile", func(x *snapIndex, y func(*wbem.Instance) bool) {
		if !y(p.newInst("CIM_RegisteredProfile", 6).s("InstanceID", profileDSP1033).u("RegisteredOrganization", 2).
			s("RegisteredName", "Profile Registration").s("RegisteredVersion", "1.0.0").ua("AdvertiseTypes", 2).in) {
			return
		}
		y(p.newInst("CIM_RegisteredProfile", 7).s("InstanceID", profileCluster).u("RegisteredOrganization", 1).
			s("OtherRegisteredOrganization", "mgmtd").s("RegisteredName", "MGMTD Cluster").s("RegisteredVersion", "1.0.0").
			ua("AdvertiseTypes", 2).in)
	}, nil)
	set(mn, ClassDRBDResource, func(x *snapIndex, y func(*wbem.Instance) bool) {
		for _, r := range drbdViews(x.s) {
			if !y(p.drbdInst(r)) {
				return
			}
		}
	}, func(x *snapIndex, path *wbem.InstancePath) *wbem.Instance {
		if r := drbdView(x, path); r != nil {
			return p.drbdInst(r)
		}
		return nil
	})
	set(mn, ClassDRBDReplica, p.drbdReplicas, nil)
	p.setRefs(m)
	return m
}

// targetResource returns the resource a path names, if it is one of ours.
func (p *ModelProvider) targetResource(x *snapIndex, t *wbem.InstancePath) (mdl.Resource, bool) {
	if !p.model.IsA(t.ClassName, ClassResource) || keyValue(t, "SystemName") != x.cluster {
		return mdl.Resource{}, false
	}
	r, ok := x.s.Resource(keyValue(t, "Name"))
	return r, ok && resourceClass(r) == t.ClassName
}

// targetSystem returns the computer system a path names, or nil.
func targetSystem(x *snapIndex, t *wbem.InstancePath) *system {
	if !strings.EqualFold(t.ClassName, ClassComputerSystem) {
		return nil
	}
	return x.sys[keyValue(t, "Name")]
}

func (p *ModelProvider) activeOnInst(x *snapIndex, in *mdl.Instance, r mdl.Resource) *wbem.Instance {
	return p.newInst(ClassActiveOn, 6).ref("Antecedent", SystemPath(in.Node)).ref("Dependent", ResourcePath(x.cluster, r)).
		u("Role", uint64(roleValue(in.Role))).b("Failed", in.Failed).b("Managed", in.Managed).so("PhysicalHost", in.Host).in
}

// setRefs installs the narrowed References search of the large
// association classes: per resource or node they have one or a few
// instances, but as many as resources in total.
func (p *ModelProvider) setRefs(m map[string]*classImpl) {
	m[strings.ToLower(ClassHostedService)].refs = func(x *snapIndex, t *wbem.InstancePath, y func(*wbem.Instance) bool) bool {
		if r, ok := p.targetResource(x, t); ok {
			y(p.newInst(ClassHostedService, 2).ref("Antecedent", ClusterPath(x.cluster)).ref("Dependent", ResourcePath(x.cluster, r)).in)
			return true
		}
		return targetSystem(x, t) != nil // nodes host no services
	}
	m[strings.ToLower(ClassElementCapabilities)].refs = func(x *snapIndex, t *wbem.InstancePath, y func(*wbem.Instance) bool) bool {
		capPath := func(id string) *wbem.InstancePath { return instanceIDPath(ModelNamespace, ClassCapabilities, id) }
		if r, ok := p.targetResource(x, t); ok {
			y(p.newInst(ClassElementCapabilities, 3).ref("ManagedElement", ResourcePath(x.cluster, r)).ref("Capabilities", capPath(capResource)).ua("Characteristics", 3).in)
			return true
		}
		if sy := targetSystem(x, t); sy != nil {
			if c := capabilityOf(sy); c != "" {
				y(p.newInst(ClassElementCapabilities, 3).ref("ManagedElement", SystemPath(sy.name)).ref("Capabilities", capPath(c)).ua("Characteristics", 3).in)
			}
			return true
		}
		return false
	}
	m[strings.ToLower(ClassActiveOn)].refs = func(x *snapIndex, t *wbem.InstancePath, y func(*wbem.Instance) bool) bool {
		var list []mdl.Instance
		if r, ok := p.targetResource(x, t); ok {
			list = x.s.InstancesOf(r.ID)
		} else if sy := targetSystem(x, t); sy != nil {
			list = x.s.InstancesOn(sy.name)
		} else {
			return false
		}
		seen := map[[2]string]bool{}
		for i := range list {
			in := &list[i]
			if !in.Active || in.Node == "" || x.sys[in.Node] == nil || seen[[2]string{in.Node, in.Primitive}] {
				continue
			}
			r, ok := x.s.Resource(in.Primitive)
			if !ok {
				continue
			}
			seen[[2]string{in.Node, in.Primitive}] = true
			if !y(p.activeOnInst(x, in, r)) {
				break
			}
		}
		return true
	}
}

func (p *ModelProvider) objectManagerPath() *wbem.InstancePath {
	return &wbem.InstancePath{Namespace: InteropNamespace, ClassName: ClassObjectManager, Keys: []wbem.KeyBinding{
		kb("SystemCreationClassName", "CIM_ComputerSystem"), kb("SystemName", p.opts.SystemName),
		kb("CreationClassName", ClassObjectManager), kb("Name", "mgmtd")}}
}

func (p *ModelProvider) objectManagerInst() *wbem.Instance {
	return p.newInst(ClassObjectManager, 10).s("SystemCreationClassName", "CIM_ComputerSystem").s("SystemName", p.opts.SystemName).
		s("CreationClassName", ClassObjectManager).s("Name", "mgmtd").s("ElementName", "mgmtd").
		s("Description", "mgmtd version "+p.opts.Version).b("Started", true).u("EnabledState", 2).ua("OperationalStatus", 2).
		b("GatherStatisticalData", false).in
}

func fenceTargets(x *snapIndex, r mdl.Resource) []string {
	var out []string
	if l := r.Params["pcmk_host_list"]; l != "" {
		out = strings.FieldsFunc(l, func(c rune) bool { return c == ' ' || c == ',' || c == ';' })
	} else if m := r.Params["pcmk_host_map"]; m != "" {
		for _, e := range strings.FieldsFunc(m, func(c rune) bool { return c == ' ' || c == ',' || c == ';' }) {
			n, _, _ := strings.Cut(e, ":")
			out = append(out, n)
		}
	} else {
		out = x.members
	}
	var ok []string
	for _, n := range out {
		if x.sys[n] != nil {
			ok = append(ok, n)
		}
	}
	return ok
}

func roleValue(r mdl.Role) uint16 {
	switch r.Normal() {
	case mdl.RoleStarted:
		return 2
	case mdl.RolePromoted:
		return 3
	case mdl.RoleUnpromoted:
		return 4
	case mdl.RoleStarting:
		return 5
	case mdl.RoleStopping:
		return 6
	case mdl.RolePromoting:
		return 7
	case mdl.RoleDemoting:
		return 8
	case mdl.RoleMigrating:
		return 9
	}
	return 0
}

// Operational status and health values used below.
const (
	osUnknown  = 0
	osOK       = 2
	osDegraded = 3
	osError    = 6
	osStarting = 8
	osStopping = 9
	osStopped  = 10
	osNoCont   = 12
	osLostComm = 13
)

func health(op uint16) uint64 {
	switch op {
	case osOK, osStarting, osStopping, osStopped:
		return 5
	case osDegraded:
		return 10
	case osError, osLostComm:
		return 25
	}
	return 0
}

func (p *ModelProvider) clusterInst(x *snapIndex) *wbem.Instance {
	s := x.s
	var op uint16 = osOK
	state, enabled := uint64(2), uint64(2)
	down := false
	for _, n := range s.Nodes {
		if !n.Online || n.Unclean {
			down = true
		}
	}
	failed := false
	for _, r := range s.Resources {
		if r.Failed {
			failed = true
		}
	}
	switch {
	case len(s.Nodes) == 0:
		op, state, enabled = osUnknown, 0, 0
	case !s.Cluster.Quorate:
		op, state = osError, 5
	case down || failed:
		op, state = osDegraded, 4
	}
	if s.Cluster.MaintenanceMode && enabled == 2 {
		enabled = 9
	}
	transport := s.Membership.Transport
	interconnect := "corosync"
	if transport != "" {
		interconnect += " " + transport
	}
	b := p.newInst(ClassCluster, 28).s("CreationClassName", ClassCluster).s("Name", x.cluster).s("ElementName", x.cluster).
		s("Caption", "Pacemaker cluster "+x.cluster).ua("OperationalStatus", op).u("HealthState", health(op)).
		u("EnabledState", enabled).u("RequestedState", 12).ua("Dedicated", 0).
		s("Interconnect", interconnect).ua("Types", 2).u("MaxNumberOfNodes", 0).u("ClusterState", state).
		b("Quorate", s.Cluster.Quorate).so("DCNode", s.Cluster.DC).
		u("ExpectedVotes", uint64(max(s.Cluster.ExpectedVotes, 0))).u("TotalVotes", uint64(max(s.Cluster.TotalVotes, 0))).
		so("NoQuorumPolicy", s.Cluster.NoQuorumPolicy).b("StonithEnabled", s.Cluster.StonithEnabled).
		b("SymmetricCluster", s.Cluster.SymmetricCluster).b("MaintenanceMode", s.Cluster.MaintenanceMode).
		so("PacemakerVersion", s.Cluster.PacemakerVersion).so("CorosyncVersion", s.Cluster.CorosyncVersion).
		so("CIBEpoch", s.Cluster.CIBEpoch).u("NodesConfigured", uint64(max(s.Cluster.NodesConfigured, 0))).
		u("ResourcesConfigured", uint64(max(s.Cluster.ResourcesConfigured, 0))).b("Stale", s.Stale()).u("Generation", s.Generation)
	return b.in
}

func nodeStateValues(n *mdl.Node) (nodeState, enabled uint64, op uint16, stateOfNode uint64) {
	switch n.State {
	case mdl.NodeOnline:
		return 2, 2, osOK, 4
	case mdl.NodeStandby:
		return 3, 6, osOK, 3
	case mdl.NodeMaintenance:
		return 4, 9, osOK, 3
	case mdl.NodePending:
		return 5, 10, osStarting, 2
	case mdl.NodeOffline:
		return 6, 3, osStopped, 5
	case mdl.NodeUnclean:
		return 7, 3, osError, 5
	case mdl.NodeShutdown:
		return 8, 4, osStopping, 5
	}
	return 0, 0, osUnknown, 0
}

func vmStateValues(s mdl.VMState) (domain, enabled uint64, op uint16) {
	switch s {
	case mdl.VMRunning:
		return 2, 2, osOK
	case mdl.VMBlocked:
		return 3, 2, osOK
	case mdl.VMPaused:
		return 4, 9, osOK
	case mdl.VMShutdown:
		return 5, 4, osStopping
	case mdl.VMShutoff:
		return 6, 3, osStopped
	case mdl.VMCrashed:
		return 7, 3, osError
	case mdl.VMPMSuspended:
		return 8, 6, osOK
	}
	return 1, 0, osNoCont
}

func (p *ModelProvider) systemInst(x *snapIndex, sy *system) *wbem.Instance {
	b := p.newInst(ClassComputerSystem, 34).s("CreationClassName", ClassComputerSystem).s("Name", sy.name).s("ElementName", sy.name)
	var op uint16 = osUnknown
	enabled, requested := uint64(0), uint64(12)
	var roles []string
	if n := sy.node; n != nil {
		ns, en, o, _ := nodeStateValues(n)
		op, enabled = o, en
		requested = 2
		if n.Standby {
			requested = 6
		}
		nt := nodeTypes[n.Type]
		roles = append(roles, "Cluster Node")
		b.b("IsClusterNode", true).u("NodeType", nt).u("NodeState", ns).so("NodeID", n.ID).b("IsDC", n.DC).
			b("Standby", n.Standby).b("Maintenance", n.Maintenance).b("Unclean", n.Unclean).
			u("ResourcesRunning", uint64(max(n.ResourcesRunning, 0))).so("ContainerResource", n.Container)
	} else {
		b.b("IsClusterNode", false).u("NodeType", 0).u("NodeState", 0)
	}
	if h := sy.host; h != nil {
		roles = append(roles, "Hypervisor Host")
		if sy.node == nil {
			op, enabled = osOK, 2
			if !h.Reachable {
				op, enabled = osLostComm, 0
			}
		}
		b.b("IsHypervisor", true).so("HypervisorURI", h.URI).so("HypervisorType", h.Hypervisor).so("LibvirtVersion", h.LibvirtVersion).
			b("Reachable", h.Reachable).u("NumberOfCPUs", uint64(max(h.CPUs, 0))).u("MemoryKiB", h.MemoryKiB)
	} else {
		b.b("IsHypervisor", false)
	}
	if v := sy.vm; v != nil {
		roles = append(roles, "Virtual Machine")
		d, en, o := vmStateValues(v.State)
		if sy.node == nil && sy.host == nil {
			op, enabled = o, en
		}
		b.b("IsVirtualSystem", true).so("UUID", v.UUID).u("DomainState", d).so("HostSystem", x.hostSystem(v.Host)).
			so("ManagingResource", v.Resource).so("GuestNode", v.GuestNode).u("VCPUs", uint64(max(v.VCPUs, 0)))
		if sy.host == nil {
			b.u("MemoryKiB", v.MemoryKiB)
		}
	} else {
		b.b("IsVirtualSystem", false).u("DomainState", 0)
	}
	b.ua("OperationalStatus", op).u("HealthState", health(op)).u("EnabledState", enabled).u("RequestedState", requested).
		a("Roles", roles...).ua("Dedicated", 0)
	return b.in
}

func (p *ModelProvider) participatingInst(x *snapIndex, n *mdl.Node) *wbem.Instance {
	_, _, _, son := nodeStateValues(n)
	return p.newInst(ClassParticipatingCS, 6).ref("Antecedent", SystemPath(n.Name)).ref("Dependent", ClusterPath(x.cluster)).
		u("StateOfNode", son).u("RoleOfNode", 2).u("Votes", uint64(max(n.Votes, 0))).b("IsDC", n.DC).in
}

func (p *ModelProvider) clusteringInst(x *snapIndex) *wbem.Instance {
	online := false
	for _, n := range x.s.Nodes {
		if n.Online {
			online = true
		}
	}
	var op uint16 = osStopped
	en := uint64(3)
	if online {
		op, en = osOK, 2
	}
	if len(x.s.Nodes) == 0 {
		op, en = osUnknown, 0
	}
	return p.newInst(ClassClusteringService, 12).s("SystemCreationClassName", ClassCluster).s("SystemName", x.cluster).
		s("CreationClassName", ClassClusteringService).s("Name", "pacemaker").s("ElementName", "Pacemaker").
		ua("OperationalStatus", op).u("HealthState", health(op)).u("EnabledState", en).u("RequestedState", 12).b("Started", online).
		so("PacemakerVersion", x.s.Cluster.PacemakerVersion).in
}

func (p *ModelProvider) migrationInst(x *snapIndex) *wbem.Instance {
	return p.newInst(ClassMigrationService, 9).s("SystemCreationClassName", ClassCluster).s("SystemName", x.cluster).
		s("CreationClassName", ClassMigrationService).s("Name", "migration").s("ElementName", "VM live migration").
		ua("OperationalStatus", osOK).u("HealthState", 5).u("EnabledState", 2).b("Started", true).in
}

func splitAgent(a string) (class, provider, typ string) {
	parts := strings.Split(a, ":")
	switch len(parts) {
	case 3:
		return parts[0], parts[1], parts[2]
	case 2:
		return parts[0], "", parts[1]
	}
	return "", "", a
}

var (
	resourceKinds = map[mdl.ResourceKind]uint64{mdl.KindPrimitive: 2, mdl.KindGroup: 3, mdl.KindClone: 4, mdl.KindPromotable: 5, mdl.KindBundle: 6}
	nodeTypes     = map[mdl.NodeType]uint64{mdl.NodeMember: 2, mdl.NodeRemote: 3, mdl.NodeGuest: 4}
)

func (p *ModelProvider) resourceInst(x *snapIndex, r *mdl.Resource) *wbem.Instance {
	class := resourceClass(*r)
	insts := x.s.InstancesOf(r.ID)
	var active, promoted []string
	fails := 0
	starting := false
	for _, in := range insts {
		fails += in.FailCount
		if in.Active && in.Node != "" && !slices.Contains(active, in.Node) {
			active = append(active, in.Node)
			if in.Role.Normal() == mdl.RolePromoted {
				promoted = append(promoted, in.Node)
			}
			if in.Role == mdl.RoleStarting {
				starting = true
			}
		}
	}
	var op uint16
	var en uint64
	switch {
	case len(active) > 0 && starting:
		op, en = osStarting, 10
	case len(active) > 0:
		op, en = osOK, 2
	default:
		op, en = osStopped, 3
	}
	if !r.Managed {
		en = 9
	}
	if r.Failed || r.Blocked {
		op = osError
	}
	req := uint64(2)
	if r.Disabled || strings.EqualFold(r.TargetRole, "Stopped") {
		req = 3
	}
	kind := resourceKinds[r.Kind]
	rc, rp, rt := splitAgent(r.Agent)
	b := p.newInst(class, 27).s("SystemCreationClassName", ClassCluster).s("SystemName", x.cluster).s("CreationClassName", class).
		s("Name", r.ID).s("ElementName", r.ID).ua("OperationalStatus", op).u("HealthState", health(op)).
		u("EnabledState", en).u("RequestedState", req).b("Started", len(active) > 0).u("ResourceKind", kind).
		so("Agent", r.Agent).so("ResourceClass", rc).so("ResourceProvider", rp).so("ResourceType", rt).
		so("ParentResource", r.Parent).so("TargetRole", r.TargetRole).b("Managed", r.Managed).b("Blocked", r.Blocked).
		b("Failed", r.Failed).b("Orphaned", r.Orphaned).b("Disabled", r.Disabled).u("FailCount", uint64(max(fails, 0))).
		a("ActiveNodes", active...).so("Address", r.Address)
	if len(promoted) > 0 || r.Kind == mdl.KindPromotable {
		b.a("PromotedNodes", promoted...)
	}
	switch class {
	case ClassResourceClone:
		b.b("Promotable", r.Kind == mdl.KindPromotable).b("GloballyUnique", r.Unique)
	case ClassResourceBundle:
		b.u("Replicas", uint64(max(r.Replicas, 0)))
	}
	return b.in
}

func (p *ModelProvider) softwareInst(x *snapIndex, name string) *wbem.Instance {
	var v, el, mf string
	switch name {
	case "mgmtd":
		v, el, mf = p.opts.Version, "mgmtd", "mgmtd"
	case "pacemaker":
		v, el, mf = x.s.Cluster.PacemakerVersion, "Pacemaker", "ClusterLabs"
	case "corosync":
		v, el, mf = x.s.Cluster.CorosyncVersion, "Corosync", "Corosync project"
	}
	b := p.newInst(ClassSoftwareIdentity, 8).s("InstanceID", "MGMTD:SoftwareIdentity:"+name).s("ElementName", el).
		s("Name", name).so("VersionString", v).s("Manufacturer", mf).ua("Classifications", 9)
	if maj, mnr, rev, ok := splitVersion(v); ok {
		b.u("MajorVersion", maj).u("MinorVersion", mnr).u("RevisionNumber", rev)
	}
	return b.in
}

func splitVersion(v string) (maj, mnr, rev uint64, ok bool) {
	var n [3]uint64
	parts := strings.SplitN(v, ".", 3)
	if len(parts) == 0 || v == "" {
		return 0, 0, 0, false
	}
	for i, s := range parts {
		end := 0
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		if end == 0 {
			return 0, 0, 0, false
		}
		var val uint64
		for _, c := range s[:end] {
			val = val*10 + uint64(c-'0')
			if val > 65535 {
				return 0, 0, 0, false
			}
		}
		n[i] = val
	}
	return n[0], n[1], n[2], true
}
