package mgmtd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mgmtd/audit"
	"mgmtd/auth"
	"mgmtd/internal/lab"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// e2eDir holds the page driver (ui/e2e/e2e.mjs) and its playwright-core,
// which scripts/deps.d/ui.sh installs.
const e2eDir = "../ui/e2e"

// pageDriver starts the driver against d as role, in mode, and returns a
// reader of its JSON lines and a writer to its stdin.
func pageDriver(t *testing.T, d *Daemon, role auth.Role, mode string) (func() map[string]any, io.WriteCloser) {
	t.Helper()
	c := d.DemoCredentials[role]
	return pageDriverAt(t, d.URL, c.BasicUser, c.BasicPassword, mode)
}

// pageDriverAt starts the driver against base with the given credentials
// (user "bearer": password is a bearer token) and extra arguments.
func pageDriverAt(t *testing.T, base, user, password, mode string, extra ...string) (func() map[string]any, io.WriteCloser) {
	t.Helper()
	shot := filepath.Join(t.TempDir(), mode+".png")
	return runPageScript(t, "e2e.mjs", append([]string{base, user, password, mode, shot}, extra...)...)
}

// runPageScript runs a driver script of ui/e2e with args and returns a
// reader of its JSON lines and a writer to its stdin.
func runPageScript(t *testing.T, script string, args ...string) (func() map[string]any, io.WriteCloser) {
	t.Helper()
	lab.Quiet(t) // no network interfaces may come or go under the browser
	for _, need := range []string{"node", "/usr/bin/chromium"} {
		if _, err := exec.LookPath(need); err != nil {
			t.Fatalf("%s is required for the web page test (scripts/deps.d/ui.sh installs it): %v", need, err)
		}
	}
	for _, pkg := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", pkg)); err != nil {
			t.Fatalf("%s is required in %s (scripts/deps.d/ui.sh installs it): %v", pkg, e2eDir, err)
		}
	}
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = e2eDir
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil && !t.Failed() {
				t.Errorf("page driver: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("page driver did not finish")
		}
	})
	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"error": "not JSON: " + sc.Text()}
			}
			lines <- m
		}
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("page driver ended early")
			}
			if m["error"] != nil {
				t.Fatalf("page driver: %v (page problem: %v, console: %v, requests: %v)", m["error"], m["problem"], m["console_errors"], m["requests"])
			}
			return m
		case <-time.After(60 * time.Second):
			t.Fatal("page driver: no answer in 60 s")
		}
		return nil
	}
	return next, stdin
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// apiData GETs path as role and decodes the envelope's data into v.
func apiData(t *testing.T, d *Daemon, role auth.Role, path string, v any) {
	t.Helper()
	code, _, b := call(t, "GET", d.URL+path, map[string]string{"Authorization": "Bearer " + d.DemoCredentials[role].BearerToken}, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, b)
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatal(err)
	}
}

