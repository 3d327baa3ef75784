package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

// eventLog collects AuthEvents.
type eventLog struct {
	mu     sync.Mutex
	events []AuthEvent
}

func (l *eventLog) RecordAuth(_ context.Context, ev AuthEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) all() []AuthEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

type fixture struct {
	s      *Service
	clock  *fakeClock
	tokens *TokenStore
	users  *UserStore
	events *eventLog
	logs   *bytes.Buffer
}

const alicePassword = "correct horse battery staple"

func newFixture(t *testing.T, limits LimitConfig) *fixture {
	t.Helper()
	f := &fixture{clock: newClock(), events: &eventLog{}, logs: &bytes.Buffer{}}
	var err error
	f.tokens, err = OpenTokenStore(filepath.Join(t.TempDir(), TokenFile), f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	f.users = NewUserStore(bcrypt.MinCost)
	if err := f.users.Add("alice", alicePassword, nil, []string{"ops"}); err != nil {
		t.Fatal(err)
	}
	if err := f.users.Add("root-admin", "admin-pw", []Grant{{Role: RoleAdmin}}, nil); err != nil {
		t.Fatal(err)
	}
	f.s, err = New(Options{
		Bindings:  []Binding{{Role: RoleOperator, Groups: []string{"ops"}}},
		Tokens:    f.tokens,
		Passwords: []PasswordChecker{f.users},
		Limits:    limits,
		Recorder:  f.events,
		Logger:    slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// addSession creates a browser session as the OIDC callback would.
func (f *fixture) addSession(id *Identity, ttl time.Duration) (cookie, csrf string) {
	cookie, csrf = randomString(32), randomString(32)
	f.s.mu.Lock()
	f.s.sessions[hashSecret(cookie)] = &session{id: id, csrf: csrf, expires: f.clock.Now().Add(ttl)}
	f.s.mu.Unlock()
	return cookie, csrf
}

func (f *fixture) token(t *testing.T, grants ...Grant) string {
	t.Helper()
	secret, _, err := f.tokens.Create(TokenSpec{Name: "t", Grants: grants, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func req(method string, mods ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(method, "https://mgmtd.test/api/v1/resources", nil)
	for _, m := range mods {
		m(r)
	}
	return r
}

func withHeader(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Add(k, v) } }
func withBasic(u, p string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(u, p) }
}
func withCookie(v string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v}) }
}
func withRemote(a string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = a } }

// TestAuthenticateOrder: the first credential present decides; a wrong
// one is never passed on to the next method.
func TestAuthenticateOrder(t *testing.T) {
	f := newFixture(t, LimitConfig{UserMaxFailures: 1000, SourceMaxFailures: 1000, SourceBurst: 1000})
	tok := f.token(t, Grant{Role: RoleViewer})
	sessID := &Identity{ID: "oidc:https://id#u1", Name: "u1", Method: MethodSession, Roles: []Role{RoleAdmin}, Grants: []Grant{{Role: RoleAdmin}}}
	cookie, _ := f.addSession(sessID, time.Hour)
	tests := []struct {
		name       string
		r          *http.Request
		wantID     string
		wantMethod Method
		wantErr    error
	}{
		{"nothing", req("GET"), "", "", ErrNoCredentials},
		{"api token", req("GET", withHeader("Authorization", "Bearer "+tok)), "token:" + tok[6:22], MethodToken, nil},
		{"api token, lower-case scheme", req("GET", withHeader("Authorization", "bearer "+tok)), "token:" + tok[6:22], MethodToken, nil},
		{"built-in user", req("GET", withBasic("alice", alicePassword)), "password:alice", MethodPassword, nil},
		{"session cookie", req("GET", withCookie(cookie)), sessID.ID, MethodSession, nil},
		{"wrong token beats good cookie", req("GET", withHeader("Authorization", "Bearer "+tok[:len(tok)-1]+"x"), withCookie(cookie)), "", "", ErrBadCredentials},
		{"wrong password beats good cookie", req("GET", withBasic("alice", "nope"), withCookie(cookie)), "", "", ErrBadCredentials},
		{"good token beats bad cookie", req("GET", withHeader("Authorization", "Bearer "+tok), withCookie("forged")), "token:" + tok[6:22], MethodToken, nil},
		{"unknown scheme beats good cookie", req("GET", withHeader("Authorization", "Digest username=x"), withCookie(cookie)), "", "", ErrUnsupportedScheme},
		{"two Authorization headers", req("GET", withHeader("Authorization", "Bearer "+tok), withHeader("Authorization", "Bearer "+tok)), "", "", ErrBadCredentials},
		{"JWT while OIDC is off", req("GET", withHeader("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln")), "", "", ErrMethodDisabled},
		{"empty bearer", req("GET", withHeader("Authorization", "Bearer")), "", "", ErrMethodDisabled},
		{"malformed basic", req("GET", withHeader("Authorization", "Basic !!!")), "", "", ErrBadCredentials},
		{"unknown user", req("GET", withBasic("mallory", "x")), "", "", ErrBadCredentials},
		{"forged cookie", req("GET", withCookie("forged")), "", "", ErrBadCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := f.s.Authenticate(tc.r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if HTTPStatus(err) != http.StatusUnauthorized {
					t.Errorf("status %d, want 401", HTTPStatus(err))
				}
				return
			}
			if id.ID != tc.wantID || id.Method != tc.wantMethod {
				t.Errorf("identity %q/%s, want %q/%s", id.ID, id.Method, tc.wantID, tc.wantMethod)
			}
		})
	}

	// Unknown users and wrong passwords get the same answer.
	_, e1 := f.s.Authenticate(req("GET", withBasic("mallory", "x")))
	_, e2 := f.s.Authenticate(req("GET", withBasic("alice", "x")))
	if e1.Error() != e2.Error() {
		t.Errorf("unknown user %q vs wrong password %q", e1, e2)
	}

	// Sessions expire.
	f.clock.Advance(2 * time.Hour)
	if _, err := f.s.Authenticate(req("GET", withCookie(cookie))); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired session: %v", err)
	}
}

