package auth

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"mgmtd/internal/testutil"
)

// TestWireShapesGolden pins the JSON that leaves this package (identity,
// decision, token, audit event, error body, demo credentials file) so
// that a change to a wire shape is a visible diff. Run with -update to
// accept a change.
func TestWireShapesGolden(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	id := newIdentity("oidc:https://id.example#u1", "ann@example.com", MethodOIDC,
		[]Grant{{Role: RoleOperator, Scope: Scope{Kind: KindCluster, Name: "c1"}}, {Role: RoleViewer}}, []string{"ops"})
	id.Expiry = at.Add(time.Hour)
	w := httptest.NewRecorder()
	WriteError(w, Authorize(id, ActionFence, Object{Kind: KindNode, Cluster: "c1", Name: "n1"}).Err())
	var errBody any
	if err := json.Unmarshal(w.Body.Bytes(), &errBody); err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{
		"identity":       id,
		"decision_allow": Authorize(id, ActionOperate, Object{Kind: KindVM, Cluster: "c1", Name: "db1"}),
		"decision_deny":  Authorize(id, ActionOperate, Object{Kind: KindVM, Cluster: "c2", Name: "db1"}),
		"token": Token{ID: "0123456789abcdef", Name: "nms", Grants: []Grant{{Role: RoleViewer, Scope: Scope{Kind: KindNode, Cluster: "c1", Name: "n1"}}},
			CreatedBy: "token:fedcba9876543210", CreatedAt: at, ExpiresAt: at.Add(DefaultTokenTTL)},
		"event": AuthEvent{Time: at, Kind: EventDenied, Method: MethodOIDC, ActorID: id.ID, ActorName: id.Name,
			Action: ActionFence, Object: "node:c1/n1", Reason: "no role of the caller (operator, viewer) allows fence"},
		"error_body": errBody,
		"demo_file":  DemoCredentials{RoleViewer: {BearerToken: "mgmtd_0123456789abcdef_xxx", BasicUser: "demo-viewer", BasicPassword: "xxx"}},
	}
	got, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	testutil.Golden(t, "testdata/wire.golden.json", got)
}

// TestConfigJSON parses the bindings example of docs/auth.md.
func TestConfigJSON(t *testing.T) {
	doc, err := os.ReadFile("../docs/auth.md")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(doc, []byte("```json\n{\n  \"bindings\""))
	if start < 0 {
		t.Fatal("bindings example not found in docs/auth.md")
	}
	block := doc[start+len("```json\n"):]
	block = block[:bytes.Index(block, []byte("```"))]
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(block))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Bindings) != 6 || cfg.Bindings[2].Scope != (Scope{Kind: KindCluster, Name: "prod"}) ||
		cfg.Bindings[3].Methods[0] != MethodPAM || cfg.Bindings[4].CertSubjects[0] != "CN=nms1,O=Example" {
		t.Errorf("parsed %+v", cfg.Bindings)
	}
	var bad Config
	if err := json.Unmarshal([]byte(`{"bindings":[{"role":"viewer","scope":"rack:1","users":["a"]}]}`), &bad); err == nil {
		t.Error("unknown scope kind accepted")
	}
}
