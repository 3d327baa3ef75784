package rest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/demo"
	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/rest"
)

type fixture struct {
	store  *model.Store
	player *demo.Player
	srv    *rest.Server
	ts     *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{View: "hv1", Cluster: "demo"})
	p := demo.NewPlayer(steps, st, 1)
	p.Show(0)
	srv := rest.New(rest.Options{Store: st, Events: st.Events(), Simulator: p, Heartbeat: 50 * time.Millisecond})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{store: st, player: p, srv: srv, ts: ts}
}

func (f *fixture) get(t *testing.T, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return testutil.HTTP(t, nil, "GET", f.ts.URL+path, "", hdr...)
}

type env struct {
	Cluster    string          `json:"cluster"`
	View       string          `json:"view"`
	Generation uint64          `json:"generation"`
	Stale      bool            `json:"stale"`
	Total      *int            `json:"total"`
	Data       json.RawMessage `json:"data"`
}

func decode(t *testing.T, b []byte) env {
	t.Helper()
	var e env
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if e.View != "hv1" || e.Generation == 0 || e.Cluster != "demo" {
		t.Fatalf("envelope %+v", e)
	}
	return e
}

func TestEndpoints(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/api/v1/clusters", "/api/v1/clusters/demo", "/api/v1/nodes", "/api/v1/nodes/hv1",
		"/api/v1/resources", "/api/v1/resources/web", "/api/v1/instances", "/api/v1/failures", "/api/v1/fencing",
		"/api/v1/constraints", "/api/v1/membership", "/api/v1/services", "/api/v1/hosts", "/api/v1/vms",
		"/api/v1/where?q=web", "/api/v1/impact?node=hv1", "/api/v1/snapshot"} {
		resp, b := f.get(t, path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
			continue
		}
		decode(t, b)
	}
}

func TestFiltersAndPaging(t *testing.T) {
	f := newFixture(t)
	_, b := f.get(t, "/api/v1/resources?kind=promotable")
	var rs []model.Resource
	e := decode(t, b)
	_ = json.Unmarshal(e.Data, &rs)
	if len(rs) != 2 || rs[0].ID != "db-clone" || rs[1].ID != "drbd-r0-clone" {
		t.Fatalf("promotable: %+v", rs)
	}
	_, b = f.get(t, "/api/v1/resources?role=Promoted&node=hv1")
	e = decode(t, b)
	_ = json.Unmarshal(e.Data, &rs)
	if len(rs) == 0 {
		t.Fatal("no promoted resource on hv1")
	}
	_, b = f.get(t, "/api/v1/resources?limit=2&offset=1")
	e = decode(t, b)
	_ = json.Unmarshal(e.Data, &rs)
	if len(rs) != 2 || e.Total == nil || *e.Total < 5 {
		t.Fatalf("paging: %d items, total %v", len(rs), e.Total)
	}
	_, b = f.get(t, "/api/v1/vms?managed=false")
	var vms []model.VM
	e = decode(t, b)
	_ = json.Unmarshal(e.Data, &vms)
	if len(vms) != 2 {
		t.Fatalf("unmanaged vms %+v", vms)
	}
	for _, bad := range []string{"/api/v1/resources?limit=0", "/api/v1/resources?kind=nope", "/api/v1/vms?managed=maybe",
		"/api/v1/impact", "/api/v1/resources?offset=-1"} {
		resp, b := f.get(t, bad)
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var p rest.Problem
		if err := json.Unmarshal(b, &p); err != nil || p.Status != 400 || p.Detail == "" {
			t.Errorf("%s: problem %s", bad, b)
		}
	}
	for _, nf := range []string{"/api/v1/nodes/nosuch", "/api/v1/resources/nosuch", "/api/v1/where?q=nosuch", "/api/v1/impact?node=nosuch", "/api/v1/nope"} {
		if resp, _ := f.get(t, nf); resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d", nf, resp.StatusCode)
		}
	}
}