func TestBindingsAndGrantsOfPasswordUsers(t *testing.T) {
	f := newFixture(t, LimitConfig{})
	id, err := f.s.Authenticate(req("GET", withBasic("alice", alicePassword)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Grant{{Role: RoleOperator}}, id.Grants); diff != "" {
		t.Errorf("alice (group ops bound to operator) grants (-want +got):\n%s", diff)
	}
	id, err = f.s.Authenticate(req("GET", withBasic("root-admin", "admin-pw")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(id.Roles, []Role{RoleAdmin}) {
		t.Errorf("roles %v", id.Roles)
	}
}

// TestNoSecretInLogsOrBodies runs failing and succeeding requests with
// every kind of secret and checks logs, events and response bodies.
func TestNoSecretInLogsOrBodies(t *testing.T) {
	f := newFixture(t, LimitConfig{UserMaxFailures: 3, SourceMaxFailures: 1000, SourceBurst: 1000})
	tok := f.token(t, Grant{Role: RoleViewer})
	wrongTok := tok[:len(tok)-6] + "zzzzzz"
	cookie, csrf := f.addSession(&Identity{ID: "oidc:x#y", Name: "y", Method: MethodSession}, time.Hour)
	const wrongPassword = "Wr0ng-Pa55word-XYZ"
	secrets := []string{alicePassword, wrongPassword, tok, tok[23:], wrongTok[23:], cookie, csrf, "forged-cookie-value-123"}

	h := f.s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		_ = json.NewEncoder(w).Encode(id)
	}))
	var bodies []string
	for _, r := range []*http.Request{
		req("GET", withBasic("alice", wrongPassword)),
		req("GET", withBasic(wrongPassword, alicePassword)), // password typed into the user field
		req("GET", withBasic("alice", alicePassword)),
		req("GET", withBasic("alice", wrongPassword)),
		req("GET", withBasic("alice", wrongPassword)),
		req("GET", withBasic("alice", wrongPassword)),
		req("GET", withBasic("alice", alicePassword)), // locked out now
		req("GET", withHeader("Authorization", "Bearer "+tok)),
		req("GET", withHeader("Authorization", "Bearer "+wrongTok)),
		req("GET", withHeader("Authorization", "Bearer "+wrongPassword)),
		req("GET", withCookie(cookie)),
		req("POST", withCookie(cookie)),
		req("POST", withCookie(cookie), withHeader("X-CSRF-Token", csrf+"x")),
		req("GET", withCookie("forged-cookie-value-123")),
		req("GET", withHeader("Authorization", "Digest "+wrongPassword)),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		bodies = append(bodies, w.Body.String())
	}
	f.s.FlushSummaries() // the refusals by the limiter are summarised
	var evText []string
	for _, ev := range f.events.all() {
		b, _ := json.Marshal(ev)
		evText = append(evText, string(b))
	}
	for _, s := range secrets {
		for _, where := range []struct {
			name  string
			texts []string
		}{{"log", []string{f.logs.String()}}, {"event", evText}, {"body", bodies}} {
			for _, text := range where.texts {
				if strings.Contains(text, s) {
					t.Errorf("secret %.6s... appears in %s: %s", s, where.name, text)
				}
			}
		}
	}
	// The test saw what it meant to: failures, a lockout, successes.
	kinds := map[EventKind]int{}
	for _, ev := range f.events.all() {
		kinds[ev.Kind]++
	}
	if kinds[EventAuthFailure] < 8 || kinds[EventAuthSuccess] < 3 || !strings.Contains(strings.Join(evText, "\n"), "locked out") {
		t.Errorf("unexpected event mix %v", kinds)
	}
}

