package auth

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is an injectable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestTokenStoreLifecycle(t *testing.T) {
	clock := newClock()
	path := filepath.Join(t.TempDir(), "state", TokenFile)
	s, err := OpenTokenStore(path, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	grants := []Grant{{Role: RoleOperator, Scope: Scope{Kind: KindCluster, Name: "c1"}}}
	secret, tok, err := s.Create(TokenSpec{Name: "ci", Grants: grants, TTL: time.Hour, CreatedBy: "oidc:x#y"})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := ParseTokenID(secret); !ok || id != tok.ID {
		t.Fatalf("secret does not parse: id %q ok %v", id, ok)
	}
	got, err := s.Verify(secret)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("Verify (-created +verified):\n%s", diff)
	}

	// Only the hash is on disk, with mode 0600.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret[len(TokenPrefix)+17:]) {
		t.Error("token file contains the secret")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode().Perm())
	}

	// Reopened, the token still verifies.
	s2, err := OpenTokenStore(path, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Verify(secret); err != nil {
		t.Fatalf("after reopen: %v", err)
	}

	// Wrong secrets with the right id, unknown ids, garbage.
	wrong := secret[:len(secret)-4] + "AAAA"
	if wrong == secret {
		wrong = secret[:len(secret)-4] + "BBBB"
	}
	other := TokenPrefix + "0123456789abcdef_" + strings.Repeat("A", 43)
	for name, bad := range map[string]string{"wrong secret": wrong, "unknown id": other, "garbage": "mgmtd_x"} {
		if _, err := s2.Verify(bad); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: err = %v, want ErrBadCredentials", name, err)
		} else if key := bad[strings.LastIndex(bad, "_")+1:]; len(key) >= 8 && strings.Contains(err.Error(), key) {
			t.Errorf("%s: error contains the secret: %v", name, err)
		}
	}

	// Expiry.
	clock.Advance(time.Hour)
	if _, err := s2.Verify(secret); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("after 1h: err = %v, want ErrTokenExpired", err)
	}

	// Revocation, persisted.
	secret2, tok2, err := s2.Create(TokenSpec{Name: "nms", Grants: []Grant{{Role: RoleViewer}}})
	if err != nil {
		t.Fatal(err)
	}
	if tok2.ExpiresAt.Sub(tok2.CreatedAt) != DefaultTokenTTL {
		t.Errorf("default TTL = %s", tok2.ExpiresAt.Sub(tok2.CreatedAt))
	}
	if _, err := s2.Revoke(tok2.ID); err != nil {
		t.Fatal(err)
	}
	s3, _ := OpenTokenStore(path, clock.Now)
	if _, err := s3.Verify(secret2); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("revoked: err = %v, want ErrTokenRevoked", err)
	}
	list := s3.List()
	if len(list) != 2 || list[0].ID != tok.ID || list[1].RevokedAt.IsZero() {
		t.Errorf("List = %+v", list)
	}
	if _, err := s3.Revoke("nope"); err == nil {
		t.Error("revoking an unknown token succeeded")
	}
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), "sha256") {
		t.Error("List exposes hashes")
	}
}

func TestTokenSpecValidation(t *testing.T) {
	s, _ := OpenTokenStore(filepath.Join(t.TempDir(), TokenFile), nil)
	tests := []struct {
		name string
		spec TokenSpec
		want string
	}{
		{"no name", TokenSpec{Grants: []Grant{{Role: RoleViewer}}}, "name is required"},
		{"no grants", TokenSpec{Name: "x"}, "at least one grant"},
		{"bad role", TokenSpec{Name: "x", Grants: []Grant{{Role: "root"}}}, "unknown role"},
		{"too long", TokenSpec{Name: "x", Grants: []Grant{{Role: RoleViewer}}, TTL: MaxTokenTTL + time.Hour}, "lifetime"},
		{"negative", TokenSpec{Name: "x", Grants: []Grant{{Role: RoleViewer}}, TTL: -time.Hour}, "lifetime"},
		{"name too long", TokenSpec{Name: strings.Repeat("n", MaxTokenNameLen+1), Grants: []Grant{{Role: RoleViewer}}}, "name is longer than"},
		{"name not UTF-8", TokenSpec{Name: "ci\xff", Grants: []Grant{{Role: RoleViewer}}}, "name is not valid UTF-8"},
		{"control in name", TokenSpec{Name: "ci\x00x", Grants: []Grant{{Role: RoleViewer}}}, "control character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := s.Create(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Create err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzParseTokenID(f *testing.F) {
	f.Add("mgmtd_0123456789abcdef_" + strings.Repeat("A", 43))
	f.Add("mgmtd_0123456789ABCDEF_" + strings.Repeat("A", 43))
	f.Add("mgmtd_")
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.sig")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseTokenID(s)
		if !ok {
			if id != "" {
				t.Fatalf("id %q for a malformed token", id)
			}
			return
		}
		if len(id) != 16 || !strings.HasPrefix(s, TokenPrefix+id+"_") {
			t.Fatalf("id %q not the token's id part in %q", id, s)
		}
	})
}

func FuzzPeekJWT(f *testing.F) {
	if raw, err := os.ReadFile("testdata/dex-id-token.jwt"); err == nil {
		f.Add(strings.TrimSpace(string(raw)))
	}
	for _, s := range []string{
		"eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJodHRwczovL2lkIn0.c2ln",
		"eyJhbGciOiJub25lIn0.eyJpc3MiOjF9.",
		"a.b.c", "..", "", "e30.e30.e30",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := PeekJWT(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("error %v does not wrap ErrMalformedToken", err)
			}
			if len(s) >= 12 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes the token: %v", err)
			}
			return
		}
		if strings.Count(s, ".") != 2 || p.Signed == strings.HasSuffix(s, ".") {
			t.Fatalf("accepted %q as %+v", s, p)
		}
	})
}

func TestPeekJWTCaptured(t *testing.T) {
	raw, err := os.ReadFile("testdata/dex-id-token.jwt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := PeekJWT(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	want := jwtPeek{Alg: "RS256", KeyID: "c8372728598c9737d214eadce4f0e4e71013d78a", Issuer: "http://127.0.0.1:5599/dex", Signed: true}
	if got != want {
		t.Errorf("PeekJWT = %+v, want %+v", got, want)
	}
}
