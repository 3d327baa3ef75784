package mgmtd

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/auth"
	"mgmtd/model"
)

// TestScopeLeaks (issue 13 item 12, and item 5's token ids): a caller
// scoped to node2 saw the DC, the vote and object totals of the whole
// cluster, and predictions naming resources outside its scope; every
// viewer saw other callers' token ids and addresses in the task list, and
// their refused attempts.
func TestScopeLeaks(t *testing.T) {
	cfg, _ := cibConfig(t, "guest")
	tokens, err := auth.OpenTokenStore(filepath.Join(cfg.StateDir, auth.TokenFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(role auth.Role, scope string) map[string]string {
		sc, err := auth.ParseScope(scope)
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := tokens.Create(auth.TokenSpec{Name: string(role) + " " + scope, Grants: []auth.Grant{{Role: role, Scope: sc}}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"Authorization": "Bearer " + s}
	}
	operator, viewer, scoped := secret(auth.RoleOperator, "*"), secret(auth.RoleViewer, "*"), secret(auth.RoleViewer, "node:node2")
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{})
	waitResources(t, d)
	get := func(hdr map[string]string, path string, out any) {
		t.Helper()
		code, _, body := call(t, "GET", d.URL+path, hdr, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var env struct{ Data json.RawMessage }
		if strings.HasPrefix(path, "/api/v1/tasks") {
			env.Data = body // the task routes answer without the envelope
		} else if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}

	var cl model.Cluster
	get(scoped, "/api/v1/clusters/guest", &cl)
	var nodes []model.Node
	get(scoped, "/api/v1/nodes", &nodes)
	var rscs []model.Resource
	get(scoped, "/api/v1/resources", &rscs)
	if cl.DC != "" || cl.TotalVotes != 0 || cl.ExpectedVotes != 0 || cl.NodesConfigured != len(nodes) || cl.ResourcesConfigured != len(rscs) {
		t.Errorf("scoped cluster facts %+v (visible: %d nodes, %d resources)", cl, len(nodes), len(rscs))
	}
	if !cl.Quorate || cl.Name != "guest" {
		t.Errorf("the health facts went too: %+v", cl)
	}
	var sn model.Snapshot
	get(scoped, "/api/v1/snapshot", &sn)
	if sn.Cluster.DC != "" || sn.Membership.TotalVotes != 0 || len(sn.Nodes) != len(nodes) {
		t.Errorf("scoped snapshot: DC %q, votes %d, %d nodes", sn.Cluster.DC, sn.Membership.TotalVotes, len(sn.Nodes))
	}
	visible := map[string]bool{}
	for _, r := range rscs {
		visible[r.ID] = true
	}
	for _, n := range nodes {
		visible[n.Name] = true
	}
	var imp model.ImpactAnswer
	get(scoped, "/api/v1/impact?node=node2", &imp)
	var all model.ImpactAnswer
	get(viewer, "/api/v1/impact?node=node2", &all)
	seen, hidden := 0, 0
	for i, sim := range imp.Simulations {
		for _, a := range sim.Actions {
			seen++
			if !visible[model.PrimitiveOf(a.Resource)] && !visible[a.Resource] {
				t.Errorf("prediction names %s outside the scope: %+v", a.Resource, a)
			}
		}
		hidden += len(all.Simulations[i].Actions) - len(sim.Actions)
	}
	if seen == 0 || hidden == 0 {
		t.Fatalf("the test shows nothing: %d actions in scope, %d hidden", seen, hidden)
	}

	// Tasks: the operator's dry run and refused fencing.
	if code, _, body := call(t, "POST", d.URL+"/api/v1/resources/web-srv/actions/stop", operator, `{"dry_run":true}`); code != 200 {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if code, _, body := call(t, "POST", d.URL+"/api/v1/nodes/node3/actions/fence", operator, `{"confirm":true}`); code != 403 {
		t.Fatalf("operator fencing: %d %s", code, body)
	}
	var mine, theirs []action.Task
	get(operator, "/api/v1/tasks", &mine)
	get(viewer, "/api/v1/tasks", &theirs)
	if len(mine) != 2 || !slices.ContainsFunc(mine, func(t action.Task) bool { return t.State == action.StateRefused }) ||
		!strings.HasPrefix(mine[0].Actor.ID, "token:") {
		t.Fatalf("the operator's own tasks: %+v", mine)
	}
	if len(theirs) != 1 || theirs[0].State == action.StateRefused {
		t.Fatalf("another viewer sees %d tasks: %+v", len(theirs), theirs)
	}
	if a := theirs[0].Actor; a.ID != "" || a.Source != "" || a.RequestID != "" {
		t.Errorf("another viewer sees the actor %+v", a)
	}
	code, _, body := call(t, "GET", d.URL+"/api/v1/tasks/"+theirs[0].ID, viewer, "")
	if code != 200 || strings.Contains(string(body), "token:") {
		t.Errorf("task by id: %d %s", code, body)
	}
}
