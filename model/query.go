package model

import (
	"sort"
	"strconv"
	"strings"
)

// Hop is one link in the chain from a resource instance down to the
// physical machine.
type Hop struct {
	Kind  Kind   `json:"kind"` // resource, node, vm, host
	Name  string `json:"name"`
	State string `json:"state,omitempty"` // role, node state or VM state
	On    string `json:"on,omitempty"`    // where a resource or VM runs
	Note  string `json:"note,omitempty"`
}

// Placement is one instance with its whole chain.
type Placement struct {
	Instance
	VM    string `json:"vm,omitempty"` // the VM the instance runs in, if any
	Chain []Hop  `json:"chain"`
}

// Address is a service address and how it follows the service.
type Address struct {
	Address  string        `json:"address"`
	Method   AddressMethod `json:"method"`
	Resource string        `json:"resource"`
	Node     string        `json:"node,omitempty"`
	Host     string        `json:"host,omitempty"`
}

// Match says what a where() query name resolved to.
type Match struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
	Note string `json:"note,omitempty"`
}

// WhereAnswer answers "where does X run?".
type WhereAnswer struct {
	Query     string      `json:"query"`
	Matches   []Match     `json:"matches"`
	Instances []Placement `json:"instances"`
	Addresses []Address   `json:"addresses"`
	VMs       []VM        `json:"vms,omitempty"`
	// Storage answers for an iSCSI target, a LUN, a DRBD resource or
	// device: the chain target -> LUN -> device -> DRBD -> Primary ->
	// node -> host, and whether the replicas are in sync.
	Storage []StorageChain `json:"storage,omitempty"`
}

