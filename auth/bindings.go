package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Binding gives Role within Scope to every caller that matches at least
// one of its subject lists (OIDCGroups, Users, Groups, CertSubjects). It
// comes from configuration. API tokens carry their own grants and are not
// bound here; built-in users get their own grants plus any binding that
// matches their name or groups.
type Binding struct {
	// Role granted.
	Role Role `json:"role"`
	// Scope of the grant; empty means global.
	Scope Scope `json:"scope,omitzero"`
	// Methods limits the binding to callers authenticated by one of these
	// methods; empty means any method that has the matched attribute.
	Methods []Method `json:"methods,omitempty"`
	// OIDCGroups match values of the OIDC groups claim (OIDC bearer and
	// browser sessions).
	OIDCGroups []string `json:"oidc_groups,omitempty"`
	// Users match user names of PAM, built-in user store and local
	// (unix socket) callers.
	Users []string `json:"users,omitempty"`
	// Groups match unix group names of PAM and local callers and groups
	// of built-in users.
	Groups []string `json:"groups,omitempty"`
	// CertSubjects match a client certificate's full subject DN (as
	// crypto/x509 formats it, e.g. "CN=nms1,O=Example") or its CN.
	CertSubjects []string `json:"cert_subjects,omitempty"`
}

// Validate reports the first problem of b, naming the field.
func (b Binding) Validate() error {
	if !b.Role.Valid() {
		return fmt.Errorf("role: unknown role %q", b.Role)
	}
	if len(b.OIDCGroups)+len(b.Users)+len(b.Groups)+len(b.CertSubjects) == 0 {
		return errors.New("binding matches nobody: set oidc_groups, users, groups or cert_subjects")
	}
	for _, m := range b.Methods {
		if !slices.Contains(allMethods, m) {
			return fmt.Errorf("methods: unknown method %q", m)
		}
	}
	for _, list := range [][]string{b.OIDCGroups, b.Users, b.Groups, b.CertSubjects} {
		if slices.Contains(list, "") {
			return errors.New("empty subject name")
		}
	}
	return nil
}

var allMethods = []Method{MethodToken, MethodOIDC, MethodSession, MethodPassword, MethodPAM, MethodCert, MethodLocal}

// DefaultBindings is what mgmtd uses when the configuration has none:
// root on the local unix socket is admin. Nobody else gets a role until
// the configuration says so.
func DefaultBindings() []Binding {
	return []Binding{LocalAdmin("root")}
}

// LocalAdmin binds admin to user on the local unix socket.
//
// [New] always adds LocalAdmin("root") to the configured bindings:
// configuring bindings adds roles and never takes root's away. Root on the
// node can read mgmtd's state directory (tokens, keys) and run the cluster's
// tools directly, so a binding that left root without a role would protect
// nothing and only hide the one way in that works when everything else
// (TLS, OIDC, PAM) is broken.
func LocalAdmin(user string) Binding {
	return Binding{Role: RoleAdmin, Methods: []Method{MethodLocal}, Users: []string{user}}
}

// principal is what an authenticator learned about the caller, before
// bindings turn it into grants.
type principal struct {
	method      Method
	user        string   // PAM, built-in, local
	groups      []string // unix or built-in groups
	oidcGroups  []string
	certSubject string
	certCN      string
}

func (b Binding) matches(p principal) bool {
	if len(b.Methods) > 0 && !slices.Contains(b.Methods, p.method) {
		return false
	}
	if p.user != "" && slices.Contains(b.Users, p.user) {
		return true
	}
	for _, g := range p.groups {
		if slices.Contains(b.Groups, g) {
			return true
		}
	}
	for _, g := range p.oidcGroups {
		if slices.Contains(b.OIDCGroups, g) {
			return true
		}
	}
	if p.certSubject != "" && (slices.Contains(b.CertSubjects, p.certSubject) ||
		(p.certCN != "" && slices.Contains(b.CertSubjects, p.certCN))) {
		return true
	}
	return false
}

// grantsFor returns the distinct grants of every binding matching p,
// appended to extra (grants the credential carries itself).
func grantsFor(bindings []Binding, p principal, extra []Grant) []Grant {
	out := slices.Clone(extra)
	for _, b := range bindings {
		if b.matches(p) {
			g := Grant{Role: b.Role, Scope: b.Scope}
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.SortFunc(out, func(a, b Grant) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// covers reports whether holding g is enough to hand out h (a caller may
// not mint a token stronger than itself).
func (g Grant) covers(h Grant) bool {
	roleOK := g.Role == h.Role || g.Role == RoleAdmin ||
		(g.Role == RoleOperator && h.Role == RoleViewer)
	if !roleOK {
		return false
	}
	gs, hs := g.Scope, h.Scope
	switch {
	case gs.Global():
		return true
	case hs.Global():
		return false
	case gs.Kind == KindCluster:
		return (hs.Kind == KindCluster && hs.Name == gs.Name) || hs.Cluster == gs.Name
	case gs.Kind != hs.Kind || gs.Name != hs.Name:
		return false
	}
	return gs.Cluster == "" || gs.Cluster == hs.Cluster
}
