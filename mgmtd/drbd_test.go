package mgmtd

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/internal/tgttest"
	"mgmtd/model"
	"mgmtd/rest"
)

// TestDRBDSource: with drbd.enabled, a daemon on the drbd fixture's CIB
// (captured with Pacemaker's tools) runs the DRBD source - here the
// drbdsetup test double of source/drbd/testdata/bin, replaying events2
// output written from drbdsetup(8) (DRBD cannot run here) - and its REST
// API answers the target's IQN with the chain down to node1, in sync.
func TestDRBDSource(t *testing.T) {
	d := drbdDaemon(t)
	drbdSourceChecks(t, d, map[string]string{"Authorization": "Basic " + basic("view", "view-secret-pw")})
}

// drbdDaemon runs a daemon on the drbd fixture's CIB with the DRBD source
// on the drbdsetup test double, as node1; tweaks change its configuration.
func drbdDaemon(t *testing.T, tweaks ...func(*Config)) *Daemon {
	t.Helper()
	abs := func(p ...string) string {
		a, err := filepath.Abs(filepath.Join(p...))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mode := filepath.Join(t.TempDir(), "mode")
	if err := os.WriteFile(mode, []byte("replay"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_DRBD_MODE", mode)
	t.Setenv("FAKE_DRBD_EVENTS", abs("..", "source", "drbd", "events", "testdata", "events2-full.txt"))
	t.Setenv("FAKE_DRBD_STATUS", abs("..", "source", "drbd", "testdata", "status-agree.json"))
	cfg, _ := cibConfig(t, "drbd")
	cfg.View = "node1"
	cfg.DRBD = DRBDConfig{Enabled: true, ToolDir: abs("..", "source", "drbd", "testdata", "bin"), RefreshInterval: time.Second}
	for _, f := range tweaks {
		f(cfg)
	}
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Passwords: []auth.PasswordChecker{cibUsers(t)}})
	return d
}

func drbdSourceChecks(t *testing.T, d *Daemon, hdr map[string]string) {
	t.Helper()
	var td rest.TargetDetail
	testutil.Eventually(t, 30*time.Second, func() bool {
		code, _, body := call(t, "GET", d.URL+"/api/v1/iscsi/targets/iqn.2026-11.com.example:storage.r0", hdr, "")
		if code != 200 {
			return false
		}
		var env struct{ Data rest.TargetDetail }
		if json.Unmarshal(body, &env) != nil {
			return false
		}
		td = env.Data
		return len(td.Storage) == 2 && td.Storage[0].InSync
	}, "the target never showed in sync: %+v", td)
	if c := td.Storage[0]; c.Primary != "node1" || c.DRBD != "r0" || c.Sync != "in sync: node1 and node2 are UpToDate" {
		t.Fatalf("chain %+v", c)
	}
	st, ok := d.Store.Snapshot().Source("drbd")
	if !ok || st.State != model.SourceOK {
		t.Fatalf("drbd source %+v", st)
	}
}

// TestDRBDConfig: the drbd and iscsi keys are checked and named.
func TestDRBDConfig(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"drbd:\n  enabled: true\n  refresh_interval: 10ms\n", "drbd.refresh_interval"},
		{"drbd:\n  check_interval: -1s\n", "drbd.check_interval"},
		{"drbd:\n  timeout: 1ms\n", "drbd.timeout"},
		{"drbd:\n  enabled: true\n  refresh_interval: 5s\n  check_interval: 1m\n  timeout: 10s\n  tool_dir: /usr/sbin\n", ""},
		{"iscsi:\n  enabled: true\n  interval: 10ms\n", "iscsi.interval"},
		{"iscsi:\n  timeout: -1s\n", "iscsi.timeout"},
		{"iscsi:\n  control_port: 70000\n", "iscsi.control_port"},
		{"iscsi:\n  enabled: true\n  interval: 10s\n  timeout: 5s\n  control_port: 7\n  tool_dir: /usr/sbin\n", ""},
	} {
		checkConfigKey(t, tc.yaml, tc.key)
	}
	c, err := LoadConfig("")
	if err != nil || c.DRBD.Enabled || c.ISCSI.Enabled {
		t.Fatalf("the DRBD or iSCSI source is on by default: %v", err)
	}
}

