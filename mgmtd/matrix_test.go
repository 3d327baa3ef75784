package mgmtd

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/rest"
	"mgmtd/wbem/wbemtest"
)

// A credential of the matrix: how a request is signed, and what the
// caller is.
type matrixCred struct {
	name string
	hdr  func(r *http.Request)
	// valid is false for credentials that must be refused (401 or 429).
	valid bool
	// read: may read cluster state (cut to a scope or not); admin, audit:
	// holds the global grant for tokens/config and the audit log.
	read, admin, audit bool
	// acts lists the action routes (path after /api/v1/) the caller may
	// run, authorized per object by the executor.
	acts []string
}

// The action routes the matrix drives (all as dry runs), and the object
// each acts on.
var matrixActions = map[string]string{
	"resources/web-srv/actions/stop":       `{"dry_run":true}`,
	"nodes/node2/actions/standby":          `{"dry_run":true}`,
	"nodes/node3/actions/fence":            `{"dry_run":true,"confirm":true}`,
	"cluster/actions/maintenance-on":       `{"dry_run":true}`,
	"vms/vm-app/actions/migrate":           `{"dry_run":true,"to":"node3"}`,
	"resources/off-svc/actions/start":      `{"dry_run":true}`,
	"nodes/node1/actions/maintenance-on":   `{"dry_run":true}`,
	"resources/web-srv/actions/frobnicate": `{}`,
}

