package model

import (
	"sort"
	"strings"
	"time"
)

// Snapshot is one consistent, immutable picture of the cluster. It is built
// by a Store and never modified after it is published: readers may hold it
// as long as they like without locking. Slices are sorted by name so that
// output is deterministic.
type Snapshot struct {
	Generation  uint64       `json:"generation"`
	Time        time.Time    `json:"time"`
	View        string       `json:"view"` // the node whose view this is
	Cluster     Cluster      `json:"cluster"`
	Nodes       []Node       `json:"nodes"`
	Resources   []Resource   `json:"resources"`
	Instances   []Instance   `json:"instances"`
	Failures    []Failure    `json:"failures"`
	Fencing     []FenceEvent `json:"fencing"`
	Constraints []Constraint `json:"constraints"`
	Membership  Membership   `json:"membership"`
	Hosts       []Host       `json:"hosts"`
	VMs         []VM         `json:"vms"`
	Services    []Service    `json:"services"`
	// DRBD holds the DRBD resources as the DRBD sources see them (one
	// entry per resource and reporting node), and a Pacemaker-only entry
	// for a drbd clone no source reports.
	DRBD []DRBDResource `json:"drbd"`
	// ISCSITargets are the iSCSI targets Pacemaker runs.
	ISCSITargets []ISCSITarget  `json:"iscsi_targets"`
	Conflicts    []Conflict     `json:"conflicts"`
	Sources      []SourceStatus `json:"sources"`

	idx index
}

// Conflict is a disagreement between sources that an operator must see,
// such as a domain running on a host other than the one Pacemaker reports.
type Conflict struct {
	Type     string `json:"type"` // "misplaced", "duplicate", "ambiguous", "drbd-role", "iscsi-placement"
	VM       string `json:"vm,omitempty"`
	Resource string `json:"resource,omitempty"`
	// DRBD names the DRBD resource of a "drbd-role" conflict: DRBD's role
	// on a node is not what Pacemaker has its drbd instance there.
	DRBD string `json:"drbd,omitempty"`
	// Target names the IQN of an "iscsi-placement" conflict: a target
	// daemon exports it where Pacemaker does not run it, or the reverse.
	Target string   `json:"target,omitempty"`
	Hosts  []string `json:"hosts,omitempty"`
	Detail string   `json:"detail"`
	// Since is when the disagreement was first seen.
	Since time.Time `json:"since"`
}

// Key identifies a conflict for diffing.
func (c Conflict) Key() string {
	k := c.Type + "\x00" + c.VM + "\x00" + c.Resource
	if c.DRBD != "" || c.Target != "" {
		k += "\x00" + c.DRBD + "\x00" + c.Target + "\x00" + strings.Join(c.Hosts, ",")
	}
	return k
}

// Object is what the conflict is about: the VM, the DRBD resource or the
// iSCSI target.
func (c Conflict) Object() (Kind, string) {
	switch {
	case c.DRBD != "":
		return KindDRBD, c.DRBD
	case c.Target != "":
		return KindTarget, c.Target
	}
	return KindVM, c.VM
}

type index struct {
	nodes      map[string]int
	resources  map[string]int
	byResource map[string][]int // crm_mon id and primitive id -> instances
	byNode     map[string][]int
	byTop      map[string][]int
	vmsByName  map[string][]int
	vmsByHost  map[string][]int
	vmByKey    map[string]int // host/name
	hosts      map[string]int
	services   map[string]int
	byAddress  map[string][]int    // address -> resources
	guests     map[string][]string // container resource -> guest node names
	failsByRsc map[string][]int
}