// TestLockoutThroughService: failures lock a user out from the failing
// source with the real remaining time in Retry-After; nobody can lock the
// owner out from elsewhere, neither by user name nor by API token id; a
// source guessing tokens is rate limited, then locked out.
func TestLockoutThroughService(t *testing.T) {
	f := newFixture(t, LimitConfig{UserMaxFailures: 3, UserCeiling: 10, UserCeilingInterval: 30 * time.Second,
		SourceMaxFailures: 10, SourceBurst: 10, Window: time.Minute, Lockout: 5 * time.Minute})
	h := f.s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 3 {
		if got := do(req("GET", withBasic("alice", "wrong"), withRemote("192.0.2.1:5000"))).Code; got != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i+1, got)
		}
	}
	// Locked from the failing source, even with the right password, for
	// the real remaining time.
	f.clock.Advance(time.Minute)
	w := do(req("GET", withBasic("alice", alicePassword), withRemote("192.0.2.1:5001")))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "240" {
		t.Fatalf("locked user with right password: %d Retry-After %q, want 429 and 240", w.Code, w.Header().Get("Retry-After"))
	}
	// Not from another source, and another user from the first source
	// still works.
	if got := do(req("GET", withBasic("alice", alicePassword), withRemote("192.0.2.2:5000"))).Code; got != http.StatusOK {
		t.Fatalf("alice from another source: %d", got)
	}
	if got := do(req("GET", withBasic("root-admin", "admin-pw"), withRemote("192.0.2.1:5000"))).Code; got != http.StatusOK {
		t.Fatalf("other user: %d", got)
	}
	f.clock.Advance(4 * time.Minute)
	if got := do(req("GET", withBasic("alice", alicePassword), withRemote("192.0.2.1:5000"))).Code; got != http.StatusOK {
		t.Fatalf("after lockout: %d", got)
	}

	// A token's id used as a weapon: wrong secrets with the owner's id
	// from many sources. The owner's known source is never refused;
	// unknown sources are slowed to one attempt per 30 s, not locked.
	tok := f.token(t, Grant{Role: RoleViewer})
	bearer := withHeader("Authorization", "Bearer "+tok)
	if got := do(req("GET", bearer, withRemote("10.9.9.9:1"))).Code; got != http.StatusOK {
		t.Fatalf("owner's token: %d", got)
	}
	forged := tok[:len(tok)-6] + "zzzzzz"
	for i := range 30 {
		do(req("GET", withHeader("Authorization", "Bearer "+forged), withRemote(fmt.Sprintf("203.0.113.%d:1", i))))
	}
	for range 5 {
		if got := do(req("GET", bearer, withRemote("10.9.9.9:2"))).Code; got != http.StatusOK {
			t.Fatalf("owner's token from its known source under attack: %d", got)
		}
	}
	w = do(req("GET", bearer, withRemote("198.51.100.1:1")))
	if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); w.Code != http.StatusTooManyRequests || ra < 1 || ra > 30 {
		t.Fatalf("owner's token from an unknown source under attack: %d Retry-After %q, want 429 within 30 s", w.Code, w.Header().Get("Retry-After"))
	}
	f.clock.Advance(30 * time.Second)
	if got := do(req("GET", bearer, withRemote("198.51.100.1:1"))).Code; got != http.StatusOK {
		t.Fatalf("owner's token from an unknown source after the interval: %d", got)
	}

	// Guessing tokens from one source: rate limited after the burst, then
	// locked out.
	codes := map[int]int{}
	for range 20 {
		codes[do(req("GET", withHeader("Authorization", "Bearer mgmtd_"+randomHex(8)+"_"+randomString(32)), withRemote("198.51.100.9:1"))).Code]++
		f.clock.Advance(time.Second)
	}
	if codes[http.StatusUnauthorized] == 0 || codes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("token guessing: %v, want some 401 then 429", codes)
	}
	w = do(req("GET", withHeader("Authorization", "Bearer x"), withRemote("198.51.100.9:1")))
	if w.Code != http.StatusTooManyRequests {
		t.Errorf("guessing source still allowed: %d %s", w.Code, w.Body)
	}
}