// TestRouteCredentialMatrix: every route of the router (not a hand-kept
// list) against no credentials, a wrong password, a revoked and an
// expired token, a token of each role, and scoped tokens, on a daemon
// serving a CIB file; the local socket as root and as an unprivileged
// user; and the CIM server (cimMatrix). Each answer must be the policy's:
// refused (401 or 429) without valid credentials, 403 outside the role
// or scope, served otherwise.
func TestRouteCredentialMatrix(t *testing.T) {
	cfg, _ := cibConfig(t, "guest")
	cfg.CIM.Addr = "127.0.0.1:0"
	// Tokens are made in the daemon's token store before it starts; the
	// expired one with a clock two days back.
	store := filepath.Join(cfg.StateDir, auth.TokenFile)
	tokens, err := auth.OpenTokenStore(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(ts *auth.TokenStore, grant string) string {
		t.Helper()
		role, scope, _ := strings.Cut(grant, "@")
		sc, err := auth.ParseScope(scope)
		if err != nil {
			t.Fatal(err)
		}
		secret, _, err := ts.Create(auth.TokenSpec{Name: grant, Grants: []auth.Grant{{Role: auth.Role(role), Scope: sc}}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	bearer := func(secret string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
	}
	revoked := mk(tokens, "admin@*")
	if _, err := tokens.Revoke(strings.Split(revoked, "_")[1]); err != nil {
		t.Fatal(err)
	}
	past, err := auth.OpenTokenStore(store, func() time.Time { return time.Now().Add(-48 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	expired := mk(past, "admin@*")
	tokens, err = auth.OpenTokenStore(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	users := auth.NewUserStore(4)
	if err := users.Add("view", "view-secret-pw", []auth.Grant{{Role: auth.RoleViewer}}, nil); err != nil {
		t.Fatal(err)
	}
	all := make([]string, 0, len(matrixActions))
	for p := range matrixActions {
		all = append(all, p)
	}
	operate := []string{"resources/web-srv/actions/stop", "nodes/node2/actions/standby", "vms/vm-app/actions/migrate",
		"resources/off-svc/actions/start"}
	creds := []matrixCred{
		{name: "none", hdr: func(*http.Request) {}},
		{name: "wrong password", hdr: func(r *http.Request) { r.SetBasicAuth("view", "wrong") }},
		{name: "revoked token", hdr: bearer(revoked)},
		{name: "expired token", hdr: bearer(expired)},
		{name: "viewer", hdr: bearer(mk(tokens, "viewer@*")), valid: true, read: true},
		{name: "viewer by password", hdr: func(r *http.Request) { r.SetBasicAuth("view", "view-secret-pw") }, valid: true, read: true},
		{name: "operator", hdr: bearer(mk(tokens, "operator@*")), valid: true, read: true, acts: operate},
		{name: "admin", hdr: bearer(mk(tokens, "admin@*")), valid: true, read: true, admin: true, audit: true, acts: all},
		{name: "auditor", hdr: bearer(mk(tokens, "auditor@*")), valid: true, audit: true},
		{name: "operator@resource:web-srv", hdr: bearer(mk(tokens, "operator@resource:web-srv")), valid: true, read: true,
			acts: []string{"resources/web-srv/actions/stop"}},
		{name: "viewer@node:node2", hdr: bearer(mk(tokens, "viewer@node:node2")), valid: true, read: true},
		// Scoped grants never reach what belongs to no cluster: the audit
		// log, tokens (issue 13, item 3).
		{name: "auditor@node:node2", hdr: bearer(mk(tokens, "auditor@node:node2")), valid: true},
		{name: "admin@node:node2", hdr: bearer(mk(tokens, "admin@node:node2")), valid: true, read: true,
			acts: []string{"nodes/node2/actions/standby"}},
	}
	// The matrix is about who may do what; brute-force limits have their
	// own tests, so they are out of the way here.
	cfg.Auth.Limits.SourceMaxFailures, cfg.Auth.Limits.SourceBurst = 1<<20, 1<<20
	// Other users reach the socket through the state directory.
	for dir := cfg.StateDir; dir != filepath.Dir(dir) && strings.HasPrefix(dir, os.TempDir()+"/"); dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Passwords: []auth.PasswordChecker{users}})
	waitResources(t, d)

	client := &http.Client{Transport: insecure.Transport, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(c matrixCred, method, path, body string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, d.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		c.hdr(req)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s %s: %v", c.name, method, path, err)
		}
		resp.Body.Close() // the event stream answers with its headers first
		return resp.StatusCode
	}
	checked := map[string]bool{}
	for _, r := range d.REST.Routes() {
		for _, inst := range matrixPaths(r) {
			checked[r.Method+" "+r.Path] = true
			for _, c := range creds {
				got := do(c, r.Method, inst.path, inst.body)
				want := matrixWant(r, inst.path, c)
				if !want(got) {
					t.Errorf("%s %s as %s: %d", r.Method, inst.path, c.name, got)
				}
			}
		}
	}
	for _, r := range d.REST.Routes() {
		if !checked[r.Method+" "+r.Path] {
			t.Errorf("route %s %s not in the matrix", r.Method, r.Path)
		}
	}
	if len(checked) < 30 {
		t.Fatalf("only %d routes checked", len(checked))
	}

	// The local socket: root is admin by the default binding, any other
	// user is authenticated by its uid and holds no role.
	sock := d.Socket
	curl := func(args ...string) string {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := curl("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
		"--unix-socket", sock, "-H", "Content-Type: application/json", "-d", `{"kind":"node"}`, "http://mgmtd/api/v1/alert"); got != "202" {
		t.Errorf("an alert from an unprivileged local user (the agent runs as hacluster): %s", got)
	}
	for _, p := range []string{"/api/v1/nodes", "/api/v1/tokens", "/api/v1/audit"} {
		if got := curl("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "http://mgmtd"+p); got != "200" {
			t.Errorf("root on the socket %s: %s", p, got)
		}
		got := curl("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "http://mgmtd"+p)
		if got != "403" {
			t.Errorf("nobody on the socket %s: %s", p, got)
		}
	}
	cimMatrix(t, d, creds)
}

type matrixPath struct{ path, body string }

// matrixPaths turns a route into requests on objects of the guest
// fixture.
func matrixPaths(r rest.Route) []matrixPath {
	p := r.Path
	switch {
	case strings.Contains(p, "/actions/:action"):
		var out []matrixPath
		prefix := strings.TrimPrefix(strings.SplitN(p, "/:", 2)[0], "/api/v1/")
		for a, body := range matrixActions {
			if strings.HasPrefix(a, prefix+"/") || (prefix == "cluster/actions" && strings.HasPrefix(a, "cluster/")) {
				out = append(out, matrixPath{"/api/v1/" + a, body})
			}
		}
		return out
	case r.Method == "POST" && p == "/api/v1/tokens":
		return []matrixPath{{p, `{"name":"matrix","grants":[{"role":"viewer"}],"ttl":"1h"}`}}
	case p == "/api/v1/alert":
		return []matrixPath{{p, `{"kind":"node","node":"node2"}`}}
	}
	p = strings.NewReplacer(":name", "node2", ":id", "web-srv", "*file", "index.html").Replace(p)
	switch {
	case strings.HasPrefix(r.Path, "/api/v1/clusters/"):
		p = "/api/v1/clusters/guest"
	case strings.HasPrefix(r.Path, "/api/v1/vms/"):
		p = "/api/v1/vms/vm-app"
	case strings.HasPrefix(r.Path, "/api/v1/tasks/"):
		p = "/api/v1/tasks/0000000000000000"
	case strings.HasPrefix(r.Path, "/api/v1/tokens/"):
		p = "/api/v1/tokens/0000000000000000"
	}
	return []matrixPath{{p, ""}}
}

// matrixWant is the policy's answer for a route, a request path and a
// credential.
func matrixWant(r rest.Route, path string, c matrixCred) func(int) bool {
	served := func(code int) bool { return code != 401 && code != 403 && code != 429 && code < 500 }
	refused := func(code int) bool { return code == 401 || code == 429 }
	forbidden := func(code int) bool { return code == 403 }
	if r.Perm == rest.PermPublic {
		// Public routes answer for themselves (the OIDC callback refuses
		// a callback without a pending login), never by role.
		return func(code int) bool { return code != 403 && code < 500 }
	}
	if !c.valid {
		return refused
	}
	ok := false
	switch r.Perm {
	case rest.PermAny:
		// Pacemaker's alerts are taken on the local socket only.
		ok = path != "/api/v1/alert"
	case rest.PermRead:
		// The configuration check covers the whole cluster: a role
		// scoped to part of it is refused.
		ok = c.read && !(path == "/api/v1/check" && strings.Contains(c.name, "@"))
	case rest.PermAdmin:
		ok = c.admin
	case rest.PermAudit:
		ok = c.audit
	case rest.PermAct:
		for _, a := range c.acts {
			ok = ok || "/api/v1/"+a == path
		}
		if strings.HasSuffix(path, "/frobnicate") && len(c.acts) > 0 {
			// No such action: 404 before any authorization by object.
			return func(code int) bool { return code == 404 }
		}
	default:
		panic(fmt.Sprintf("permission %q has no rule in the matrix", r.Perm))
	}
	if ok {
		return served
	}
	return forbidden
}

// cimMatrix is the CIM part of the matrix: representative operations of
// each kind (an enumeration, GetClass, an association, a pull, a method
// that acts - Cleanup, harmless on the CIB copy - and CreateInstance of
// an indication filter) for every credential. Without valid credentials
// the answer is 401; callers CIM refuses (no global read: the auditor,
// scoped grants) get 403; others are served, and the method and the
// filter are refused inside the answer (CIM_ERR_ACCESS_DENIED) unless
// the role allows them.
func cimMatrix(t *testing.T, d *Daemon, creds []matrixCred) {
	t.Helper()
	node1 := wbemtest.InstanceName("MGMTD_ComputerSystem", "CreationClassName", "MGMTD_ComputerSystem", "Name", "node1")
	websrv := wbemtest.InstanceName("MGMTD_ClusterResource", "SystemCreationClassName", "MGMTD_Cluster", "SystemName", d.Store.Snapshot().Cluster.Name,
		"CreationClassName", "MGMTD_ClusterResource", "Name", "web-srv")
	type op struct {
		name, method, object, body string
		// who may, beyond reading: "operate" or "admin"
		needs string
	}
	ops := []op{
		{"enumerate", "EnumerateInstances", "root/cimv2", wbemtest.IMethodCall("EnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "MGMTD_ClusterResource")), ""},
		{"getclass", "GetClass", "root/cimv2", wbemtest.IMethodCall("GetClass", "root/cimv2", wbemtest.ClassNameParam("ClassName", "MGMTD_Cluster")), ""},
		{"associators", "Associators", "root/cimv2", wbemtest.IMethodCall("Associators", "root/cimv2", wbemtest.Param("ObjectName", node1)), ""},
		{"pull", "OpenEnumerateInstancePaths", "root/cimv2", wbemtest.IMethodCall("OpenEnumerateInstancePaths", "root/cimv2",
			wbemtest.ClassNameParam("ClassName", "MGMTD_ComputerSystem")+wbemtest.ValueParam("MaxObjectCount", "1")), ""},
		{"method", "Cleanup", "root/cimv2:MGMTD_ClusterResource", wbemtest.MethodCall("Cleanup", "root/cimv2", websrv, ""), "operate"},
	}
	ops = append(ops, op{"subscribe", "CreateInstance", "interop", "", "admin"})
	// Operations outside, credentials inside, as for REST: a wrong
	// password followed by right ones never locks the user out.
	for _, o := range ops {
		for _, c := range creds {
			read := c.valid && c.read && !strings.Contains(c.name, "@")
			if o.name == "subscribe" {
				o.body = cimCreate("CIM_IndicationFilter", "Name", "matrix-"+strings.ReplaceAll(c.name, " ", "-"), "Query", "SELECT * FROM CIM_AlertIndication")
			}
			code, out := cimPost(t, d, c.hdr, o.method, o.object, o.body)
			want := 200
			switch {
			case !c.valid:
				want = 401
			case !read:
				want = 403
			}
			if code != want {
				t.Errorf("CIM %s as %s: %d, want %d", o.name, c.name, code, want)
				continue
			}
			if code != 200 {
				continue
			}
			allowed := o.needs == "" || (o.needs == "admin" && c.admin) ||
				(o.needs == "operate" && slices.Contains(c.acts, "resources/web-srv/actions/stop"))
			st := cimStatus(out)
			if allowed && st != "" || !allowed && st != "2" {
				t.Errorf("CIM %s as %s: CIM status %q (allowed %v): %.300s", o.name, c.name, st, allowed, out)
			}
		}
	}
}
