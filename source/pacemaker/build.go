package pacemaker

import (
	"sort"
	"strconv"
	"strings"

	"mgmtd/model"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
)

// locationParams are the resource parameters kept in the model: those that
// say where a service is reached or which VM a resource is. Everything else
// (passwords among them) stays out of the model.
var locationParams = map[string]bool{
	"ip": true, "ipaddress": true, "ipv6addr": true, "cidr_netmask": true, "nic": true,
	"clusterip_hash": true, "broadcast": true,
	"config": true, "hypervisor": true, "migration_transport": true, "remoteuri": true,
	"hostname": true, "destination": true, "gateway": true, "device": true, "family": true,
	"target_iqn": true, "portals": true, "lun": true, "implementation": true,
	"directory": true, "fstype": true,
	// Replicated storage: the DRBD resource an ocf:linbit:drbd manages, an
	// iSCSI target's IQN and the device or file a logical unit exports.
	"drbd_resource": true, "iqn": true, "path": true,
}

// DomainReader returns the libvirt domain name in a VirtualDomain config
// file, or an error when the file cannot be read.
type DomainReader func(path string) (string, error)

// Build merges a crm_mon result and a CIB into the model's Pacemaker part.
// cibDoc may be nil (then configuration details such as parameters and
// constraints are absent). readDomain may be nil.
func Build(mon *crmmon.Result, cibDoc *cib.CIB, readDomain DomainReader) *model.PacemakerPart {
	b := builder{mon: mon, cib: cibDoc, rsc: map[string]*model.Resource{}, failCounts: map[string]int{}}
	b.cluster()
	b.nodes()
	b.configResources()
	b.statusResources()
	b.guestNodes(readDomain)
	b.failures()
	b.fencing()
	b.constraints()
	b.finish()
	return &b.part
}

type builder struct {
	mon        *crmmon.Result
	cib        *cib.CIB
	part       model.PacemakerPart
	rsc        map[string]*model.Resource
	order      []string
	failCounts map[string]int // node \x00 rsc -> fail count
}

func (b *builder) cluster() {
	s := b.mon.Summary
	c := &b.part.Cluster
	c.Stack = s.Stack.Type
	if crmmon.Bool(s.CurrentDC.Present) {
		c.DC = s.CurrentDC.Name
		c.PacemakerVersion = s.CurrentDC.Version
		c.Quorate = crmmon.Bool(s.CurrentDC.WithQuorum)
	}
	opts := s.ClusterOptions
	c.StonithEnabled = crmmon.Bool(opts.StonithEnabled)
	c.SymmetricCluster = crmmon.Bool(opts.SymmetricCluster)
	c.NoQuorumPolicy = opts.NoQuorumPolicy
	c.MaintenanceMode = crmmon.Bool(opts.MaintenanceMode)
	c.NodesConfigured = s.NodesConfigured.Number
	c.ResourcesConfigured = s.ResourcesConfigured.Number
	c.LastChange = crmmon.Time(s.LastChange.Time)
	if b.cib != nil {
		if v, ok := b.cib.Property("cluster-name"); ok {
			c.Name = v
		}
		if c.PacemakerVersion == "" {
			if v, ok := b.cib.Property("dc-version"); ok {
				c.PacemakerVersion = v
			}
		}
		if c.DC == "" && crmmon.Bool(b.cib.HaveQuorum) {
			// Offline CIB files have no DC; their have-quorum is the
			// scheduler's input, so it is the quorum to show.
			c.Quorate = true
		}
		c.CIBEpoch = b.cib.AdminEpoch + ":" + b.cib.Epoch + ":" + b.cib.NumUpdates
		if opts.NoQuorumPolicy == "" {
			if v, ok := b.cib.Property("no-quorum-policy"); ok {
				c.NoQuorumPolicy = v
			}
		}
	}
}

func nodeState(n crmmon.Node) model.NodeState {
	switch {
	case crmmon.Bool(n.Unclean):
		return model.NodeUnclean
	case !crmmon.Bool(n.Online):
		return model.NodeOffline
	case crmmon.Bool(n.Pending):
		return model.NodePending
	case crmmon.Bool(n.Shutdown):
		return model.NodeShutdown
	case crmmon.Bool(n.Maintenance):
		return model.NodeMaintenance
	case crmmon.Bool(n.Standby) || crmmon.Bool(n.StandbyOnFail):
		return model.NodeStandby
	}
	return model.NodeOnline
}

