package auth

import (
	"fmt"
	"slices"
	"strings"
)

// UserLookup is implemented by password checkers that can tell, without
// the password, whether a user still exists and what it is given
// ([UserStore]); [Service.Recheck] uses it for built-in users.
type UserLookup interface {
	LookupUser(name string) (PasswordResult, bool)
}

// LookupUser implements [UserLookup].
func (s *UserStore) LookupUser(name string) (PasswordResult, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[name]
	if !ok {
		return PasswordResult{}, false
	}
	return PasswordResult{Method: MethodPassword, Groups: slices.Clone(u.groups), Grants: slices.Clone(u.grants)}, true
}

// Recheck returns id with the grants it holds now, for work that outlives
// the request that authenticated it (CIM indication subscriptions): the
// credential must not have expired (an OIDC ID token's or a
// certificate's expiry included), an API token must still exist,
// unrevoked and unexpired (its grants are the token's), a built-in user
// must still exist; the grants of every other method come from the
// bindings as configured now, matched against the groups the identity
// had (PAM and local users: their unix groups now).
func (s *Service) Recheck(id *Identity) (*Identity, error) {
	now := s.now()
	if !id.Expiry.IsZero() && !now.Before(id.Expiry) {
		return nil, fmt.Errorf("%w: the credential of %s expired", ErrTokenExpired, id.ID)
	}
	groups := id.Groups
	p := principal{method: id.Method, groups: groups}
	var extra []Grant
	switch id.Method {
	case MethodToken:
		if s.tokens == nil {
			return nil, fmt.Errorf("api token: %w", ErrMethodDisabled)
		}
		tid := strings.TrimPrefix(id.ID, "token:")
		tokens := s.tokens.List()
		i := slices.IndexFunc(tokens, func(t Token) bool { return t.ID == tid })
		if i < 0 {
			return nil, fmt.Errorf("api token %s: %w", tid, ErrBadCredentials)
		}
		t := tokens[i]
		switch {
		case !t.RevokedAt.IsZero():
			return nil, fmt.Errorf("api token %s: %w", tid, ErrTokenRevoked)
		case !now.Before(t.ExpiresAt):
			return nil, fmt.Errorf("api token %s: %w", tid, ErrTokenExpired)
		}
		out := newIdentity(id.ID, id.Name, MethodToken, t.Grants, nil)
		out.Expiry = t.ExpiresAt
		return out, nil
	case MethodPassword:
		p.user = strings.TrimPrefix(id.ID, "password:")
		found := false
		for _, c := range s.passwords {
			if l, ok := c.(UserLookup); ok {
				if res, ok := l.LookupUser(p.user); ok {
					found, groups, extra = true, res.Groups, res.Grants
					p.groups = groups
					break
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("user %s: %w", p.user, ErrUnknownUser)
		}
	case MethodPAM:
		p.user = strings.TrimPrefix(id.ID, "pam:")
		groups = UnixGroups(p.user)
		p.groups = groups
	case MethodLocal:
		p.user = id.Name
		if g := UnixGroups(id.Name); g != nil {
			groups = g
		}
		p.groups = groups
	case MethodOIDC, MethodSession:
		p.oidcGroups = id.Groups
	case MethodCert:
		p.certSubject, p.certCN = strings.TrimPrefix(id.ID, "cert:"), id.Name
	default:
		return nil, fmt.Errorf("%w: method %q", ErrBadCredentials, id.Method)
	}
	out := newIdentity(id.ID, id.Name, id.Method, grantsFor(s.bindings, p, extra), groups)
	out.Expiry = id.Expiry
	return out, nil
}
