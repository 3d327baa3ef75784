package model

import (
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Report is what a source hands the Store after one refresh: a complete
// part on success, or the error that made the refresh fail. A failed
// refresh keeps the last good part and marks the source stale.
type Report struct {
	Source string
	Time   time.Time // when the refresh finished; zero means now
	Err    error
	// Degraded, with no Err, applies the part but marks the source stale
	// with this text: part of what it watches is unreachable (a
	// hypervisor host), and what is shown of that part is its last known
	// state.
	Degraded  string
	Pacemaker *PacemakerPart
	Corosync  *CorosyncPart
	Virt      *VirtPart
	Services  *ServicesPart
	// DRBD is a DRBD source's picture of its node's resources.
	DRBD *DRBDPart
	// ISCSI is an iSCSI source's picture of its node's target daemon.
	ISCSI *ISCSIPart
	// Check, when set, replaces the source status's Check.
	Check *SourceCheck
}

// StoreOptions configures a Store.
type StoreOptions struct {
	// Cluster is the cluster name used when the sources do not report one.
	Cluster string
	// View names the node whose view the snapshots are.
	View string
	// VMMappings link VirtualDomain resources to libvirt domains
	// explicitly; they win over every other linking rule.
	VMMappings []VMMapping
	// EventBuffer is how many events the event log keeps for resumption.
	EventBuffer int
	// Events continue the sequence of a durable history and hand every
	// event to it (EventLogOptions; its Now defaults to Now below).
	Events EventLogOptions
	// ConflictGrace is how long a disagreement between sources must last
	// before it is published as a conflict: sources refresh at different
	// times, so a VM that just moved is briefly "misplaced". Zero
	// publishes conflicts at once.
	ConflictGrace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store merges the parts the sources report into snapshots, publishes them
// atomically and records the events their diffs yield. Report may be called
// from any goroutine; Snapshot never blocks.
type Store struct {
	opts   StoreOptions
	cur    atomic.Pointer[Snapshot]
	events *EventLog

	mu        sync.Mutex // serialises Report
	pacemaker *PacemakerPart
	corosync  *CorosyncPart
	virt      map[string]*VirtPart
	services  *ServicesPart
	drbd      map[string]*DRBDPart  // by source
	iscsi     map[string]*ISCSIPart // by source
	sources   map[string]SourceStatus
	// reported remembers failures already announced (by resource, node,
	// operation, call and time), so that a failure hidden for a while (its
	// node offline) and shown again is not announced twice.
	reported map[string]reportedFailure
	// conflictSince is when each current conflict was first seen.
	conflictSince map[string]time.Time
}

// NewStore returns a Store holding an empty generation-0 snapshot.
func NewStore(opts StoreOptions) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = 4096
	}
	if opts.Events.Now == nil {
		opts.Events.Now = opts.Now
	}
	s := &Store{
		opts:          opts,
		events:        NewEventLogWith(opts.EventBuffer, opts.Events),
		virt:          map[string]*VirtPart{},
		drbd:          map[string]*DRBDPart{},
		iscsi:         map[string]*ISCSIPart{},
		sources:       map[string]SourceStatus{},
		reported:      map[string]reportedFailure{},
		conflictSince: map[string]time.Time{},
	}
	empty := &Snapshot{Time: opts.Now(), View: opts.View, Cluster: Cluster{Name: opts.Cluster}}
	empty.buildIndex()
	s.cur.Store(empty)
	return s
}

// Snapshot returns the current snapshot. It never blocks and never returns nil.
func (s *Store) Snapshot() *Snapshot { return s.cur.Load() }

// Events returns the log of events produced by successive snapshots.
func (s *Store) Events() *EventLog { return s.events }

// Reporter takes a source's refresh results; *Store implements it. Every
// source (package source/...) reports through it.
type Reporter interface {
	Report(Report) *Snapshot
}

// Register announces a source before its first report, so that a source
// that never succeeds shows as an error instead of being absent.
func (s *Store) Register(source string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sources[source]; !ok {
		s.sources[source] = SourceStatus{Name: source, State: SourceError, LastError: "no refresh yet"}
		s.publishLocked(s.opts.Now(), firsts{})
	}
}

// Report takes a source's refresh result, builds and publishes the next
// snapshot, and appends the events of the diff. It returns the published
// snapshot.
func (s *Store) Report(r Report) *Snapshot { return s.ReportAll(r) }

