package auth

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestRecheck: an identity checked again later keeps only what it holds
// now: a revoked token, an expired credential, a removed user are
// refused; bindings are applied as configured now.
func TestRecheck(t *testing.T) {
	tokens, err := OpenTokenStore(filepath.Join(t.TempDir(), TokenFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	users := NewUserStore(4)
	if err := users.Add("alice", "alice-pw", []Grant{{Role: RoleAdmin}}, nil); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Tokens: tokens, Passwords: []PasswordChecker{users},
		Bindings: []Binding{{Role: RoleAdmin, OIDCGroups: []string{"admins"}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := tokens.Create(TokenSpec{Name: "nms", Grants: []Grant{{Role: RoleAdmin}}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tokenID := &Identity{ID: "token:" + tok.ID, Name: "nms", Method: MethodToken}
	if got, err := s.Recheck(tokenID); err != nil || !got.Permits(ActionAdmin) {
		t.Errorf("valid token: %v %+v", err, got)
	}
	if _, err := tokens.Revoke(tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recheck(tokenID); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("revoked token: %v", err)
	}
	if got, err := s.Recheck(&Identity{ID: "password:alice", Name: "alice", Method: MethodPassword}); err != nil || !got.Permits(ActionAdmin) {
		t.Errorf("built-in user: %v %+v", err, got)
	}
	if _, err := s.Recheck(&Identity{ID: "password:bob", Name: "bob", Method: MethodPassword}); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown built-in user: %v", err)
	}
	oidc := &Identity{ID: "oidc:https://idp#1", Name: "carol", Method: MethodOIDC, Groups: []string{"admins"}, Expiry: time.Now().Add(time.Hour)}
	if got, err := s.Recheck(oidc); err != nil || !got.Permits(ActionAdmin) {
		t.Errorf("oidc admin: %v %+v", err, got)
	}
	oidc.Groups = []string{"viewers"}
	if got, err := s.Recheck(oidc); err != nil || got.Permits(ActionAdmin) {
		t.Errorf("oidc outside the admin group: %v %+v", err, got)
	}
	oidc.Expiry = time.Now().Add(-time.Minute)
	if _, err := s.Recheck(oidc); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired credential: %v", err)
	}
}
