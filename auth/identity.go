package auth

import (
	"context"
	"slices"
	"time"
)

// Method names how a caller was authenticated.
type Method string

// The authentication methods, in the order [Service.Authenticate] tries
// the credentials that carry them (tokens and OIDC share the bearer scheme
// and are told apart by the token's prefix).
const (
	MethodToken    Method = "token"    // mgmtd API token (Authorization: Bearer mgmtd_...)
	MethodOIDC     Method = "oidc"     // OIDC ID token (Authorization: Bearer <JWT>)
	MethodSession  Method = "session"  // browser session cookie from the OIDC login
	MethodPassword Method = "password" // HTTP Basic checked by the built-in user store
	MethodPAM      Method = "pam"      // HTTP Basic checked by PAM
	MethodCert     Method = "cert"     // verified TLS client certificate
	MethodLocal    Method = "local"    // unix socket peer credentials
)

// Identity is an authenticated caller. It is created by an authenticator
// and is read-only afterwards; share it freely.
type Identity struct {
	// ID is the stable actor id recorded in the audit log, unique across
	// methods: "oidc:<issuer>#<subject>", "pam:<user>", "password:<user>",
	// "token:<token id>", "cert:<subject DN>", "local:uid=<uid>". A session
	// carries the ID of the OIDC identity that logged in.
	ID string `json:"id"`
	// Name is for display: user name, e-mail, token name or certificate CN.
	Name string `json:"name"`
	// Method says how the caller was authenticated.
	Method Method `json:"method"`
	// Roles are the distinct roles of Grants, sorted, for display.
	Roles []Role `json:"roles"`
	// Grants are what the caller may do, each a role limited to a scope.
	// Only [Authorize] should interpret them.
	Grants []Grant `json:"grants"`
	// Groups are the caller's groups as the method reported them (OIDC
	// groups claim, unix groups for PAM and local callers).
	Groups []string `json:"groups,omitempty"`
	// Expiry is when the credential stops being valid; zero for none.
	Expiry time.Time `json:"expiry,omitzero"`
}

// newIdentity fills Roles from grants.
func newIdentity(id, name string, m Method, grants []Grant, groups []string) *Identity {
	return &Identity{ID: id, Name: name, Method: m, Roles: rolesOf(grants), Grants: grants, Groups: groups}
}

func rolesOf(grants []Grant) []Role {
	var roles []Role
	for _, g := range grants {
		if !slices.Contains(roles, g.Role) {
			roles = append(roles, g.Role)
		}
	}
	slices.Sort(roles)
	return roles
}

type identityKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity stored by [NewContext] (the middleware
// does this for every authenticated request).
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok && id != nil
}