// Where answers where name runs. name may be a resource, group, clone or
// bundle id, a crm_mon instance id (rsc:N), a service name, an address, a
// node, a VM or a host; an empty name answers for every instance. The
// result lists every instance (stopped ones with an empty node) with its
// chain down to the physical machine. No match yields an answer with no
// matches, not an error.
func (s *Snapshot) Where(name string) WhereAnswer {
	ans := WhereAnswer{Query: name, Matches: []Match{}, Instances: []Placement{}, Addresses: []Address{}}
	var ins []Instance
	seen := map[string]bool{}
	addInstances := func(list []Instance) {
		// Stopped instances of an anonymous clone look alike; they are
		// told apart by their order in the list, so that the same list
		// added twice (a resource that is also a service) is not doubled.
		stopped := map[string]int{}
		for _, in := range list {
			k := in.Resource + "\x00" + in.Node + "\x00" + in.Replica
			if in.Node == "" {
				stopped[k]++
				k += "\x00" + strconv.Itoa(stopped[k])
			}
			if !seen[k] {
				seen[k] = true
				ins = append(ins, in)
			}
		}
	}
	var rscs []string
	if name == "" {
		addInstances(s.Instances)
		for _, r := range s.Resources {
			rscs = append(rscs, r.ID)
		}
	} else {
		if r, ok := s.Resource(name); ok {
			ans.Matches = append(ans.Matches, Match{Kind: KindResource, Name: r.ID, Note: string(r.Kind)})
			addInstances(s.InstancesOf(r.ID))
			rscs = append(rscs, s.descendants(r.ID)...)
		} else if list := s.InstancesOf(name); len(list) > 0 {
			ans.Matches = append(ans.Matches, Match{Kind: KindInstance, Name: name})
			addInstances(list)
			rscs = append(rscs, PrimitiveOf(name))
		} else if r, ok := s.Resource(PrimitiveOf(name)); ok && r.Kind == KindPrimitive {
			// "rsc:N" of an anonymous clone: crm_mon does not show which
			// instance number runs where, so answer for every instance.
			ans.Matches = append(ans.Matches, Match{Kind: KindInstance, Name: name, Note: "anonymous clone instance of " + r.ID})
			addInstances(s.InstancesOf(r.ID))
			rscs = append(rscs, r.ID)
		}
		if sv, ok := s.Service(name); ok {
			note := "configured"
			if sv.Derived {
				note = "derived"
			}
			if len(ans.Matches) == 0 || ans.Matches[0].Name != name || !sv.Derived {
				ans.Matches = append(ans.Matches, Match{Kind: KindService, Name: sv.Name, Note: note})
			}
			for _, id := range sv.Resources {
				addInstances(s.InstancesOf(id))
				rscs = append(rscs, s.descendants(id)...)
			}
		}
		for _, r := range s.ResourcesWithAddress(name) {
			ans.Matches = append(ans.Matches, Match{Kind: KindResource, Name: r.ID, Note: "address " + name})
			top := s.top(r.ID)
			addInstances(s.InstancesOf(top))
			rscs = append(rscs, s.descendants(top)...)
		}
		for _, sv := range s.Services {
			if sv.Address == name && !sv.Derived {
				ans.Matches = append(ans.Matches, Match{Kind: KindService, Name: sv.Name, Note: "address " + name})
				for _, id := range sv.Resources {
					addInstances(s.InstancesOf(id))
					rscs = append(rscs, s.descendants(id)...)
				}
			}
		}
		if n, ok := s.Node(name); ok {
			ans.Matches = append(ans.Matches, Match{Kind: KindNode, Name: n.Name, Note: string(n.Type)})
			addInstances(s.InstancesOn(n.Name))
		}
		if vms := s.VMsNamed(name); len(vms) > 0 {
			ans.Matches = append(ans.Matches, Match{Kind: KindVM, Name: name})
			ans.VMs = append(ans.VMs, vms...)
			for _, v := range vms {
				if v.GuestNode != "" {
					addInstances(s.InstancesOn(v.GuestNode))
				}
				if v.Resource != "" {
					addInstances(s.InstancesOf(v.Resource))
				}
			}
		}
		if h, ok := s.Host(name); ok {
			ans.Matches = append(ans.Matches, Match{Kind: KindHost, Name: h.Name})
			ans.VMs = append(ans.VMs, s.VMsOn(h.Name)...)
		}
		s.whereStorage(name, &ans)
		if mac, ok := NormalizeMAC(name); ok {
			// A network interface's MAC address leads to its VM.
			for _, v := range s.VMs {
				for _, nic := range v.NICs {
					if nic.MAC != mac {
						continue
					}
					ans.Matches = append(ans.Matches, Match{Kind: KindVM, Name: v.Name, Note: "interface " + mac + " on " + v.Host})
					ans.VMs = append(ans.VMs, v)
					if v.GuestNode != "" {
						addInstances(s.InstancesOn(v.GuestNode))
					}
					if v.Resource != "" {
						addInstances(s.InstancesOf(v.Resource))
					}
					break
				}
			}
		}
	}
	for _, in := range ins {
		ans.Instances = append(ans.Instances, s.placement(in))
	}
	ans.Addresses = s.addresses(rscs)
	return ans
}

// descendants returns id and every resource beneath it.
func (s *Snapshot) descendants(id string) []string {
	out := []string{id}
	if r, ok := s.Resource(id); ok {
		for _, c := range r.Children {
			out = append(out, s.descendants(c)...)
		}
	}
	return out
}

// top returns the top-level resource containing id.
func (s *Snapshot) top(id string) string {
	for range maxChain {
		r, ok := s.Resource(id)
		if !ok || r.Parent == "" {
			return id
		}
		id = r.Parent
	}
	return id
}

func (s *Snapshot) addresses(rscs []string) []Address {
	out := []Address{}
	seen := map[string]bool{}
	for _, id := range rscs {
		r, ok := s.Resource(id)
		if !ok || r.Address == "" || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		ins := s.InstancesOf(r.ID)
		placed := false
		for _, in := range ins {
			if in.Active && in.Node != "" {
				out = append(out, Address{Address: r.Address, Method: r.Method, Resource: in.Resource, Node: in.Node, Host: in.Host})
				placed = true
			}
		}
		if !placed {
			out = append(out, Address{Address: r.Address, Method: r.Method, Resource: r.ID})
		}
	}
	return out
}

// partitionNote marks what this view cannot know: in a partition without
// quorum (a cluster with a DC, or none), an instance Pacemaker here shows
// stopped, or on a node outside the partition, may run in another
// partition whose members this view does not hear.
func (s *Snapshot) partitionNote(in Instance) string {
	if s.Cluster.Quorate || len(s.Nodes) == 0 {
		return ""
	}
	if in.Node == "" || !in.Active {
		return "not known from here: this partition has no quorum, and the instance may run in another partition"
	}
	if n, ok := s.Node(in.Node); ok && !n.Online {
		return "not known from here: " + n.Name + " is outside this partition (no quorum here)"
	}
	return ""
}