// ReportAll applies several reports at once and publishes one snapshot, so
// that sources refreshed together (a replayed recording, a test) never show
// the half-way picture between them.
func (s *Store) ReportAll(rs ...Report) *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	var first firsts
	for _, r := range rs {
		if !r.Time.IsZero() {
			now = r.Time
		}
		first.note(s, r)
		s.apply(r, now)
	}
	return s.publishLocked(now, first)
}

// firsts records which parts a publish shows for the first time, so that
// the events describing them are marked Baseline.
type firsts struct {
	pacemaker bool
	hosts     map[string]bool // hypervisor hosts of a virt source's first part
	sources   map[string]bool // sources whose first success this is
	drbd      map[string]bool // nodes of a DRBD source's first part
}

// note records what report r, about to be applied to s, shows first.
func (f *firsts) note(s *Store, r Report) {
	if r.Err != nil {
		return
	}
	if s.sources[r.Source].LastSuccess.IsZero() {
		f.sources = setAdd(f.sources, r.Source)
	}
	if r.Pacemaker != nil && s.pacemaker == nil {
		f.pacemaker = true
	}
	if r.DRBD != nil && s.drbd[r.Source] == nil {
		f.drbd = setAdd(f.drbd, r.DRBD.Node)
	}
	if r.Virt != nil && s.virt[r.Source] == nil {
		for _, h := range r.Virt.Hosts {
			f.hosts = setAdd(f.hosts, h.Name)
		}
		for _, v := range r.Virt.VMs {
			f.hosts = setAdd(f.hosts, v.Host)
		}
	}
}

func setAdd(m map[string]bool, k string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[k] = true
	return m
}

// mark sets Baseline on the events that describe a first picture.
func (f *firsts) mark(evs []Event) {
	for i := range evs {
		e := &evs[i]
		switch e.Type {
		case EventNodeJoined, EventNodeLeft, EventNodeState, EventQuorumGained, EventQuorumLost, EventDCChanged,
			EventResourceStarted, EventResourceStopped, EventResourceMoved, EventResourcePromoted,
			EventResourceDemoted, EventResourceFailed, EventResourceRecovered, EventFencing:
			e.Baseline = f.pacemaker
		case EventVMAppeared, EventVMGone, EventVMState, EventVMMigrated:
			e.Baseline = f.hosts[e.Node]
		case EventHostReachable, EventHostUnreachable:
			e.Baseline = f.hosts[e.Object.Name]
		case EventSourceRecovered:
			e.Baseline = f.sources[e.Object.Name]
		case EventDRBDConnectionLost, EventDRBDSyncStarted, EventDRBDSyncFinished, EventDRBDSplitBrain, EventDRBDMayPromote:
			e.Baseline = f.drbd[e.Node]
		}
	}
}

func (s *Store) apply(r Report, now time.Time) {
	if now.IsZero() {
		now = s.opts.Now()
	}
	st := s.sources[r.Source]
	st.Name = r.Source
	st.LastAttempt = now
	if r.Check != nil {
		c := *r.Check
		c.LastDisagreement = append([]string(nil), c.LastDisagreement...)
		st.Check = &c
	}
	if r.Err != nil {
		st.LastError = r.Err.Error()
		st.ErrorTime = now
		if st.LastSuccess.IsZero() {
			st.State = SourceError
		} else {
			st.State = SourceStale
		}
	} else {
		st.State = SourceOK
		st.LastSuccess = now
		st.LastError = ""
		if r.Degraded != "" {
			st.State, st.LastError, st.ErrorTime = SourceStale, r.Degraded, now
		}
		if r.Pacemaker != nil {
			s.pacemaker = r.Pacemaker
		}
		if r.Corosync != nil {
			s.corosync = r.Corosync
		}
		if r.Virt != nil {
			s.virt[r.Source] = r.Virt
		}
		if r.Services != nil {
			s.services = r.Services
		}
		if r.DRBD != nil {
			s.drbd[r.Source] = r.DRBD
		}
		if r.ISCSI != nil {
			s.iscsi[r.Source] = r.ISCSI
		}
	}
	s.sources[r.Source] = st
}

func (s *Store) publishLocked(now time.Time, first firsts) *Snapshot {
	old := s.cur.Load()
	next := s.build(now)
	if sameContent(old, next) {
		next.Generation = old.Generation
	} else {
		next.Generation = old.Generation + 1
	}
	s.cur.Store(next)
	if next.Generation != old.Generation {
		evs := Diff(old, next)
		first.mark(evs)
		s.events.Append(s.dedupFailures(evs, next))
	}
	return next
}

