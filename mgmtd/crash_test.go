package mgmtd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/audit"
	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/source/pacemaker"
)

// TestMain lets a test run this test binary as a daemon of its own
// (MGMTD_TEST_DAEMON=config file), to kill it as a crash would.
func TestMain(m *testing.M) {
	if pacemaker.IsWatchAgent(os.Getenv) {
		// A lab daemon's crm_mon watcher runs this binary as its agent.
		_ = pacemaker.WatchAgent(os.Stdout, os.Getenv)
		os.Exit(0)
	}
	if cfgFile := os.Getenv("MGMTD_TEST_DAEMON"); cfgFile != "" {
		os.Exit(testDaemonMain(cfgFile, os.Getenv("MGMTD_TEST_URLFILE")))
	}
	os.Exit(m.Run())
}

// testDaemonMain runs a daemon on the configuration file and writes its
// URL to urlFile once it is ready.
func testDaemonMain(cfgFile, urlFile string) int {
	cfg, err := LoadConfig(cfgFile)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	d, err := NewDaemon(cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-d.Ready
		_ = os.WriteFile(urlFile+".tmp", []byte(d.URL), 0o600)
		_ = os.Rename(urlFile+".tmp", urlFile)
	}()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestCrashDuringAction (issue 13 item 7): after kill -9 during an action
// that was applied, the audit log had the intent and never an outcome, the
// task was 404 after the restart, and the child crm_simulate outlived the
// daemon and rewrote the CIB about 20 s later. Now the tool dies with the
// daemon, and the restarted daemon ends the task unknown, with the effect
// read back from the cluster, recorded as the outcome.
func TestCrashDuringAction(t *testing.T) {
	cfg, _ := cibConfig(t, "guest")
	dir := t.TempDir()
	// The tools, with crm_simulate held when it settles the transition
	// on the CIB file itself (not on the prediction's private copy).
	tools := filepath.Join(dir, "tools")
	if err := os.MkdirAll(tools, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"crm_mon", "cibadmin", "crm_resource", "crm_attribute", "stonith_admin", "crm_simulate"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s not found: run scripts/deps.d/pacemaker.sh (%v)", tool, err)
		}
		if tool != "crm_simulate" {
			if err := os.Symlink(p, filepath.Join(tools, tool)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		script := fmt.Sprintf("#!/bin/sh\ncase \"$*\" in\n*\"--save-output %s\"*) echo $$ > %s/settle.pid; while [ ! -e %s/go ]; do sleep 0.05; done;;\nesac\nexec %s \"$@\"\n",
			cfg.Pacemaker.CIBFile, dir, dir, p)
		if err := os.WriteFile(filepath.Join(tools, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Pacemaker.ToolDir = tools
	secret, _ := stateToken(t, cfg, "op", auth.RoleOperator)
	op := map[string]string{"Authorization": "Bearer " + secret}
	cfgFile := filepath.Join(dir, "mgmtd.json")
	b, err := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "state_dir": cfg.StateDir, "view": "node1",
		"pacemaker": map[string]any{"cib_file": cfg.Pacemaker.CIBFile, "tool_dir": tools}, "corosync": map[string]any{"enabled": false}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(n int) (*exec.Cmd, string) {
		urlFile := filepath.Join(dir, "url"+strconv.Itoa(n))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "MGMTD_TEST_DAEMON="+cfgFile, "MGMTD_TEST_URLFILE="+urlFile)
		cmd.Stderr = &testutil.SyncBuffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		var url string
		testutil.Eventually(t, 60*time.Second, func() bool {
			b, err := os.ReadFile(urlFile)
			url = string(b)
			return err == nil
		}, "daemon %d is ready (stderr: %s)", n, cmd.Stderr)
		return cmd, url
	}
	daemon, url := start(1)
	testutil.Eventually(t, 30*time.Second, func() bool {
		code, _, _ := call(t, "GET", url+"/api/v1/resources/web-srv", op, "")
		return code == 200
	}, "the first daemon has a picture of the cluster")
	code, _, body := call(t, "POST", url+"/api/v1/resources/web-srv/actions/stop", op, "")
	if code != 202 {
		t.Fatalf("stop: %d %s", code, body)
	}
	var task action.Task
	if err := json.Unmarshal(body, &task); err != nil {
		t.Fatal(err)
	}
	var settle int
	testutil.Eventually(t, 60*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "settle.pid"))
		settle, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && settle > 0
	}, "the action reached the transition")
	if err := daemon.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = daemon.Wait()
	testutil.Eventually(t, 10*time.Second, func() bool { return syscall.Kill(settle, 0) != nil },
		"crm_simulate (pid %d) died with the daemon", settle)
	// Were it alive, it would now rewrite the CIB file.
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	_, url = start(2)
	var got action.Task
	testutil.Eventually(t, 60*time.Second, func() bool {
		code, _, body := call(t, "GET", url+"/api/v1/tasks/"+task.ID, op, "")
		return code == 200 && json.Unmarshal(body, &got) == nil && got.State.Terminal()
	}, "the restarted daemon knows task %s and has ended it", task.ID)
	if got.State != action.StateUnknown || !strings.Contains(got.Result, "web-srv") || len(got.After) == 0 {
		t.Fatalf("task after the restart: %+v", got)
	}
	j, err := audit.OpenJournalReadOnly(filepath.Join(cfg.StateDir, audit.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs, err := j.Query(context.Background(), audit.Filter{Action: "resource.stop"})
	if err != nil {
		t.Fatal(err)
	}
	intents, _ := j.Query(context.Background(), audit.Filter{Action: "resource.stop.intent"})
	if len(intents) != 1 || len(recs) != 1 || recs[0].Outcome != audit.OutcomeError || !strings.Contains(recs[0].Reason, "outcome unknown") {
		t.Fatalf("audit: %d intents, outcomes %+v", len(intents), recs)
	}
	if rep, err := audit.VerifyStateDir(context.Background(), cfg.StateDir, audit.VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