func (s *Snapshot) buildIndex() {
	ix := index{
		nodes:      make(map[string]int, len(s.Nodes)),
		resources:  make(map[string]int, len(s.Resources)),
		byResource: make(map[string][]int, len(s.Instances)),
		byNode:     make(map[string][]int, len(s.Nodes)),
		byTop:      make(map[string][]int),
		vmsByName:  make(map[string][]int, len(s.VMs)),
		vmsByHost:  make(map[string][]int, len(s.Hosts)),
		vmByKey:    make(map[string]int, len(s.VMs)),
		hosts:      make(map[string]int, len(s.Hosts)),
		services:   make(map[string]int, len(s.Services)),
		byAddress:  make(map[string][]int),
		guests:     make(map[string][]string),
		failsByRsc: make(map[string][]int),
	}
	for i, n := range s.Nodes {
		ix.nodes[n.Name] = i
		if n.Container != "" {
			ix.guests[n.Container] = append(ix.guests[n.Container], n.Name)
		}
	}
	for i, r := range s.Resources {
		ix.resources[r.ID] = i
		if r.Address != "" {
			ix.byAddress[r.Address] = append(ix.byAddress[r.Address], i)
		}
	}
	for i, in := range s.Instances {
		ix.byResource[in.Resource] = append(ix.byResource[in.Resource], i)
		if in.Primitive != in.Resource {
			ix.byResource[in.Primitive] = append(ix.byResource[in.Primitive], i)
		}
		if in.Node != "" {
			ix.byNode[in.Node] = append(ix.byNode[in.Node], i)
		}
		if in.Top != "" {
			ix.byTop[in.Top] = append(ix.byTop[in.Top], i)
		}
	}
	for i, v := range s.VMs {
		ix.vmsByName[v.Name] = append(ix.vmsByName[v.Name], i)
		ix.vmsByHost[v.Host] = append(ix.vmsByHost[v.Host], i)
		ix.vmByKey[v.Key()] = i
	}
	for i, h := range s.Hosts {
		ix.hosts[h.Name] = i
	}
	for i, sv := range s.Services {
		ix.services[sv.Name] = i
	}
	for i, f := range s.Failures {
		ix.failsByRsc[PrimitiveOf(f.Resource)] = append(ix.failsByRsc[PrimitiveOf(f.Resource)], i)
	}
	s.idx = ix
}

// Node returns the node with the given name.
func (s *Snapshot) Node(name string) (Node, bool) {
	i, ok := s.idx.nodes[name]
	if !ok {
		return Node{}, false
	}
	return s.Nodes[i], true
}

// Resource returns the configured resource with the given id.
func (s *Snapshot) Resource(id string) (Resource, bool) {
	i, ok := s.idx.resources[id]
	if !ok {
		return Resource{}, false
	}
	return s.Resources[i], true
}

// Host returns the hypervisor host with the given name.
func (s *Snapshot) Host(name string) (Host, bool) {
	i, ok := s.idx.hosts[name]
	if !ok {
		return Host{}, false
	}
	return s.Hosts[i], true
}

// Service returns the service with the given name.
func (s *Snapshot) Service(name string) (Service, bool) {
	i, ok := s.idx.services[name]
	if !ok {
		return Service{}, false
	}
	return s.Services[i], true
}

func pick[T any](all []T, ix []int) []T {
	if len(ix) == 0 {
		return nil
	}
	out := make([]T, len(ix))
	for i, j := range ix {
		out[i] = all[j]
	}
	return out
}

// InstancesOf returns the instances of a resource: by crm_mon id, by
// primitive id, or for a group, clone or bundle all instances beneath it.
func (s *Snapshot) InstancesOf(id string) []Instance {
	if ix, ok := s.idx.byResource[id]; ok {
		return pick(s.Instances, ix)
	}
	r, ok := s.Resource(id)
	if !ok {
		return nil
	}
	var out []Instance
	for _, c := range r.Children {
		out = append(out, s.InstancesOf(c)...)
	}
	return out
}

// InstancesOn returns the instances placed on a node.
func (s *Snapshot) InstancesOn(node string) []Instance { return pick(s.Instances, s.idx.byNode[node]) }

// VMsNamed returns the VMs with the given domain name on any host.
func (s *Snapshot) VMsNamed(name string) []VM { return pick(s.VMs, s.idx.vmsByName[name]) }

// VMsOn returns the VMs on a host.
func (s *Snapshot) VMsOn(host string) []VM { return pick(s.VMs, s.idx.vmsByHost[host]) }