// TestWebPage drives the page in headless Chromium as a viewer: it shows
// the nodes the API reports, follows a change of the model live, answers
// where-is and impact as the API does; and as an auditor: only the audit
// tab, with the log's records.
func TestWebPage(t *testing.T) {
	d := startDemo(t)
	next, stdin := pageDriver(t, d, auth.RoleViewer, "cluster")

	loaded := next()
	if who := loaded["who"].(string); !strings.HasSuffix(who, "(viewer)") {
		t.Errorf("who = %q", who)
	}
	if tabs := strs(loaded["tabs"]); !slices.Equal(tabs, []string{"Cluster", "Map", "Where is", "Impact", "History"}) {
		t.Errorf("viewer tabs = %q", tabs)
	}
	var nodes []struct{ Name string }
	apiData(t, d, auth.RoleViewer, "/api/v1/nodes", &nodes)
	var want []string
	for _, n := range nodes {
		want = append(want, n.Name)
	}
	if got := strs(loaded["nodes"]); !slices.Equal(got, want) || len(got) == 0 {
		t.Errorf("page nodes %q, API nodes %q", got, want)
	}
	if !strings.HasPrefix(loaded["live"].(string), "live") {
		t.Errorf("live indicator %q", loaded["live"])
	}
	gen0, _ := strconv.Atoi(loaded["generation"].(string))

	// A source fails: the page must say so without a reload.
	d.Store.Report(model.Report{Source: "virt", Err: errors.New("e2e: hypervisor API down")})
	fmt.Fprintln(stdin, "go")
	followed := next()
	warnings := strings.Join(strs(followed["warnings"]), "\n")
	if !strings.Contains(warnings, "virt is stale") || !strings.Contains(warnings, "e2e: hypervisor API down") {
		t.Errorf("warnings after the source failed: %q", warnings)
	}
	if gen1, _ := strconv.Atoi(followed["generation"].(string)); gen1 <= gen0 {
		t.Errorf("generation on the page %d, before %d", gen1, gen0)
	}

	var where struct {
		Instances []struct {
			Chain []struct{ Kind, Name string } `json:"chain"`
		} `json:"instances"`
	}
	apiData(t, d, auth.RoleViewer, "/api/v1/where?q=web", &where)
	chains := strs(next()["chains"])
	if len(chains) != len(where.Instances) || len(chains) == 0 {
		t.Fatalf("where web: page %d chains, API %d instances", len(chains), len(where.Instances))
	}
	for i, in := range where.Instances {
		if last := in.Chain[len(in.Chain)-1]; !strings.Contains(chains[i], last.Kind+" "+last.Name) {
			t.Errorf("chain %d %q does not end at %s %s", i, chains[i], last.Kind, last.Name)
		}
	}

	var imp struct {
		Instances []struct {
			Resource string `json:"resource"`
			Role     string `json:"role"`
		} `json:"instances"`
		Simulations []json.RawMessage `json:"simulations"`
	}
	apiData(t, d, auth.RoleViewer, "/api/v1/impact?node=hv1", &imp)
	got := next()
	if h := strs(got["headings"]); len(h) == 0 || h[0] != "hv1 takes with it" || len(h) != 1+len(imp.Simulations) {
		t.Errorf("impact headings %q (API: %d simulations)", h, len(imp.Simulations))
	}
	items := strs(got["items"])
	for _, in := range imp.Instances {
		if want := in.Resource + " (" + in.Role + ")"; !slices.Contains(items, want) {
			t.Errorf("impact of hv1 misses %q", want)
		}
	}
	if errs := strs(next()["console_errors"]); len(errs) > 0 {
		t.Errorf("browser console errors: %q", errs)
	}

	next, _ = pageDriver(t, d, auth.RoleAuditor, "audit")
	page := next()
	if tabs := strs(page["tabs"]); !slices.Equal(tabs, []string{"Audit"}) {
		t.Errorf("auditor tabs = %q", tabs)
	}
	actions := strs(page["actions"])
	for _, a := range []string{"daemon.start", "audit.query"} {
		if !slices.Contains(actions, a) {
			t.Errorf("audit table misses %s: %q", a, actions)
		}
	}
	// The export downloaded from the page verifies offline.
	exp := next()
	if exp["name"] != "mgmtd-audit.jsonl" {
		t.Errorf("export file name %q", exp["name"])
	}
	rep, err := audit.VerifyJSONLFile(context.Background(), exp["file"].(string), audit.VerifyOptions{})
	if err != nil || !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].Records < 3 {
		t.Errorf("verify the page's export: %v %+v", err, rep)
	}
	// A search whose answer arrives after a newer search's is not shown.
	if filtered := strs(next()["actions"]); len(filtered) == 0 || slices.ContainsFunc(filtered, func(a string) bool { return a != "daemon.start" }) {
		t.Errorf("the table after searching for daemon.start (an earlier search answered late): %q", filtered)
	}
	if errs := strs(next()["console_errors"]); len(errs) > 0 {
		t.Errorf("browser console errors (auditor): %q", errs)
	}
	// The page's own query of the log is recorded, on the ui channel.
	code, _, b := call(t, "GET", d.URL+"/api/v1/audit?action=audit.query&limit=1000",
		map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAuditor].BearerToken}, "")
	var log struct {
		Records []struct{ Channel, Actor string } `json:"records"`
	}
	if err := json.Unmarshal(b, &log); code != 200 || err != nil {
		t.Fatalf("audit query: %d %v", code, err)
	}
	if !slices.ContainsFunc(log.Records, func(r struct{ Channel, Actor string }) bool { return r.Channel == "ui" }) {
		t.Errorf("no audit.query record on the ui channel: %+v", log.Records)
	}
	code, _, b = call(t, "GET", d.URL+"/api/v1/audit?action=audit.export.manifest",
		map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAuditor].BearerToken}, "")
	if err := json.Unmarshal(b, &log); code != 200 || err != nil || len(log.Records) != 1 || log.Records[0].Channel != "ui" {
		t.Errorf("the page's export is not recorded once on the ui channel: %d %v %+v", code, err, log.Records)
	}
}

// TestWebPageActions: an operator previews putting a node in standby on
// the page (Pacemaker's own prediction), applies it, and the page shows
// the task's outcome; the change is in the CIB (read back with
// crm_attribute) and in the audit log, on the ui channel.
func TestWebPageActions(t *testing.T) {
	e := newActionEnv(t, "primitives")
	next, _ := pageDriverAt(t, e.srv.URL, "bearer", e.tokens["operator"], "act", "node2")
	if text := next()["text"].(string); !strings.Contains(text, "To standby node node2, Pacemaker would:") {
		t.Errorf("preview: %q", text)
	}
	applied := next()
	if status := applied["status"].(string); !strings.Contains(status, "node.standby") || !strings.Contains(status, "succeeded") {
		t.Errorf("status after apply: %q", status)
	}
	if tasks := strs(applied["tasks"]); len(tasks) != 1 || !strings.Contains(tasks[0], "node.standby") {
		t.Errorf("tasks table: %q", tasks)
	}
	if errs := strs(next()["console_errors"]); len(errs) > 0 {
		t.Errorf("browser console errors: %q", errs)
	}
	cmd := exec.Command("crm_attribute", "--node", "node2", "--name", "standby", "--query", "--quiet")
	cmd.Env = append(os.Environ(), "CIB_file="+e.file)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "on" {
		t.Errorf("node2 standby in the CIB: %q %v", out, err)
	}
	var found bool
	for _, r := range e.records(t) {
		if r.Action == "node.standby" && r.Outcome == audit.OutcomeSuccess {
			found = true
			if r.Channel != audit.ChannelUI || r.ObjectID == "" {
				t.Errorf("audit record of the change: %+v", r.Event)
			}
		}
	}
	if !found {
		t.Error("the change is not in the audit log")
	}
}