func TestCSRFAndCrossOrigin(t *testing.T) {
	f := newFixture(t, LimitConfig{})
	tok := f.token(t, Grant{Role: RoleOperator})
	cookie, csrf := f.addSession(&Identity{ID: "oidc:x#y", Name: "y", Method: MethodSession, Grants: []Grant{{Role: RoleOperator}}}, time.Hour)
	tests := []struct {
		name string
		r    *http.Request
		want int
	}{
		{"session GET needs no CSRF", req("GET", withCookie(cookie)), 200},
		{"session POST without CSRF", req("POST", withCookie(cookie)), 403},
		{"session POST with wrong CSRF", req("POST", withCookie(cookie), withHeader("X-CSRF-Token", "x")), 403},
		{"session POST with CSRF", req("POST", withCookie(cookie), withHeader("X-CSRF-Token", csrf)), 200},
		{"session DELETE with CSRF", req("DELETE", withCookie(cookie), withHeader("X-CSRF-Token", csrf)), 200},
		{"session POST with CSRF, cross-site", req("POST", withCookie(cookie), withHeader("X-CSRF-Token", csrf), withHeader("Sec-Fetch-Site", "cross-site")), 403},
		{"token POST (no CSRF needed)", req("POST", withHeader("Authorization", "Bearer "+tok)), 200},
		{"token POST from a cross-site page", req("POST", withHeader("Authorization", "Bearer "+tok), withHeader("Sec-Fetch-Site", "cross-site")), 403},
		{"basic POST from another origin", req("POST", withBasic("alice", alicePassword), withHeader("Origin", "https://evil.example")), 403},
		{"basic POST from a tool", req("POST", withBasic("alice", alicePassword)), 200},
	}
	h := f.s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tc.r)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
	// Form posts may carry the token as a field.
	r := httptest.NewRequest("POST", "https://mgmtd.test/auth/logout", strings.NewReader("csrf_token="+csrf))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	if _, err := f.s.CheckRequest(r); err != nil {
		t.Errorf("form CSRF token: %v", err)
	}
}

