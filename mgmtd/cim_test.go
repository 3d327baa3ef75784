package mgmtd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/wbem/wbemtest"
)

// startOnCIB runs `mgmtd serve` on a copy of a recorded CIB with CIM on a
// loopback port over TLS, and Basic users for three roles.
func startOnCIB(t *testing.T, fixture string) (*Daemon, string) {
	t.Helper()
	cfg, cibFile := cibConfig(t, fixture)
	cfg.CIM.Addr = "127.0.0.1:0"
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Passwords: []auth.PasswordChecker{cibUsers(t)}})
	waitResources(t, d)
	return d, cibFile
}

// cibConfig is the configuration of a daemon on a copy of a recorded CIB
// (the returned file), on a free loopback port, with its own state
// directory.
func cibConfig(t testing.TB, fixture string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "source", "pacemaker", "testdata", fixture, "cib.xml"))
	if err != nil {
		t.Fatal(err)
	}
	cibFile := filepath.Join(dir, "cib.xml")
	if err := os.WriteFile(cibFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	off := false
	cfg.Listen, cfg.StateDir, cfg.View = "127.0.0.1:0", filepath.Join(dir, "state"), "node1"
	cfg.Pacemaker.CIBFile, cfg.Corosync.Enabled = cibFile, &off
	cfg.Actions.Timeout = time.Minute
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return cfg, cibFile
}

// cibUsers are Basic users op, view, aud and adm (operator, viewer,
// auditor, admin), each with the password NAME-secret-pw.
func cibUsers(t testing.TB) *auth.UserStore {
	t.Helper()
	users := auth.NewUserStore(4)
	for name, role := range map[string]auth.Role{"op": auth.RoleOperator, "view": auth.RoleViewer, "aud": auth.RoleAuditor, "adm": auth.RoleAdmin} {
		if err := users.Add(name, name+"-secret-pw", []auth.Grant{{Role: role}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return users
}

// waitResources waits until the daemon's model shows the CIB's resources.
func waitResources(t testing.TB, d *Daemon) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() bool { return len(d.Store.Snapshot().Resources) > 0 }, "the model shows resources")
}

// wbemcli runs wbemcli without checking the daemon's self-signed
// certificate.
func wbemcli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return wbemtest.Wbemcli(t, append([]string{"-noverify"}, args...)...)
}

// TestCIMSpeaksHTTP1: the CIM listener answers HTTP/1.1 to a client that
// offers HTTP/2 first, as libcurl (wbemcli) does; the REST listener still
// takes HTTP/2.
func TestCIMSpeaksHTTP1(t *testing.T) {
	d, _ := startOnCIB(t, "guest")
	negotiated := func(url string) string {
		t.Helper()
		addr := strings.TrimPrefix(url, "https://")
		addr, _, _ = strings.Cut(addr, "/")
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().NegotiatedProtocol
	}
	if p := negotiated(d.CIMURL); p != "http/1.1" {
		t.Errorf("CIM listener negotiated %q, want http/1.1", p)
	}
	if p := negotiated(d.URL); p != "h2" {
		t.Errorf("REST listener negotiated %q, want h2", p)
	}
	// An anonymous request with a body is answered 401 over HTTP/1.1.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	resp, err := client.Post(d.CIMURL, "application/xml", strings.NewReader(strings.Repeat("<x/>", 100000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.ProtoMajor != 1 {
		t.Errorf("anonymous POST: %s over %s, want 401 over HTTP/1.1", resp.Status, resp.Proto)
	}
}

