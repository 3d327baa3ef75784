package model_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"mgmtd/demo"
	"mgmtd/model"
)

// storyAt shows demo step i (real crm_mon captures) and returns the
// snapshot.
func storyAt(t *testing.T, i int) (*model.Snapshot, *demo.Player) {
	t.Helper()
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	p := demo.NewPlayer(demo.MustLoad(), st, 1)
	p.Show(i)
	return st.Snapshot(), p
}

func kinds(ps []model.StatusProblem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Kind+" "+p.Object)
	}
	return out
}

// TestStatusOverTheStory: what is wrong at each step of the demo's
// failover, worst first.
func TestStatusOverTheStory(t *testing.T) {
	for _, tc := range []struct {
		step     int
		severity model.Severity
		first    string   // the first problem
		has      []string // among the problems
	}{
		{0, model.SeverityOK, "", nil},
		{1, model.SeverityWarning, "failed-action web-srv", nil}, // restarted; the failed action stays
		{2, model.SeverityCritical, "node-unclean hv1", []string{"resource-failed vm-app", "node-offline app1", "source-stale virt"}},
		{3, model.SeverityCritical, "node-offline hv1", nil}, // fenced, powered off
		{4, model.SeverityCritical, "no-quorum demo", []string{"node-unclean hv3", "resource-stopped vm-app"}},
		{7, model.SeverityOK, "", nil},
	} {
		sn, _ := storyAt(t, tc.step)
		st := sn.Status()
		got := kinds(st.Problems)
		if st.Severity != tc.severity {
			t.Errorf("step %d: severity %s, want %s (problems %q)", tc.step, st.Severity, tc.severity, got)
		}
		if tc.first == "" && len(got) > 0 || tc.first != "" && (len(got) == 0 || got[0] != tc.first) {
			t.Errorf("step %d: problems %q, want %q first", tc.step, got, tc.first)
		}
		for _, h := range tc.has {
			if !slices.Contains(got, h) {
				t.Errorf("step %d: problems %q lack %q", tc.step, got, h)
			}
		}
		for i := 1; i < len(st.Problems); i++ {
			if st.Problems[i-1].Severity == model.SeverityWarning && st.Problems[i].Severity == model.SeverityCritical {
				t.Errorf("step %d: a critical problem after a warning: %q", tc.step, got)
			}
		}
		if st.Counts.Problems != len(st.Problems) || st.Counts.Nodes != len(sn.Nodes) {
			t.Errorf("step %d: counts %+v", tc.step, st.Counts)
		}
	}
}

// TestStatusTree: groups and clones carry their children and instances;
// an instance on the UNCLEAN node is not plain "Started".
func TestStatusTree(t *testing.T) {
	sn, _ := storyAt(t, 2)
	st := sn.Status()
	find := func(items []model.StatusItem, id string) *model.StatusItem {
		var walk func([]model.StatusItem) *model.StatusItem
		walk = func(is []model.StatusItem) *model.StatusItem {
			for i := range is {
				if is[i].ID == id {
					return &is[i]
				}
				if f := walk(is[i].Children); f != nil {
					return f
				}
			}
			return nil
		}
		return walk(items)
	}
	for id, kind := range map[string]string{"web": "group", "db-clone": "promotable", "ping-clone": "clone"} {
		it := find(st.Tree, id)
		if it == nil || it.Kind != kind || len(it.Children) == 0 {
			t.Errorf("%s: %+v, want a %s with children", id, it, kind)
		}
	}
	vip := find(st.Tree, "vip-db")
	if vip == nil || len(vip.Instances) != 1 || vip.Instances[0].State != "Started (node UNCLEAN)" || vip.Severity != model.SeverityCritical {
		t.Errorf("vip-db on the UNCLEAN hv1: %+v", vip)
	}
	db := find(st.Tree, "db")
	if db == nil || len(db.Instances) < 3 {
		t.Fatalf("db instances: %+v", db)
	}
}

// TestSubtractPlanned (issue 19 item 5): with hv1 UNCLEAN, the impact of
// hv2 listed hv1's fencing and recovery, which the cluster does anyway.
func TestSubtractPlanned(t *testing.T) {
	_, p := storyAt(t, 2)
	sims := p.Impact(context.Background(), "hv2")
	if len(sims) != 2 {
		t.Fatalf("%d simulations", len(sims))
	}
	for _, sim := range sims {
		var acts, planned []string
		for _, a := range sim.Actions {
			acts = append(acts, a.Text())
		}
		for _, a := range sim.Planned {
			planned = append(planned, a.Text())
		}
		if slices.ContainsFunc(acts, func(s string) bool { return strings.HasPrefix(s, "fence hv1") }) {
			t.Errorf("%s of hv2: hv1's fencing is listed as caused by it: %q", sim.Scenario, acts)
		}
		if len(planned) == 0 {
			t.Errorf("%s of hv2: nothing planned anyway, with hv1 UNCLEAN", sim.Scenario)
		}
		if len(acts) == 0 {
			t.Errorf("%s of hv2: no action of its own", sim.Scenario)
		}
		t.Logf("%s of hv2: own %q; planned anyway %q", sim.Scenario, acts, planned)
	}
}

func TestSimActionText(t *testing.T) {
	for _, tc := range []struct {
		a    model.SimAction
		want string
	}{
		{model.SimAction{Action: "promote", Resource: "db:1", Dest: "hv2", Node: "hv2"}, "promote db:1 on hv2"},
		{model.SimAction{Action: "demote", Resource: "db:0", Source: "hv1", Node: "hv1"}, "demote db:0 on hv1"},
		{model.SimAction{Action: "move", Resource: "vm-app", Source: "hv1", Dest: "hv2"}, "move vm-app from hv1 to hv2"},
		{model.SimAction{Action: "stop", Resource: "vip-db", Source: "hv1", Node: "hv1"}, "stop vip-db on hv1"},
		{model.SimAction{Action: "start", Resource: "web", Dest: "hv3", Blocked: true}, "start web on hv3 (blocked)"},
		{model.SimAction{Action: "Fence (reboot)", Resource: "hv1"}, "fence hv1 (reboot)"},
	} {
		if got := tc.a.Text(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.a, got, tc.want)
		}
	}
}

// BenchmarkStatus: the status view of the demo's UNCLEAN step (computed
// per GET /api/v1/status and per `mgmtd status`).
func BenchmarkStatus(b *testing.B) {
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	demo.NewPlayer(demo.MustLoad(), st, 1).Show(3)
	sn := st.Snapshot()
	b.ReportAllocs()
	for b.Loop() {
		_ = sn.Status()
	}
}
