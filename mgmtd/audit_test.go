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

	"mgmtd/audit"
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rep, err := audit.VerifyJSONLFile(ctx, file, audit.VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("verify export: %v %+v", err, rep)
	}
	// Tamper with one exported record: verify must fail.
	bad := bytes.Replace(export, []byte(`"authn.failure"`), []byte(`"authn.success"`), 1)
	if err := os.WriteFile(file, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.VerifyJSONLFile(ctx, file, audit.VerifyOptions{}); err == nil && rep.OK() {
		t.Fatalf("tampered export verified: %+v", rep)
	}
	if rep, err := audit.VerifyStateDir(ctx, d.cfg.StateDir, audit.VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("verify journal: %v %+v", err, rep)
	}
	code, _, body = call(t, "GET", d.URL+"/api/v1/audit?action=audit.export", auditor, "")
	if code != 200 || !strings.Contains(string(body), "audit.export") {
		t.Fatalf("export not recorded: %s", body)
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mgmtd.yaml")
	if err := os.WriteFile(file, []byte("cluster: c1\nlisten: 127.0.0.1:9443\nconflict_grace: 30s\npacemaker: {interval: 2s, timeout: 1m}\nservices:\n  - {name: shop, resources: [web], method: dns}\nauth: {limits: {window: 15m}}\nsnmp: {agentx: \"unix:/x\", notify: all}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if c.ConflictGrace != 30*time.Second || c.Pacemaker.Interval != 2*time.Second || c.Auth.Limits.Window != 15*time.Minute || c.Services[0].Method != "dns" || c.SNMP.Notify != "all" {
		t.Fatalf("%+v", c)
	}
	for name, bad := range map[string]string{
		"unknown key":   "clustr: x\n",
		"bad duration":  "pacemaker: {interval: soon}\n",
		"bad method":    "services: [{name: s, resources: [r], method: carrier-pigeon}]\n",
		"plain on wire": "listen: 0.0.0.0:8443\nplain_http: true\n",
		"tiny output":   "pacemaker: {max_output: 1000}\n",
		"snmp notify":   "snmp: {agentx: \"unix:/x\", notify: everyone}\n",
	} {
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(file); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
