package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a named set of permitted actions.
type Role string

// The roles. Admin may do everything; the others are listed in roleActions.
const (
	RoleViewer   Role = "viewer"   // read cluster state
	RoleOperator Role = "operator" // read cluster state and run actions
	RoleAdmin    Role = "admin"    // everything, incl. fencing, configuration and token management
	RoleAuditor  Role = "auditor"  // read (verify, export) the audit log; nothing else
	// RoleSender is a cluster's mgmtd pushing to a fleet hub: it may push
	// its cluster's picture and events (ActionPush) and read nothing.
	// Bound to the cluster's client certificate with a cluster scope.
	RoleSender Role = "sender"
)

// Roles lists every role, least privileged first; the fleet hub's
// sender role, which no person holds, comes last.
func Roles() []Role { return []Role{RoleViewer, RoleAuditor, RoleOperator, RoleAdmin, RoleSender} }

// Valid reports whether r is one of [Roles].
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Action is the kind of request being authorized. Every front-end maps
// each of its requests to exactly one Action and one [Object].
type Action string

// The actions.
const (
	// ActionRead reads cluster state: nodes, resources, VMs, services,
	// where/impact queries, events.
	ActionRead Action = "read"
	// ActionOperate changes cluster state without loss of service
	// guarantees: start, stop, move, cleanup, standby, migrate a VM.
	ActionOperate Action = "operate"
	// ActionFence fences or reboots a node, or otherwise overrides
	// Pacemaker's protections (maintenance mode).
	ActionFence Action = "fence"
	// ActionAdmin manages mgmtd itself: API tokens, configuration. Its
	// objects are of kind [KindToken] or [KindSystem].
	ActionAdmin Action = "admin"
	// ActionReadAudit reads, verifies or exports the audit log (object
	// kind [KindAudit]).
	ActionReadAudit Action = "audit.read"
	// ActionPush sends a cluster's picture and events to a fleet hub
	// (object: the cluster, kind [KindCluster]); only [RoleSender] and
	// admin hold it, so a cluster's certificate pushes for its own
	// cluster and nothing else.
	ActionPush Action = "hub.push"
)

// Actions lists every action.
func Actions() []Action {
	return []Action{ActionRead, ActionOperate, ActionFence, ActionAdmin, ActionReadAudit, ActionPush}
}

var roleActions = map[Role][]Action{
	RoleViewer:   {ActionRead},
	RoleOperator: {ActionRead, ActionOperate},
	RoleAdmin:    {ActionRead, ActionOperate, ActionFence, ActionAdmin, ActionReadAudit, ActionPush},
	RoleAuditor:  {ActionReadAudit},
	RoleSender:   {ActionPush},
}

// Permits reports whether role r allows action a anywhere in its scope.
func (r Role) Permits(a Action) bool { return slices.Contains(roleActions[r], a) }

// ObjectKind is the kind of thing a request is about.
type ObjectKind string

// The object kinds. The first five can also be scope kinds.
const (
	KindCluster  ObjectKind = "cluster"
	KindNode     ObjectKind = "node"
	KindResource ObjectKind = "resource"
	KindVM       ObjectKind = "vm"
	KindService  ObjectKind = "service"
	KindAudit    ObjectKind = "audit"  // the audit log; global only
	KindToken    ObjectKind = "token"  // API tokens; global only
	KindSystem   ObjectKind = "system" // mgmtd itself (configuration); global only
)

var scopeKinds = []ObjectKind{KindCluster, KindNode, KindResource, KindVM, KindService}

// MemberKind returns the object kind of a named member of a cluster, given
// the model's name for its kind: a node or a host (a node scope covers the
// host of that name), a resource, a VM or a service. It reports false for
// anything else, the cluster itself included.
func MemberKind(kind string) (ObjectKind, bool) {
	switch kind {
	case "node", "host":
		return KindNode, true
	case "resource":
		return KindResource, true
	case "vm":
		return KindVM, true
	case "service":
		return KindService, true
	}
	return "", false
}

