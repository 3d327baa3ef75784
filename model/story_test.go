package model_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mgmtd/demo"
	"mgmtd/model"
)

// playStory shows every recorded demo step (real crm_mon captures of a
// failover) and returns the events of each transition as "type object"
// strings.
func playStory(t *testing.T) [][]string {
	t.Helper()
	steps := demo.MustLoad()
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	p := demo.NewPlayer(steps, st, 1)
	var out [][]string
	for i := 0; i <= len(steps); i++ {
		last := st.Events().Last()
		p.Show(i)
		evs, missed := st.Events().Since(last)
		if missed {
			t.Fatal("event buffer dropped events")
		}
		var s []string
		for _, e := range evs {
			s = append(s, fmt.Sprintf("%s %s %s>%s", e.Type, e.Object.Name, e.From, e.To))
		}
		out = append(out, s)
	}
	return out
}

func has(evs []string, prefix string) bool {
	for _, e := range evs {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// TestStoryEvents checks the typed events of the failover story against
// what its captions (story.json) say happened.
func TestStoryEvents(t *testing.T) {
	evs := playStory(t)
	want := map[int][]string{
		1: {"resource.failed web-srv"},
		2: {"node.left hv1 online>unclean", "host.unreachable hv1", "resource.stopped web-srv", "vm.state vm-app running>unknown"},
		3: {"resource.moved vm-app hv1>hv2", "resource.moved vip-db hv1>hv2", "resource.promoted db", "node.state hv1 unclean>offline", "fencing hv1 >success"},
		4: {"quorum.lost demo", "node.left hv3 online>unclean", "resource.stopped vm-app hv2>", "resource.stopped vip-db hv2>"},
		5: {"quorum.gained demo", "node.joined hv3", "resource.started vm-app >hv2"},
		6: {"node.joined hv1", "host.reachable hv1", "resource.moved vm-app hv2>hv1", "resource.moved vip-db hv2>hv1"},
	}
	for step, list := range want {
		for _, w := range list {
			if !has(evs[step], w) {
				t.Errorf("step %d: no event %q in %v", step, w, evs[step])
			}
		}
	}
	// web-srv's failure record went with app1's recovery (a new guest,
	// a new history): once app1 is back and web-srv runs without it, its
	// clearing is announced, and the old failure is never re-announced.
	if !has(evs[3], "resource.recovered web-srv") || has(evs[3], "resource.failed web-srv") {
		t.Errorf("step 3: web-srv's failure is not cleared (or is announced again): %v", evs[3])
	}
	// Sources reported together never show a half-way conflict.
	for i, e := range evs {
		if has(e, "conflict") {
			t.Errorf("step %d: transient conflict %v", i, e)
		}
	}
	// Looping back from the last step to the first changes little: the
	// story ends where it started.
	if len(evs[len(evs)-1]) > 3 {
		t.Errorf("loop back to step 0 produced %d events: %v", len(evs[len(evs)-1]), evs[len(evs)-1])
	}
}

// TestStoryWhere follows web through the guest node and its VM to the
// physical host, before and after the failover.
func TestStoryWhere(t *testing.T) {
	steps := demo.MustLoad()
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	p := demo.NewPlayer(steps, st, 1)
	for step, host := range map[int]string{0: "hv1", 3: "hv2", 6: "hv1"} {
		p.Show(step)
		sn := st.Snapshot()
		ans := sn.Where("192.0.2.10")
		if len(ans.Matches) == 0 || len(ans.Instances) == 0 {
			t.Fatalf("step %d: where(192.0.2.10) found nothing", step)
		}
		for _, in := range ans.Instances {
			if in.Active && in.Host != host {
				t.Errorf("step %d: %s on %s has host %s, want %s", step, in.Resource, in.Node, in.Host, host)
			}
			if in.Resource == "web-ip" {
				kinds := ""
				for _, h := range in.Chain {
					kinds += string(h.Kind) + " "
				}
				if kinds != "resource node resource vm node host " {
					t.Errorf("step %d: chain %q", step, kinds)
				}
			}
		}
		if len(ans.Addresses) != 1 || ans.Addresses[0].Method != model.MethodIPTakeover || ans.Addresses[0].Host != host {
			t.Errorf("step %d: addresses %+v", step, ans.Addresses)
		}
	}
}

// TestStoryImpact: losing the host of vm-app takes the VM, its guest node
// and the web group with it, and the unmanaged VM on that host.
func TestStoryImpact(t *testing.T) {
	steps := demo.MustLoad()
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	demo.NewPlayer(steps, st, 1).Show(0)
	sn := st.Snapshot()
	im := sn.Impact("hv1")
	got := map[string]bool{}
	for _, in := range im.Instances {
		got[in.Resource+"@"+in.Node] = true
	}
	for _, w := range []string{"vm-app@hv1", "web-ip@app1", "web-srv@app1", "app1@hv1"} {
		if !got[w] {
			t.Errorf("impact(hv1) misses %s: %v", w, got)
		}
	}
	if len(im.GuestNodes) == 0 || im.GuestNodes[0] != "app1" {
		t.Errorf("guest nodes %v", im.GuestNodes)
	}
	vms := map[string]bool{}
	for _, v := range im.VMs {
		vms[v.Name] = v.Managed
	}
	if managed, ok := vms["vm-app"]; !ok || !managed {
		t.Errorf("vm-app not listed as a managed VM: %v", vms)
	}
	im3 := sn.Impact("hv3")
	found := false
	for _, v := range im3.VMs {
		if v.Name == "build01" && !v.Managed {
			found = true
		}
	}
	if !found {
		t.Errorf("impact(hv3) misses the unmanaged VM build01: %+v", im3.VMs)
	}
	if sn.Impact("nosuch").Known {
		t.Error("unknown node is known")
	}
}

// TestStoryLoopFailures plays the demo story five times: the web-srv
// failure of step 1 is cleaned up at step 7 and comes back (the same
// recorded failure) in the next loop, so it is announced in every loop,
// and a failure the snapshot shows is never one whose clearing was the
// last word (an NMS would close a live alarm).
func TestStoryLoopFailures(t *testing.T) {
	steps := demo.MustLoad()
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	p := demo.NewPlayer(steps, st, 1)
	const loops = 5
	open := map[string]bool{} // resource -> failure announced, not cleared
	failed, cleared := 0, 0
	for i := range loops * len(steps) {
		last := st.Events().Last()
		p.Show(i)
		evs, _ := st.Events().Since(last)
		for _, e := range evs {
			switch {
			case e.Type == model.EventResourceFailed:
				failed++
				open[e.Object.Name] = true
			case e.Type == model.EventResourceRecovered && strings.HasSuffix(e.Message, "failures cleared"):
				cleared++
				open[e.Object.Name] = false
			}
		}
		for _, f := range st.Snapshot().Failures {
			if !open[model.PrimitiveOf(f.Resource)] {
				t.Errorf("loop %d step %d: %s fails on %s but its failure is not announced (or was cleared)",
					i/len(steps), i%len(steps), f.Resource, f.Node)
			}
		}
	}
	if failed != loops || cleared != loops {
		t.Errorf("%d loops: %d resource.failed and %d failures cleared, want %d each", loops, failed, cleared, loops)
	}
}

// TestFailureSequence replays recorded crm_mon/CIB states of the demo
// (step 1: web-srv's monitor failure after its restart; step 7: no failure) in the
// order an operator's actions produce them, and a new occurrence of the
// same operation's failure (new call id and time) without a cleanup in
// between.
func TestFailureSequence(t *testing.T) {
	steps := demo.MustLoad()
	failing, clean := steps[1].Part, steps[7].Part
	if len(failing.Failures) != 1 || len(clean.Failures) != 0 {
		t.Fatalf("recordings changed: %d and %d failures", len(failing.Failures), len(clean.Failures))
	}
	again := *failing
	again.Failures = slices.Clone(failing.Failures)
	again.Failures[0].Call += 6
	again.Failures[0].Time = again.Failures[0].Time.Add(5 * time.Minute)
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	st.Report(model.Report{Source: "pacemaker", Pacemaker: clean})
	for i, tc := range []struct {
		name string
		part *model.PacemakerPart
		want []string
	}{
		{"failure", failing, []string{"resource.failed web-srv app1"}},
		{"refresh", failing, nil},
		{"cleanup", clean, []string{"resource.recovered web-srv app1"}},
		{"the same failure back", failing, []string{"resource.failed web-srv app1"}},
		{"failed again, no cleanup", &again, []string{"resource.failed web-srv app1"}},
		{"cleanup again", clean, []string{"resource.recovered web-srv app1"}},
	} {
		last := st.Events().Last()
		st.Report(model.Report{Source: "pacemaker", Pacemaker: tc.part})
		evs, _ := st.Events().Since(last)
		var got []string
		for _, e := range evs {
			if e.Type == model.EventResourceFailed || e.Type == model.EventResourceRecovered {
				got = append(got, string(e.Type)+" "+e.Object.Name+" "+e.Node)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%d %s: events %q, want %q", i, tc.name, got, tc.want)
		}
	}
}

// TestBaseline reports the demo's first step source by source, as the
// sources of `mgmtd serve` do after registering: every event of a
// source's first picture is a baseline, not a change; later changes are
// not.
func TestBaseline(t *testing.T) {
	steps := demo.MustLoad()
	st := model.NewStore(model.StoreOptions{})
	for _, s := range []string{demo.PacemakerSource, demo.CorosyncSource, demo.VirtSource} {
		st.Register(s)
	}
	report := func(r model.Report) (baseline, changes []string) {
		last := st.Events().Last()
		st.Report(r)
		evs, _ := st.Events().Since(last)
		for _, e := range evs {
			if e.Baseline {
				baseline = append(baseline, string(e.Type)+" "+e.Object.Name)
			} else {
				changes = append(changes, string(e.Type)+" "+e.Object.Name)
			}
		}
		return baseline, changes
	}
	s0, s1 := steps[0], steps[1]
	for _, tc := range []struct {
		name            string
		r               model.Report
		baseline, wants []string // prefixes that must be among them
	}{
		{"pacemaker first", model.Report{Source: demo.PacemakerSource, Pacemaker: s0.Part},
			[]string{"quorum.gained", "dc.changed", "node.joined hv1", "resource.started vm-app", "source.recovered pacemaker"}, nil},
		{"corosync first", model.Report{Source: demo.CorosyncSource, Corosync: s0.Corosync},
			[]string{"source.recovered corosync"}, nil},
		{"virt first", model.Report{Source: demo.VirtSource, Virt: s0.Virt},
			[]string{"vm.appeared vm-app", "vm.appeared build01", "source.recovered virt"}, nil},
		{"a failure", model.Report{Source: demo.PacemakerSource, Pacemaker: s1.Part}, nil, []string{"resource.failed web-srv"}},
		{"virt fails", model.Report{Source: demo.VirtSource, Err: errors.New("down")}, nil, []string{"source.stale virt"}},
		{"virt back", model.Report{Source: demo.VirtSource, Virt: s0.Virt}, nil, []string{"source.recovered virt"}},
	} {
		baseline, changes := report(tc.r)
		for _, w := range tc.baseline {
			if !has(baseline, w) {
				t.Errorf("%s: %q not a baseline event: baseline %v, changes %v", tc.name, w, baseline, changes)
			}
		}
		for _, w := range tc.wants {
			if !has(changes, w) {
				t.Errorf("%s: %q not a change: baseline %v, changes %v", tc.name, w, baseline, changes)
			}
		}
		if tc.baseline != nil && len(changes) > 0 {
			t.Errorf("%s: first picture reported changes %v", tc.name, changes)
		}
		if tc.baseline == nil && len(baseline) > 0 {
			t.Errorf("%s: baseline events %v after the first picture", tc.name, baseline)
		}
	}
}
