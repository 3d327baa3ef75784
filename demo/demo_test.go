package demo

import (
	"context"
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