func (b *builder) nodes() {
	attrs := map[string]map[string]string{}
	if b.cib != nil {
		for _, n := range b.cib.Configuration.Nodes {
			if v := cib.Values(n.Attrs); v != nil {
				attrs[n.Uname] = v
			}
		}
	}
	for _, na := range b.mon.NodeAttributes {
		m := attrs[na.Name]
		if m == nil {
			m = map[string]string{}
			attrs[na.Name] = m
		}
		for _, a := range na.Attributes {
			m[a.Name] = a.Value
		}
	}
	for _, n := range b.mon.Nodes {
		typ := model.NodeMember
		switch {
		case n.Type == "remote" && n.IDAsResource != "":
			typ = model.NodeGuest
		case n.Type == "remote":
			typ = model.NodeRemote
		}
		b.part.Nodes = append(b.part.Nodes, model.Node{
			Name: n.Name, ID: n.ID, Type: typ, State: nodeState(n),
			Online: crmmon.Bool(n.Online), Standby: crmmon.Bool(n.Standby), StandbyOnFail: crmmon.Bool(n.StandbyOnFail),
			Maintenance: crmmon.Bool(n.Maintenance), Pending: crmmon.Bool(n.Pending), Unclean: crmmon.Bool(n.Unclean),
			Shutdown: crmmon.Bool(n.Shutdown), DC: crmmon.Bool(n.IsDC), ResourcesRunning: n.ResourcesRunning,
			Container: n.IDAsResource, Attributes: attrs[n.Name],
		})
	}
	for _, h := range b.mon.NodeHistory {
		for _, r := range h.Resources {
			if fc := crmmon.Int(r.FailCount); fc > 0 {
				b.failCounts[h.Name+"\x00"+r.ID] = fc
			}
		}
	}
}

func (b *builder) add(r model.Resource) *model.Resource {
	if old, ok := b.rsc[r.ID]; ok {
		return old
	}
	p := &r
	b.rsc[r.ID] = p
	b.order = append(b.order, r.ID)
	return p
}