// placement builds the chain of an instance: the resource on its node; while
// the node is a guest, its container on the next node (and the container's
// VM); the physical node and, when libvirt knows it, the host.
func (s *Snapshot) placement(in Instance) Placement {
	p := Placement{Instance: in, Chain: []Hop{{Kind: KindResource, Name: in.Resource, State: string(in.Role), On: in.Node}}}
	if note := s.partitionNote(in); note != "" {
		p.Chain[0].Note = note
	}
	node := in.Node
	for range maxChain {
		if node == "" {
			break
		}
		n, ok := s.Node(node)
		if !ok {
			p.Chain = append(p.Chain, Hop{Kind: KindNode, Name: node, Note: "unknown node"})
			break
		}
		hop := Hop{Kind: KindNode, Name: n.Name, State: string(n.State), Note: string(n.Type)}
		if n.Type == NodeGuest && n.Container != "" {
			hop.Note = "guest node of " + n.Container
			p.Chain = append(p.Chain, hop)
			next := ""
			for _, c := range s.InstancesOf(n.Container) {
				if c.Active && c.Node != "" {
					next = c.Node
					p.Chain = append(p.Chain, Hop{Kind: KindResource, Name: c.Resource, State: string(c.Role), On: c.Node, Note: "container of " + n.Name})
					break
				}
			}
			if next == "" {
				p.Chain = append(p.Chain, Hop{Kind: KindResource, Name: n.Container, State: string(RoleStopped), Note: "container of " + n.Name + " is not running"})
				break
			}
			if v, ok := s.vmOf(n.Container, next); ok {
				p.VM = v.Name
				p.Chain = append(p.Chain, Hop{Kind: KindVM, Name: v.Name, State: string(v.State), On: v.Host, Note: "libvirt domain"})
			}
			node = next
			continue
		}
		if n.Type == NodeRemote {
			if v, ok := s.activeVMNamed(n.Name); ok {
				hop.Note = "remote node in unmanaged VM " + v.Name
				p.Chain = append(p.Chain, hop)
				p.VM = v.Name
				p.Chain = append(p.Chain, Hop{Kind: KindVM, Name: v.Name, State: string(v.State), On: v.Host, Note: "libvirt domain, not managed by Pacemaker"})
				node = s.hostNode(v.Host)
				continue
			}
		}
		p.Chain = append(p.Chain, hop)
		if h, ok := s.hostOfNode(n.Name); ok {
			st := "reachable"
			if !h.Reachable {
				st = "unreachable"
			}
			p.Chain = append(p.Chain, Hop{Kind: KindHost, Name: h.Name, State: st, Note: "hypervisor"})
		}
		break
	}
	return p
}

// vmOf returns the VM linked to a VirtualDomain resource, preferring the
// one on the node where Pacemaker runs it.
func (s *Snapshot) vmOf(rsc, node string) (VM, bool) {
	var found VM
	ok := false
	for _, v := range s.VMs {
		if v.Resource != rsc {
			continue
		}
		if s.hostNode(v.Host) == node && v.State.Active() {
			return v, true
		}
		if !ok {
			found, ok = v, true
		}
	}
	return found, ok
}

func (s *Snapshot) activeVMNamed(name string) (VM, bool) {
	for _, v := range s.VMsNamed(name) {
		if v.State.Active() && v.Resource == "" {
			return v, true
		}
	}
	return VM{}, false
}

// hostNode maps a hypervisor host to its cluster node name.
func (s *Snapshot) hostNode(host string) string {
	if h, ok := s.Host(host); ok && h.Node != "" {
		return h.Node
	}
	return host
}

func (s *Snapshot) hostOfNode(node string) (Host, bool) {
	if h, ok := s.Host(node); ok {
		return h, true
	}
	for _, h := range s.Hosts {
		if h.Node == node {
			return h, true
		}
	}
	return Host{}, false
}

