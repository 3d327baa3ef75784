package mgmtd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/audit"
	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/rest"
	"mgmtd/source/pacemaker"
	"mgmtd/ui"
)

type actionEnv struct {
	srv    *httptest.Server
	store  *model.Store
	audit  *audit.Log
	dir    string
	file   string
	tokens map[string]string // role name -> bearer secret
}

// newActionEnv wires a daemon's REST API with the real auth service (API
// tokens with grants), the real audit log (local journal) and the action
// executor rehearsing on a copy of a fixture CIB.
func newActionEnv(t *testing.T, fixture string) *actionEnv {
	t.Helper()
	dir := t.TempDir()
	cib, err := os.ReadFile(filepath.Join("..", "source", "pacemaker", "testdata", fixture, "cib.xml"))
	if err != nil {
		t.Fatal(err)
	}
	e := &actionEnv{dir: dir, file: filepath.Join(dir, "cib.xml"), tokens: map[string]string{}}
	if err := os.WriteFile(e.file, cib, 0o600); err != nil {
		t.Fatal(err)
	}
	ts, err := auth.OpenTokenStore(filepath.Join(dir, "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]string{"viewer": "viewer@*", "operator": "operator@*", "scoped": "operator@resource:dummy-b", "admin": "admin@*"} {
		role, scope, _ := strings.Cut(g, "@")
		sc, err := auth.ParseScope(scope)
		if err != nil {
			t.Fatal(err)
		}
		secret, _, err := ts.Create(auth.TokenSpec{Name: name, Grants: []auth.Grant{{Role: auth.Role(role), Scope: sc}}})
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = secret
	}
	svc, err := auth.New(auth.Options{Tokens: ts})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e.audit, err = audit.Open(context.Background(), audit.Options{Instance: "test", StateDir: filepath.Join(dir, "audit"), AnchorInterval: -1}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.audit.Close() })
	e.store = model.NewStore(model.StoreOptions{Cluster: "lab"})
	e.store.Register(pacemaker.Name)
	cfg := &Config{}
	cfg.Pacemaker.CIBFile = e.file
	pm := pacemaker.New(pacemaker.Options{CIBFile: e.file}, e.store, log)
	if err := pm.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: cfg, log: log, Store: e.store, Auth: svc, sim: pm}
	d.REST = rest.New(rest.Options{Store: e.store, Events: e.store.Events(), Simulator: pm, Log: log,
		Guard: rest.AuthGuard(svc, func() string { return e.store.Snapshot().Cluster.Name })})
	ex, err := d.wireActions(ActionOptions{Recorder: e.audit, Timeout: time.Minute})
	if err != nil || ex == nil {
		t.Fatalf("wireActions: %v", err)
	}
	t.Cleanup(func() { ex.Close() })
	for _, r := range rest.AuthRoutes(d.REST, svc) {
		d.REST.Handle(r)
	}
	rest.PageRoutes(d.REST, ui.Handler(), ui.Prefix)
	e.srv = httptest.NewServer(d.REST)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *actionEnv) post(t *testing.T, who, path, body string, hdr ...string) (int, action.Task, string) {
	t.Helper()
	resp, b := testutil.HTTP(t, nil, http.MethodPost, e.srv.URL+path, body, append([]string{"Authorization", "Bearer " + e.tokens[who]}, hdr...)...)
	var task action.Task
	if resp.StatusCode < 300 {
		if err := json.Unmarshal(b, &task); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	return resp.StatusCode, task, string(b)
}

func (e *actionEnv) get(t *testing.T, who, path string, out any) int {
	t.Helper()
	resp, b := testutil.HTTP(t, nil, http.MethodGet, e.srv.URL+path, "", "Authorization", "Bearer "+e.tokens[who])
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func (e *actionEnv) wait(t *testing.T, who, id string) action.Task {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var task action.Task
		if st := e.get(t, who, "/api/v1/tasks/"+id, &task); st != http.StatusOK {
			t.Fatalf("GET task %s: %d", id, st)
		}
		if task.State.Terminal() {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s", id, task.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *actionEnv) records(t *testing.T) []audit.Record {
	t.Helper()
	page, err := e.audit.Store().Query(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func TestRESTActionRefusals(t *testing.T) {
	e := newActionEnv(t, "primitives")
	cases := []struct {
		name, who, path, body string
		status                int
	}{
		{"viewer may not act", "viewer", "/api/v1/resources/dummy-a/actions/stop", "", http.StatusForbidden},
		{"out of scope", "scoped", "/api/v1/resources/dummy-a/actions/stop", "", http.StatusForbidden},
		{"operator may not fence", "operator", "/api/v1/nodes/node3/actions/fence", `{"confirm":true}`, http.StatusForbidden},
		{"operator may not force", "operator", "/api/v1/resources/dummy-a/actions/stop", `{"force":true}`, http.StatusForbidden},
		{"operator may not set maintenance", "operator", "/api/v1/cluster/actions/maintenance-on", "", http.StatusForbidden},
		{"fence needs confirmation", "admin", "/api/v1/nodes/node3/actions/fence", "", http.StatusBadRequest},
		{"unknown action", "admin", "/api/v1/resources/dummy-a/actions/delete", "", http.StatusNotFound},
		{"unknown resource", "admin", "/api/v1/resources/nope/actions/stop", "", http.StatusNotFound},
		{"unknown field", "admin", "/api/v1/resources/dummy-a/actions/stop", `{"nodes":"x"}`, http.StatusBadRequest},
		{"bad lifetime", "admin", "/api/v1/resources/dummy-a/actions/ban", `{"node":"node1","lifetime":"later"}`, http.StatusBadRequest},
	}
	before, _ := os.ReadFile(e.file)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body := e.post(t, tc.who, tc.path, tc.body)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, body)
			}
			if !strings.Contains(body, `"status":`) {
				t.Errorf("not a problem document: %s", body)
			}
		})
	}
	if after, _ := os.ReadFile(e.file); !bytes.Equal(before, after) {
		t.Error("refused requests changed the CIB")
	}
	// The scoped operator may act on its resource.
	st, task, body := e.post(t, "scoped", "/api/v1/resources/dummy-b/actions/move", `{"node":"node3","dry_run":true}`)
	if st != http.StatusOK || task.State != "succeeded" || task.Prediction == nil || len(task.Prediction.Actions) == 0 {
		t.Fatalf("scoped dry run: %d %s", st, body)
	}
	// ... and sees only tasks on objects it may read.
	var ts []action.Task
	e.get(t, "scoped", "/api/v1/tasks", &ts)
	for _, x := range ts {
		if x.Object.Name != "dummy-b" {
			t.Errorf("scoped caller sees task on %s", x.Object.Name)
		}
	}
	var all []action.Task
	e.get(t, "admin", "/api/v1/tasks", &all)
	if len(all) <= len(ts) {
		t.Errorf("admin sees %d tasks, scoped %d", len(all), len(ts))
	}
}

