package snmp

import (
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/demo"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

const sysORTable = ".1.3.6.1.2.1.1.9"

// orEntries returns snmpd's sysORTable as sysORID -> sysORDescr.
func orEntries(t *testing.T, d *snmpd) map[string]string {
	t.Helper()
	out, err := d.tool(t, "snmpwalk", "-Oq", sysORTable)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ids, descrs := map[string]string{}, map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		name, v, _ := strings.Cut(l, " ")
		if row, ok := strings.CutPrefix(name, sysORTable+".1.2."); ok {
			ids[row] = v
		}
		if row, ok := strings.CutPrefix(name, sysORTable+".1.3."); ok {
			descrs[row] = strings.Trim(v, `"`)
		}
	}
	m := map[string]string{}
	for row, id := range ids {
		if _, dup := m[id]; dup {
			t.Errorf("sysORTable lists %s twice:\n%s", id, out)
		}
		m[id] = descrs[row]
	}
	return m
}

// TestSysORTable walks snmpd's sysORTable: our two modules are listed
// (AgentX AddAgentCaps) while the subagent is registered, once again
// after snmpd restarts, and no more once it has stopped.
func TestSysORTable(t *testing.T) {
	d := startSnmpd(t, "unix")
	srv := newTestServer(t, d.agentx)
	stop := startServer(t, srv)
	check := func(when string) {
		t.Helper()
		m := orEntries(t, d)
		for _, c := range Caps {
			if got := m[c.ID.String()]; got != c.Descr {
				t.Errorf("%s: sysORTable %s = %q, want %q (table %v)", when, c.ID, got, c.Descr, m)
			}
		}
	}
	waitConnects(t, srv, 1)
	check("registered")
	d.stop(syscall.SIGTERM)
	d.run(t)
	waitConnects(t, srv, 2)
	check("after an snmpd restart")
	stop()
	testutil.Eventually(t, waitTimeout, func() bool {
		m := orEntries(t, d)
		_, ok := m[EnterpriseOID.String()]
		return !ok
	}, "our sysORTable entries are gone after the subagent stopped")
}