func TestETag(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.get(t, "/api/v1/nodes")
	tag := resp.Header.Get("ETag")
	if tag == "" {
		t.Fatal("no ETag")
	}
	if resp, b := f.get(t, "/api/v1/nodes", "If-None-Match", tag); resp.StatusCode != 304 || len(b) != 0 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	f.player.Show(3)
	if resp, _ := f.get(t, "/api/v1/nodes", "If-None-Match", tag); resp.StatusCode != 200 || resp.Header.Get("ETag") == tag {
		t.Fatalf("after a change: %d %s", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

func TestStaleIsShown(t *testing.T) {
	f := newFixture(t)
	f.store.Report(model.Report{Source: "pacemaker", Err: errors.New("run crm_mon: timed out after 30s")})
	_, b := f.get(t, "/api/v1/nodes")
	if e := decode(t, b); !e.Stale {
		t.Fatal("body not marked stale")
	}
	_, b = f.get(t, "/healthz")
	var h rest.Health
	if err := json.Unmarshal(b, &h); err != nil || h.Status != "degraded" {
		t.Fatalf("healthz %s", b)
	}
	found := false
	for _, s := range h.Sources {
		if s.Name == "pacemaker" && s.State == model.SourceStale && strings.Contains(s.LastError, "timed out") {
			found = true
		}
	}
	if !found {
		t.Fatalf("healthz sources %+v", h.Sources)
	}
}

// TestOpenAPIMatchesRoutes checks the document against the routes gin
// actually registered, both ways.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	_, b := f.get(t, "/api/v1/openapi.json")
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("%v %s", err, doc.OpenAPI)
	}
	var registered, documented []string
	for _, r := range f.srv.Engine().Routes() {
		registered = append(registered, r.Method+" "+rest.OpenAPIPath(r.Path))
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(registered)
	sort.Strings(documented)
	if strings.Join(registered, "\n") != strings.Join(documented, "\n") {
		t.Fatalf("registered:\n%s\ndocumented:\n%s", strings.Join(registered, "\n"), strings.Join(documented, "\n"))
	}
	if len(registered) < 15 {
		t.Fatalf("only %d routes", len(registered))
	}
}

// TestGuardCoversEveryRoute: a guard that refuses everything but public
// routes refuses every other registered route.
func TestGuardCoversEveryRoute(t *testing.T) {
	steps, _ := demo.Load()
	st := model.NewStore(model.StoreOptions{View: "hv1", Cluster: "demo"})
	demo.NewPlayer(steps, st, 1).Show(0)
	srv := rest.New(rest.Options{Store: st, Events: st.Events(), Guard: func(c *gin.Context, p rest.Permission) *rest.Problem {
		if p == rest.PermPublic {
			return nil
		}
		return &rest.Problem{Status: 401, Title: "Unauthorized", Challenges: []string{"Bearer"}}
	}})
	for _, r := range srv.Routes() {
		req := httptest.NewRequest(r.Method, strings.NewReplacer(":name", "hv1", ":id", "web").Replace(r.Path), nil)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if r.Perm == rest.PermPublic {
			if w.Code == 401 {
				t.Errorf("public %s %s refused", r.Method, r.Path)
			}
			continue
		}
		if w.Code != 401 || w.Header().Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("%s %s: %d without credentials", r.Method, r.Path, w.Code)
		}
	}
}

func readEvents(t *testing.T, body io.Reader, n int) []string {
	t.Helper()
	sc := bufio.NewScanner(body)
	var ids []string
	for sc.Scan() && len(ids) < n {
		line := sc.Text()
		if strings.HasPrefix(line, "id: ") {
			ids = append(ids, strings.TrimPrefix(line, "id: "))
		}
		if line == "event: gap" {
			ids = append(ids, "gap")
		}
	}
	return ids
}

func TestEventStreamResume(t *testing.T) {
	f := newFixture(t)
	last := f.store.Events().Last()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/api/v1/events", nil)
	req.Header.Set("Last-Event-ID", "3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatal(resp.Header.Get("Content-Type"))
	}
	ids := readEvents(t, resp.Body, 2)
	if len(ids) != 2 || ids[0] != "4" || ids[1] != "5" {
		t.Fatalf("resumed ids %v", ids)
	}
	// Live: a change after connecting arrives.
	req2, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/api/v1/events", nil)
	resp2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	// The server sends the headers only after it took the stream's start
	// position, so a change made now is after it.
	f.player.Show(1)
	ids = readEvents(t, resp2.Body, 1)
	if len(ids) != 1 || ids[0] <= "0" {
		t.Fatalf("live ids %v (last before %d)", ids, last)
	}
}

func TestEventStreamGap(t *testing.T) {
	steps, _ := demo.Load()
	st := model.NewStore(model.StoreOptions{View: "hv1", Cluster: "demo", EventBuffer: 8})
	p := demo.NewPlayer(steps, st, 1)
	for i := range 4 {
		p.Show(i)
	}
	ts := httptest.NewServer(rest.New(rest.Options{Store: st, Events: st.Events()}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/events?last_event_id=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ids := readEvents(t, resp.Body, 1); len(ids) != 1 || ids[0] != "gap" {
		t.Fatalf("want a gap event first, got %v", ids)
	}
}

// TestEventStreamLimit: streams beyond MaxStreams are refused with 503 and
// Retry-After; closing one frees its place.
func TestEventStreamLimit(t *testing.T) {
	steps, _ := demo.Load()
	st := model.NewStore(model.StoreOptions{View: "hv1", Cluster: "demo"})
	demo.NewPlayer(steps, st, 1).Show(0)
	ts := httptest.NewServer(rest.New(rest.Options{Store: st, Events: st.Events(), MaxStreams: 2}))
	defer ts.Close()
	open := func() (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, cancel
	}
	r1, c1 := open()
	defer c1()
	r2, c2 := open()
	defer c2()
	r3, c3 := open()
	defer c3()
	if r1.StatusCode != 200 || r2.StatusCode != 200 || r3.StatusCode != 503 || r3.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %d %d", r1.StatusCode, r2.StatusCode, r3.StatusCode)
	}
	c1()
	r1.Body.Close()
	testutil.Eventually(t, 2*time.Second, func() bool {
		r4, c4 := open()
		defer r4.Body.Close()
		defer c4()
		return r4.StatusCode == 200
	}, "a closed stream has freed its place")
}

// TestEventStreamGeneration (issue 19 item 2): a new generation that
// carries no event is told on the stream, so the page follows every
// generation.
func TestEventStreamGeneration(t *testing.T) {
	steps, _ := demo.Load()
	st := model.NewStore(model.StoreOptions{View: "hv1", Cluster: "demo"})
	p := demo.NewPlayer(steps, st, 1)
	p.Show(0)
	ts := httptest.NewServer(rest.New(rest.Options{Store: st, Events: st.Events()}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	part := *steps[0].Part
	part.Cluster.CIBEpoch = "0:999:1"
	last := st.Events().Last()
	sn := st.Report(model.Report{Source: "pacemaker", Pacemaker: &part})
	if evs, _ := st.Events().Since(last); len(evs) != 0 {
		t.Fatalf("the change made events %v", evs)
	}
	want := fmt.Sprintf(`data: {"generation":%d}`, sn.Generation)
	sc := bufio.NewScanner(resp.Body)
	prev := ""
	for sc.Scan() {
		if sc.Text() == want && prev == "event: generation" {
			return
		}
		prev = sc.Text()
	}
	t.Fatalf("no generation event %q: %v", want, sc.Err())
}