func TestRESTActionRecordedInAuditLog(t *testing.T) {
	e := newActionEnv(t, "primitives")
	st, task, body := e.post(t, "operator", "/api/v1/resources/dummy-a/actions/stop", "", "Idempotency-Key", "stop-a-1")
	if st != http.StatusAccepted || task.ID == "" {
		t.Fatalf("POST: %d %s", st, body)
	}
	// A retry with the same key returns the same task.
	if st, again, _ := e.post(t, "operator", "/api/v1/resources/dummy-a/actions/stop", "", "Idempotency-Key", "stop-a-1"); st >= 300 || again.ID != task.ID {
		t.Fatalf("retry: %d %s, want task %s", st, again.ID, task.ID)
	}
	done := e.wait(t, "operator", task.ID)
	if done.State != "succeeded" {
		t.Fatalf("task %s: %s %s", done.ID, done.State, done.Error)
	}
	var intent, outcome *audit.Record
	recs := e.records(t)
	for i := range recs {
		r := &recs[i]
		if !strings.Contains(r.Reason, task.ID) {
			continue
		}
		switch r.Action {
		case "resource.stop.intent":
			intent = r
		case "resource.stop":
			outcome = r
		}
	}
	if intent == nil || outcome == nil {
		t.Fatalf("audit records %+v", recs)
	}
	if intent.Actor == "" || intent.Channel != audit.ChannelREST || intent.ObjectID != "primitives/dummy-a" || len(intent.Before) == 0 {
		t.Errorf("intent %+v", intent.Event)
	}
	if outcome.Outcome != audit.OutcomeSuccess || len(outcome.Before) == 0 || len(outcome.After) == 0 || intent.Seq >= outcome.Seq {
		t.Errorf("outcome %+v", outcome.Event)
	}
	if !strings.Contains(string(outcome.After), `"target_role":"Stopped"`) {
		t.Errorf("after state %s", outcome.After)
	}

	// A second action while the audit log is down is refused with 503
	// and changes nothing.
	if err := e.audit.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(e.file)
	st, _, body = e.post(t, "admin", "/api/v1/cluster/actions/maintenance-on", "")
	if st != http.StatusServiceUnavailable {
		t.Fatalf("with the audit log down: %d %s", st, body)
	}
	if after, _ := os.ReadFile(e.file); !bytes.Equal(before, after) {
		t.Error("the CIB changed although the intent was not recorded")
	}
}

func TestRESTActionStaleAndNoQuorum(t *testing.T) {
	e := newActionEnv(t, "noquorum")
	st, _, body := e.post(t, "operator", "/api/v1/resources/svc-1/actions/stop", "")
	if st != http.StatusConflict || !strings.Contains(body, "quorum") {
		t.Fatalf("no quorum: %d %s", st, body)
	}
	e.store.Report(model.Report{Source: pacemaker.Name, Err: errors.New("crm_mon: timed out")})
	st, _, body = e.post(t, "operator", "/api/v1/resources/svc-1/actions/stop", "")
	if st != http.StatusConflict || !strings.Contains(body, "stale") {
		t.Fatalf("stale: %d %s", st, body)
	}
}
