package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"mgmtd/action"
	"mgmtd/auth"
	"mgmtd/model"
	"mgmtd/rest"
)

// scriptedActuator answers with a fixed result and keeps the calls; the
// full chain (auth policy, executor, real tools, audit log) is tested in
// package mgmtd, this tests the HTTP mapping.
type scriptedActuator struct {
	mu    sync.Mutex
	calls []action.Request
	ctxID []*auth.Identity
	task  action.Task
	err   error
}

func (s *scriptedActuator) Submit(ctx context.Context, c action.Request) (action.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	id, _ := auth.FromContext(ctx)
	s.ctxID = append(s.ctxID, id)
	return s.task, s.err
}

func (s *scriptedActuator) Task(id string) (action.Task, bool) {
	if id == s.task.ID {
		return s.task, true
	}
	return action.Task{}, false
}

func (s *scriptedActuator) Tasks() []action.Task { return []action.Task{s.task} }

func TestActionHTTPMapping(t *testing.T) {
	op := &auth.Identity{ID: "token:t1", Name: "ops", Method: auth.MethodToken, Roles: []auth.Role{auth.RoleOperator},
		Grants: []auth.Grant{{Role: auth.RoleOperator}}}
	guard := func(c *gin.Context, _ rest.Permission) *rest.Problem {
		c.Set(rest.IdentityKey, op)
		c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), op))
		return nil
	}
	running := action.Task{ID: "t-1", Op: "resource.move", Object: model.ID{Cluster: "c", Kind: model.KindResource, Name: "web"}, State: "running"}
	cases := []struct {
		name, path, body string
		hdr              []string
		task             action.Task
		err              error
		status           int
		want             action.Request
	}{
		{name: "accepted", path: "/api/v1/resources/web/actions/move", body: `{"node":"n2","lifetime":"PT1H"}`, task: running, status: 202,
			want: action.Request{Op: action.ResourceMove, Name: "web", Node: "n2", Lifetime: "PT1H"}},
		{name: "empty body", path: "/api/v1/nodes/n1/actions/standby", task: running, status: 202,
			want: action.Request{Op: action.NodeStandby, Name: "n1"}},
		{name: "dry run answers 200", path: "/api/v1/cluster/actions/maintenance-on", body: `{"dry_run":true}`,
			task: action.Task{ID: "t-2", State: "succeeded"}, status: 200,
			want: action.Request{Op: action.ClusterMaintenanceOn, DryRun: true}},
		{name: "vm node becomes to", path: "/api/v1/vms/vm1/actions/migrate", body: `{"node":"hv2"}`, task: running, status: 202,
			want: action.Request{Op: action.VMMigrate, Name: "vm1", Node: "hv2"}},
		{name: "idempotency header", path: "/api/v1/resources/web/actions/stop", hdr: []string{"Idempotency-Key", "k"}, task: running, status: 202,
			want: action.Request{Op: action.ResourceStop, Name: "web", IdempotencyKey: "k"}},
		{name: "header and body differ", path: "/api/v1/resources/web/actions/stop", body: `{"idempotency_key":"a"}`, hdr: []string{"Idempotency-Key", "b"}, status: 400},
		{name: "bad json", path: "/api/v1/resources/web/actions/stop", body: `{`, status: 400},
		{name: "unknown node action", path: "/api/v1/nodes/n1/actions/move", status: 404},
		{name: "forbidden", path: "/api/v1/nodes/n1/actions/fence", body: `{"confirm":true}`, err: fmt.Errorf("%w: no", action.ErrForbidden), status: 403},
		{name: "refused task", path: "/api/v1/resources/web/actions/stop", task: action.Task{ID: "t-3", State: action.StateRefused},
			err: fmt.Errorf("%w: source pacemaker is stale", action.ErrStale), status: 409},
		{name: "busy", path: "/api/v1/resources/web/actions/stop", err: fmt.Errorf("%w: task x", action.ErrBusy), status: 409},
		{name: "stale", path: "/api/v1/resources/web/actions/stop", err: action.ErrStale, status: 409},
		{name: "no quorum", path: "/api/v1/resources/web/actions/stop", err: action.ErrNoQuorum, status: 409},
		{name: "audit down", path: "/api/v1/resources/web/actions/stop", err: action.ErrUnavailable, status: 503},
		{name: "key reuse", path: "/api/v1/resources/web/actions/stop", err: action.ErrIdempotency, status: 422},
		{name: "not found", path: "/api/v1/resources/web/actions/stop", err: action.ErrNotFound, status: 404},
		{name: "invalid", path: "/api/v1/resources/web/actions/stop", err: action.ErrInvalid, status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &scriptedActuator{task: tc.task, err: tc.err}
			st := model.NewStore(model.StoreOptions{Cluster: "c"})
			srv := rest.New(rest.Options{Store: st, Events: st.Events(), Guard: guard})
			for _, r := range rest.ActionRoutes(srv, a) {
				srv.Handle(r)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			req, _ := http.NewRequest("POST", ts.URL+tc.path, strings.NewReader(tc.body))
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status >= 400 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("content type %q", ct)
				}
				if tc.status == 503 && resp.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				if loc := resp.Header.Get("Location"); tc.task.ID != "" && loc != "/api/v1/tasks/"+tc.task.ID {
					t.Errorf("refused task: Location %q", loc)
				}
				return
			}
			if loc := resp.Header.Get("Location"); loc != "/api/v1/tasks/"+tc.task.ID {
				t.Errorf("Location %q", loc)
			}
			var got action.Task
			if err := json.Unmarshal(b, &got); err != nil || got.ID != tc.task.ID {
				t.Errorf("body %s: %v", b, err)
			}
			if len(a.calls) != 1 {
				t.Fatalf("%d calls", len(a.calls))
			}
			c := a.calls[0]
			actor := c.Actor
			c.Actor = action.Actor{}
			if diff := cmp.Diff(tc.want, c); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if actor.ID != "token:t1" || actor.Channel != "rest" || actor.RequestID == "" || len(actor.Roles) != 1 {
				t.Errorf("actor %+v", actor)
			}
			if a.ctxID[0] != op {
				t.Error("the identity is not in the actuator's context")
			}
		})
	}
}