// Object is what a request reads or changes. Cluster is the cluster the
// object belongs to ("" if it belongs to none, like the audit log); Name
// is the object's name within its kind (for a cluster object, the cluster
// name again or "").
type Object struct {
	Kind    ObjectKind `json:"kind"`
	Cluster string     `json:"cluster,omitempty"`
	Name    string     `json:"name,omitempty"`
}

// String formats o for messages and audit records.
func (o Object) String() string {
	switch {
	case o.Cluster != "" && o.Name != "":
		return string(o.Kind) + ":" + o.Cluster + "/" + o.Name
	case o.Name != "":
		return string(o.Kind) + ":" + o.Name
	case o.Cluster != "":
		return string(o.Kind) + ":" + o.Cluster + "/"
	}
	return string(o.Kind)
}

// Scope limits a grant to part of the managed estate. The zero Scope is
// global (everything, incl. the audit log, tokens and configuration).
// A cluster scope covers every object of that cluster; a node, resource,
// VM or service scope covers that one object (in one cluster if Cluster
// is set, else in any).
type Scope struct {
	Kind    ObjectKind `json:"kind,omitempty"`
	Cluster string     `json:"cluster,omitempty"`
	Name    string     `json:"name,omitempty"`
}

// Global reports whether s is the global scope.
func (s Scope) Global() bool { return s.Kind == "" }

// String formats s as [ParseScope] reads it: "*", "cluster:NAME",
// "KIND:NAME" or "KIND:CLUSTER/NAME".
func (s Scope) String() string {
	switch {
	case s.Global():
		return "*"
	case s.Kind == KindCluster:
		return "cluster:" + s.Name
	case s.Cluster != "":
		return string(s.Kind) + ":" + s.Cluster + "/" + s.Name
	}
	return string(s.Kind) + ":" + s.Name
}

// MarshalText implements encoding.TextMarshaler.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseScope].
func (s *Scope) UnmarshalText(b []byte) error {
	p, err := ParseScope(string(b))
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// ParseScope reads the text form of a scope: "" or "*" (global),
// "cluster:NAME", or "node|resource|vm|service:NAME" optionally
// qualified as "KIND:CLUSTER/NAME". Names may not be empty or contain
// whitespace, "/" or ":".
func ParseScope(text string) (Scope, error) {
	if text == "" || text == "*" {
		return Scope{}, nil
	}
	kind, rest, ok := strings.Cut(text, ":")
	if !ok {
		return Scope{}, fmt.Errorf("scope %q: want KIND:NAME or *", text)
	}
	k := ObjectKind(kind)
	if !slices.Contains(scopeKinds, k) {
		return Scope{}, fmt.Errorf("scope %q: unknown kind %q (want cluster, node, resource, vm or service)", text, kind)
	}
	cluster, name, qualified := strings.Cut(rest, "/")
	if !qualified {
		cluster, name = "", rest
	}
	if k == KindCluster {
		if qualified {
			return Scope{}, fmt.Errorf("scope %q: a cluster scope has no qualifier", text)
		}
		cluster = ""
	}
	if qualified && !validName(cluster) {
		return Scope{}, fmt.Errorf("scope %q: bad cluster name", text)
	}
	if !validName(name) {
		return Scope{}, fmt.Errorf("scope %q: bad name", text)
	}
	return Scope{Kind: k, Cluster: cluster, Name: name}, nil
}

func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/: \t\r\n")
}

// Contains reports whether object o lies inside scope s.
func (s Scope) Contains(o Object) bool {
	switch {
	case s.Global():
		return true
	case o.Cluster == "":
		// Objects outside any cluster (audit log, tokens, mgmtd) are
		// only in the global scope.
		return false
	case s.Kind == KindCluster:
		return o.Cluster == s.Name
	}
	return o.Kind == s.Kind && o.Name == s.Name && (s.Cluster == "" || s.Cluster == o.Cluster)
}

