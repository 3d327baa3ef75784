package snmp

import (
	"strings"
	"testing"

	"mgmtd/demo"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// TestNotifyBurst plays three loops of the demo failover story to the
// store at once (about 190 events, two failovers per loop) with the
// default notification settings and counts the traps at a real
// snmptrapd: every event with a notification arrives, in order per
// object, and nothing is dropped.
func TestNotifyBurst(t *testing.T) {
	d, td := snmpdWithTrapd(t)
	steps := demo.MustLoad()
	// A view outside the cluster sends every notification (the DC's
	// changes during the story's quorum loss would otherwise move the
	// sending to another node's subagent).
	st := model.NewStore(model.StoreOptions{Cluster: "demo", View: "nms"})
	p := demo.NewPlayer(steps, st, 1)
	p.Show(0)
	srv, err := New(Options{AgentX: d.agentx, Hypervisor: "no-such-host"}, st, st.Events(), nil)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, srv)
	start := entStr + ".0.1"
	testutil.Eventually(t, waitTimeout, func() bool { return td.count(t, start) == 1 }, "the agent start notification arrives")

	first := st.Events().Last()
	for i := 1; i <= 3*len(steps); i++ {
		p.Show(i)
	}
	evs, _ := st.Events().Since(first)
	snap := st.Snapshot()
	var want []model.Event
	for _, e := range evs {
		if _, _, ok := Notification(snap, e); ok && !e.Baseline {
			want = append(want, e)
		}
	}
	if len(want) < 50 {
		t.Fatalf("the burst has %d notifications, want at least 50", len(want))
	}
	testutil.Eventually(t, 2*waitTimeout, func() bool {
		s := srv.Stats()
		return s.NotifiesSent+s.NotifiesDropped >= uint64(1+len(want))
	}, "every notification is sent or dropped")
	sent := srv.Stats().NotifiesSent
	testutil.Eventually(t, waitTimeout, func() bool { return uint64(len(td.traps(t))) >= sent },
		"snmptrapd has logged the %d notifications snmpd was given", sent)

	var got []trap
	for _, tr := range td.traps(t) {
		if strings.HasPrefix(tr.oid, entStr+".0.") && tr.oid != start {
			got = append(got, tr)
		}
	}
	s := srv.Stats()
	t.Logf("burst of %d notifications: %d arrived, %d dropped (sent %d in all)", len(want), len(got), s.NotifiesDropped, s.NotifiesSent)
	if len(got) != len(want) || s.NotifiesDropped != 0 {
		t.Errorf("%d of %d notifications arrived, %d dropped", len(got), len(want), s.NotifiesDropped)
	}
	// In order per object: the messages about each object arrive in the
	// order of its events.
	object := map[string]string{} // message -> object
	perWant := map[string][]string{}
	for _, e := range want {
		object[e.Message] = e.Object.Name
		perWant[e.Object.Name] = append(perWant[e.Object.Name], e.Message)
	}
	perGot := map[string][]string{}
	for _, tr := range got {
		o, ok := object[tr.message()]
		if !ok {
			t.Errorf("unexpected notification %q", tr.message())
			continue
		}
		perGot[o] = append(perGot[o], tr.message())
	}
	for o, w := range perWant {
		if g := perGot[o]; strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s: notifications\n%s\nwant\n%s", o, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
}