// sameContent compares two snapshots ignoring times, so that a refresh that
// changed nothing keeps the generation (and so the REST ETag).
func sameContent(a, b *Snapshot) bool {
	if len(a.Sources) != len(b.Sources) {
		return false
	}
	for i := range a.Sources {
		x, y := a.Sources[i], b.Sources[i]
		if x.Name != y.Name || x.State != y.State || x.LastError != y.LastError {
			return false
		}
	}
	return reflect.DeepEqual(a.Cluster, b.Cluster) &&
		reflect.DeepEqual(a.Nodes, b.Nodes) &&
		reflect.DeepEqual(a.Resources, b.Resources) &&
		reflect.DeepEqual(a.Instances, b.Instances) &&
		reflect.DeepEqual(a.Failures, b.Failures) &&
		reflect.DeepEqual(a.Fencing, b.Fencing) &&
		reflect.DeepEqual(a.Constraints, b.Constraints) &&
		reflect.DeepEqual(a.Membership, b.Membership) &&
		reflect.DeepEqual(a.Hosts, b.Hosts) &&
		reflect.DeepEqual(a.VMs, b.VMs) &&
		reflect.DeepEqual(a.Services, b.Services) &&
		reflect.DeepEqual(a.DRBD, b.DRBD) &&
		reflect.DeepEqual(a.ISCSITargets, b.ISCSITargets) &&
		reflect.DeepEqual(a.Conflicts, b.Conflicts)
}

// build merges the current parts into a new snapshot. Parts are shared
// read-only between snapshots; everything the merge changes is copied.
func (s *Store) build(now time.Time) *Snapshot {
	snap := &Snapshot{Time: now, View: s.opts.View, Cluster: Cluster{Name: s.opts.Cluster}}
	if p := s.pacemaker; p != nil {
		snap.Cluster = p.Cluster
		if snap.Cluster.Name == "" {
			snap.Cluster.Name = s.opts.Cluster
		}
		snap.Nodes = slices.Clone(p.Nodes)
		snap.Resources = slices.Clone(p.Resources)
		snap.Instances = slices.Clone(p.Instances)
		snap.Failures = p.Failures
		snap.Fencing = p.Fencing
		snap.Constraints = p.Constraints
	}
	if c := s.corosync; c != nil {
		snap.Membership = c.Membership
		snap.Cluster.CorosyncVersion = c.Version
		if snap.Cluster.Name == "" {
			snap.Cluster.Name = c.Membership.ClusterName
		}
		snap.Cluster.ExpectedVotes = c.Membership.ExpectedVotes
		snap.Cluster.TotalVotes = c.Membership.TotalVotes
		votes := map[string]int{}
		for _, m := range c.Membership.Members {
			votes[m.Name] = m.Votes
		}
		for i := range snap.Nodes {
			if v, ok := votes[snap.Nodes[i].Name]; ok {
				snap.Nodes[i].Votes = v
			}
		}
	}
	names := make([]string, 0, len(s.virt))
	for n := range s.virt {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		snap.Hosts = append(snap.Hosts, s.virt[n].Hosts...)
		snap.VMs = append(snap.VMs, s.virt[n].VMs...)
	}
	for _, st := range s.sources {
		snap.Sources = append(snap.Sources, st)
	}
	dnames := make([]string, 0, len(s.drbd))
	for n := range s.drbd {
		dnames = append(dnames, n)
	}
	sort.Strings(dnames)
	for _, n := range dnames {
		for _, r := range s.drbd[n].Resources {
			r.Volumes = slices.Clone(r.Volumes)
			r.Connections = slices.Clone(r.Connections)
			snap.DRBD = append(snap.DRBD, r)
		}
	}
	deriveAddresses(snap)
	sortAll(snap)
	snap.buildIndex()
	s.linkVMs(snap)
	resolveHosts(snap)
	snap.Services = services(snap, s.services)
	linkDRBD(snap)
	drbdConflicts(snap)
	sortAll(snap)
	snap.buildIndex()
	inames := make([]string, 0, len(s.iscsi))
	for n := range s.iscsi {
		inames = append(inames, n)
	}
	sort.Strings(inames)
	iparts := make([]*ISCSIPart, 0, len(inames))
	for _, n := range inames {
		iparts = append(iparts, s.iscsi[n])
	}
	snap.ISCSITargets = mergeLive(snap, iscsiTargets(snap), iparts)
	iscsiConflicts(snap, iparts)
	s.ageConflicts(snap, now)
	serviceTargets(snap)
	sortAll(snap)
	snap.buildIndex()
	return snap
}

