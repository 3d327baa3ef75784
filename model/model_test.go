package model

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventLog(t *testing.T) {
	l := NewEventLog(3)
	if evs, missed := l.Since(0); len(evs) != 0 || missed {
		t.Fatal("empty log")
	}
	l.Append([]Event{{Type: EventNodeJoined}, {Type: EventNodeLeft}})
	evs, missed := l.Since(0)
	if len(evs) != 2 || missed || evs[0].Seq != 1 || evs[1].Seq != 2 {
		t.Fatalf("%+v %v", evs, missed)
	}
	l.Append([]Event{{Type: EventFencing}, {Type: EventDCChanged}})
	evs, missed = l.Since(0)
	if !missed || len(evs) != 3 || evs[0].Seq != 2 {
		t.Fatalf("overwritten: %+v %v", evs, missed)
	}
	if evs, missed = l.Since(1); missed || len(evs) != 3 {
		t.Fatalf("resume after 1: %d %v", len(evs), missed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, l.Last()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait = %v", err)
	}
	done := make(chan error)
	go func() { done <- l.Wait(context.Background(), 4) }()
	l.Publish(Event{Type: EventTask})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func pcmk(nodes []Node, rs []Resource, ins []Instance) *PacemakerPart {
	return &PacemakerPart{Cluster: Cluster{Name: "c", Quorate: true, DC: "n1"}, Nodes: nodes, Resources: rs, Instances: ins}
}

func TestGenerationOnlyOnChange(t *testing.T) {
	st := NewStore(StoreOptions{})
	p := pcmk([]Node{{Name: "n1", Online: true, State: NodeOnline}}, nil, nil)
	g1 := st.Report(Report{Source: "pacemaker", Pacemaker: p}).Generation
	g2 := st.Report(Report{Source: "pacemaker", Pacemaker: p}).Generation
	if g1 != g2 {
		t.Fatalf("unchanged refresh bumped generation %d -> %d", g1, g2)
	}
	g3 := st.Report(Report{Source: "pacemaker", Err: errors.New("boom")}).Generation
	if g3 == g2 || !st.Snapshot().Stale() {
		t.Fatal("failure not a new generation marked stale")
	}
}

func TestLinkVMs(t *testing.T) {
	nodes := []Node{{Name: "h1", Online: true, State: NodeOnline}, {Name: "h2", Online: true, State: NodeOnline},
		{Name: "g1", Type: NodeGuest, Container: "vm-a", Online: true}}
	rs := []Resource{
		{ID: "vm-a", Kind: KindPrimitive, Agent: "ocf:heartbeat:VirtualDomain", Domain: "alpha", GuestNode: "g1"},
		{ID: "vm-b", Kind: KindPrimitive, Agent: "ocf:heartbeat:VirtualDomain", Params: map[string]string{"config": "/etc/libvirt/qemu/beta.xml"}},
		{ID: "vm-c", Kind: KindPrimitive, Agent: "ocf:heartbeat:VirtualDomain", Params: map[string]string{"config": "/x/dup.xml"}},
		{ID: "vm-d", Kind: KindPrimitive, Agent: "ocf:heartbeat:VirtualDomain", Params: map[string]string{"config": "/y/dup.xml"}},
		{ID: "svc", Kind: KindPrimitive, Agent: "ocf:pacemaker:Dummy"},
	}
	ins := []Instance{
		{Resource: "vm-a", Primitive: "vm-a", Node: "h1", Role: RoleStarted, Active: true},
		{Resource: "vm-b", Primitive: "vm-b", Node: "h2", Role: RoleStarted, Active: true},
		{Resource: "svc", Primitive: "svc", Node: "g1", Role: RoleStarted, Active: true},
	}
	st := NewStore(StoreOptions{})
	sn := st.ReportAll(Report{Source: "pacemaker", Pacemaker: pcmk(nodes, rs, ins)}, Report{Source: "virt", Virt: &VirtPart{
		Hosts: []Host{{Name: "h1", Reachable: true}, {Name: "h2", Reachable: true}},
		VMs: []VM{{Name: "alpha", Host: "h1", State: VMRunning}, {Name: "beta", Host: "h1", State: VMRunning},
			{Name: "dup", Host: "h2", State: VMShutoff}, {Name: "lonely", Host: "h2", State: VMRunning}},
	}})
	by := map[string]VM{}
	for _, v := range sn.VMs {
		by[v.Name] = v
	}
	if v := by["alpha"]; v.Resource != "vm-a" || v.Link != "config" || v.GuestNode != "g1" {
		t.Errorf("alpha %+v", v)
	}
	if v := by["beta"]; v.Resource != "vm-b" || v.Link != "name" {
		t.Errorf("beta %+v", v)
	}
	if v := by["dup"]; v.Resource != "" || v.Managed {
		t.Errorf("ambiguous dup was linked: %+v", v)
	}
	if v := by["lonely"]; v.Managed || v.Link != "unmanaged" {
		t.Errorf("lonely %+v", v)
	}
	types := map[string]bool{}
	for _, c := range sn.Conflicts {
		types[c.Type+" "+c.VM] = true
	}
	if !types["ambiguous dup"] || !types["misplaced beta"] {
		t.Errorf("conflicts %+v", sn.Conflicts)
	}
	// svc runs in guest g1 inside VM alpha on h1.
	w := sn.Where("svc")
	if len(w.Instances) != 1 || w.Instances[0].Host != "h1" || w.Instances[0].VM != "alpha" {
		t.Fatalf("where svc %+v", w.Instances)
	}
	if w := sn.Where("lonely"); len(w.VMs) != 1 {
		t.Fatalf("where lonely %+v", w)
	}
	// Explicit mapping wins.
	st2 := NewStore(StoreOptions{VMMappings: []VMMapping{{Resource: "vm-c", Domain: "dup"}}})
	sn2 := st2.ReportAll(Report{Source: "pacemaker", Pacemaker: pcmk(nodes, rs, ins)},
		Report{Source: "virt", Virt: &VirtPart{VMs: []VM{{Name: "dup", Host: "h2", State: VMShutoff}}}})
	if sn2.VMs[0].Resource != "vm-c" || sn2.VMs[0].Link != "mapping" {
		t.Fatalf("mapping %+v", sn2.VMs[0])
	}
}

func TestAddresses(t *testing.T) {
	rs := []Resource{
		{ID: "vip", Kind: KindPrimitive, Agent: "ocf:heartbeat:IPaddr2", Params: map[string]string{"ip": "10.0.0.1"}},
		{ID: "cip-clone", Kind: KindClone, Children: []string{"cip"}, Unique: true},
		{ID: "cip", Kind: KindPrimitive, Parent: "cip-clone", Agent: "ocf:heartbeat:IPaddr2", Params: map[string]string{"ip": "10.0.0.2", "clusterip_hash": "sourceip"}},
		{ID: "dns", Kind: KindPrimitive, Agent: "ocf:heartbeat:dnsupdate", Params: map[string]string{"hostname": "web.example.org"}},
		{ID: "rt", Kind: KindPrimitive, Agent: "ocf:heartbeat:Route", Params: map[string]string{"destination": "10.9.0.0/16"}},
	}
	st := NewStore(StoreOptions{})
	sn := st.ReportAll(Report{Source: "pacemaker", Pacemaker: pcmk(nil, rs, nil)},
		Report{Source: "catalog", Services: &ServicesPart{Services: []Service{{Name: "shop", Resources: []string{"vip", "dns"}}}}})
	want := map[string]AddressMethod{"vip": MethodIPTakeover, "cip": MethodClusterIP, "dns": MethodDNS, "rt": MethodRoute}
	for id, m := range want {
		r, _ := sn.Resource(id)
		if r.Method != m || r.Address == "" {
			t.Errorf("%s: %s %q", id, r.Method, r.Address)
		}
	}
	sv, ok := sn.Service("shop")
	if !ok || sv.Address != "10.0.0.1" || sv.Method != MethodIPTakeover || sv.Derived {
		t.Fatalf("shop %+v", sv)
	}
	if w := sn.Where("shop"); len(w.Addresses) != 2 {
		t.Fatalf("where shop addresses %+v", w.Addresses)
	}
	if w := sn.Where("10.0.0.2"); len(w.Matches) == 0 || w.Matches[0].Name != "cip" {
		t.Fatalf("where by address %+v", w.Matches)
	}
}

func TestDiffQuorumDC(t *testing.T) {
	a := &Snapshot{Generation: 1, Cluster: Cluster{Name: "c", Quorate: true, DC: "n1"}, Nodes: []Node{{Name: "n1"}}}
	b := &Snapshot{Generation: 2, Cluster: Cluster{Name: "c", Quorate: false, DC: "n2"}, Nodes: []Node{{Name: "n1"}}}
	a.buildIndex()
	b.buildIndex()
	evs := Diff(a, b)
	got := map[EventType]bool{}
	for _, e := range evs {
		got[e.Type] = true
	}
	if !got[EventQuorumLost] || !got[EventDCChanged] {
		t.Fatalf("%+v", evs)
	}
	if evs := Diff(b, a); evs[0].Type != EventQuorumGained {
		t.Fatalf("%+v", evs)
	}
}

func TestPhysicalNodeCycle(t *testing.T) {
	// Two guests hosting each other must not hang.
	nodes := []Node{{Name: "g1", Type: NodeGuest, Container: "c2"}, {Name: "g2", Type: NodeGuest, Container: "c1"}}
	ins := []Instance{{Resource: "c1", Primitive: "c1", Node: "g1", Active: true}, {Resource: "c2", Primitive: "c2", Node: "g2", Active: true}}
	st := NewStore(StoreOptions{})
	sn := st.Report(Report{Source: "pacemaker", Pacemaker: pcmk(nodes, nil, ins)})
	if h := sn.PhysicalNode("g1"); h != "" {
		t.Fatalf("cycle resolved to %q", h)
	}
	_ = sn.Where("c1")
}

// TestWhereStoppedClones: stopped instances of an anonymous clone are all
// listed, once each, also when the name matches both a resource and a
// service.
func TestWhereStoppedClones(t *testing.T) {
	rs := []Resource{{ID: "c", Kind: KindClone, Children: []string{"d"}}, {ID: "d", Kind: KindPrimitive, Parent: "c"}}
	ins := []Instance{
		{Resource: "d", Primitive: "d", Top: "c", Node: "n1", Role: RoleStarted, Active: true},
		{Resource: "d", Primitive: "d", Top: "c", Role: RoleStopped},
		{Resource: "d", Primitive: "d", Top: "c", Role: RoleStopped},
	}
	st := NewStore(StoreOptions{})
	sn := st.ReportAll(Report{Source: "pacemaker", Pacemaker: pcmk([]Node{{Name: "n1", Online: true}}, rs, ins)},
		Report{Source: "catalog", Services: &ServicesPart{Services: []Service{{Name: "c", Resources: []string{"c"}}}}})
	if got := len(sn.Where("c").Instances); got != 3 {
		t.Fatalf("where(c) lists %d instances, want 3", got)
	}
	if got := len(sn.Where("").Instances); got != 3 {
		t.Fatalf("where() lists %d instances, want 3", got)
	}
}

// TestDegradedReport: a degraded report applies its part and marks the
// source stale with the reason.
func TestDegradedReport(t *testing.T) {
	st := NewStore(StoreOptions{})
	sn := st.Report(Report{Source: "virt", Virt: &VirtPart{Hosts: []Host{{Name: "h1"}}}, Degraded: "unreachable hosts: h1: timeout"})
	s, _ := sn.Source("virt")
	if len(sn.Hosts) != 1 || s.State != SourceStale || s.LastError == "" || s.LastSuccess.IsZero() || !sn.Stale() {
		t.Fatalf("%+v %+v", s, sn.Hosts)
	}
	sn = st.Report(Report{Source: "virt", Virt: &VirtPart{Hosts: []Host{{Name: "h1", Reachable: true}}}})
	if s, _ := sn.Source("virt"); s.State != SourceOK || sn.Stale() {
		t.Fatalf("%+v", s)
	}
}

// TestConflictGrace: a disagreement is published only once it has lasted
// the grace period, and keeps its first-seen time.
func TestConflictGrace(t *testing.T) {
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	st := NewStore(StoreOptions{ConflictGrace: 10 * time.Second, Now: func() time.Time { return now }})
	nodes := []Node{{Name: "h1", Online: true}, {Name: "h2", Online: true}}
	rs := []Resource{{ID: "vm-a", Kind: KindPrimitive, Agent: "ocf:heartbeat:VirtualDomain", Domain: "a"}}
	ins := []Instance{{Resource: "vm-a", Primitive: "vm-a", Node: "h1", Role: RoleStarted, Active: true}}
	virt := &VirtPart{Hosts: []Host{{Name: "h1", Reachable: true}, {Name: "h2", Reachable: true}}, VMs: []VM{{Name: "a", Host: "h2", State: VMRunning}}}
	first := now
	sn := st.ReportAll(Report{Source: "pacemaker", Pacemaker: pcmk(nodes, rs, ins)}, Report{Source: "virt", Virt: virt})
	if len(sn.Conflicts) != 0 {
		t.Fatalf("published at once: %+v", sn.Conflicts)
	}
	now = now.Add(11 * time.Second)
	sn = st.Report(Report{Source: "pacemaker", Pacemaker: pcmk(nodes, rs, ins)})
	if len(sn.Conflicts) != 1 || sn.Conflicts[0].Type != "misplaced" || !sn.Conflicts[0].Since.Equal(first) {
		t.Fatalf("after the grace: %+v", sn.Conflicts)
	}
	// Resolved: gone, and a new one starts its own clock.
	now = now.Add(time.Second)
	ins[0].Node = "h2"
	if sn = st.Report(Report{Source: "pacemaker", Pacemaker: pcmk(nodes, rs, ins)}); len(sn.Conflicts) != 0 {
		t.Fatalf("not resolved: %+v", sn.Conflicts)
	}
}

// TestWherePartitionWithoutQuorum: in a view without quorum, where marks
// what it cannot know - a stopped instance (it may run in the other
// partition) and one on a node outside the partition - and nothing in a
// quorate view.
func TestWherePartitionWithoutQuorum(t *testing.T) {
	rs := []Resource{{ID: "a", Kind: KindPrimitive}, {ID: "b", Kind: KindPrimitive}, {ID: "c", Kind: KindPrimitive}}
	ins := []Instance{
		{Resource: "a", Primitive: "a", Role: RoleStopped},
		{Resource: "b", Primitive: "b", Node: "n2", Role: RoleStarted, Active: true},
		{Resource: "c", Primitive: "c", Node: "n1", Role: RoleStarted, Active: true},
	}
	nodes := []Node{{Name: "n1", Online: true, State: NodeOnline}, {Name: "n2", State: NodeOffline}}
	for _, quorate := range []bool{true, false} {
		p := pcmk(nodes, rs, ins)
		p.Cluster.Quorate = quorate
		sn := NewStore(StoreOptions{View: "n1"}).Report(Report{Source: "pacemaker", Pacemaker: p})
		for _, id := range []string{"a", "b", "c"} {
			w := sn.Where(id)
			if len(w.Instances) != 1 {
				t.Fatalf("where %s: %+v", id, w)
			}
			note := w.Instances[0].Chain[0].Note
			unknown := strings.HasPrefix(note, "not known from here")
			if want := !quorate && id != "c"; unknown != want {
				t.Errorf("quorate %v, where %s: note %q", quorate, id, note)
			}
		}
	}
}

// TestWhereMAC: a VM's interface MAC address, in any usual spelling,
// leads to the VM and what runs in it; other strings are not MACs.
func TestWhereMAC(t *testing.T) {
	st := NewStore(StoreOptions{})
	st.Report(Report{Source: "pacemaker", Pacemaker: pcmk([]Node{{Name: "n1", Online: true}}, nil, nil)})
	sn := st.Report(Report{Source: "virt", Virt: &VirtPart{Hosts: []Host{{Name: "h1", Reachable: true}},
		VMs: []VM{{Name: "app", Host: "h1", NICs: []VMNIC{{MAC: "52:54:00:12:34:56"}}}, {Name: "db", Host: "h1"}}}})
	for _, q := range []string{"52:54:00:12:34:56", "52-54-00-12-34-56", "5254.0012.3456", "52:54:00:12:34:56"} {
		w := sn.Where(q)
		if len(w.VMs) != 1 || w.VMs[0].Name != "app" || len(w.Matches) != 1 || w.Matches[0].Kind != KindVM {
			t.Errorf("where %s: %+v", q, w)
		}
	}
	for _, q := range []string{"52:54:00:12:34", "deadbeefcafe", "52:54:00:12:34:5g", "app"} {
		if _, ok := NormalizeMAC(q); ok {
			t.Errorf("%q taken for a MAC", q)
		}
	}
}

// TestClusterSender: the DC's view sends; without a DC the first online
// member by name; a view outside the cluster always.
func TestClusterSender(t *testing.T) {
	nodes := []Node{{Name: "a", Type: NodeMember, Online: false}, {Name: "b", Type: NodeMember, Online: true}, {Name: "c", Type: NodeMember, Online: true}}
	for _, tc := range []struct {
		view, dc string
		want     bool
	}{{"c", "c", true}, {"b", "c", false}, {"b", "", true}, {"c", "", false}, {"a", "", false}, {"outside", "c", true}, {"", "c", true}} {
		s := Reindexed(&Snapshot{View: tc.view, Cluster: Cluster{DC: tc.dc}, Nodes: nodes})
		if got := s.ClusterSender(); got != tc.want {
			t.Errorf("view %q, DC %q: sender %v, want %v", tc.view, tc.dc, got, tc.want)
		}
	}
}

// TestReindexed: a snapshot decoded from JSON answers lookups only once
// reindexed, and the original is left alone.
func TestReindexed(t *testing.T) {
	s := &Snapshot{Nodes: []Node{{Name: "n1"}}, Resources: []Resource{{ID: "r1"}}, Instances: []Instance{{Resource: "r1", Primitive: "r1", Node: "n1", Active: true}}}
	if _, ok := s.Node("n1"); ok {
		t.Fatal("an unindexed snapshot found a node")
	}
	r := Reindexed(s)
	if _, ok := r.Node("n1"); !ok || len(r.InstancesOn("n1")) != 1 {
		t.Fatal("the reindexed snapshot does not find n1 and its instance")
	}
	if _, ok := s.Node("n1"); ok {
		t.Fatal("Reindexed changed its argument")
	}
}

// TestEventLogGrowsForABatch: a batch larger than the log (a first
// picture of a thousand nodes) is kept whole, and a reader that had seen
// everything before it misses nothing; the log stays bounded.
func TestEventLogGrowsForABatch(t *testing.T) {
	l := NewEventLog(4)
	l.Append([]Event{{Type: EventNodeJoined}})
	batch := make([]Event, 10)
	l.Append(batch)
	evs, missed := l.Since(1)
	if missed || len(evs) != 10 || evs[0].Seq != 2 || evs[9].Seq != 11 {
		t.Fatalf("after a batch of 10 in a log of 4: %d events from %d, missed %v", len(evs), evs[0].Seq, missed)
	}
	// The log now holds 20; older events are overwritten past that.
	for range 15 {
		l.Append([]Event{{Type: EventTask}})
	}
	if l.Cap() != 20 {
		t.Fatalf("capacity %d after a batch of 10, want 20", l.Cap())
	}
	if evs, missed = l.Since(0); !missed || len(evs) != 20 || evs[0].Seq != 7 {
		t.Fatalf("bounded at twice the batch: %d events from %d, missed %v", len(evs), evs[0].Seq, missed)
	}
}