// TestLastChange: mgmtdLastChange is the time of the generation, not of
// the latest refresh; a refresh that finds nothing new keeps it.
func TestLastChange(t *testing.T) {
	st := demoStore()
	srv, err := New(Options{AgentX: "unix:/nonexistent", Now: fixedNow}, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lastChange := func() string {
		t.Helper()
		if err := srv.rebuild(true); err != nil {
			t.Fatal(err)
		}
		v, ok := srv.client.Table().Lookup(clusterOID.Append(sLastChange, 0))
		if !ok {
			t.Fatal("no mgmtdLastChange")
		}
		return string(v.Bytes)
	}
	first, gen := lastChange(), st.Snapshot().Generation
	pm, _, _, _ := demoParts()
	for i := range 3 {
		st.Report(model.Report{Source: "pacemaker", Time: t0.Add(time.Duration(i+1) * time.Minute), Pacemaker: pm})
		if g := st.Snapshot().Generation; g != gen {
			t.Fatalf("an unchanged refresh moved the generation %d -> %d", gen, g)
		}
		if got := lastChange(); got != first {
			t.Fatalf("refresh %d moved mgmtdLastChange %x -> %x", i+1, first, got)
		}
	}
	pm.Nodes[1].State = model.NodeOnline
	st.Report(model.Report{Source: "pacemaker", Time: t0.Add(10 * time.Minute), Pacemaker: pm})
	if got, want := lastChange(), string(dateAndTime(t0.Add(10*time.Minute)).Bytes); got != want {
		t.Fatalf("after a change mgmtdLastChange = %x, want %x", got, want)
	}
}

// TestStartBaseline starts the subagent the way `mgmtd serve` does:
// before the sources' first refresh. The agent start notification waits
// for them and carries the cluster name they report; their first
// pictures (every node joining, every resource starting, quorum, the DC,
// an old failure) are the baseline and not sent; the first change is.
func TestStartBaseline(t *testing.T) {
	d, td := snmpdWithTrapd(t)
	steps := demo.MustLoad()
	// A view outside the cluster sends every notification (the DC changes
	// from hv1 to hv2 in the steps played).
	st := model.NewStore(model.StoreOptions{View: "nms"})
	for _, s := range []string{demo.PacemakerSource, demo.CorosyncSource, demo.VirtSource} {
		st.Register(s)
	}
	srv, err := New(Options{AgentX: d.agentx}, st, st.Events(), nil)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, srv)
	waitConnects(t, srv, 1)
	if s := srv.Stats(); s.NotifiesSent != 0 || s.NotifiesQueued != 0 {
		t.Fatalf("notifications before the sources' first refresh: %+v", s)
	}
	// The sources' first refreshes, one by one: step 1 of the story has
	// web-srv's failure.
	first := steps[1]
	st.Report(model.Report{Source: demo.PacemakerSource, Pacemaker: first.Part})
	st.Report(model.Report{Source: demo.CorosyncSource, Corosync: first.Corosync})
	st.Report(model.Report{Source: demo.VirtSource, Virt: first.Virt})
	// The first change: hv1 fails.
	seq := st.Events().Last()
	st.Report(model.Report{Source: demo.PacemakerSource, Pacemaker: steps[2].Part})
	evs, _ := st.Events().Since(seq)
	var want []string
	for _, e := range evs {
		if _, _, ok := Notification(st.Snapshot(), e); ok {
			want = append(want, e.Message)
		}
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		s := srv.Stats()
		return s.NotifiesQueued == 0 && s.NotifiesSent == uint64(1+len(want)) && len(td.traps(t)) == 1+len(want)
	}, "the start and the first change's %d notifications arrive", len(want))
	traps := td.traps(t)
	if traps[0].oid != entStr+".0.1" || traps[0].value(entStr+".1.1.1.0") != `STRING: "demo"` {
		t.Errorf("first notification %v, want mgmtdAgentStart with mgmtdClusterName demo", traps[0])
	}
	var got []string
	for _, tr := range traps[1:] {
		got = append(got, tr.message())
	}
	if !slices.Equal(got, want) {
		t.Errorf("after the start:\n%s\nwant the first change only:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestOneSender runs two subagents on the same model snapshots whose views
// differ (node1, the DC, and node2), each through its own snmpd, both
// sending to one snmptrapd: each cluster-wide notification arrives once,
// from the DC's subagent, and after the DC moves, from the new DC's.
func TestOneSender(t *testing.T) {
	d1 := newSnmpd(t, "unix")
	td := startTrapd(t, d1.trap)
	d2 := newSnmpdTrap(t, "unix", d1.trap)
	d1.run(t)
	d2.run(t)
	stores := []*model.Store{demoStore(), demoStoreView("node2")}
	var srvs []*Server
	for i, d := range []*snmpd{d1, d2} {
		srv, err := New(Options{AgentX: d.agentx, Now: fixedNow}, stores[i], stores[i].Events(), nil)
		if err != nil {
			t.Fatal(err)
		}
		startServer(t, srv)
		waitConnects(t, srv, 1)
		srvs = append(srvs, srv)
	}
	start := entStr + ".0.1"
	testutil.Eventually(t, waitTimeout, func() bool { return td.count(t, start) == 2 }, "both subagents' start notifications arrive")

	report := func(pm *model.PacemakerPart, at time.Duration) {
		for _, st := range stores {
			st.Report(model.Report{Source: "pacemaker", Time: t0.Add(at), Pacemaker: pm})
		}
	}
	pm, _, _, _ := demoParts()
	// db fails again on node2 (a new occurrence), node1 is the DC.
	pm.Failures[0].Call, pm.Failures[0].Time = 43, t0.Add(time.Minute)
	report(pm, time.Minute)
	// node2 becomes the DC and node1 goes to standby.
	pm.Cluster.DC = "node2"
	pm.Nodes[0].DC, pm.Nodes[1].DC = false, true
	report(pm, 2*time.Minute)
	pm.Nodes[0].State, pm.Nodes[0].Standby = model.NodeStandby, true
	report(pm, 3*time.Minute)

	want := []string{"resource db failed monitor on node2: process died", "DC changed from node1 to node2",
		"node node1 is standby (was online)"}
	testutil.Eventually(t, waitTimeout, func() bool {
		traps := td.traps(t)
		sent := srvs[0].Stats().NotifiesSent + srvs[1].Stats().NotifiesSent
		queued := srvs[0].Stats().NotifiesQueued + srvs[1].Stats().NotifiesQueued
		return queued == 0 && uint64(len(traps)) == sent && slices.ContainsFunc(traps, func(tr trap) bool { return tr.message() == want[2] })
	}, "every notification sent has arrived")
	count := map[string]int{}
	for _, tr := range td.traps(t) {
		if tr.oid != start {
			count[tr.message()]++
		}
	}
	for _, w := range want {
		if count[w] != 1 {
			t.Errorf("%q arrived %d times, want once", w, count[w])
		}
	}
	if len(count) != len(want) {
		t.Errorf("notifications %v, want %q", count, want)
	}
	if a, b := srvs[0].Stats().NotifiesSent, srvs[1].Stats().NotifiesSent; a != 2 || b != 3 {
		t.Errorf("node1's subagent sent %d, node2's %d; want 2 (start, failure) and 3 (start, DC, standby)", a, b)
	}
}

// demoStoreView is demoStore seen from another node.
func demoStoreView(view string) *model.Store {
	st := model.NewStore(model.StoreOptions{Cluster: "democluster", View: view, Now: fixedNow})
	replayDemo(st)
	return st
}

// TestDroppedCounted: notifications queued while snmpd is away beyond
// the queue's bound are dropped, logged, and counted in
// mgmtdNotificationsDropped; the rest are sent when snmpd is back.
func TestDroppedCounted(t *testing.T) {
	d := startSnmpd(t, "unix")
	st := demoStore()
	var logs testutil.SyncBuffer
	srv, err := New(Options{AgentX: d.agentx, Now: fixedNow, NotifyQueue: 2, Refresh: 20 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, st, st.Events(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, srv)
	waitConnects(t, srv, 1)
	testutil.Eventually(t, waitTimeout, func() bool { return srv.Stats().NotifiesSent == 1 }, "the agent start notification is sent")
	d.stop(syscall.SIGTERM)
	testutil.Eventually(t, waitTimeout, func() bool { return !srv.Stats().Registered }, "the server has lost its session")
	pm, _, _, _ := demoParts()
	for i := range 5 {
		if i%2 == 0 {
			pm.Nodes[1].State = model.NodeOnline
		} else {
			pm.Nodes[1].State = model.NodeStandby
		}
		st.Report(model.Report{Source: "pacemaker", Time: t0.Add(time.Duration(i+1) * time.Minute), Pacemaker: pm})
	}
	testutil.Eventually(t, waitTimeout, func() bool { return srv.Stats().NotifiesDropped == 3 }, "three of five notifications are dropped")
	d.run(t)
	waitConnects(t, srv, 2)
	want := strings.Join([]string{
		clusterOID.Append(sNotificationsSent, 0).String() + " = Counter32: 3",
		clusterOID.Append(sNotificationsDropped, 0).String() + " = Counter32: 3",
		clusterOID.Append(sNotificationsQueued, 0).String() + " = Gauge32: 0",
	}, "\n")
	var out string
	if !testutil.Poll(waitTimeout, func() bool {
		out, err = d.tool(t, "snmpget", entStr+".1.1.34.0", entStr+".1.1.35.0", entStr+".1.1.36.0")
		return err == nil && strings.TrimSpace(out) == want
	}) {
		t.Fatalf("snmpget: %v\n%s\nwant\n%s", err, out, want)
	}
	if !strings.Contains(logs.String(), `msg="notification dropped" reason="queue full"`) {
		t.Errorf("the drop is not logged:\n%s", logs.String())
	}
}