// deriveAddresses fills Address and Method of resources from their agent
// and parameters.
func deriveAddresses(s *Snapshot) {
	byID := make(map[string]*Resource, len(s.Resources))
	for i := range s.Resources {
		byID[s.Resources[i].ID] = &s.Resources[i]
	}
	for i := range s.Resources {
		r := &s.Resources[i]
		if r.Kind != KindPrimitive || r.Address != "" {
			continue
		}
		typ := r.Agent[strings.LastIndexByte(r.Agent, ':')+1:]
		p := r.Params
		switch typ {
		case "IPaddr2", "IPaddr", "IPsrcaddr", "IPv6addr":
			r.Address = first(p["ip"], p["ipaddress"], p["ipv6addr"])
			r.Method = MethodIPTakeover
			for a := byID[r.Parent]; a != nil; a = byID[a.Parent] {
				if a.Kind == KindClone || a.Kind == KindPromotable {
					if p["clusterip_hash"] != "" || a.Unique {
						r.Method = MethodClusterIP
					}
				}
			}
		case "dnsupdate":
			r.Address = first(p["hostname"], p["ip"])
			r.Method = MethodDNS
		case "Route":
			r.Address = p["destination"]
			r.Method = MethodRoute
		}
		if r.Address == "" {
			r.Method = ""
		}
	}
}

func first(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// maxChain bounds the guest-node chain walk; Pacemaker does not nest guest
// nodes deeply, and a cycle in bad input must not hang the build.
const maxChain = 8

// PhysicalNode follows a node through guest containers to the cluster node
// that physically runs it. It returns "" when the chain is broken (the
// container is stopped) or too long.
func (s *Snapshot) PhysicalNode(node string) string {
	for range maxChain {
		n, ok := s.Node(node)
		if ok && n.Type == NodeRemote {
			if v, inVM := s.activeVMNamed(n.Name); inVM {
				node = s.hostNode(v.Host)
				continue
			}
		}
		if !ok || n.Type != NodeGuest || n.Container == "" {
			return node
		}
		next := ""
		for _, in := range s.InstancesOf(n.Container) {
			if in.Active && in.Node != "" {
				next = in.Node
				break
			}
		}
		if next == "" {
			return ""
		}
		node = next
	}
	return ""
}

func resolveHosts(s *Snapshot) {
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.Node == "" {
			in.Host = ""
			continue
		}
		in.Host = s.PhysicalNode(in.Node)
	}
}

