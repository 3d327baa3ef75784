package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// fakeIssuer is a minimal in-process OIDC provider (discovery + JWKS)
// whose signing key the test controls, for cases a real provider cannot
// be made to produce on demand: tokens of another issuer and key
// rotation.
type fakeIssuer struct {
	srv *httptest.Server
	mu  sync.Mutex
	key *rsa.PrivateKey
	kid string
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{}
	f.rotate(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/keys",
			"authorization_endpoint": f.srv.URL + "/auth", "token_endpoint": f.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &f.key.PublicKey, KeyID: f.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// rotate replaces the signing key; the old one is no longer published.
func (f *fakeIssuer) rotate(t *testing.T) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.key, f.kid = k, randomHex(4)
	f.mu.Unlock()
}

func (f *fakeIssuer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	f.mu.Lock()
	key, kid := f.key, f.kid
	f.mu.Unlock()
	return signJWT(t, key, kid, claims)
}

func signJWT(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fakeIssuer) claims(aud string, groups ...string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": f.srv.URL, "sub": "fake-user", "aud": aud, "email": "fake@example.com",
		"groups": groups, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// jwtParts splits a compact JWS and decodes its header and claims.
func jwtParts(t *testing.T, raw string) (hdr, claims map[string]any) {
	t.Helper()
	p := strings.Split(raw, ".")
	for i, v := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(p[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, claims
}

func b64JSON(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newOIDCService(t *testing.T, cfg OIDCConfig, now func() time.Time, rec Recorder) *Service {
	t.Helper()
	o, err := NewOIDC(cfg, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{OIDC: o, Bindings: dexBindings(), Recorder: rec, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(raw string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://mgmtd.test/api/v1/nodes", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	return r
}

func TestOIDCBearerDex(t *testing.T) {
	d := startDex(t)
	s := newOIDCService(t, d.oidcConfig(), nil, nil)
	tests := []struct {
		user      string
		wantRoles []Role
		wantScope Scope
	}{
		{"admin@example.com", []Role{RoleAdmin}, Scope{}},
		{"operator@example.com", []Role{RoleOperator}, Scope{}},
		{"viewer@example.com", []Role{RoleViewer}, Scope{}},
		{"auditor@example.com", []Role{RoleAuditor}, Scope{}},
		{"c1op@example.com", []Role{RoleOperator}, Scope{Kind: KindCluster, Name: "c1"}},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			raw := d.idToken(t, tc.user)
			id, err := s.Authenticate(bearer(raw))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			_, claims := jwtParts(t, raw)
			wantID := "oidc:" + d.issuer + "#" + claims["sub"].(string)
			if id.ID != wantID || id.Name != tc.user || id.Method != MethodOIDC {
				t.Errorf("identity = %q %q %q, want %q %q oidc", id.ID, id.Name, id.Method, wantID, tc.user)
			}
			if diff := cmp.Diff(tc.wantRoles, id.Roles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			if id.Grants[0].Scope != tc.wantScope {
				t.Errorf("scope = %v, want %v", id.Grants[0].Scope, tc.wantScope)
			}
			if id.Expiry.IsZero() {
				t.Error("no expiry")
			}
		})
	}
}

func TestOIDCRefusedDex(t *testing.T) {
	d := startDex(t)
	fake := newFakeIssuer(t)
	foreignKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	admin := d.idToken(t, "admin@example.com")
	hdr, claims := jwtParts(t, admin)
	viewer := d.idToken(t, "viewer@example.com")
	vp := strings.Split(viewer, ".")
	_, vclaims := jwtParts(t, viewer)
	vclaims["groups"] = []string{"cluster-admins"}

	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	tests := []struct {
		name    string
		token   func(t *testing.T) string
		cfg     func(OIDCConfig) OIDCConfig
		now     func() time.Time
		want    error
		wantMsg string
	}{
		{name: "wrong audience", want: ErrWrongAudience, wantMsg: `expected audience "mgmtd-test"`,
			token: func(t *testing.T) string {
				return d.passwordGrant(t, dexOtherClient, "other-secret", "admin@example.com", fullScope)
			}},
		{name: "expired", now: later, want: ErrTokenExpired, wantMsg: "token expired at",
			token: func(*testing.T) string { return admin }},
		{name: "alg none", want: ErrUnsigned, wantMsg: "alg none",
			token: func(*testing.T) string {
				return b64JSON(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64JSON(claims) + "."
			}},
		{name: "unsigned", want: ErrUnsigned, wantMsg: "empty signature",
			token: func(*testing.T) string { return b64JSON(hdr) + "." + b64JSON(claims) + "." }},
		{name: "signed by a foreign key", want: ErrBadSignature, wantMsg: "not signed by a current key",
			token: func(t *testing.T) string { return signJWT(t, foreignKey, hdr["kid"].(string), claims) }},
		{name: "payload changed after signing", want: ErrBadSignature, wantMsg: "signature not valid",
			token: func(*testing.T) string { return vp[0] + "." + b64JSON(vclaims) + "." + vp[2] }},
		{name: "wrong issuer", want: ErrWrongIssuer, wantMsg: "token from wrong issuer: expected " + `"` + d.issuer,
			token: func(t *testing.T) string { return fake.sign(t, fake.claims(dexClientID, "cluster-admins")) }},
		{name: "missing groups (user has none)", want: ErrMissingGroups, wantMsg: `no groups claim "groups"`,
			token: func(t *testing.T) string { return d.idToken(t, "nogroups@example.com") }},
		{name: "missing groups (scope not asked)", want: ErrMissingGroups, wantMsg: `no groups claim`,
			token: func(t *testing.T) string {
				return d.passwordGrant(t, dexClientID, dexClientSecret, "admin@example.com", "openid email")
			}},
		{name: "algorithm not allowed", want: ErrAlgorithm, wantMsg: `"RS256" (allowed: ES256)`,
			cfg:   func(c OIDCConfig) OIDCConfig { c.Algorithms = []string{"ES256"}; return c },
			token: func(*testing.T) string { return admin }},
		{name: "not a JWT", want: ErrMalformedToken, wantMsg: "want 3 dot-separated parts",
			token: func(*testing.T) string { return "not-a-jwt" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := d.oidcConfig()
			if tc.cfg != nil {
				cfg = tc.cfg(cfg)
			}
			var events []AuthEvent
			s := newOIDCService(t, cfg, tc.now, RecorderFunc(func(_ context.Context, ev AuthEvent) { events = append(events, ev) }))
			raw := tc.token(t)
			r := bearer(raw)
			w := httptest.NewRecorder()
			s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Error("handler reached with a refused token")
			})).ServeHTTP(w, r)
			_, err := s.Authenticate(bearer(raw))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tc.wantMsg)
			}
			if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), tc.want.Error()) {
				t.Errorf("response = %d %s, want 401 naming %q", w.Code, w.Body, tc.want)
			}
			assertNoSecret(t, raw, w.Body.String(), err.Error())
			if len(events) != 2 || events[0].Kind != EventAuthFailure || events[0].Method != MethodOIDC {
				t.Errorf("events = %+v, want two oidc failures", events)
			}
			for _, ev := range events {
				assertNoSecret(t, raw, ev.Reason)
			}
		})
	}
}

// assertNoSecret fails if any of texts contains secret or its
// signature/payload part.
func assertNoSecret(t *testing.T, secret string, texts ...string) {
	t.Helper()
	var needles []string
	for _, p := range strings.Split(secret, ".") {
		if len(p) >= 8 {
			needles = append(needles, p)
		}
	}
	for _, text := range texts {
		for _, n := range needles {
			if strings.Contains(text, n) {
				t.Errorf("secret material leaked into %q", text)
			}
		}
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	f := newFakeIssuer(t)
	o, err := NewOIDC(OIDCConfig{Issuer: f.srv.URL, ClientID: "c"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := f.sign(t, f.claims("c", "g"))
	if _, err := o.Verify(ctx, old); err != nil {
		t.Fatalf("token of the first key: %v", err)
	}
	f.rotate(t)
	fresh := f.sign(t, f.claims("c", "g"))
	if _, err := o.Verify(ctx, fresh); err != nil {
		t.Fatalf("token of the rotated key (key set refetch): %v", err)
	}
	// A verifier that has only seen the new key set refuses the retired
	// key. (The verifier above may still accept it for a moment: go-oidc
	// wakes waiters before it swaps its key cache.)
	o2, err := NewOIDC(OIDCConfig{Issuer: f.srv.URL, ClientID: "c"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o2.Verify(ctx, old); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("token of the retired key: err = %v, want ErrBadSignature", err)
	}
}

func TestOIDCProviderDown(t *testing.T) {
	f := newFakeIssuer(t)
	o, err := NewOIDC(OIDCConfig{Issuer: f.srv.URL, ClientID: "c"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := f.sign(t, f.claims("c", "g"))
	f.srv.Close()
	if _, err := o.Verify(context.Background(), raw); !errors.Is(err, ErrProviderUnavailable) {
		t.Fatalf("err = %v, want ErrProviderUnavailable", err)
	}
	if got := HTTPStatus(ErrProviderUnavailable); got != http.StatusServiceUnavailable {
		t.Errorf("status = %d", got)
	}
}

func TestOIDCConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  OIDCConfig
		want string
	}{
		{"ok https", OIDCConfig{Issuer: "https://id.example", ClientID: "c"}, ""},
		{"ok loopback http", OIDCConfig{Issuer: "http://127.0.0.1:5556/dex", ClientID: "c"}, ""},
		{"plain http off loopback", OIDCConfig{Issuer: "http://id.example", ClientID: "c"}, "oidc.issuer: must use https"},
		{"no client", OIDCConfig{Issuer: "https://id.example"}, "oidc.client_id"},
		{"alg none", OIDCConfig{Issuer: "https://id.example", ClientID: "c", Algorithms: []string{"none"}}, "oidc.algorithms"},
		{"hmac", OIDCConfig{Issuer: "https://id.example", ClientID: "c", Algorithms: []string{"HS256"}}, "oidc.algorithms"},
		{"redirect without secret", OIDCConfig{Issuer: "https://id.example", ClientID: "c", RedirectURL: "https://m/cb"}, "oidc.client_secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBrowserLoginDex drives the authorization code flow with PKCE the way
// a browser does (cookie jar, redirects, Dex's login form), then uses the
// session cookie, the CSRF token and logout.
func TestBrowserLoginDex(t *testing.T) {
	d := startDex(t)
	var mu sync.Mutex
	var events []AuthEvent
	s := newOIDCService(t, d.oidcConfig(), nil, RecorderFunc(func(_ context.Context, ev AuthEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	mux := http.NewServeMux()
	mux.Handle("GET /auth/login", s.LoginHandler())
	mux.Handle("GET /auth/callback", s.CallbackHandler())
	mux.Handle("POST /auth/logout", s.LogoutHandler())
	mux.Handle("GET /auth/session", s.SessionHandler())
	mux.Handle("/api/thing", s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		_, _ = io.WriteString(w, r.Method+" by "+id.Name+" via "+string(id.Method))
	})))
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = d.callbackListener(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	base := "https://" + d.callbackAddr

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}}
	var firstHop *url.URL
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if firstHop == nil {
			firstHop = req.URL
		}
		return nil
	}

	// 1. login -> provider -> login form
	resp, err := client.Get(base + "/auth/login?return=/api/thing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q := firstHop.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request lacks PKCE/nonce/state: %s", firstHop)
	}
	form := resp.Request.URL
	if !strings.Contains(form.Path, "/auth/local/login") {
		t.Fatalf("expected Dex's login form, ended at %s", form)
	}

	// 2. submit the form -> callback sets the session cookie
	resp, err = client.PostForm(form.String(), url.Values{"login": {"operator@example.com"}, "password": {dexPassword}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/auth/callback" || !strings.Contains(string(body), `url=/api/thing`) {
		t.Fatalf("callback: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly Secure SameSite=Strict Path=/", sc)
	}
	if strings.Contains(string(body), "eyJ") {
		t.Error("callback page contains a JWT; tokens must stay on the server")
	}

	// 3. the session authenticates reads
	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := get("/api/thing"); code != 200 || b != "GET by operator@example.com via session" {
		t.Fatalf("GET with session = %d %q", code, b)
	}
	code, b := get("/auth/session")
	var info struct {
		Identity  Identity `json:"identity"`
		CSRFToken string   `json:"csrf_token"`
	}
	if err := json.Unmarshal([]byte(b), &info); code != 200 || err != nil || info.CSRFToken == "" {
		t.Fatalf("session info = %d %s", code, b)
	}
	if !slices.Equal(info.Identity.Roles, []Role{RoleOperator}) {
		t.Errorf("session roles = %v", info.Identity.Roles)
	}

	// 4. mutating requests need the CSRF token
	post := func(path, csrf string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+path, nil)
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := post("/api/thing", ""); code != http.StatusForbidden || !strings.Contains(b, "CSRF") {
		t.Errorf("POST without CSRF = %d %s, want 403", code, b)
	}
	if code, _ := post("/api/thing", "wrong"+info.CSRFToken); code != http.StatusForbidden {
		t.Errorf("POST with wrong CSRF = %d, want 403", code)
	}
	if code, b := post("/api/thing", info.CSRFToken); code != 200 || b != "POST by operator@example.com via session" {
		t.Errorf("POST with CSRF = %d %q", code, b)
	}

	// 5. logout ends the session server side (a replayed cookie fails)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if code, _ := post("/auth/logout", info.CSRFToken); code != http.StatusSeeOther {
		t.Errorf("logout = %d, want 303", code)
	}
	if code, _ := get("/api/thing"); code != http.StatusUnauthorized {
		t.Errorf("GET after logout = %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/thing", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sc.Value})
	resp, err = (&http.Client{Transport: client.Transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed session cookie = %d, want 401", resp.StatusCode)
	}
	assertNoSecret(t, sc.Value, string(b2))

	// 6. a callback whose state does not belong to this browser is refused
	code, b = get("/auth/callback?code=x&state=forged")
	if code != http.StatusForbidden || !strings.Contains(b, "state does not match") {
		t.Errorf("forged callback = %d %s, want 403", code, b)
	}

	// The request without credentials after the logout is counted into
	// the source's summary, not recorded on its own.
	s.FlushSummaries()
	mu.Lock()
	defer mu.Unlock()
	var kinds []EventKind
	for _, ev := range events {
		if ev.Kind != EventAuthSuccess {
			kinds = append(kinds, ev.Kind)
		}
		assertNoSecret(t, sc.Value, ev.Reason, ev.ActorName)
	}
	want := []EventKind{EventLogin, EventAuthFailure, EventAuthFailure, EventLogout, EventAuthFailure, EventAuthFailure, EventAuthSummary}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("event kinds (-want +got):\n%s", diff)
	}
}