// TestWebPageHistory drives the History tab in headless Chromium on a
// daemon serving a live cluster's CIB with its scheduler inputs: the time
// line and the table show the stored events of one resource, and the
// explanation of the transition that started it is one click away - the
// actions crm_simulate computes from that input, as the API gives them.
func TestWebPageHistory(t *testing.T) {
	d := transitionDaemon(t)
	hdr := map[string]string{"Authorization": "Basic " + basic("view", "view-secret-pw")}
	testutil.Eventually(t, 30*time.Second, func() bool {
		for _, r := range historyPage(t, d, hdr, "object=svc-a").Records {
			if r.Transition != nil {
				return true
			}
		}
		return false
	}, "svc-a's events are not stored with their transition yet")
	next, _ := pageDriverAt(t, d.URL, "view", "view-secret-pw", "history", "svc-a")
	shown := next()
	objects := strs(shown["objects"])
	if len(objects) == 0 || shown["marks"].(float64) != float64(len(objects)) {
		t.Fatalf("history tab: %v", shown)
	}
	for _, o := range objects {
		if o != "resource svc-a" {
			t.Fatalf("an event about %q in svc-a's history", o)
		}
	}
	ex := next()
	code, _, body := call(t, "GET", d.URL+"/api/v1/transitions/pe-input-1.bz2", hdr, "")
	var want model.Explanation
	if code != 200 || json.Unmarshal(body, &want) != nil {
		t.Fatalf("explain: %d %s", code, body)
	}
	acts := strs(ex["actions"])
	if !strings.HasPrefix(ex["heading"].(string), "Transition 0") || len(acts) != len(want.Actions) || len(acts) == 0 ||
		!strings.HasPrefix(acts[0], want.Actions[0].Action+" "+want.Actions[0].Resource) {
		t.Fatalf("explanation on the page %v; the API's %+v", ex, want.Actions)
	}
	if done := next(); len(done["console_errors"].([]any)) != 0 {
		t.Fatalf("console errors: %v", done["console_errors"])
	}
}

// TestWebPageCheck: the Cluster tab's configuration check, run in
// Chromium against a daemon on a CIB with a move's leftover constraint,
// shows the findings the API reports, with the commands that fix them.
func TestWebPageCheck(t *testing.T) {
	cfg, _ := cibFileConfig(t, filepath.Join("..", "check", "testdata", "move-leftover.xml"))
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Passwords: []auth.PasswordChecker{cibUsers(t)}})
	hdr := map[string]string{"Authorization": "Basic " + basic("view", "view-secret-pw")}
	code, _, body := call(t, "GET", d.URL+"/api/v1/check", hdr, "")
	var env struct {
		Data struct {
			Findings []struct{ Check, Fix string } `json:"findings"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal(body, &env) != nil || len(env.Data.Findings) == 0 {
		t.Fatalf("check: %d %s", code, body)
	}
	var want []string
	leftover := false
	for _, f := range env.Data.Findings {
		want = append(want, f.Check)
		leftover = leftover || strings.Contains(f.Fix, "crm_resource --clear")
	}
	if !leftover {
		t.Fatalf("the API's check does not offer to clear the leftover constraint: %s", body)
	}
	next, _ := pageDriverAt(t, d.URL, "view", "view-secret-pw", "check")
	shown := next()
	if got := strs(shown["checks"]); !slices.Equal(got, want) {
		t.Errorf("page findings %q, API findings %q (%v)", got, want, shown["status"])
	}
	if fixes := strings.Join(strs(shown["fixes"]), "\n"); !strings.Contains(fixes, "crm_resource --clear") {
		t.Errorf("the page does not show the fix: %q", fixes)
	}
	if done := next(); len(done["console_errors"].([]any)) != 0 {
		t.Fatalf("console errors: %v", done["console_errors"])
	}
}

// cibFileConfig is the configuration of a daemon serving a copy of the
// CIB file src (in a temporary directory, Corosync off, state in dir/state,
// a free loopback port); dir is that directory.
func cibFileConfig(t *testing.T, src string) (cfg *Config, dir string) {
	t.Helper()
	dir = t.TempDir()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cib.xml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	off := false
	cfg.Listen, cfg.StateDir = "127.0.0.1:0", filepath.Join(dir, "state")
	cfg.Pacemaker.CIBFile, cfg.Corosync.Enabled = filepath.Join(dir, "cib.xml"), &off
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}