// linkVMs links VirtualDomain resources to libvirt domains and records
// conflicts. Rules, in order: an explicit mapping; the domain name the
// Pacemaker source read from the resource's config file; the resource id;
// the base name of the config file without ".xml". A name that matches
// domains of more than one resource stays unlinked ("ambiguous").
func (s *Store) linkVMs(snap *Snapshot) {
	if len(snap.VMs) == 0 {
		return
	}
	mapped := map[string]string{}
	for _, m := range s.opts.VMMappings {
		mapped[m.Resource] = m.Domain
	}
	hostNode := map[string]string{}
	for _, h := range snap.Hosts {
		n := h.Node
		if n == "" {
			n = h.Name
		}
		hostNode[h.Name] = n
	}
	type cand struct{ rsc, how string }
	claims := map[string][]cand{}
	for _, r := range snap.Resources {
		if r.Kind != KindPrimitive || !strings.HasSuffix(r.Agent, ":VirtualDomain") {
			continue
		}
		switch {
		case mapped[r.ID] != "":
			claims[mapped[r.ID]] = append(claims[mapped[r.ID]], cand{r.ID, "mapping"})
		case r.Domain != "":
			claims[r.Domain] = append(claims[r.Domain], cand{r.ID, "config"})
		default:
			names := []string{r.ID}
			if cfg := r.Params["config"]; cfg != "" {
				if b := strings.TrimSuffix(path.Base(cfg), ".xml"); b != r.ID {
					names = append(names, b)
				}
			}
			for _, n := range names {
				if len(snap.VMsNamed(n)) > 0 {
					claims[n] = append(claims[n], cand{r.ID, "name"})
					break
				}
			}
		}
	}
	rank := map[string]int{"mapping": 3, "config": 2, "name": 1}
	for i := range snap.VMs {
		v := &snap.VMs[i]
		// Only the strongest rule that matched counts: an explicit mapping
		// beats the config file, which beats a name match.
		var cs []cand
		for _, c := range claims[v.Name] {
			switch {
			case len(cs) == 0 || rank[c.how] > rank[cs[0].how]:
				cs = []cand{c}
			case rank[c.how] == rank[cs[0].how]:
				cs = append(cs, c)
			}
		}
		switch {
		case len(cs) == 1:
			r, _ := snap.Resource(cs[0].rsc)
			v.Resource, v.Managed, v.Link, v.GuestNode = r.ID, true, cs[0].how, r.GuestNode
		case len(cs) > 1:
			ids := make([]string, len(cs))
			for j, c := range cs {
				ids[j] = c.rsc
			}
			v.Link = "unlinked: ambiguous between " + strings.Join(ids, ", ")
			snap.Conflicts = append(snap.Conflicts, Conflict{Type: "ambiguous", VM: v.Name, Hosts: []string{v.Host},
				Detail: "domain " + v.Name + " matches resources " + strings.Join(ids, ", ")})
		default:
			v.Link = "unmanaged"
		}
	}
	// Disagreements: a managed domain active on a host where Pacemaker does
	// not place its resource, or active on two hosts outside a migration.
	byRsc := map[string][]VM{}
	for _, v := range snap.VMs {
		if v.Resource != "" && v.State.Active() {
			byRsc[v.Resource] = append(byRsc[v.Resource], v)
		}
	}
	for rsc, vms := range byRsc {
		placed := map[string]bool{}
		migrating := false
		for _, in := range snap.InstancesOf(rsc) {
			if in.Active {
				placed[in.Node] = true
			}
			if in.Role == RoleMigrating || in.Pending == "Migrating" {
				migrating = true
			}
		}
		if len(vms) > 1 && !migrating {
			hosts := make([]string, len(vms))
			for j, v := range vms {
				hosts[j] = v.Host
			}
			snap.Conflicts = append(snap.Conflicts, Conflict{Type: "duplicate", VM: vms[0].Name, Resource: rsc, Hosts: hosts,
				Detail: "domain " + vms[0].Name + " is active on " + strings.Join(hosts, " and ") + " outside a live migration"})
		}
		for _, v := range vms {
			if !placed[hostNode[v.Host]] && !migrating {
				where := "nowhere"
				if len(placed) > 0 {
					where = strings.Join(sortedKeys(placed), ", ")
				}
				snap.Conflicts = append(snap.Conflicts, Conflict{Type: "misplaced", VM: v.Name, Resource: rsc, Hosts: []string{v.Host},
					Detail: "domain " + v.Name + " is active on host " + v.Host + " but Pacemaker places " + rsc + " on " + where})
			}
		}
	}
	sort.Slice(snap.Conflicts, func(i, j int) bool { return snap.Conflicts[i].Key() < snap.Conflicts[j].Key() })
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// services returns the configured catalog plus one derived service per
// top-level resource that carries an address.
func services(snap *Snapshot, part *ServicesPart) []Service {
	var out []Service
	seen := map[string]bool{}
	if part != nil {
		for _, sv := range part.Services {
			sv.Resources = slices.Clone(sv.Resources)
			if sv.Address == "" || sv.Method == "" {
				addr, m := addressOf(snap, sv.Resources)
				if sv.Address == "" {
					sv.Address = addr
				}
				if sv.Method == "" {
					sv.Method = m
				}
			}
			if sv.Address != "" && sv.Method == "" {
				sv.Method = MethodUnknown
			}
			out = append(out, sv)
			seen[sv.Name] = true
		}
	}
	for _, r := range snap.Resources {
		if r.Parent != "" || seen[r.ID] {
			continue
		}
		if addr, m := addressOf(snap, []string{r.ID}); addr != "" {
			out = append(out, Service{Name: r.ID, Resources: []string{r.ID}, Address: addr, Method: m, Derived: true})
		}
	}
	return out
}

// addressOf finds the first address carried by the resources or their
// descendants, depth first in configuration order.
func addressOf(snap *Snapshot, ids []string) (string, AddressMethod) {
	for _, id := range ids {
		r, ok := snap.Resource(id)
		if !ok {
			continue
		}
		if r.Address != "" {
			return r.Address, r.Method
		}
		if a, m := addressOf(snap, r.Children); a != "" {
			return a, m
		}
	}
	return "", ""
}

// failureMemory is how many generations an announced failure is
// remembered after it was last seen.
const failureMemory = 1000

// reportedFailure is an announced failure and the generation it was last
// seen in.
type reportedFailure struct {
	f   Failure
	gen uint64
}

// dedupFailures drops announcements of failures already announced (by
// occurrence: resource, node, operation, interval, call id and time), so
// that a failure hidden for a while (its node offline) and shown again is
// not announced twice. A failure whose clearing was announced ("failures
// cleared") is forgotten: when the same record comes back (a cluster
// leaving maintenance, the demo's loop) it is announced again, so that a
// consumer never holds a cleared alarm for a live failure.
//
// A failure whose record vanished while it could not be judged (its node
// went offline, the resource was failed) and that is still absent when
// its node is online again and the resource is not failed was cleared
// without anyone saying so - a guest node recovered with a new history,
// a cleanup while the node was away: its clearing is announced then.
func (s *Store) dedupFailures(evs []Event, snap *Snapshot) []Event {
	present := make(map[string]bool, len(snap.Failures))
	for _, f := range snap.Failures {
		present[f.Occurrence()] = true
		if r, ok := s.reported[f.Occurrence()]; ok {
			r.gen = snap.Generation
			s.reported[f.Occurrence()] = r
		}
	}
	out := evs[:0]
	for _, e := range evs {
		switch d := e.Data.(type) {
		case Failure:
			if e.Type != EventResourceFailed {
				break
			}
			id := d.Occurrence()
			if _, seen := s.reported[id]; seen {
				continue
			}
			s.reported[id] = reportedFailure{f: d, gen: snap.Generation}
		case []Failure:
			if e.Type == EventResourceRecovered {
				// Every record of the resource is gone, older
				// occurrences that newer ones replaced too.
				for id, r := range s.reported {
					if PrimitiveOf(r.f.Resource) == e.Object.Name {
						delete(s.reported, id)
					}
				}
			}
		}
		out = append(out, e)
	}
	out = append(out, s.silentlyCleared(snap, present)...)
	for id, r := range s.reported {
		if snap.Generation-r.gen > failureMemory {
			delete(s.reported, id)
		}
	}
	return out
}

// silentlyCleared announces the clearing of announced failures that are
// absent although their node is online and their resource neither failed
// nor holding another failure record (a newer occurrence replaces an
// older one without clearing it).
func (s *Store) silentlyCleared(snap *Snapshot, present map[string]bool) []Event {
	failing := map[string]bool{} // resources with a failure record now
	for _, f := range snap.Failures {
		failing[PrimitiveOf(f.Resource)] = true
	}
	cleared := map[string][]Failure{}
	var ids []string
	for id, r := range s.reported {
		if present[id] || failing[PrimitiveOf(r.f.Resource)] {
			continue
		}
		n, ok := snap.Node(r.f.Node)
		if !ok || !n.Online || n.Unclean {
			continue
		}
		rid := PrimitiveOf(r.f.Resource)
		if res, ok := snap.Resource(rid); !ok || res.Failed {
			continue
		}
		if cleared[rid] == nil {
			ids = append(ids, rid)
		}
		cleared[rid] = append(cleared[rid], r.f)
		delete(s.reported, id)
	}
	sort.Strings(ids)
	var out []Event
	for _, rid := range ids {
		fs := cleared[rid]
		sort.Slice(fs, func(i, j int) bool { return fs[i].Occurrence() < fs[j].Occurrence() })
		e := Event{Generation: snap.Generation, Time: snap.Time, Type: EventResourceRecovered, Severity: SeverityInfo,
			Object: snap.ID(KindResource, rid), Message: "resource " + rid + " failures cleared", Data: fs}
		if onOneNode(fs) {
			e.Node = fs[0].Node
		}
		out = append(out, e)
	}
	return out
}

// ageConflicts stamps each conflict with when it was first seen and holds
// back those younger than the grace period; they are published by a later
// build (every source refresh builds) if they last.
func (s *Store) ageConflicts(snap *Snapshot, now time.Time) {
	seen := make(map[string]bool, len(snap.Conflicts))
	kept := snap.Conflicts[:0]
	for _, c := range snap.Conflicts {
		k := c.Key()
		seen[k] = true
		first, ok := s.conflictSince[k]
		if !ok {
			first = now
			s.conflictSince[k] = now
		}
		c.Since = first
		if now.Sub(first) >= s.opts.ConflictGrace {
			kept = append(kept, c)
		}
	}
	snap.Conflicts = kept
	for k := range s.conflictSince {
		if !seen[k] {
			delete(s.conflictSince, k)
		}
	}
}
