package mgmtd

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/rest"
)

// startDemo runs a demo daemon over TLS on a free loopback port.
func startDemo(t *testing.T) *Daemon { return startDemoB(t) }

func startDemoB(t testing.TB) *Daemon { return startDemoWith(t, nil, slog.New(slog.DiscardHandler)) }

// startDemoWith is startDemo with the configuration changed by mod (if
// not nil) and log as the daemon's logger.
func startDemoWith(t testing.TB, mod func(*Config), log *slog.Logger) *Daemon {
	t.Helper()
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.StateDir = t.TempDir()
	cfg.Cluster = "demo"
	if mod != nil {
		mod(cfg)
	}
	d, _ := runDaemon(t, cfg, log, Options{Demo: true, DemoSpeed: 0.001})
	return d
}

// runDaemon builds a daemon from cfg and runs it until the test ends or
// stop (idempotent) is called; it returns once the daemon is ready.
func runDaemon(t testing.TB, cfg *Config, log *slog.Logger, o Options) (d *Daemon, stop func()) {
	t.Helper()
	d, err := NewDaemon(cfg, log, o)
	if err != nil {
		t.Fatal(err)
	}
	return runDaemonWith(t, d)
}

// runDaemonWith runs the built daemon d as runDaemon does.
func runDaemonWith(t testing.TB, d *Daemon) (*Daemon, func()) {
	t.Helper()
	var stop func()
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	var runErr error
	go func() { runErr = d.Run(ctx); close(finished) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-finished
			if runErr != nil {
				t.Errorf("daemon: %v", runErr)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-d.Ready:
	case <-finished:
		t.Fatalf("daemon did not start: %v", runErr)
	case <-time.After(20 * time.Second):
		t.Fatal("daemon not ready")
	}
	return d, stop
}

// stateToken creates an API token of role in cfg's state directory,
// before the daemon starts, and returns its secret and record.
func stateToken(t testing.TB, cfg *Config, name string, role auth.Role) (string, auth.Token) {
	t.Helper()
	tokens, err := auth.OpenTokenStore(filepath.Join(cfg.StateDir, auth.TokenFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, tok, err := tokens.Create(auth.TokenSpec{Name: name, Grants: []auth.Grant{{Role: role}}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

var insecure = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 30 * time.Second}

func call(t testing.TB, method, url string, hdr map[string]string, body string) (int, http.Header, []byte) {
	t.Helper()
	var pairs []string
	for k, v := range hdr {
		pairs = append(pairs, k, v)
	}
	resp, b := testutil.HTTP(t, insecure, method, url, body, pairs...)
	return resp.StatusCode, resp.Header, b
}

func path(r rest.Route) string {
	return strings.NewReplacer(":name", "demo", ":id", "web").Replace(r.Path)
}

// TestAnonymousRefused: every registered route except health, the OpenAPI
// document, the sign-in methods and the OIDC login/callback refuses an
// anonymous request with 401 and a challenge.
func TestAnonymousRefused(t *testing.T) {
	d := startDemo(t)
	public := map[string]bool{"/healthz": true, "/api/v1/openapi.json": true, "/api/v1/auth/login": true, "/api/v1/auth/callback": true,
		"/api/v1/auth/methods": true,            // whether OIDC login exists: the page asks before signing in
		"/ui/*file":            true, "/": true} // the web page's files hold no data
	n := 0
	for _, r := range d.REST.Routes() {
		if public[r.Path] {
			if r.Perm != rest.PermPublic {
				t.Errorf("%s should be public", r.Path)
			}
			continue
		}
		if r.Perm == rest.PermPublic {
			t.Errorf("%s %s is public but not in the allowed list", r.Method, r.Path)
			continue
		}
		code, h, _ := call(t, r.Method, d.URL+path(r), nil, "")
		// One challenge per header: browsers read only the first of a
		// header, and the web page needs Basic.
		if code != 401 || !slices.ContainsFunc(h.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "Bearer ") }) ||
			!slices.ContainsFunc(h.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "Basic ") }) {
			t.Errorf("%s %s anonymous: %d %v", r.Method, r.Path, code, h.Values("WWW-Authenticate"))
		}
		// A wrong token is refused too, not treated as anonymous; after a
		// few from this source, the source is rate limited (429).
		code, _, _ = call(t, r.Method, d.URL+path(r), map[string]string{"Authorization": "Bearer mgmtd_0000000000000000_nope"}, "")
		if code != 401 && !(code == 429 && n > 2) {
			t.Errorf("%s %s bad token: %d", r.Method, r.Path, code)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d protected routes checked", n)
	}
}

// TestRoleMatrix: each demo role against each kind of REST request gets
// exactly the expected answer.
func TestRoleMatrix(t *testing.T) {
	d := startDemo(t)
	creds := d.DemoCredentials
	type req struct{ method, path, body string }
	read := req{"GET", "/api/v1/where?q=web", ""}
	events := req{"GET", "/api/v1/nodes/hv1", ""}
	tokens := req{"GET", "/api/v1/tokens", ""}
	mkToken := req{"POST", "/api/v1/tokens", `{"name":"t","grants":[{"role":"viewer"}]}`}
	session := req{"GET", "/api/v1/auth/session", ""}
	want := map[auth.Role]map[req]int{
		auth.RoleViewer:   {read: 200, events: 200, tokens: 403, mkToken: 403, session: 200},
		auth.RoleOperator: {read: 200, events: 200, tokens: 403, mkToken: 403, session: 200},
		auth.RoleAdmin:    {read: 200, events: 200, tokens: 200, mkToken: 201, session: 200},
		auth.RoleAuditor:  {read: 403, events: 403, tokens: 403, mkToken: 403, session: 200},
	}
	for role, cases := range want {
		c := creds[role]
		for _, how := range []map[string]string{
			{"Authorization": "Bearer " + c.BearerToken},
			{"Authorization": "Basic " + basic(c.BasicUser, c.BasicPassword)},
		} {
			for r, code := range cases {
				got, _, body := call(t, r.method, d.URL+r.path, how, r.body)
				if got != code {
					t.Errorf("%s %s %s: %d, want %d (%s)", role, r.method, r.path, got, code, body)
				}
			}
		}
	}
}

func basic(u, p string) string {
	return base64Std(u + ":" + p)
}

// TestTokenLifecycle: an admin creates a token, it works, it is listed
// without its secret, it is revoked and then refused.
func TestTokenLifecycle(t *testing.T) {
	d := startDemo(t)
	admin := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAdmin].BearerToken}
	code, _, body := call(t, "POST", d.URL+"/api/v1/tokens", admin, `{"name":"ci","grants":[{"role":"viewer"}],"ttl":"1h"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var nt rest.NewToken
	if err := json.Unmarshal(body, &nt); err != nil || nt.Secret == "" {
		t.Fatalf("%v %s", err, body)
	}
	viewer := map[string]string{"Authorization": "Bearer " + nt.Secret}
	if code, _, _ := call(t, "GET", d.URL+"/api/v1/nodes", viewer, ""); code != 200 {
		t.Fatalf("new token: %d", code)
	}
	_, _, list := call(t, "GET", d.URL+"/api/v1/tokens", admin, "")
	if strings.Contains(string(list), nt.Secret) || !strings.Contains(string(list), nt.Token.ID) {
		t.Fatalf("list: %s", list)
	}
	if code, _, b := call(t, "DELETE", d.URL+"/api/v1/tokens/"+nt.Token.ID, admin, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, b)
	}
	if code, _, _ := call(t, "GET", d.URL+"/api/v1/nodes", viewer, ""); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
}

// TestScopedViewer: a token scoped to one node sees that node and what
// runs on it, not the rest.
func TestScopedViewer(t *testing.T) {
	d := startDemo(t)
	admin := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAdmin].BearerToken}
	code, _, body := call(t, "POST", d.URL+"/api/v1/tokens", admin, `{"name":"hv3 only","grants":[{"role":"viewer","scope":"node:hv3"}]}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var nt rest.NewToken
	_ = json.Unmarshal(body, &nt)
	scoped := map[string]string{"Authorization": "Bearer " + nt.Secret}
	_, _, b := call(t, "GET", d.URL+"/api/v1/nodes", scoped, "")
	var env struct {
		Data []struct{ Name string } `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if len(env.Data) != 1 || env.Data[0].Name != "hv3" {
		t.Fatalf("scoped nodes: %+v", env.Data)
	}
	_, _, all := call(t, "GET", d.URL+"/api/v1/nodes", admin, "")
	if err := json.Unmarshal(all, &env); err != nil || len(env.Data) < 3 {
		t.Fatalf("admin sees %d nodes", len(env.Data))
	}
	// The cached answer of one scope is never served to another.
	_, _, b2 := call(t, "GET", d.URL+"/api/v1/nodes", scoped, "")
	if string(b2) != string(b) {
		t.Fatal("scoped answer changed after an admin request")
	}
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestLockoutRetryAfter: a lockout answers 429 with the real remaining
// lock time in Retry-After (15 minutes by default), and locks the user out
// from the failing source only.
func TestLockoutRetryAfter(t *testing.T) {
	d := startDemo(t)
	c := d.DemoCredentials[auth.RoleViewer]
	wrong := map[string]string{"Authorization": "Basic " + basic(c.BasicUser, "guess")}
	for i := range 5 {
		if code, _, body := call(t, "GET", d.URL+"/api/v1/nodes", wrong, ""); code != 401 {
			t.Fatalf("failure %d: %d %s", i+1, code, body)
		}
	}
	right := map[string]string{"Authorization": "Basic " + basic(c.BasicUser, c.BasicPassword)}
	code, h, body := call(t, "GET", d.URL+"/api/v1/nodes", right, "")
	if code != 429 {
		t.Fatalf("locked out: %d %s", code, body)
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 14*60 || s > 15*60 {
		t.Fatalf("Retry-After %q, want the remaining lock of about 900 s", h.Get("Retry-After"))
	}

	// The owner on another address is not locked out by those failures.
	var pairs []string
	for k, v := range right {
		pairs = append(pairs, k, v)
	}
	if resp, body := testutil.HTTP(t, clientFrom(t, "127.0.0.2"), "GET", d.URL+"/api/v1/nodes", "", pairs...); resp.StatusCode != 200 {
		t.Fatalf("the user from another source: %d %s", resp.StatusCode, body)
	}
}

// clientFrom returns an HTTPS client (any certificate) whose connections
// come from the loopback address ip (127.0.0.0/8 is all loopback on
// Linux), so that a test can play several sources.
func clientFrom(t testing.TB, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 64}}
}