func TestTokenManagement(t *testing.T) {
	f := newFixture(t, LimitConfig{})
	ctx := context.Background()
	admin := newIdentity("oidc:x#admin", "admin", MethodOIDC, []Grant{{Role: RoleAdmin}}, nil)
	c1admin := newIdentity("oidc:x#c1", "c1", MethodOIDC, []Grant{{Role: RoleAdmin, Scope: Scope{Kind: KindCluster, Name: "c1"}}}, nil)
	viewer := newIdentity("oidc:x#viewer", "viewer", MethodOIDC, []Grant{{Role: RoleViewer}}, nil)

	secret, tok, err := f.s.CreateToken(ctx, admin, TokenSpec{Name: "nms", Grants: []Grant{{Role: RoleViewer, Scope: Scope{Kind: KindCluster, Name: "c1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.CreatedBy != admin.ID {
		t.Errorf("CreatedBy = %q", tok.CreatedBy)
	}
	id, err := f.s.Authenticate(req("GET", withHeader("Authorization", "Bearer "+secret)))
	if err != nil || id.Grants[0].String() != "viewer@cluster:c1" || id.Name != "nms" {
		t.Fatalf("new token: %+v %v", id, err)
	}
	for _, caller := range []*Identity{viewer, c1admin, nil} {
		if _, _, err := f.s.CreateToken(ctx, caller, TokenSpec{Name: "x", Grants: []Grant{{Role: RoleViewer}}}); !errors.Is(err, ErrForbidden) {
			t.Errorf("CreateToken by %v: %v, want ErrForbidden", caller, err)
		}
		if _, err := f.s.ListTokens(ctx, caller); !errors.Is(err, ErrForbidden) {
			t.Errorf("ListTokens by %v: %v, want ErrForbidden", caller, err)
		}
		if _, err := f.s.RevokeToken(ctx, caller, tok.ID); !errors.Is(err, ErrForbidden) {
			t.Errorf("RevokeToken by %v: %v, want ErrForbidden", caller, err)
		}
	}
	list, err := f.s.ListTokens(ctx, admin)
	if err != nil || len(list) != 1 || list[0].ID != tok.ID {
		t.Fatalf("ListTokens = %v %v", list, err)
	}
	if _, err := f.s.RevokeToken(ctx, admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Authenticate(req("GET", withHeader("Authorization", "Bearer "+secret))); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("revoked token: %v", err)
	}
	var kinds []EventKind
	for _, ev := range f.events.all() {
		if ev.Kind != EventAuthSuccess && ev.Kind != EventAuthFailure {
			kinds = append(kinds, ev.Kind)
		}
	}
	want := []EventKind{EventTokenCreated}
	for range 9 {
		want = append(want, EventDenied)
	}
	want = append(want, EventTokenRevoked)
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestTokenCannotExceedCreator(t *testing.T) {
	f := newFixture(t, LimitConfig{})
	// An admin limited by its grants to... only global admin may manage
	// tokens; it may hand out anything. A caller with admin plus a
	// narrower grant still cannot exceed its union.
	mixed := newIdentity("x", "x", MethodOIDC, []Grant{{Role: RoleAdmin}}, nil)
	if _, _, err := f.s.CreateToken(context.Background(), mixed, TokenSpec{Name: "a", Grants: []Grant{{Role: RoleAuditor}}}); err != nil {
		t.Errorf("admin creating auditor token: %v", err)
	}
	weird := &Identity{ID: "y", Grants: []Grant{{Role: RoleAdmin}, {Role: "operator"}}}
	if _, _, err := f.s.CreateToken(context.Background(), weird, TokenSpec{Name: "a", Grants: []Grant{{Role: "root"}}}); err == nil {
		t.Error("token with unknown role created")
	}
}

func TestServiceAuthorizeRecordsDenials(t *testing.T) {
	f := newFixture(t, LimitConfig{})
	id := newIdentity("pam:bob", "bob", MethodPAM, []Grant{{Role: RoleViewer}}, nil)
	obj := Object{Kind: KindResource, Cluster: "c1", Name: "web"}
	if d := f.s.Authorize(context.Background(), id, ActionRead, obj); !d.Allowed {
		t.Fatalf("read denied: %s", d.Reason)
	}
	d := f.s.Authorize(context.Background(), id, ActionOperate, obj)
	if d.Allowed || !errors.Is(d.Err(), ErrForbidden) || HTTPStatus(d.Err()) != http.StatusForbidden {
		t.Fatalf("operate: %+v", d)
	}
	evs := f.events.all()
	want := []AuthEvent{{Time: f.clock.Now(), Kind: EventDenied, Method: MethodPAM, ActorID: "pam:bob", ActorName: "bob",
		Action: ActionOperate, Object: "resource:c1/web", Reason: "no role of the caller (viewer) allows operate"}}
	if diff := cmp.Diff(want, evs); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestLocalSocketPeerCredentials(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Bindings: []Binding{{Role: RoleOperator, Methods: []Method{MethodLocal}, Users: []string{me.Username}}}})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "mgmtd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ConnContext: ConnContext, ReadHeaderTimeout: 10 * time.Second,
		Handler: s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := FromContext(r.Context())
			_ = json.NewEncoder(w).Encode(id)
		}))}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	get := func(auth string) (int, Identity) {
		r, _ := http.NewRequest("POST", "http://mgmtd/api/v1/x", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var id Identity
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &id)
		return resp.StatusCode, id
	}
	code, id := get("")
	if code != 200 {
		t.Fatalf("local request: %d", code)
	}
	want := Identity{ID: "local:uid=" + strconv.Itoa(os.Getuid()), Name: me.Username, Method: MethodLocal,
		Roles: []Role{RoleOperator}, Grants: []Grant{{Role: RoleOperator}}, Groups: id.Groups}
	if me.Username == "root" {
		// A configured binding adds to root's admin on the socket, never
		// replaces it (LocalAdmin).
		want.Roles, want.Grants = []Role{RoleAdmin, RoleOperator}, []Grant{{Role: RoleAdmin}, {Role: RoleOperator}}
	}
	if diff := cmp.Diff(want, id); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
	// A credential sent over the socket still decides first.
	if code, _ := get("Bearer mgmtd_0123456789abcdef_" + strings.Repeat("A", 43)); code != http.StatusUnauthorized {
		t.Errorf("bad token over the socket: %d, want 401", code)
	}
	// Not a unix socket: PeerCredentials refuses.
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if _, err := PeerCredentials(c1); err == nil {
		t.Error("PeerCredentials on a pipe succeeded")
	}
}