// Grant is one role held within one scope.
type Grant struct {
	Role  Role  `json:"role"`
	Scope Scope `json:"scope"`
}

// String formats g as "role@scope".
func (g Grant) String() string { return string(g.Role) + "@" + g.Scope.String() }

// Decision is the answer of [Authorize].
type Decision struct {
	// Allowed is true if the request may proceed.
	Allowed bool `json:"allowed"`
	// Reason explains the answer for the audit log and the caller (it
	// names roles, actions and objects, never credentials).
	Reason string `json:"reason"`
	// Grant is the grant that allowed the request (zero if denied).
	Grant Grant `json:"grant,omitzero"`
}

// Authorize is the one policy function: it decides whether the
// authenticated caller id may perform action on object. It is pure (no
// I/O, no clock) and is used unchanged by REST, CIM, the web page and the
// CLI. [Service.Authorize] wraps it to record denials.
//
// The audit log, tokens and mgmtd's configuration are only reachable by
// their own actions (ActionReadAudit for KindAudit, ActionAdmin for
// KindToken and KindSystem), so a read grant never opens them.
func Authorize(id *Identity, action Action, object Object) Decision {
	if id == nil {
		return Decision{Reason: "not authenticated"}
	}
	if !slices.Contains(Actions(), action) {
		return Decision{Reason: fmt.Sprintf("unknown action %q", action)}
	}
	if err := actionFits(action, object.Kind); err != nil {
		return Decision{Reason: err.Error()}
	}
	roleOK := false
	for _, g := range id.Grants {
		if !g.Role.Permits(action) {
			continue
		}
		roleOK = true
		if g.Scope.Contains(object) {
			return Decision{Allowed: true, Reason: fmt.Sprintf("%s allowed by %s", action, g), Grant: g}
		}
	}
	if roleOK {
		return Decision{Reason: fmt.Sprintf("%s on %s is outside the caller's scope", action, object)}
	}
	return Decision{Reason: fmt.Sprintf("no role of the caller (%s) allows %s", rolesText(id.Roles), action)}
}

func rolesText(roles []Role) string {
	if len(roles) == 0 {
		return "none"
	}
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func actionFits(a Action, k ObjectKind) error {
	switch k {
	case KindAudit:
		if a != ActionReadAudit {
			return fmt.Errorf("action %s does not apply to the audit log", a)
		}
	case KindToken, KindSystem:
		if a != ActionAdmin {
			return fmt.Errorf("action %s does not apply to %s objects", a, k)
		}
	case KindNode, KindResource, KindVM, KindService:
		if a == ActionReadAudit || a == ActionAdmin || a == ActionPush {
			return fmt.Errorf("action %s does not apply to %s objects", a, k)
		}
	case KindCluster:
		if a == ActionReadAudit || a == ActionAdmin {
			return fmt.Errorf("action %s does not apply to %s objects", a, k)
		}
	default:
		return fmt.Errorf("unknown object kind %q", k)
	}
	return nil
}

// Filter returns the items the caller may perform action on (normally
// ActionRead), keeping their order: reads outside a caller's scope are
// filtered out rather than refused. object maps an item to its Object.
func Filter[T any](id *Identity, action Action, items []T, object func(T) Object) []T {
	var out []T
	for _, it := range items {
		if Authorize(id, action, object(it)).Allowed {
			out = append(out, it)
		}
	}
	return out
}

// Permits reports whether some grant of id allows action on at least
// one object. Front-ends use it to answer 403 to a list request the
// caller has no role for, instead of an empty filtered list.
func (id *Identity) Permits(action Action) bool {
	if id == nil {
		return false
	}
	for _, g := range id.Grants {
		if g.Role.Permits(action) {
			return true
		}
	}
	return false
}
