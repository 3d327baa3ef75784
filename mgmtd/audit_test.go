package mgmtd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/audit"
	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/rest"
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
	// Every limit is checked and the error names its key.
	for key, bad := range map[string]string{
		"auth.limits.summary_window":  "auth: {limits: {summary_window: -1s}}\n",
		"auth.limits.anonymous_burst": "auth: {limits: {anonymous_burst: -1}}\n",
		"auth.limits.user_ceiling":    "auth: {limits: {user_ceiling: -5}}\n",
		"audit.spool_noise_limit":     "audit: {spool_limit: 1000, spool_noise_limit: 1000}\n",
		"audit.spool_limit":           "audit: {spool_limit: -1}\n",
	} {
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(file); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(key, "auth.")+":") {
			t.Errorf("%s: %v, want an error naming the key", key, err)
		}
	}
}

// TestAuditEvasion: password guesses to paths an audit field cannot hold
// as they are (%ff, %00, over 4 KiB) are recorded, sanitised; a token name
// over the limit is refused with 400, and a long one within it is created
// and its creation recorded.
func TestAuditEvasion(t *testing.T) {
	d := startDemo(t)
	wrong := map[string]string{"Authorization": "Basic " + basic("demo-viewer", "guess")}
	paths := []string{"/api/v1/nodes/x%ff", "/api/v1/nodes/x%00y", "/api/v1/nodes/" + strings.Repeat("a", 5000)}
	for _, p := range paths {
		if code, _, body := call(t, "GET", d.URL+p, wrong, ""); code != 401 {
			t.Fatalf("%.40s: %d %s", p, code, body)
		}
	}
	admin := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAdmin].BearerToken}
	if code, _, body := call(t, "POST", d.URL+"/api/v1/tokens", admin, `{"name":"`+strings.Repeat("n", 5000)+`","grants":[{"role":"viewer"}]}`); code != 400 {
		t.Fatalf("token with a 5000-byte name: %d %.200s", code, body)
	}
	name := strings.Repeat("ü", auth.MaxTokenNameLen/2)
	code, _, body := call(t, "POST", d.URL+"/api/v1/tokens", admin, `{"name":"`+name+`","grants":[{"role":"viewer"}]}`)
	if code != 201 {
		t.Fatalf("token with a %d-byte name: %d %s", len(name), code, body)
	}
	var nt rest.NewToken
	if err := json.Unmarshal(body, &nt); err != nil {
		t.Fatal(err)
	}
	recs, err := d.Audit.Store().Query(context.Background(), audit.Filter{Limit: audit.MaxQueryLimit})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, r := range recs {
		switch {
		case r.Action == "authn.failure" && strings.HasPrefix(r.ObjectID, "GET /api/v1/nodes/x\uFFFD"):
			found["%ff"] = true
		case r.Action == "authn.failure" && strings.HasPrefix(r.ObjectID, `GET /api/v1/nodes/x\x00y`):
			found["%00"] = true
		case r.Action == "authn.failure" && strings.HasPrefix(r.ObjectID, "GET /api/v1/nodes/aaaa") && strings.HasSuffix(r.ObjectID, "bytes]"):
			found["long"] = true
		case r.Action == "token.created" && r.ObjectID == nt.Token.ID && strings.Contains(r.Reason, name):
			found["token"] = true
		}
	}
	for _, want := range []string{"%ff", "%00", "long", "token"} {
		if !found[want] {
			t.Errorf("no record for %s", want)
		}
	}
}

// countRecords returns how many records the daemon's audit log holds,
// daemon.start included (recorded just after Ready).
func countRecords(t *testing.T, d *Daemon) int {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() bool {
		recs, err := d.Audit.Store().Query(context.Background(), audit.Filter{Action: audit.ActionDaemonStart})
		return err == nil && len(recs) > 0
	}, "daemon.start is recorded")
	n := 0
	if err := d.Audit.Store().Scan(context.Background(), "", 0, func(*audit.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUnauthenticatedRequestsAreSummarised: requests without credentials
// (401, then 429 past the source's budget) are not recorded one by one:
// they make one authn.summary record per source and window with the
// count, and at most two log lines. A failure with a credential is still
// recorded on its own.
func TestUnauthenticatedRequestsAreSummarised(t *testing.T) {
	var logs testutil.SyncBuffer
	d := startDemoWith(t, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	before := countRecords(t, d)
	codes := map[int]int{}
	const n = 500
	for i := range n {
		code, _, _ := call(t, "GET", d.URL+fmt.Sprintf("/api/v1/nodes/n%d", i%20), nil, "")
		codes[code]++
	}
	if codes[401] == 0 || codes[429] == 0 || codes[401]+codes[429] != n {
		t.Fatalf("answers %v, want 401 then 429", codes)
	}
	if code, _, _ := call(t, "GET", d.URL+"/api/v1/nodes", map[string]string{"Authorization": "Basic " + basic("demo-viewer", "guess")}, ""); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	d.Auth.FlushSummaries()
	var sum *audit.Record
	testutil.Eventually(t, 10*time.Second, func() bool {
		recs, err := d.Audit.Store().Query(context.Background(), audit.Filter{Action: "authn.summary", Limit: audit.MaxQueryLimit})
		if err != nil || len(recs) == 0 {
			return false
		}
		sum = &recs[len(recs)-1]
		return true
	}, "the summary is recorded")
	var got auth.Summary
	if err := json.Unmarshal(sum.After, &got); err != nil {
		t.Fatal(err)
	}
	if got.Count != n || got.Kinds["no_credentials"] != codes[401] || got.Kinds["rate_limited"] != codes[429] ||
		sum.Source != "127.0.0.1" || sum.Outcome != audit.OutcomeFailure || len(got.Requests) == 0 {
		t.Fatalf("summary %+v of record %+v, want %d requests (%v)", got, sum.Event, n, codes)
	}
	// The summary and the wrong password; authn.success of nobody.
	if grew := countRecords(t, d) - before; grew != 2 {
		t.Errorf("the audit log grew by %d records for %d refused requests and one wrong password, want 2", grew, n)
	}
	if lines := strings.Count(logs.String(), "authentication failed"); lines > 3 {
		t.Errorf("%d log lines about refused requests, want at most 3:\n%.2000s", lines, logs.String())
	}
}