func TestTaskRoutes(t *testing.T) {
	a := &scriptedActuator{task: action.Task{ID: "t-9", State: "failed", Error: "start failed"}}
	st := model.NewStore(model.StoreOptions{Cluster: "c"})
	srv := rest.New(rest.Options{Store: st, Events: st.Events()})
	for _, r := range rest.ActionRoutes(srv, a) {
		srv.Handle(r)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	for path, want := range map[string]int{"/api/v1/tasks": 200, "/api/v1/tasks/t-9": 200, "/api/v1/tasks/nope": 404, "/api/v1/tasks?state=running": 200} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d: %s", path, resp.StatusCode, want, b)
		}
		if path == "/api/v1/tasks?state=running" && strings.TrimSpace(string(b)) != "[]" {
			t.Errorf("state filter: %s", b)
		}
	}
}

// TestActionFormBodyRefused (issue 13 item 13): a form-encoded action
// request whose form the CSRF check had read (and so consumed) ran for
// real, its dry_run=true ignored. Actions take JSON only.
func TestActionFormBodyRefused(t *testing.T) {
	a := &scriptedActuator{task: action.Task{ID: "t-1", State: action.StateRunning}}
	guard := func(c *gin.Context, _ rest.Permission) *rest.Problem {
		_ = c.Request.PostFormValue("csrf_token") // as auth's CSRF check does for forms
		return nil
	}
	st := model.NewStore(model.StoreOptions{Cluster: "c"})
	srv := rest.New(rest.Options{Store: st, Events: st.Events(), Guard: guard})
	for _, r := range rest.ActionRoutes(srv, a) {
		srv.Handle(r)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/api/v1/resources/web/actions/stop", "application/x-www-form-urlencoded", strings.NewReader("csrf_token=x&dry_run=true"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || len(a.calls) != 0 {
		t.Fatalf("form body: %d, %d submitted", resp.StatusCode, len(a.calls))
	}
}
