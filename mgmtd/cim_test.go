package mgmtd

import (
	"bytes"
	"log/slog"
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
	if out, code := wbemcli(t, "ein", url("aud")+"/root/cimv2:MGMTD_ClusterResource"); code == 0 || !strings.Contains(out, "Invalid username/password") {
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