func TestDemoCredentials(t *testing.T) {
	f := newFixture(t, LimitConfig{})
	creds, err := CreateDemoCredentials(f.tokens, f.users, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "creds.json")
	if err := creds.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	var back map[string]map[string]string
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var printed bytes.Buffer
	if err := creds.Print(&printed); err != nil {
		t.Fatal(err)
	}
	if _, ok := back[string(RoleSender)]; ok {
		t.Errorf("the demo has a sender credential; a sender is a cluster's certificate")
	}
	for _, r := range Roles() {
		if r == RoleSender {
			continue
		}
		c := back[string(r)]
		if c["bearer_token"] == "" || c["basic_user"] != "demo-"+string(r) || c["basic_password"] == "" {
			t.Fatalf("%s: %v", r, c)
		}
		for _, how := range []*http.Request{
			req("GET", withHeader("Authorization", "Bearer "+c["bearer_token"])),
			req("GET", withBasic(c["basic_user"], c["basic_password"])),
		} {
			id, err := f.s.Authenticate(how)
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if !slices.Equal(id.Roles, []Role{r}) {
				t.Errorf("%s credential has roles %v", r, id.Roles)
			}
		}
		if !strings.Contains(printed.String(), c["bearer_token"]) || !strings.Contains(printed.String(), c["basic_password"]) {
			t.Errorf("printout lacks %s", r)
		}
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		err       error
		status    int
		challenge bool
	}{
		{ErrNoCredentials, 401, true},
		{ErrBadCredentials, 401, true},
		{ErrLockedOut, 429, false},
		{ErrRateLimited, 429, false},
		{ErrCSRF, 403, false},
		{ErrForbidden, 403, false},
		{ErrProviderUnavailable, 503, false},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		WriteError(w, tc.err)
		var body struct {
			Error  string `json:"error"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tc.status || body.Status != tc.status || body.Error != tc.err.Error() {
			t.Errorf("%v: %d %s", tc.err, w.Code, w.Body)
		}
		if got := len(w.Header().Values("WWW-Authenticate")) > 0; got != tc.challenge {
			t.Errorf("%v: challenge %v", tc.err, got)
		}
	}
}

// TestRootStaysAdminOnSocket: configuring bindings adds roles; root on the
// local socket keeps admin (issue 19: a binding silently removed it).
func TestRootStaysAdminOnSocket(t *testing.T) {
	for name, bs := range map[string][]Binding{
		"none":                      nil,
		"one viewer":                {{Role: RoleViewer, Users: []string{"alice"}}},
		"root viewer over PAM only": {{Role: RoleViewer, Methods: []Method{MethodPAM}, Users: []string{"root"}}},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(Options{Bindings: bs})
			if err != nil {
				t.Fatal(err)
			}
			id := s.localIdentity(PeerCred{UID: 0})
			if !slices.Contains(id.Roles, RoleAdmin) {
				t.Errorf("root on the socket has roles %v, want admin among them", id.Roles)
			}
			if other := s.localIdentity(PeerCred{UID: 65534}); slices.Contains(other.Roles, RoleAdmin) {
				t.Errorf("uid 65534 on the socket is admin: %v", other.Roles)
			}
		})
	}
}