// TestCIMEndToEnd drives the daemon's CIM server with the real wbemcli over
// TLS: anonymous callers are refused, roles are applied, and a
// RequestStateChange really stops a resource in the CIB file through the
// action machinery, with intent and outcome in the audit journal.
func TestCIMEndToEnd(t *testing.T) {
	d, cibFile := startOnCIB(t, "guest")
	host := strings.TrimSuffix(strings.TrimPrefix(d.CIMURL, "https://"), "/cimom")
	url := func(user string) string {
		if user == "" {
			return "https://" + host
		}
		return "https://" + user + ":" + user + "-secret-pw@" + host
	}
	if out, code := wbemcli(t, "ein", url("")+"/root/cimv2:MGMTD_ClusterResource"); code == 0 || !strings.Contains(out, "required") {
		t.Fatalf("anonymous: %d %s", code, out)
	}
	out, code := wbemcli(t, "ein", url("view")+"/root/cimv2:MGMTD_ClusterResource")
	if code != 0 {
		t.Fatalf("viewer ein: %d %s", code, out)
	}
	var websrv string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `Name="web-srv"`) {
			websrv = strings.TrimPrefix(l, host)
		}
	}
	if websrv == "" {
		t.Fatalf("web-srv not enumerated:\n%s", out)
	}
	// Every read operation of wbemcli against the running daemon.
	node1 := `/root/cimv2:MGMTD_ComputerSystem.CreationClassName="MGMTD_ComputerSystem",Name="node1"`
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ei", url("view") + "/root/cimv2:MGMTD_Cluster"}, "guest"},
		{[]string{"gi", url("view") + node1}, `Name="node1"`},
		{[]string{"gp", url("view") + node1, "Name"}, "node1"},
		{[]string{"ai", url("view") + node1}, "MGMTD_Cluster"},
		{[]string{"ain", url("view") + node1}, "MGMTD_"},
		{[]string{"ri", url("view") + websrv}, "MGMTD_"},
		{[]string{"rin", url("view") + websrv}, "MGMTD_"},
		{[]string{"gc", url("view") + "/root/cimv2:MGMTD_ClusterResource"}, "EnabledState="},
		{[]string{"ec", url("view") + "/root/cimv2:CIM_Service"}, "MGMTD_ClusterResource"},
		{[]string{"ecn", url("view") + "/root/cimv2:CIM_Service"}, "MGMTD_ClusterResource"},
		{[]string{"ein", url("view") + "/interop:CIM_RegisteredProfile"}, "RegisteredProfile"},
	} {
		out, code := wbemcli(t, c.args...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("wbemcli %s: exit %d, want %q in:\n%s", c.args[0], code, c.want, out)
		}
	}
	// The role matrix on CIM: viewer, operator and admin read; the
	// auditor reads nothing; only operator and admin act (below).
	for _, u := range []string{"op", "adm"} {
		if out, code := wbemcli(t, "ein", url(u)+"/root/cimv2:MGMTD_ClusterResource"); code != 0 || !strings.Contains(out, "web-srv") {
			t.Errorf("%s ein: %d %s", u, code, out)
		}
	}
	if out, code := wbemcli(t, "ein", url("aud")+"/root/cimv2:MGMTD_ClusterResource"); code == 0 || !strings.Contains(out, "HTTP response code said error") {
		// 403: wbemcli 1.6.3 has no message of its own for it.
		t.Fatalf("auditor reads cluster state over CIM: %d %s", code, out)
	}
	if out, code := wbemcli(t, "cm", url("view")+websrv, "RequestStateChange.RequestedState=3"); code == 0 && strings.Contains(out, "4096") {
		t.Fatalf("viewer changed state: %s", out)
	}
	out, code = wbemcli(t, "cm", url("op")+websrv, "RequestStateChange.RequestedState=3")
	if code != 0 || !strings.Contains(out, "RequestStateChange: 4096") {
		t.Fatalf("operator stop: %d %s", code, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		role, err := exec.Command("env", "CIB_file="+cibFile, "crm_resource", "--resource", "web-srv", "--meta", "--get-parameter", "target-role").Output()
		if err == nil && strings.TrimSpace(string(role)) == "Stopped" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web-srv target-role not Stopped in the CIB file: %q %v", role, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The task ends and both records are in the journal.
	deadline = time.Now().Add(60 * time.Second)
	for {
		var mine, viewers []string
		for _, tk := range d.actions.Tasks() {
			switch tk.Actor.ID {
			case "password:op":
				if !tk.Finished.IsZero() {
					mine = append(mine, string(tk.State))
				}
			case "password:view":
				viewers = append(viewers, string(tk.State))
			}
		}
		if len(mine) == 1 {
			if mine[0] != "succeeded" || len(viewers) != 1 || viewers[0] != "refused" {
				t.Fatalf("operator task %v, viewer task %v", mine, viewers)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the operator's task did not finish")
		}
		time.Sleep(100 * time.Millisecond)
	}
	journal, err := os.ReadFile(filepath.Join(d.cfg.StateDir, "audit-journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"resource.stop.intent"`, `"resource.stop"`, `"cim.RequestStateChange"`, `"actor":"password:op"`} {
		if !bytes.Contains(journal, []byte(want)) {
			t.Errorf("audit journal lacks %s", want)
		}
	}
}

// cimPost sends one CIM-XML operation to the daemon's CIM server, signed
// by sign, and returns the status and the body.
func cimPost(t *testing.T, d *Daemon, sign func(*http.Request), method, object, body string) (int, string) {
	t.Helper()
	r := wbemtest.NewRequest(method, object, body, "", "")
	req, err := http.NewRequest(http.MethodPost, d.CIMURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.Header
	sign(req)
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func basicSigner(user string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, user+"-secret-pw") }
}

// TestCIMAuditRecords: a method that answers with a failure return value
// (Fence with an Action outside its ValueMap: 5) is audited as a failure,
// and the object id is the target's WBEM URI, its namespace once; a
// caller whose role may not read the cluster is refused with 403.
func TestCIMAuditRecords(t *testing.T) {
	d, _ := startOnCIB(t, "guest")
	node1 := wbemtest.InstanceName("MGMTD_ComputerSystem", "CreationClassName", "MGMTD_ComputerSystem", "Name", "node1")
	body := wbemtest.MethodCall("Fence", "root/cimv2", node1, `<PARAMVALUE NAME="Action"><VALUE>9</VALUE></PARAMVALUE>`)
	code, out := cimPost(t, d, basicSigner("adm"), "Fence", `root/cimv2:MGMTD_ComputerSystem.CreationClassName="MGMTD_ComputerSystem",Name="node1"`, body)
	if code != 200 || !strings.Contains(out, "<VALUE>5</VALUE>") {
		t.Fatalf("Fence(Action 9): %d %s", code, out)
	}
	journal, err := os.ReadFile(filepath.Join(d.cfg.StateDir, "audit-journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var done map[string]any
	for _, l := range bytes.Split(journal, []byte("\n")) {
		var rec map[string]any
		if json.Unmarshal(l, &rec) == nil && rec["action"] == "cim.Fence" && rec["reason"] != "intent" {
			done = rec
		}
	}
	if done == nil {
		t.Fatalf("no outcome record of cim.Fence in:\n%s", journal)
	}
	if done["outcome"] != "failure" || done["reason"] != "Fence returned 5" {
		t.Errorf("Fence returning 5 audited as %v (%v)", done["outcome"], done["reason"])
	}
	if id, _ := done["object_id"].(string); !strings.HasPrefix(id, "root/cimv2:MGMTD_ComputerSystem.") {
		t.Errorf("object id %q", id)
	}
	code, _ = cimPost(t, d, basicSigner("aud"), "EnumerateClassNames", "root/cimv2", wbemtest.IMethodCall("EnumerateClassNames", "root/cimv2", ""))
	if code != http.StatusForbidden {
		t.Errorf("auditor: %d, want 403", code)
	}
}

// cimInstance is a CreateInstance body of class in interop with string
// properties given as name, value pairs, or references (values starting
// with "<").
func cimCreate(class string, props ...string) string {
	var b strings.Builder
	b.WriteString(`<INSTANCE CLASSNAME="` + class + `">`)
	for i := 0; i+1 < len(props); i += 2 {
		if strings.HasPrefix(props[i+1], "<") {
			b.WriteString(`<PROPERTY.REFERENCE NAME="` + props[i] + `"><VALUE.REFERENCE>` + props[i+1] + `</VALUE.REFERENCE></PROPERTY.REFERENCE>`)
			continue
		}
		b.WriteString(`<PROPERTY NAME="` + props[i] + `" TYPE="string"><VALUE>` + props[i+1] + `</VALUE></PROPERTY>`)
	}
	b.WriteString(`</INSTANCE>`)
	return wbemtest.IMethodCall("CreateInstance", "interop", wbemtest.Param("NewInstance", b.String()))
}

// subscriptionKeys are the keys of a filter or destination named name.
func subscriptionKeys(class, name string) []string {
	return []string{"SystemCreationClassName", "CIM_ComputerSystem", "SystemName", "node1", "CreationClassName", class, "Name", name}
}

// cimStatus is the CIM error code of a 200 answer, "" for none.
func cimStatus(out string) string {
	_, rest, ok := strings.Cut(out, `<ERROR CODE="`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, `"`)
	return code
}

// TestCIMSubscriptions: indication subscriptions on the running daemon
// are the administrators' (a viewer neither creates nor deletes them),
// their destinations are limited by cim.indications (never link-local),
// and a subscription whose creator's token is revoked is removed, with
// the removal in the audit log.
func TestCIMSubscriptions(t *testing.T) {
	cfg, _ := cibConfig(t, "guest")
	cfg.CIM.Addr = "127.0.0.1:0"
	cfg.CIM.Indications = CIMIndicationsConfig{Schemes: []string{"http"}, Allow: []string{"127.0.0.1", "0.0.0.0/0"}}
	secret, tok := stateToken(t, cfg, "nms", auth.RoleAdmin)
	users := auth.NewUserStore(4)
	for name, role := range map[string]auth.Role{"view": auth.RoleViewer, "adm": auth.RoleAdmin} {
		if err := users.Add(name, name+"-secret-pw", []auth.Grant{{Role: role}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Passwords: []auth.PasswordChecker{users}})
	waitResources(t, d)
	nms := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
	create := func(sign func(*http.Request), body string) string {
		t.Helper()
		code, out := cimPost(t, d, sign, "CreateInstance", "interop", body)
		if code != 200 {
			t.Fatalf("CreateInstance: HTTP %d", code)
		}
		return cimStatus(out)
	}
	dest := func(name, url string) string {
		return cimCreate("CIM_ListenerDestinationCIMXML", "Name", name, "Destination", url)
	}
	if got := create(basicSigner("view"), dest("v", "http://127.0.0.1:9/")); got != "2" {
		t.Errorf("viewer creates a destination: status %q", got)
	}
	for _, url := range []string{"http://169.254.169.254/latest/meta-data/", "https://127.0.0.1:9/", "http://nms.example/"} {
		if got := create(basicSigner("adm"), dest("bad", url)); got != "4" {
			t.Errorf("admin creates a destination to %s: status %q", url, got)
		}
	}
	filter := cimCreate("CIM_IndicationFilter", "Name", "f", "Query", "SELECT * FROM CIM_AlertIndication")
	for _, body := range []string{filter, dest("d", "http://127.0.0.1:9/"),
		cimCreate("CIM_IndicationSubscription",
			"Filter", wbemtest.InstanceName("CIM_IndicationFilter", subscriptionKeys("CIM_IndicationFilter", "f")...),
			"Handler", wbemtest.InstanceName("CIM_ListenerDestinationCIMXML", subscriptionKeys("CIM_ListenerDestinationCIMXML", "d")...))} {
		if got := create(nms, body); got != "" {
			t.Fatalf("admin token subscribes: status %q", got)
		}
	}
	filterName := wbemtest.InstanceName("CIM_IndicationFilter", subscriptionKeys("CIM_IndicationFilter", "f")...)
	code, out := cimPost(t, d, basicSigner("view"), "DeleteInstance", "interop", wbemtest.IMethodCall("DeleteInstance", "interop", wbemtest.Param("InstanceName", filterName)))
	if code != 200 || cimStatus(out) != "2" {
		t.Errorf("viewer deletes the admin's filter: %d %s", code, out)
	}
	count := func() int {
		_, out := cimPost(t, d, basicSigner("adm"), "EnumerateInstanceNames", "interop",
			wbemtest.IMethodCall("EnumerateInstanceNames", "interop", wbemtest.ClassNameParam("ClassName", "CIM_IndicationSubscription")))
		return strings.Count(out, `<INSTANCENAME CLASSNAME="CIM_IndicationSubscription"`)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d subscriptions", n)
	}
	if _, err := d.Auth.RevokeToken(context.Background(), &auth.Identity{ID: "local:uid=0", Grants: []auth.Grant{{Role: auth.RoleAdmin}}}, tok.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d subscriptions after the creator's token was revoked", n)
	}
	journal, err := os.ReadFile(filepath.Join(d.cfg.StateDir, "audit-journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(journal, []byte(`"cim.subscriptions.removed"`)) || !bytes.Contains(journal, []byte("token:"+tok.ID)) {
		t.Errorf("the removal is not in the audit journal")
	}
}

// TestCIMIndicationsConfig: the cim.indications keys are checked by
// Config.Validate, which names the key.
func TestCIMIndicationsConfig(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"cim:\n  indications:\n    schemes: [ftp]\n", "cim.indications.schemes"},
		{"cim:\n  indications:\n    allow: [\"http://nms/\"]\n", "cim.indications.allow"},
		{"cim:\n  indications:\n    max_per_caller: -1\n", "cim.indications.max_per_caller"},
		{"cim:\n  indications:\n    max_total: 1000000\n", "cim.indications.max_total"},
		{"cim:\n  indications:\n    schemes: [http, https]\n    allow: [nms.example, 192.0.2.0/28, \"2001:db8::1\"]\n", ""},
	} {
		checkConfigKey(t, tc.yaml, tc.key)
	}
}

// checkConfigKey loads a configuration file of yaml: it must be refused
// naming key ("config key KEY:"), or accepted when key is empty.
func checkConfigKey(t *testing.T, yaml, key string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mgmtd.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(file)
	if (err == nil) != (key == "") || (err != nil && !strings.Contains(err.Error(), "config key "+key+":")) {
		t.Errorf("%q: %v", yaml, err)
	}
}
