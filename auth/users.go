package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// PasswordResult is what a [PasswordChecker] learned about a user whose
// password was right.
type PasswordResult struct {
	Method Method   // MethodPAM or MethodPassword
	Groups []string // unix or built-in groups, matched by Binding.Groups
	Grants []Grant  // grants the store gives directly (built-in users)
}

// PasswordChecker checks a user name and password (HTTP Basic). It
// returns an error wrapping [ErrUnknownUser] if it does not know the user
// (the next checker is then asked) and one wrapping [ErrBadCredentials]
// if the password is wrong. Errors must not contain the password.
type PasswordChecker interface {
	CheckPassword(ctx context.Context, user, password string) (PasswordResult, error)
}

// UserStore is the built-in user store for the demo and for small
// installations without PAM: user names with bcrypt-hashed passwords and
// grants. It lives in memory; it is safe for concurrent use.
type UserStore struct {
	cost  int
	dummy func() []byte // hash compared against for unknown users

	mu    sync.RWMutex
	users map[string]storedUser
}

type storedUser struct {
	hash   []byte
	grants []Grant
	groups []string
}

// NewUserStore returns an empty store hashing with bcrypt at cost
// (0 for bcrypt.DefaultCost).
func NewUserStore(cost int) *UserStore {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	return &UserStore{cost: cost, users: map[string]storedUser{}, dummy: sync.OnceValue(func() []byte {
		// Unknown users cost as much time as known ones.
		h, _ := bcrypt.GenerateFromPassword([]byte("mgmtd-dummy-password"), cost)
		return h
	})}
}

// Add creates or replaces user with password, grants and groups.
func (s *UserStore) Add(user, password string, grants []Grant, groups []string) error {
	if user == "" || password == "" {
		return fmt.Errorf("add user: user name and password are required")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("add user %q: hash password: %w", user, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[user] = storedUser{hash: h, grants: slices.Clone(grants), groups: slices.Clone(groups)}
	return nil
}

// CheckPassword implements [PasswordChecker].
func (s *UserStore) CheckPassword(_ context.Context, user, password string) (PasswordResult, error) {
	s.mu.RLock()
	u, ok := s.users[user]
	s.mu.RUnlock()
	if !ok {
		_ = bcrypt.CompareHashAndPassword(s.dummy(), []byte(password))
		return PasswordResult{}, fmt.Errorf("built-in users: %w", ErrUnknownUser)
	}
	// bcrypt compares in constant time.
	if err := bcrypt.CompareHashAndPassword(u.hash, []byte(password)); err != nil {
		return PasswordResult{}, fmt.Errorf("built-in users: %w", ErrBadCredentials)
	}
	return PasswordResult{Method: MethodPassword, Groups: slices.Clone(u.groups), Grants: slices.Clone(u.grants)}, nil
}

// constantTimeEqual compares two strings in constant time (for their
// common length; the lengths of CSRF tokens and states are not secret).
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