func filterParams(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if locationParams[k] {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

func (b *builder) primitive(p cib.Primitive, parent string) {
	meta := cib.Values(p.Meta)
	r := b.add(model.Resource{ID: p.ID, Kind: model.KindPrimitive, Agent: p.Agent(), Parent: parent,
		Meta: meta, Params: filterParams(cib.Values(p.Params)), Managed: true})
	r.TargetRole = meta["target-role"]
	r.GuestNode = meta["remote-node"]
	if meta["is-managed"] != "" && !crmmon.Bool(meta["is-managed"]) {
		r.Managed = false
	}
}

func (b *builder) group(g cib.Group, parent string) {
	meta := cib.Values(g.Meta)
	r := b.add(model.Resource{ID: g.ID, Kind: model.KindGroup, Parent: parent, Meta: meta, Managed: true, TargetRole: meta["target-role"]})
	for _, p := range g.Primitives {
		r.Children = append(r.Children, p.ID)
		b.primitive(p, g.ID)
	}
}

func (b *builder) clone(c cib.Clone) {
	meta := cib.Values(c.Meta)
	kind := model.KindClone
	if c.Master || crmmon.Bool(meta["promotable"]) {
		kind = model.KindPromotable
	}
	r := b.add(model.Resource{ID: c.ID, Kind: kind, Meta: meta, Managed: true, TargetRole: meta["target-role"],
		Unique: crmmon.Bool(meta["globally-unique"])})
	if v := meta["clone-max"]; v != "" {
		r.Replicas = crmmon.Int(v)
	}
	if c.Primitive != nil {
		r.Children = append(r.Children, c.Primitive.ID)
		b.primitive(*c.Primitive, c.ID)
	}
	if c.Group != nil {
		r.Children = append(r.Children, c.Group.ID)
		b.group(*c.Group, c.ID)
	}
}

func (b *builder) configResources() {
	if b.cib == nil {
		return
	}
	res := b.cib.Configuration.Resources
	for _, p := range res.Primitives {
		b.primitive(p, "")
	}
	for _, g := range res.Groups {
		b.group(g, "")
	}
	for _, c := range append(append([]cib.Clone(nil), res.Clones...), res.Masters...) {
		b.clone(c)
	}
	for _, bd := range res.Bundles {
		meta := cib.Values(bd.Meta)
		r := b.add(model.Resource{ID: bd.ID, Kind: model.KindBundle, Meta: meta, Managed: true, TargetRole: meta["target-role"]})
		if kind, ct := bd.Runtime(); ct != nil {
			r.Agent = kind
			r.Replicas = crmmon.Int(ct.Replicas)
			if r.Replicas == 0 {
				r.Replicas = 1
			}
			r.Params = map[string]string{"image": ct.Image}
			if bd.Network != nil && bd.Network.IPRangeStart != "" {
				r.Params["ip-range-start"] = bd.Network.IPRangeStart
			}
		}
		if bd.Primitive != nil {
			r.Children = append(r.Children, bd.Primitive.ID)
			b.primitive(*bd.Primitive, bd.ID)
		}
	}
}

// statusResources walks crm_mon's resources: adds resources only crm_mon
// knows (implicit bundle members, orphans), sets the status flags and
// produces one instance per primitive per node.
func (b *builder) statusResources() {
	res := b.mon.Resources
	for _, p := range res.Primitives {
		b.instances(p, "", "", "")
	}
	for _, g := range res.Groups {
		b.statusGroup(g, "", "")
	}
	for _, c := range res.Clones {
		kind := model.KindClone
		if crmmon.Bool(c.MultiState) {
			kind = model.KindPromotable
		}
		r := b.add(model.Resource{ID: c.ID, Kind: kind, Managed: true, Unique: crmmon.Bool(c.Unique)})
		if kind == model.KindPromotable {
			r.Kind = kind
		}
		b.flags(r, c.Managed, "", c.Failed, "")
		for _, p := range c.Primitives {
			b.child(r, model.PrimitiveOf(p.ID))
			_, n := splitInstance(p.ID)
			b.instances(p, c.ID, c.ID, n)
		}
		for _, g := range c.Groups {
			base, n := splitInstance(g.ID)
			b.child(r, base)
			b.statusGroup(g, c.ID, n)
		}
	}
	for _, bd := range res.Bundles {
		r := b.add(model.Resource{ID: bd.ID, Kind: model.KindBundle, Agent: bd.Type, Managed: true})
		b.flags(r, bd.Managed, "", bd.Failed, "")
		for _, rep := range bd.Replicas {
			for _, p := range rep.Primitives {
				if _, ok := b.rsc[p.ID]; !ok {
					b.add(model.Resource{ID: p.ID, Kind: model.KindPrimitive, Agent: p.Agent, Parent: bd.ID, Managed: true})
				}
				b.child(r, p.ID)
				b.instances(p, bd.ID, bd.ID, rep.ID)
			}
		}
	}
}

func splitInstance(id string) (string, string) {
	if i := strings.LastIndexByte(id, ':'); i > 0 {
		return id[:i], id[i+1:]
	}
	return id, ""
}

func (b *builder) child(parent *model.Resource, id string) {
	for _, c := range parent.Children {
		if c == id {
			return
		}
	}
	parent.Children = append(parent.Children, id)
	if r, ok := b.rsc[id]; ok && r.Parent == "" {
		r.Parent = parent.ID
	}
}

func (b *builder) statusGroup(g crmmon.Group, top, replica string) {
	base, _ := splitInstance(g.ID)
	if top == "" {
		top = base
	}
	r := b.add(model.Resource{ID: base, Kind: model.KindGroup, Managed: true})
	b.flags(r, g.Managed, "", "", "")
	for _, p := range g.Primitives {
		b.child(r, model.PrimitiveOf(p.ID))
		b.instances(p, base, top, replica)
	}
}

// flags applies crm_mon's status flags; a flag only ever turns a resource
// failed, blocked or orphaned, and managed off.
func (b *builder) flags(r *model.Resource, managed, blocked, failed, orphaned string) {
	if managed != "" && !crmmon.Bool(managed) {
		r.Managed = false
	}
	if crmmon.Bool(blocked) {
		r.Blocked = true
	}
	if crmmon.Bool(failed) {
		r.Failed = true
	}
	if crmmon.Bool(orphaned) {
		r.Orphaned = true
	}
}

func (b *builder) instances(p crmmon.Primitive, parent, top, replica string) {
	prim := model.PrimitiveOf(p.ID)
	if parent != "" && top == "" {
		top = parent
	}
	if top == "" {
		top = prim
	}
	r, ok := b.rsc[prim]
	if !ok {
		r = b.add(model.Resource{ID: prim, Kind: model.KindPrimitive, Agent: p.Agent, Parent: parent, Managed: true})
	}
	if r.Agent == "" {
		r.Agent = p.Agent
	}
	b.flags(r, p.Managed, p.Blocked, p.Failed, p.Orphaned)
	if replica == "" {
		_, replica = splitInstance(p.ID)
	}
	base := model.Instance{
		Resource: p.ID, Primitive: prim, Top: top, Replica: replica, Agent: p.Agent,
		Role: model.Role(p.Role), Managed: p.Managed == "" || crmmon.Bool(p.Managed),
		Failed: crmmon.Bool(p.Failed), Blocked: crmmon.Bool(p.Blocked), Orphaned: crmmon.Bool(p.Orphaned),
		Pending: p.Pending,
	}
	if len(p.Nodes) == 0 {
		base.Role = roleOr(base.Role, model.RoleStopped)
		b.part.Instances = append(b.part.Instances, base)
		return
	}
	for _, n := range p.Nodes {
		in := base
		in.Node = n.Name
		in.Active = p.Active == "" || crmmon.Bool(p.Active)
		in.FailCount = b.failCounts[n.Name+"\x00"+p.ID]
		if in.FailCount == 0 && p.ID != prim {
			in.FailCount = b.failCounts[n.Name+"\x00"+prim]
		}
		b.part.Instances = append(b.part.Instances, in)
	}
}

func roleOr(r, def model.Role) model.Role {
	if r == "" {
		return def
	}
	return r
}

// guestNodes records which resource provides each guest node and, for
// VirtualDomain resources, the libvirt domain name from their config file.
func (b *builder) guestNodes(readDomain DomainReader) {
	for _, n := range b.part.Nodes {
		if n.Container == "" {
			continue
		}
		if r, ok := b.rsc[n.Container]; ok && r.GuestNode == "" {
			r.GuestNode = n.Name
		}
	}
	if readDomain == nil {
		return
	}
	for _, id := range b.order {
		r := b.rsc[id]
		if !strings.HasSuffix(r.Agent, ":VirtualDomain") || r.Params["config"] == "" {
			continue
		}
		if name, err := readDomain(r.Params["config"]); err == nil && name != "" {
			r.Domain = name
		}
	}
}

// opKey splits "rsc_task_interval" from the right: resource ids may
// contain underscores, tasks and intervals do not.
func opKey(k string) (rsc, task, interval string) {
	i := strings.LastIndexByte(k, '_')
	if i <= 0 {
		return k, "", ""
	}
	interval = k[i+1:]
	rest := k[:i]
	j := strings.LastIndexByte(rest, '_')
	if j <= 0 {
		return rest, "", interval
	}
	task = rest[j+1:]
	rsc = rest[:j]
	// migrate_to / migrate_from contain an underscore themselves.
	if (task == "to" || task == "from") && strings.HasSuffix(rsc, "_migrate") {
		rsc = strings.TrimSuffix(rsc, "_migrate")
		task = "migrate_" + task
	}
	return rsc, task, interval
}

func (b *builder) failures() {
	for _, f := range b.mon.Failures {
		key := f.OpKey
		if key == "" {
			key = f.ID
		}
		rsc, task, interval := opKey(key)
		if f.Task != "" {
			task = f.Task
		}
		if f.Interval != "" {
			interval = f.Interval
		}
		rc, _ := strconv.Atoi(f.ExitCode)
		b.part.Failures = append(b.part.Failures, model.Failure{
			Resource: rsc, Node: f.Node, Op: task, Interval: interval, RC: rc, RCText: f.ExitStatus,
			Status: f.Status, ExitReason: f.ExitReason, Call: crmmon.Int(f.Call), Time: crmmon.Time(f.LastRCChange),
		})
	}
}

func (b *builder) fencing() {
	for _, f := range b.mon.FenceHistory {
		b.part.Fencing = append(b.part.Fencing, model.FenceEvent{
			Target: f.Target, Action: f.Action, Status: f.Status, Delegate: f.Delegate, Client: f.Client,
			Origin: f.Origin, Completed: crmmon.Time(f.Completed), ExitReason: f.ExitReason,
		})
	}
}

func setPair(sets []cib.ResourceSet) (string, string) {
	var ids [][]string
	for _, s := range sets {
		ids = append(ids, s.IDs())
	}
	switch len(ids) {
	case 0:
		return "", ""
	case 1:
		if len(ids[0]) <= 1 {
			return strings.Join(ids[0], " "), ""
		}
		return strings.Join(ids[0][:len(ids[0])-1], " "), ids[0][len(ids[0])-1]
	}
	var rest []string
	for _, s := range ids[1:] {
		rest = append(rest, s...)
	}
	return strings.Join(ids[0], " "), strings.Join(rest, " ")
}

func (b *builder) constraints() {
	if b.cib == nil {
		return
	}
	cs := b.cib.Configuration.Constraints
	for _, l := range cs.Locations {
		c := model.Constraint{ID: l.ID, Type: model.ConstraintLocation, Resource: l.Rsc, Node: l.Node, Score: l.Score, Role: l.Role}
		if c.Resource == "" && l.RscPattern != "" {
			c.Resource = "~" + l.RscPattern
		}
		if c.Resource == "" {
			c.Resource, _ = setPair(l.Sets)
		}
		for _, r := range l.Rules {
			if c.Rule != "" {
				c.Rule += "; "
			}
			c.Rule += r.String()
			if c.Score == "" {
				c.Score = r.Score
			}
			if c.Role == "" {
				c.Role = r.Role
			}
		}
		b.part.Constraints = append(b.part.Constraints, c)
	}
	for _, l := range cs.Colocations {
		c := model.Constraint{ID: l.ID, Type: model.ConstraintColocation, Resource: l.Rsc, With: l.WithRsc, Score: l.Score,
			Role: l.RscRole, WithRole: l.WithRscRole}
		if c.Resource == "" {
			c.Resource, c.With = setPair(l.Sets)
		}
		b.part.Constraints = append(b.part.Constraints, c)
	}
	for _, o := range cs.Orders {
		c := model.Constraint{ID: o.ID, Type: model.ConstraintOrder, Resource: o.First, With: o.Then, Score: o.Score,
			Action: o.FirstAction, WithAction: o.ThenAction, Kind: o.Kind}
		if c.Resource == "" {
			c.Resource, c.With = setPair(o.Sets)
		}
		b.part.Constraints = append(b.part.Constraints, c)
	}
	for _, t := range cs.Tickets {
		b.part.Constraints = append(b.part.Constraints, model.Constraint{ID: t.ID, Type: model.ConstraintTicket, Resource: t.Rsc, With: t.Ticket, Role: t.RscRole})
	}
	sort.SliceStable(b.part.Constraints, func(i, j int) bool { return b.part.Constraints[i].ID < b.part.Constraints[j].ID })
}

func (b *builder) finish() {
	// Groups and clones are failed or blocked when a member is.
	for _, id := range b.order {
		r := b.rsc[id]
		if r.TargetRole != "" && strings.EqualFold(r.TargetRole, "Stopped") {
			r.Disabled = true
		}
	}
	for range 3 { // depth: primitive -> group -> clone
		for _, id := range b.order {
			r := b.rsc[id]
			for _, c := range r.Children {
				if cr, ok := b.rsc[c]; ok {
					r.Failed = r.Failed || cr.Failed
					r.Blocked = r.Blocked || cr.Blocked
				}
			}
		}
	}
	b.part.Resources = make([]model.Resource, 0, len(b.order))
	for _, id := range b.order {
		b.part.Resources = append(b.part.Resources, *b.rsc[id])
	}
}
