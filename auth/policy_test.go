package auth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ident(grants ...Grant) *Identity { return newIdentity("test:x", "x", MethodToken, grants, nil) }

func scope(t testing.TB, s string) Scope {
	t.Helper()
	sc, err := ParseScope(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// The kinds of request every front-end maps to (action, object).
var requestKinds = []struct {
	name   string
	action Action
	object Object
}{
	{"read node", ActionRead, Object{Kind: KindNode, Cluster: "c1", Name: "n1"}},
	{"read resource", ActionRead, Object{Kind: KindResource, Cluster: "c1", Name: "web-ip"}},
	{"read vm", ActionRead, Object{Kind: KindVM, Cluster: "c1", Name: "db1"}},
	{"read service", ActionRead, Object{Kind: KindService, Cluster: "c1", Name: "web"}},
	{"read cluster", ActionRead, Object{Kind: KindCluster, Cluster: "c1"}},
	{"move resource", ActionOperate, Object{Kind: KindResource, Cluster: "c1", Name: "web-ip"}},
	{"standby node", ActionOperate, Object{Kind: KindNode, Cluster: "c1", Name: "n1"}},
	{"migrate vm", ActionOperate, Object{Kind: KindVM, Cluster: "c1", Name: "db1"}},
	{"fence node", ActionFence, Object{Kind: KindNode, Cluster: "c1", Name: "n1"}},
	{"maintenance cluster", ActionFence, Object{Kind: KindCluster, Cluster: "c1"}},
	{"read audit log", ActionReadAudit, Object{Kind: KindAudit}},
	{"manage tokens", ActionAdmin, Object{Kind: KindToken}},
	{"configure mgmtd", ActionAdmin, Object{Kind: KindSystem}},
	// misuse: actions on objects they do not apply to
	{"read action on audit log", ActionRead, Object{Kind: KindAudit}},
	{"read action on tokens", ActionRead, Object{Kind: KindToken}},
	{"admin action on a node", ActionAdmin, Object{Kind: KindNode, Cluster: "c1", Name: "n1"}},
	{"unknown action", Action("delete"), Object{Kind: KindNode, Cluster: "c1", Name: "n1"}},
	{"unknown kind", ActionRead, Object{Kind: "printer", Cluster: "c1", Name: "p"}},
}

// TestRoleMatrix: each role x each kind of request -> exact allow/deny.
// Columns follow requestKinds; "A" allow, "-" deny.
func TestRoleMatrix(t *testing.T) {
	// groups: read x5 | operate x3 | fence x2 | audit, tokens, config | misuse x5
	want := map[string]string{
		"viewer":             "AAAAA --- -- --- -----",
		"operator":           "AAAAA AAA -- --- -----",
		"admin":              "AAAAA AAA AA AAA -----",
		"auditor":            "----- --- -- A-- -----",
		"none":               "----- --- -- --- -----",
		"operator@c1":        "AAAAA AAA -- --- -----",
		"operator@c2":        "----- --- -- --- -----",
		"viewer@node:n1":     "A---- --- -- --- -----",
		"operator@vm:c1/db1": "--A-- --A -- --- -----",
		"admin@cluster:c1":   "AAAAA AAA AA --- -----",
		"anonymous":          "----- --- -- --- -----",
	}
	ids := map[string]*Identity{
		"viewer":             ident(Grant{Role: RoleViewer}),
		"operator":           ident(Grant{Role: RoleOperator}),
		"admin":              ident(Grant{Role: RoleAdmin}),
		"auditor":            ident(Grant{Role: RoleAuditor}),
		"none":               ident(),
		"operator@c1":        ident(Grant{Role: RoleOperator, Scope: scope(t, "cluster:c1")}),
		"operator@c2":        ident(Grant{Role: RoleOperator, Scope: scope(t, "cluster:c2")}),
		"viewer@node:n1":     ident(Grant{Role: RoleViewer, Scope: scope(t, "node:n1")}),
		"operator@vm:c1/db1": ident(Grant{Role: RoleOperator, Scope: scope(t, "vm:c1/db1")}),
		"admin@cluster:c1":   ident(Grant{Role: RoleAdmin, Scope: scope(t, "cluster:c1")}),
		"anonymous":          nil,
	}
	for name, row := range want {
		row = strings.ReplaceAll(row, " ", "")
		if len(row) != len(requestKinds) {
			t.Fatalf("row %s has %d columns, want %d", name, len(row), len(requestKinds))
		}
		id := ids[name]
		var got strings.Builder
		for _, rk := range requestKinds {
			d := Authorize(id, rk.action, rk.object)
			if d.Allowed {
				got.WriteByte('A')
			} else {
				got.WriteByte('-')
			}
			if d.Reason == "" {
				t.Errorf("%s / %s: empty reason", name, rk.name)
			}
		}
		if got.String() != row {
			for i, rk := range requestKinds {
				if got.String()[i] != row[i] {
					t.Errorf("%s / %s: got %c, want %c (%s)", name, rk.name, got.String()[i], row[i],
						Authorize(id, rk.action, rk.object).Reason)
				}
			}
		}
	}
}

func TestAuthorizeReasons(t *testing.T) {
	tests := []struct {
		id     *Identity
		action Action
		obj    Object
		want   Decision
	}{
		{ident(Grant{Role: RoleViewer}), ActionRead, Object{Kind: KindNode, Cluster: "c", Name: "n"},
			Decision{Allowed: true, Reason: "read allowed by viewer@*", Grant: Grant{Role: RoleViewer}}},
		{ident(Grant{Role: RoleViewer}), ActionOperate, Object{Kind: KindNode, Cluster: "c", Name: "n"},
			Decision{Reason: "no role of the caller (viewer) allows operate"}},
		{ident(Grant{Role: RoleOperator, Scope: Scope{Kind: KindCluster, Name: "a"}}), ActionOperate, Object{Kind: KindNode, Cluster: "b", Name: "n"},
			Decision{Reason: "operate on node:b/n is outside the caller's scope"}},
		{nil, ActionRead, Object{Kind: KindNode}, Decision{Reason: "not authenticated"}},
		{ident(Grant{Role: RoleAdmin}), ActionRead, Object{Kind: KindAudit},
			Decision{Reason: "action read does not apply to the audit log"}},
	}
	for _, tc := range tests {
		got := Authorize(tc.id, tc.action, tc.obj)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Authorize(%s, %v) (-want +got):\n%s", tc.action, tc.obj, diff)
		}
	}
}

func TestFilter(t *testing.T) {
	nodes := []Object{
		{Kind: KindNode, Cluster: "c1", Name: "n1"},
		{Kind: KindNode, Cluster: "c1", Name: "n2"},
		{Kind: KindNode, Cluster: "c2", Name: "n1"},
		{Kind: KindVM, Cluster: "c2", Name: "db"},
	}
	self := func(o Object) Object { return o }
	tests := []struct {
		name   string
		id     *Identity
		want   []Object
		permit bool
	}{
		{"global viewer sees all", ident(Grant{Role: RoleViewer}), nodes, true},
		{"cluster c1 viewer", ident(Grant{Role: RoleViewer, Scope: Scope{Kind: KindCluster, Name: "c1"}}), nodes[:2], true},
		{"node n1 in any cluster", ident(Grant{Role: RoleViewer, Scope: Scope{Kind: KindNode, Name: "n1"}}), []Object{nodes[0], nodes[2]}, true},
		{"node n1 in c2", ident(Grant{Role: RoleOperator, Scope: Scope{Kind: KindNode, Cluster: "c2", Name: "n1"}}), []Object{nodes[2]}, true},
		{"two grants", ident(Grant{Role: RoleViewer, Scope: Scope{Kind: KindVM, Name: "db"}}, Grant{Role: RoleViewer, Scope: Scope{Kind: KindNode, Cluster: "c1", Name: "n2"}}), []Object{nodes[1], nodes[3]}, true},
		{"auditor sees none", ident(Grant{Role: RoleAuditor}), nil, false},
		{"anonymous sees none", nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Filter(tc.id, ActionRead, nodes, self)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Filter (-want +got):\n%s", diff)
			}
			if p := tc.id.Permits(ActionRead); p != tc.permit {
				t.Errorf("Permits(read) = %v, want %v", p, tc.permit)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Scope
		wantErr string
	}{
		{"", Scope{}, ""},
		{"*", Scope{}, ""},
		{"cluster:c1", Scope{Kind: KindCluster, Name: "c1"}, ""},
		{"node:n1", Scope{Kind: KindNode, Name: "n1"}, ""},
		{"node:c1/n1", Scope{Kind: KindNode, Cluster: "c1", Name: "n1"}, ""},
		{"resource:web-ip", Scope{Kind: KindResource, Name: "web-ip"}, ""},
		{"vm:c1/db1", Scope{Kind: KindVM, Cluster: "c1", Name: "db1"}, ""},
		{"service:web", Scope{Kind: KindService, Name: "web"}, ""},
		{"cluster:c1/x", Scope{}, "no qualifier"},
		{"audit:x", Scope{}, "unknown kind"},
		{"node", Scope{}, "want KIND:NAME"},
		{"node:", Scope{}, "bad name"},
		{"node:/n1", Scope{}, "bad cluster name"},
		{"node:c1/", Scope{}, "bad name"},
		{"node:a/b/c", Scope{}, "bad name"},
		{"node:a b", Scope{}, "bad name"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseScope(%q) err = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseScope(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			back, err := ParseScope(got.String())
			if err != nil || back != got {
				t.Errorf("round trip %q -> %q -> %+v, %v", tc.in, got.String(), back, err)
			}
		})
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "*", "cluster:c1", "node:c1/n1", "vm:db", "service:a/b", "x:y", "node:a/b/c", "node:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScope(in)
		if err != nil {
			return
		}
		back, err := ParseScope(s.String())
		if err != nil || back != s {
			t.Fatalf("%q parsed to %+v, whose text %q parses to %+v, %v", in, s, s.String(), back, err)
		}
	})
}

func TestGrantCovers(t *testing.T) {
	g := func(role Role, sc string) Grant { return Grant{Role: role, Scope: scope(t, sc)} }
	tests := []struct {
		holder, wanted Grant
		want           bool
	}{
		{g(RoleAdmin, "*"), g(RoleAdmin, "*"), true},
		{g(RoleAdmin, "*"), g(RoleAuditor, "*"), true},
		{g(RoleOperator, "*"), g(RoleViewer, "node:n"), true},
		{g(RoleOperator, "*"), g(RoleAuditor, "*"), false},
		{g(RoleViewer, "*"), g(RoleOperator, "*"), false},
		{g(RoleAdmin, "cluster:c1"), g(RoleAdmin, "*"), false},
		{g(RoleAdmin, "cluster:c1"), g(RoleViewer, "node:c1/n"), true},
		{g(RoleAdmin, "cluster:c1"), g(RoleViewer, "node:n"), false},
		{g(RoleViewer, "node:n"), g(RoleViewer, "node:c1/n"), true},
		{g(RoleViewer, "node:c1/n"), g(RoleViewer, "node:n"), false},
		{g(RoleViewer, "node:n"), g(RoleViewer, "vm:n"), false},
	}
	for _, tc := range tests {
		if got := tc.holder.covers(tc.wanted); got != tc.want {
			t.Errorf("%s covers %s = %v, want %v", tc.holder, tc.wanted, got, tc.want)
		}
	}
}

func TestBindings(t *testing.T) {
	bs := []Binding{
		{Role: RoleAdmin, Methods: []Method{MethodLocal}, Users: []string{"root"}},
		{Role: RoleOperator, Scope: Scope{Kind: KindCluster, Name: "c1"}, Groups: []string{"haclient"}},
		{Role: RoleViewer, OIDCGroups: []string{"ops"}},
		{Role: RoleAuditor, CertSubjects: []string{"CN=siem,O=Example"}},
		{Role: RoleViewer, CertSubjects: []string{"nms1"}},
	}
	tests := []struct {
		name string
		p    principal
		want []string
	}{
		{"root locally", principal{method: MethodLocal, user: "root"}, []string{"admin@*"}},
		{"root over PAM gets nothing", principal{method: MethodPAM, user: "root"}, nil},
		{"haclient member", principal{method: MethodPAM, user: "bob", groups: []string{"users", "haclient"}}, []string{"operator@cluster:c1"}},
		{"oidc group", principal{method: MethodOIDC, oidcGroups: []string{"ops"}}, []string{"viewer@*"}},
		{"oidc group name is not a unix group", principal{method: MethodPAM, groups: []string{"ops"}}, nil},
		{"cert by DN", principal{method: MethodCert, certSubject: "CN=siem,O=Example", certCN: "siem"}, []string{"auditor@*"}},
		{"cert by CN", principal{method: MethodCert, certSubject: "CN=nms1,O=Other", certCN: "nms1"}, []string{"viewer@*"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, g := range grantsFor(bs, tc.p, nil) {
				got = append(got, g.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("grants (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Bindings: []Binding{{Role: "root", Users: []string{"a"}}}}, `bindings[0]: role: unknown role "root"`},
		{Config{Bindings: []Binding{{Role: RoleViewer, Users: []string{"a"}}, {Role: RoleViewer}}}, "bindings[1]: binding matches nobody"},
		{Config{Bindings: []Binding{{Role: RoleViewer, Users: []string{"a"}, Methods: []Method{"kerberos"}}}}, `bindings[0]: methods: unknown method "kerberos"`},
		{Config{TLS: TLSConfig{CertFile: "a"}}, "tls.cert_file and tls.key_file"},
		{Config{TLS: TLSConfig{RequireClientCert: true}}, "tls.require_client_cert needs tls.client_ca_file"},
		{Config{OIDC: &OIDCConfig{Issuer: "https://x"}}, "oidc.client_id"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.HasPrefix(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSenderPushesOnlyItsCluster: a fleet hub's sender role pushes for
// the clusters of its scope, reads nothing, and push applies to clusters
// only.
func TestSenderPushesOnlyItsCluster(t *testing.T) {
	sender := &Identity{ID: "cert:CN=c1", Grants: []Grant{{Role: RoleSender, Scope: Scope{Kind: KindCluster, Name: "c1"}}}}
	cl := func(n string) Object { return Object{Kind: KindCluster, Cluster: n, Name: n} }
	if d := Authorize(sender, ActionPush, cl("c1")); !d.Allowed {
		t.Errorf("push c1 refused: %s", d.Reason)
	}
	if d := Authorize(sender, ActionPush, cl("c2")); d.Allowed {
		t.Errorf("push c2 allowed: %s", d.Reason)
	}
	if d := Authorize(sender, ActionRead, cl("c1")); d.Allowed {
		t.Errorf("sender reads: %s", d.Reason)
	}
	if d := Authorize(sender, ActionPush, Object{Kind: KindNode, Cluster: "c1", Name: "n1"}); d.Allowed {
		t.Errorf("push on a node allowed: %s", d.Reason)
	}
	viewer := &Identity{ID: "v", Grants: []Grant{{Role: RoleViewer}}}
	if d := Authorize(viewer, ActionPush, cl("c1")); d.Allowed {
		t.Errorf("viewer pushes: %s", d.Reason)
	}
	admin := &Identity{ID: "a", Grants: []Grant{{Role: RoleAdmin}}}
	if d := Authorize(admin, ActionPush, cl("c1")); !d.Allowed {
		t.Errorf("admin push refused: %s", d.Reason)
	}
}
