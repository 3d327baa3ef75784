package demo

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/model"
)

func TestStoryLoads(t *testing.T) {
	steps, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) < 5 {
		t.Fatalf("%d steps", len(steps))
	}
	for _, s := range steps {
		if s.Caption == "" || s.Dwell <= 0 || len(s.Part.Nodes) == 0 || len(s.Part.Instances) == 0 {
			t.Errorf("%s: caption %q dwell %s nodes %d", s.Name, s.Caption, s.Dwell, len(s.Part.Nodes))
		}
		for _, n := range []string{"hv1", "hv2", "hv3"} {
			if len(s.sims[n]) != 2 {
				t.Errorf("%s: %d recorded simulations for %s", s.Name, len(s.sims[n]), n)
			}
		}
	}
}

// TestLoopIsSeamless: the last step places everything where the first
// does, so the loop does not jump.
func TestLoopIsSeamless(t *testing.T) {
	steps, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	place := func(s Step) map[string]string {
		m := map[string]string{}
		for _, in := range s.Part.Instances {
			if in.Active {
				m[in.Resource+"@"+in.Node] = string(in.Role)
			}
		}
		return m
	}
	first, last := place(steps[0]), place(steps[len(steps)-1])
	for k, v := range first {
		if last[k] != v {
			t.Errorf("%s: %q at the start, %q at the end", k, v, last[k])
		}
	}
	if len(first) != len(last) {
		t.Errorf("%d active instances at the start, %d at the end", len(first), len(last))
	}
}

// rec counts the reports and the calls (one a step shown) it gets.
type rec struct{ n, shows atomic.Int64 }

func (r *rec) ReportAll(rs ...model.Report) *model.Snapshot {
	r.n.Add(int64(len(rs)))
	r.shows.Add(1)
	return nil
}

func TestPlayerLoops(t *testing.T) {
	steps, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for i := range steps {
		steps[i].Dwell = time.Millisecond
	}
	r := &rec{}
	p := NewPlayer(steps, r, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, func() bool { return r.shows.Load() > int64(len(steps)) },
		"the player has shown all %d steps and the first again", len(steps))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := r.n.Load(); n < int64(2*len(steps)-2) {
		t.Fatalf("%d reports", n)
	}
	sims := p.Impact(context.Background(), "hv1")
	if len(sims) != 2 || sims[0].Scenario != "standby" || sims[1].Scenario != "down" {
		t.Fatalf("%+v", sims)
	}
}

// storyIQN is the demo's iSCSI target.
const storyIQN = "iqn.2026-12.org.example.demo:store"

// TestStorageStory (issue 16): the storage stack through the recorded
// story, played to a store as the daemon plays it - where answers the
// target's IQN with the chain target -> LUN -> /dev/drbd0 -> r0 -> its
// Primary -> node -> host and says whether the replicas are in sync;
// impact says what replication a node's loss takes and refuses a safe
// standby of the Primary whose peer is away or resyncing; the loop
// publishes the DRBD events of the failover (connection lost, resync
// started and finished).
func TestStorageStory(t *testing.T) {
	steps := MustLoad()
	if len(steps) != 9 {
		t.Fatalf("%d steps; the checks below follow the recorded story of 9", len(steps))
	}
	st := model.NewStore(model.StoreOptions{Cluster: "demo", View: View})
	p := NewPlayer(steps, st, 1)
	chain := func(c model.StorageChain) string {
		var s []string
		for _, h := range c.Chain {
			s = append(s, string(h.Kind)+":"+h.Name)
		}
		return strings.Join(s, " -> ")
	}
	for i, want := range []struct {
		primary string // "" when r0 runs nowhere
		inSync  bool
		sync    string // in the verdict
		safe    map[string]bool
		loss    map[string]string // impact's replication message, in part
	}{
		{primary: "hv1", inSync: true, safe: map[string]bool{"hv1": true, "hv2": true},
			loss: map[string]string{"hv1": "hv2 (UpToDate) can take over, and will run without redundancy", "hv2": "loses its only UpToDate peer; the Primary on hv1 continues without redundancy"}},
		1: {primary: "hv1", inSync: true},
		2: {primary: "hv1", sync: "not in sync"},
		3: {primary: "hv2", sync: "not in sync", safe: map[string]bool{"hv2": false}},
		5: {primary: "hv2", sync: "not in sync", safe: map[string]bool{"hv2": false}},
		6: {primary: "hv2", sync: "not in sync", safe: map[string]bool{"hv2": false}, loss: map[string]string{"hv1": "Inconsistent"}},
		7: {primary: "hv1", inSync: true, safe: map[string]bool{"hv1": true, "hv2": true}},
		8: {primary: "hv1", inSync: true},
	} {
		if i == 4 {
			continue
		}
		p.Show(i)
		s := st.Snapshot()
		ans := s.Where(storyIQN)
		if len(ans.Storage) != 1 {
			t.Fatalf("step %d: where %s: %d storage answers", i, storyIQN, len(ans.Storage))
		}
		c := ans.Storage[0]
		wantChain := "iscsi-target:" + storyIQN + " -> lun:0 -> device:/dev/drbd0 -> drbd:r0 -> node:" + want.primary + " -> host:" + want.primary
		if got := chain(c); got != wantChain || c.Primary != want.primary || c.Host != want.primary || c.Address != "192.0.2.30" {
			t.Errorf("step %d: chain %s (Primary %q, host %q, address %q), want %s", i, got, c.Primary, c.Host, c.Address, wantChain)
		}
		if c.InSync != want.inSync || !strings.Contains(c.Sync, want.sync) {
			t.Errorf("step %d: in sync %v %q, want %v %q", i, c.InSync, c.Sync, want.inSync, want.sync)
		}
		for node, safe := range want.safe {
			if im := s.Impact(node); im.StandbySafe != safe {
				t.Errorf("step %d: impact(%s) standby safe %v, want %v: %v %+v", i, node, im.StandbySafe, safe, im.Unsafe, im.Replication)
			}
		}
		for node, msg := range want.loss {
			im := s.Impact(node)
			if len(im.Replication) != 1 || !strings.Contains(im.Replication[0].Message, msg) {
				t.Errorf("step %d: impact(%s) replication %+v, want %q", i, node, im.Replication, msg)
			}
		}
	}
	// Step 4: hv2 lost quorum and stopped r0 there: no DRBD view, and the
	// target runs nowhere.
	p.Show(4)
	if c := st.Snapshot().Where(storyIQN).Storage; len(c) != 1 || c[0].Primary != "" || c[0].InSync {
		t.Errorf("step 4 (no quorum): %+v", c)
	}

	// A loop's DRBD events, in order.
	st2 := model.NewStore(model.StoreOptions{Cluster: "demo", View: View})
	p2 := NewPlayer(steps, st2, 1)
	for i := range 2 * len(steps) {
		p2.Show(i)
	}
	evs, _ := st2.Events().Since(0)
	var got []string
	for _, e := range evs {
		if e.Object.Kind == model.KindDRBD && !e.Baseline {
			got = append(got, string(e.Type))
		}
	}
	t.Logf("DRBD events over two loops: %v", got)
	for _, typ := range []model.EventType{model.EventDRBDConnectionLost, model.EventDRBDSyncStarted, model.EventDRBDSyncFinished} {
		if !slices.Contains(got, string(typ)) {
			t.Errorf("no %s event over two loops: %v", typ, got)
		}
	}
}