// SimAction is one action of a predicted transition.
type SimAction struct {
	Action   string `json:"action"` // start, stop, move, migrate, restart, promote, demote, recover, ...
	Resource string `json:"resource"`
	Source   string `json:"source,omitempty"`
	Dest     string `json:"dest,omitempty"`
	Node     string `json:"node,omitempty"` // for actions on one node (start, stop, restart, promote, ...)
	Role     string `json:"role,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Blocked  bool   `json:"blocked,omitempty"`
}

// Simulation is what Pacemaker's scheduler predicts for a scenario.
type Simulation struct {
	Scenario string `json:"scenario"` // "standby", "down", or an action name
	Node     string `json:"node,omitempty"`
	// Actions are what the scenario makes Pacemaker do: its transition
	// without what the cluster plans anyway (Planned).
	Actions []SimAction `json:"actions"`
	// Planned are the actions of the scenario's transition that the
	// cluster would take without it (a recovery, a fencing already under
	// way): the same prediction on the unchanged CIB.
	Planned []SimAction `json:"planned,omitempty"`
	Error   string      `json:"error,omitempty"`
}

// SubtractPlanned moves the actions that baseline (the prediction for the
// unchanged cluster) also has from Actions to Planned, so that Actions is
// the difference the scenario makes. Actions are matched by action,
// primitive (clone instance numbers are not stable between two runs of the
// scheduler), source and destination, each baseline action at most once.
func (sim *Simulation) SubtractPlanned(baseline []SimAction) {
	key := func(a SimAction) string {
		return a.Action + "\x00" + PrimitiveOf(a.Resource) + "\x00" + a.Source + "\x00" + a.Dest + "\x00" + a.Node
	}
	left := map[string]int{}
	for _, a := range baseline {
		left[key(a)]++
	}
	kept := make([]SimAction, 0, len(sim.Actions))
	for _, a := range sim.Actions {
		if k := key(a); left[k] > 0 {
			left[k]--
			sim.Planned = append(sim.Planned, a)
			continue
		}
		kept = append(kept, a)
	}
	sim.Actions = kept
}

// Text says what a predicted action does in words that read right for
// every verb: "start web on hv2", "stop db:1 on hv2", "promote db:1 on
// hv2", "move vm-app from hv1 to hv2", "fence hv1".
func (a SimAction) Text() string {
	on := a.Dest
	if on == "" {
		on = a.Source
	}
	if on == "" {
		on = a.Node
	}
	var s string
	switch a.Action {
	case "move", "migrate":
		s = a.Action + " " + a.Resource
		if a.Source != "" {
			s += " from " + a.Source
		}
		if a.Dest != "" {
			s += " to " + a.Dest
		}
	case "stonith":
		s = "fence " + a.Resource
	default:
		if how, ok := strings.CutPrefix(a.Action, "Fence "); ok {
			// crm_simulate's node actions: "Fence (reboot)", "Fence (off)".
			s = "fence " + a.Resource + " " + how
			break
		}
		s = a.Action + " " + a.Resource
		if on != "" {
			s += " on " + on
		}
	}
	if a.Blocked {
		s += " (blocked)"
	}
	return s
}

// Dependent is a resource that is disrupted although it does not run on
// the node: it must run with something that does.
type Dependent struct {
	Resource string `json:"resource"`
	Node     string `json:"node,omitempty"`
	Reason   string `json:"reason"`
}

// ImpactAnswer answers "if node or host X goes away, what is disrupted?".
type ImpactAnswer struct {
	Target      string        `json:"target"`
	Known       bool          `json:"known"`
	Instances   []Placement   `json:"instances"`
	GuestNodes  []string      `json:"guest_nodes"`
	VMs         []VM          `json:"vms"`
	Services    []string      `json:"services"`
	Dependents  []Dependent   `json:"dependents"`
	Simulations []*Simulation `json:"simulations,omitempty"`
	// Replication says what DRBD replication the loss takes away.
	Replication []ReplicationLoss `json:"replication"`
	// StandbySafe says whether taking the node away (a planned standby)
	// keeps every DRBD resource's data current on a node that can take
	// over; Unsafe says why not (the Primary's peer that would take over
	// is not UpToDate; the node holds the only UpToDate copy). It judges
	// replicated data only: what a standby moves or stops is in
	// Instances, Services and Simulations.
	StandbySafe bool     `json:"standby_safe"`
	Unsafe      []string `json:"unsafe,omitempty"`
}

// Impact computes what goes away with node (a cluster node or hypervisor
// host): instances on it, guest nodes and bundle replicas hosted on it and
// everything on them (recursively), the VMs on the host (managed or not) and
// what runs inside them, the services touched and the resources that must
// run with a lost one. Pacemaker's own prediction (Simulations) is added by
// the caller, which can run crm_simulate.
func (s *Snapshot) Impact(node string) ImpactAnswer {
	ans := ImpactAnswer{Target: node, Instances: []Placement{}, GuestNodes: []string{}, VMs: []VM{}, Services: []string{}, Dependents: []Dependent{},
		Replication: []ReplicationLoss{}}
	_, isNode := s.Node(node)
	_, isHost := s.Host(node)
	ans.Known = isNode || isHost
	if !ans.Known {
		for _, h := range s.Hosts {
			if h.Node == node {
				ans.Known = true
			}
		}
	}
	lostNodes := map[string]bool{node: true}
	queue := []string{node}
	// The host's VMs go down with it, and so do remote nodes inside them.
	hostName := node
	if h, ok := s.hostOfNode(node); ok {
		hostName = h.Name
	}
	for _, v := range s.VMsOn(hostName) {
		if !v.State.Active() && v.State != VMUnknown {
			continue
		}
		ans.VMs = append(ans.VMs, v)
		for _, g := range []string{v.GuestNode, v.Name} {
			if n, ok := s.Node(g); ok && n.Type != NodeMember && !lostNodes[n.Name] {
				lostNodes[n.Name] = true
				queue = append(queue, n.Name)
				ans.GuestNodes = append(ans.GuestNodes, n.Name)
			}
		}
	}
	lostRsc := map[string]bool{}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, in := range s.InstancesOn(n) {
			if !in.Active {
				continue
			}
			ans.Instances = append(ans.Instances, s.placement(in))
			lostRsc[in.Primitive] = true
			lostRsc[in.Resource] = true
			for _, g := range s.GuestsOf(in.Primitive) {
				if !lostNodes[g] {
					lostNodes[g] = true
					queue = append(queue, g)
					ans.GuestNodes = append(ans.GuestNodes, g)
				}
			}
		}
	}
	// Services touched.
	for _, sv := range s.Services {
		hit := false
		for _, id := range sv.Resources {
			for _, d := range s.descendants(id) {
				if lostRsc[d] {
					hit = true
				}
			}
		}
		if hit {
			ans.Services = append(ans.Services, sv.Name)
		}
	}
	// Mandatory colocation dependents elsewhere.
	seenDep := map[string]bool{}
	for _, c := range s.Constraints {
		if c.Type != ConstraintColocation || !strings.HasPrefix(strings.TrimPrefix(c.Score, "+"), "INFINITY") {
			continue
		}
		if !s.anyLost(c.With, lostRsc) || s.anyLost(c.Resource, lostRsc) || seenDep[c.Resource] {
			continue
		}
		seenDep[c.Resource] = true
		dep := Dependent{Resource: c.Resource, Reason: "must run with " + c.With + " (" + c.ID + ")"}
		for _, in := range s.InstancesOf(c.Resource) {
			if in.Active {
				dep.Node = in.Node
			}
		}
		ans.Dependents = append(ans.Dependents, dep)
	}
	sort.Strings(ans.GuestNodes)
	s.impactStorage(node, &ans)
	return ans
}

func (s *Snapshot) anyLost(id string, lost map[string]bool) bool {
	for _, d := range s.descendants(id) {
		if lost[d] {
			return true
		}
	}
	return false
}

// NormalizeMAC returns a MAC address written with colons, dashes or dots
// (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff) as libvirt writes
// it: lower case, with colons; ok is false for anything else.
func NormalizeMAC(s string) (string, bool) {
	var hex []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c >= 'A' && c <= 'F':
			hex = append(hex, c+'a'-'A')
		case c == ':' || c == '-' || c == '.':
		default:
			return "", false
		}
	}
	if len(hex) != 12 || len(s) < 14 {
		return "", false
	}
	out := make([]byte, 0, 17)
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hex[i], hex[i+1])
	}
	return string(out), true
}