// TestWebPageStorage: the page's Cluster tab shows the replicated storage
// the API reports - each DRBD resource with its replicas' roles and disk
// states and whether they are in sync, each iSCSI target with its LUNs
// and, from a real tgtd, the initiator logged into it - and axe-core finds
// nothing serious. A screenshot of the section is left
// in screenshotDir.
func TestWebPageStorage(t *testing.T) {
	// tgtd exports the fixture's target with an initiator logged in; the
	// iscsi source reads it.
	const iqn, initiator = "iqn.2026-11.com.example:storage.r0", "iqn.2026-12.org.example.client:db1"
	tgt := tgttest.Start(t)
	tgt.Target(t, 1, iqn)
	tgt.Login(t, initiator, iqn, 1)
	d := drbdDaemon(t, func(c *Config) {
		c.ISCSI = ISCSIConfig{Enabled: true, ControlPort: tgt.Control, Interval: 200 * time.Millisecond}
	})
	hdr := map[string]string{"Authorization": "Basic " + basic("view", "view-secret-pw")}
	drbdSourceChecks(t, d, hdr)
	testutil.Eventually(t, 30*time.Second, func() bool {
		return len(d.Store.Snapshot().Logins(initiator)) == 1
	}, "the initiator's session never reached the model")
	var api []model.DRBDResource
	code, _, body := call(t, "GET", d.URL+"/api/v1/drbd", hdr, "")
	var env struct{ Data []model.DRBDResource }
	if err := json.Unmarshal(body, &env); code != 200 || err != nil {
		t.Fatalf("GET /api/v1/drbd: %d %v", code, err)
	}
	api = env.Data
	next, _ := runPageScript(t, "storage.mjs", d.URL, "view", "view-secret-pw", filepath.Join(screenshotDir(t), "storage.png"))
	got := next()
	rows, _ := got["drbd"].([]any)
	if len(rows) != len(api) || len(rows) == 0 {
		t.Fatalf("page DRBD rows %v, API %d resources", rows, len(api))
	}
	for i, r := range rows {
		cells := strs(r)
		a := api[i]
		if cells[0] != a.Name || cells[1] != a.Node || !strings.Contains(cells[2], "in sync") {
			t.Errorf("row %d %q, API %s seen by %s", i, cells, a.Name, a.Node)
		}
		for _, rep := range a.Replicas {
			if want := rep.Node + ": " + rep.Role + "/" + rep.Disk; !strings.Contains(cells[3], want) {
				t.Errorf("row %d replicas %q lack %q", i, cells[3], want)
			}
		}
	}
	targets, _ := got["targets"].([]any)
	if len(targets) != 1 || strs(targets[0])[0] != iqn || !strings.Contains(strs(targets[0])[4], "tgt on node1: ready, "+initiator+" (127.0.0.1)") {
		t.Errorf("page targets %v", targets)
	}
	// Where is, for the IQN: the chain down to node1, in sync, as the
	// API's where says.
	code, _, body = call(t, "GET", d.URL+"/api/v1/where?q=iqn.2026-11.com.example:storage.r0", hdr, "")
	var wenv struct{ Data model.WhereAnswer }
	if err := json.Unmarshal(body, &wenv); code != 200 || err != nil {
		t.Fatalf("where IQN: %d %v", code, err)
	}
	w := wenv.Data
	shown := strs(got["where"])
	if len(shown) != len(w.Storage) || len(shown) == 0 {
		t.Fatalf("where IQN on the page: %q; the API has %d chains", shown, len(w.Storage))
	}
	for i, c := range w.Storage {
		for _, want := range []string{"target " + c.Target, "DRBD " + c.DRBD, "node " + c.Primary, "in sync"} {
			if !strings.Contains(shown[i], want) {
				t.Errorf("where IQN chain %d %q lacks %q", i, shown[i], want)
			}
		}
	}
	if vs, _ := got["axe"].([]any); len(vs) > 0 {
		t.Errorf("axe-core finds serious violations: %v", vs)
	}
	if errs := strs(got["console_errors"]); len(errs) > 0 {
		t.Errorf("browser console errors: %q", errs)
	}
}