// VMOn returns the VM with a domain name on a host.
func (s *Snapshot) VMOn(host, name string) (VM, bool) {
	i, ok := s.idx.vmByKey[host+"/"+name]
	if !ok {
		return VM{}, false
	}
	return s.VMs[i], true
}

// FailuresOf returns the failed operations of a resource (primitive id).
func (s *Snapshot) FailuresOf(id string) []Failure {
	return pick(s.Failures, s.idx.failsByRsc[PrimitiveOf(id)])
}

// ConstraintsOf returns the constraints naming a resource.
func (s *Snapshot) ConstraintsOf(id string) []Constraint {
	var out []Constraint
	for _, c := range s.Constraints {
		if c.Involves(id) {
			out = append(out, c)
		}
	}
	return out
}

// GuestsOf returns the guest nodes hosted by a container resource.
func (s *Snapshot) GuestsOf(container string) []string { return s.idx.guests[container] }

// ResourcesWithAddress returns the resources providing an address.
func (s *Snapshot) ResourcesWithAddress(addr string) []Resource {
	return pick(s.Resources, s.idx.byAddress[addr])
}

// Source returns the status of a named source.
func (s *Snapshot) Source(name string) (SourceStatus, bool) {
	for _, st := range s.Sources {
		if st.Name == name {
			return st, true
		}
	}
	return SourceStatus{}, false
}

// Stale reports whether any source is not ok, so every front-end can say
// the picture may be out of date.
func (s *Snapshot) Stale() bool {
	for _, st := range s.Sources {
		if st.State != SourceOK {
			return true
		}
	}
	return false
}

// ID returns the stable identity of an object in this snapshot's cluster.
func (s *Snapshot) ID(kind Kind, name string) ID {
	return ID{Cluster: s.Cluster.Name, Kind: kind, Name: name}
}

func sortAll(s *Snapshot) {
	sort.SliceStable(s.Nodes, func(i, j int) bool { return s.Nodes[i].Name < s.Nodes[j].Name })
	sort.SliceStable(s.Resources, func(i, j int) bool { return s.Resources[i].ID < s.Resources[j].ID })
	sort.SliceStable(s.Instances, func(i, j int) bool {
		a, b := s.Instances[i], s.Instances[j]
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return a.Node < b.Node
	})
	sort.SliceStable(s.Hosts, func(i, j int) bool { return s.Hosts[i].Name < s.Hosts[j].Name })
	sort.SliceStable(s.VMs, func(i, j int) bool { return s.VMs[i].Key() < s.VMs[j].Key() })
	sort.SliceStable(s.Services, func(i, j int) bool { return s.Services[i].Name < s.Services[j].Name })
	sort.SliceStable(s.Sources, func(i, j int) bool { return s.Sources[i].Name < s.Sources[j].Name })
	sort.SliceStable(s.DRBD, func(i, j int) bool {
		a, b := s.DRBD[i], s.DRBD[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Node < b.Node
	})
}

// Reindexed returns a copy of s with its indexes built: a snapshot that
// did not come from a Store (one decoded from JSON, as a fleet hub keeps
// each cluster's) answers Where, Impact and the lookups only after this.
// The copy shares s's slices; neither may be modified afterwards.
func Reindexed(s *Snapshot) *Snapshot {
	out := *s
	out.buildIndex()
	return &out
}

// ClusterSender reports whether the mgmtd whose view s is sends what is
// sent once per cluster (cluster-wide notifications, the push to a fleet
// hub) when every node runs mgmtd: the one whose view is the DC (in a
// partition, each partition's DC); while there is no DC, the first online
// member node by name. A view that is not a node of the cluster (mgmtd
// watching from outside, the demo) always sends. This is the rule of the
// SNMP subagent and of the notification router, which follow the DC
// through events as well.
func (s *Snapshot) ClusterSender() bool {
	if _, ok := s.Node(s.View); s.View == "" || !ok {
		return true
	}
	if s.Cluster.DC != "" {
		return s.Cluster.DC == s.View
	}
	for _, n := range s.Nodes {
		if n.Type == NodeMember && n.Online {
			return n.Name == s.View
		}
	}
	return true
}
