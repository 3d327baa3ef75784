package mgmtd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
)

// TestAuditThroughREST: authentication failures and denials land in the
// audit log; only the auditor (and admin) may read it; reading and
// exporting are themselves recorded; the export verifies offline, and so
// does the daemon's journal.
func TestAuditThroughREST(t *testing.T) {
	d := startDemo(t)
	creds := d.DemoCredentials
	auditor := map[string]string{"Authorization": "Bearer " + creds[auth.RoleAuditor].BearerToken}
	viewer := map[string]string{"Authorization": "Bearer " + creds[auth.RoleViewer].BearerToken}
	// A failure and a denial to find later.
	call(t, "GET", d.URL+"/api/v1/nodes", map[string]string{"Authorization": "Basic " + basic("demo-viewer", "wrong")}, "")
	if code, _, _ := call(t, "GET", d.URL+"/api/v1/tokens", viewer, ""); code != 403 {
		t.Fatalf("viewer tokens: %d", code)
	}
	if code, _, _ := call(t, "GET", d.URL+"/api/v1/audit", viewer, ""); code != 403 {
		t.Fatalf("viewer reads audit: %d", code)
	}
	code, _, body := call(t, "GET", d.URL+"/api/v1/audit?limit=500", auditor, "")
	if code != 200 {
		t.Fatalf("auditor: %d %s", code, body)
	}
	var page struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, r := range page.Records {
		actions[r["action"].(string)+"/"+r["outcome"].(string)] = true
	}
	for _, want := range []string{"daemon.start/success", "authn.failure/failure", "authz.denied/denied", "audit.query/success"} {
		if !actions[want] {
			t.Errorf("no %s record in %v", want, actions)
		}
	}
	if strings.Contains(string(body), "wrong") || strings.Contains(string(body), creds[auth.RoleViewer].BearerToken) {
		t.Fatal("a secret reached the audit log")
	}
	code, h, export := call(t, "GET", d.URL+"/api/v1/audit/export?format=jsonl", auditor, "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/jsonl") || bytes.Count(export, []byte("\n")) < 4 {
		t.Fatalf("export: %d %s %d bytes", code, h.Get("Content-Type"), len(export))
	}
	file := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(file, export, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rc := Main(ctx, []string{"audit", "verify", "--file", file}, &out, &errb); rc != 0 || !strings.Contains(out.String(), "verified: OK") {
		t.Fatalf("verify export: rc %d\n%s%s", rc, out.String(), errb.String())
	}
	// Tamper with one exported record: verify must fail.
	bad := bytes.Replace(export, []byte(`"authn.failure"`), []byte(`"authn.success"`), 1)
	if err := os.WriteFile(file, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if rc := Main(ctx, []string{"audit", "verify", "--file", file}, &out, &errb); rc == 0 {
		t.Fatalf("tampered export verified:\n%s", out.String())
	}
	out.Reset()
	if rc := Main(ctx, []string{"audit", "verify", "--state-dir", d.cfg.StateDir}, &out, &errb); rc != 0 {
		t.Fatalf("verify journal: rc %d\n%s%s", rc, out.String(), errb.String())
	}
	code, _, body = call(t, "GET", d.URL+"/api/v1/audit?action=audit.export", auditor, "")
	if code != 200 || !strings.Contains(string(body), "audit.export") {
		t.Fatalf("export not recorded: %s", body)
	}
}
