package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/audit"
	"mgmtd/cli"
	"mgmtd/internal/testutil"
	"mgmtd/rest"
)

// run runs the command line once.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = cli.Main(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// daemon is a daemon started through the command line (mgmtd serve or
// demo) on a free port.
type daemon struct {
	url, socket, dir string
	stdout, stderr   *testutil.SyncBuffer
}

var servingRE = regexp.MustCompile(`serving (https?://\S+)`)

// startDaemon runs `mgmtd CMD ARGS... --addr 127.0.0.1:0 --state-dir DIR`
// and waits until it prints that it serves. The daemon stops when the
// test ends and must exit cleanly.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{dir: t.TempDir(), stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}}
	args = append(args, "--addr", "127.0.0.1:0", "--state-dir", d.dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- cli.Main(ctx, args, d.stdout, d.stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("mgmtd %s exited %d: %s", args[0], code, d.stderr.String())
		}
	})
	ok := testutil.Poll(30*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("mgmtd %s exited %d before serving: %s", args[0], code, d.stderr.String())
		default:
		}
		return servingRE.MatchString(d.stdout.String())
	})
	if !ok {
		t.Fatalf("mgmtd %s did not serve: %s", args[0], d.stderr.String())
	}
	d.url = servingRE.FindStringSubmatch(d.stdout.String())[1]
	d.socket = "unix:" + filepath.Join(d.dir, "mgmtd.sock")
	// Serving starts before the sources' first picture: wait for it.
	testutil.Eventually(t, 30*time.Second, func() bool {
		_, out, _ := run(t, "status", "--server", d.socket, "-o", "json")
		return regexp.MustCompile(`"nodes": \[\s*\{`).MatchString(out)
	}, "mgmtd %s has a picture of the cluster", args[0])
	return d
}

// fixtureCopy copies a CIB captured with Pacemaker's tools to a new file.
func fixtureCopy(t *testing.T, fixture string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "source", "pacemaker", "testdata", fixture, "cib.xml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cib.xml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestHelpListsEveryCommand: every command of the table is in the help,
// has its own help, and is dispatched (a usage error is not "unknown
// command").
func TestHelpListsEveryCommand(t *testing.T) {
	code, help, _ := run(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	names := cli.Commands()
	if len(names) < 15 {
		t.Fatalf("only %d commands: %v", len(names), names)
	}
	for _, name := range names {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `\s`).MatchString(help) {
			t.Errorf("mgmtd help does not list %q:\n%s", name, help)
		}
		code, out, errs := run(t, "help", name)
		if code != 0 || !strings.HasPrefix(out, "usage: mgmtd "+name) {
			t.Errorf("mgmtd help %s: exit %d %q %q", name, code, out, errs)
		}
		code, _, errs = run(t, name, "-h")
		if code != 0 || !strings.HasPrefix(errs, "usage: mgmtd "+name) {
			t.Errorf("mgmtd %s -h: exit %d %q", name, code, errs)
		}
		_, _, errs = run(t, name, "--no-such-flag")
		if strings.Contains(errs, "unknown command") || !strings.Contains(errs, "no-such-flag") {
			t.Errorf("mgmtd %s was not dispatched: %q", name, errs)
		}
	}
	if code, _, errs := run(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: exit %d %q", code, errs)
	}
	code, script, _ := run(t, "completion", "bash")
	if code != 0 || !strings.Contains(script, "complete -o default -F _mgmtd mgmtd") {
		t.Fatalf("completion: exit %d\n%s", code, script)
	}
	for _, name := range names {
		if !strings.Contains(script, "\t"+name+")\n") {
			t.Errorf("completion lacks %s", name)
		}
	}
	for _, w := range []string{"--dry-run", "maintenance-on", "--cib", "verify"} {
		if !strings.Contains(script, w) {
			t.Errorf("completion lacks %s", w)
		}
	}
}

// TestPortTaken: with a listener's address in use, serve and demo exit
// non-zero within 2 s, naming the unit and the address (issue 12: a CIM
// port taken used to freeze every source silently).
func TestPortTaken(t *testing.T) {
	taken := testutil.FreeAddr(t)
	ln, err := net.Listen("tcp", taken)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cib := fixtureCopy(t, "primitives")
	blocked := t.TempDir()
	// A directory in the way of the local socket makes it unusable.
	if err := os.MkdirAll(filepath.Join(blocked, "mgmtd.sock", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"demo rest", []string{"demo", "--addr", taken, "--state-dir", t.TempDir()}, "rest: listen tcp " + taken},
		{"demo cim", []string{"demo", "--addr", "127.0.0.1:0", "--cim-addr", taken, "--state-dir", t.TempDir()}, "cim: listen tcp " + taken},
		{"serve rest", []string{"serve", "--cib", cib, "--addr", taken, "--state-dir", t.TempDir()}, "rest: listen tcp " + taken},
		{"serve cim", []string{"serve", "--cib", cib, "--addr", "127.0.0.1:0", "--cim-addr", taken, "--state-dir", t.TempDir()}, "cim: listen tcp " + taken},
		{"demo socket", []string{"demo", "--addr", "127.0.0.1:0", "--state-dir", blocked}, "socket: listen unix " + filepath.Join(blocked, "mgmtd.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, _, errs := run(t, tc.args...)
			took := time.Since(start)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errs, tc.want)
			}
			// How fast is measured, not asserted (a loaded machine and -race
			// slow the start): see docs/benchmarks.md.
			t.Logf("exited after %s", took)
		})
	}
}

// TestAgentXAwayIsNotFatal: an AgentX master that is not there is a
// degraded unit that retries, not a failed daemon.
func TestAgentXAwayIsNotFatal(t *testing.T) {
	d := startDaemon(t, "demo", "--speed", "0.001", "--agentx", "unix:"+filepath.Join(t.TempDir(), "no-master.sock"))
	code, out, errs := run(t, "status", "--server", d.socket, "-o", "json")
	if code != 0 || !strings.Contains(out, `"generation"`) {
		t.Fatalf("status while AgentX is away: exit %d %s %s", code, out, errs)
	}
}

func TestActionOnCIBFile(t *testing.T) {
	file := fixtureCopy(t, "primitives")
	auditDir := filepath.Join(t.TempDir(), "audit")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"node", "standby", "node2", "--cib", file, "--audit-dir", auditDir}, 0, "succeeded"},
		{[]string{"resource", "move", "dummy-a", "--node", "node3", "--dry-run", "--cib", file, "--audit-dir", auditDir}, 0, "predicted"},
		{[]string{"resource", "ban", "dummy-a", "--node", "node1", "--lifetime", "2h", "--cib", file, "--audit-dir", auditDir, "-o", "json"}, 0, `"state": "succeeded"`},
		{[]string{"cluster", "maintenance", "on", "--cib", file, "--audit-dir", auditDir}, 0, "succeeded"},
		{[]string{"fence", "node3", "--cib", file}, 2, ""},
		{[]string{"resource", "frobnicate", "dummy-a", "--cib", file}, 2, ""},
		// Neither --cib nor --server: $MGMTD_SERVER, where no daemon is.
		{[]string{"resource", "stop", "dummy-a"}, 1, ""},
		{[]string{"vm", "migrate", "vm-x", "--cib", file}, 2, ""},
		{[]string{"task", "list"}, 1, ""},
	}
	t.Setenv("MGMTD_SERVER", "unix:"+filepath.Join(t.TempDir(), "none.sock"))
	for _, tc := range cases {
		code, out, errs := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("mgmtd %s: exit %d, want %d; stdout %q stderr %q", strings.Join(tc.args, " "), code, tc.code, out, errs)
		}
	}
	j, err := audit.OpenJournalReadOnly(filepath.Join(auditDir, audit.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs, err := j.Query(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range recs {
		if r.Channel != audit.ChannelCLI || !strings.HasPrefix(r.Actor, "local:uid=") {
			t.Errorf("record %+v", r.Event)
		}
		actions = append(actions, r.Action+"/"+string(r.Outcome))
	}
	want := []string{"node.standby.intent/success", "node.standby/success", "resource.ban.intent/success", "resource.ban/success",
		"cluster.maintenance-on.intent/success", "cluster.maintenance-on/success"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("audit actions %q, want %q", actions, want)
	}
}

// createToken makes a token through the daemon's local socket (root is
// admin there) and returns its secret.
func createToken(t *testing.T, d *daemon, role, scope string) (id, secret string) {
	t.Helper()
	code, out, errs := run(t, "token", "create", "--server", d.socket, "--name", role+" "+scope, "--role", role, "--scope", scope, "-o", "json")
	if code != 0 {
		t.Fatalf("token create: exit %d %s", code, errs)
	}
	var nt struct {
		Secret string
		Token  struct{ ID string }
	}
	if err := json.Unmarshal([]byte(out), &nt); err != nil || nt.Secret == "" {
		t.Fatalf("%v %s", err, out)
	}
	return nt.Token.ID, nt.Secret
}

// TestActionThroughDaemon acts on `mgmtd serve --cib FILE` through its
// REST API with an operator's token, and reads the tasks back.
func TestActionThroughDaemon(t *testing.T) {
	d := startDaemon(t, "serve", "--cib", fixtureCopy(t, "primitives"))
	_, secret := createToken(t, d, "operator", "*")
	t.Setenv("MGMTD_TOKEN", secret)
	code, out, errs := run(t, "resource", "stop", "dummy-a", "--server", d.url, "--insecure", "-o", "json")
	var task action.Task
	if code != 0 || json.Unmarshal([]byte(out), &task) != nil || task.State != action.StateSucceeded {
		t.Fatalf("resource stop: exit %d %s %s", code, out, errs)
	}
	if code, out, errs = run(t, "node", "standby", "node2", "--dry-run", "--server", d.url, "--insecure"); code != 0 || !strings.Contains(out, "predicted") {
		t.Errorf("dry run: exit %d %s %s", code, out, errs)
	}
	if code, _, errs = run(t, "fence", "node3", "--confirm", "--server", d.url, "--insecure"); code != 1 || !strings.Contains(errs, "403") {
		t.Errorf("operator fencing: exit %d %s", code, errs)
	}
	if code, out, errs = run(t, "task", "list", "--server", d.url, "--insecure"); code != 0 || !strings.Contains(out, task.ID) || !strings.Contains(out, "resource.stop") {
		t.Errorf("task list: exit %d %s %s", code, out, errs)
	}
	if code, out, errs = run(t, "task", "show", task.ID, "--server", d.url, "--insecure"); code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "crm_resource") {
		t.Errorf("task show: exit %d %s %s", code, out, errs)
	}
	if code, _, _ = run(t, "task", "show", "nope", "--server", d.url, "--insecure"); code != 1 {
		t.Errorf("unknown task: exit %d", code)
	}
	// The offline and online answers of where agree on the same CIB.
	code, out, errs = run(t, "where", "dummy-b", "--server", d.url, "--insecure")
	if code != 0 || !strings.Contains(out, "dummy-b") {
		t.Errorf("where: exit %d %s %s", code, out, errs)
	}
}

// TestTokenAndAuditCLI: root on the local socket manages tokens; the
// created scoped token works and stops working once revoked; the daemon's
// journal and an export verify offline, and a tampered export does not.
func TestTokenAndAuditCLI(t *testing.T) {
	d := startDaemon(t, "demo", "--speed", "0.001")
	id, secret := createToken(t, d, "viewer", "node:hv2")
	t.Setenv("MGMTD_TOKEN", secret)
	code, out, errs := run(t, "status", "--server", d.url, "--insecure", "-o", "json")
	if code != 0 || strings.Contains(out, `"name": "hv1"`) || !strings.Contains(out, `"name": "hv2"`) {
		t.Fatalf("scoped status: exit %d %s %s", code, out, errs)
	}
	t.Setenv("MGMTD_TOKEN", "")
	if code, out, _ = run(t, "token", "list", "--server", d.socket); code != 0 || !strings.Contains(out, id) || strings.Contains(out, secret) {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, _, errs = run(t, "token", "revoke", id, "--server", d.socket); code != 0 {
		t.Fatalf("revoke: %d %s", code, errs)
	}
	t.Setenv("MGMTD_TOKEN", secret)
	if code, _, errs = run(t, "status", "--server", d.url, "--insecure"); code != 1 || !strings.Contains(errs, "401") {
		t.Fatalf("revoked token: exit %d %s", code, errs)
	}
	if code, out, errs = run(t, "audit", "verify", "--state-dir", d.dir); code != 0 || !strings.Contains(out, "verified: OK") {
		t.Fatalf("verify journal: exit %d %s %s", code, out, errs)
	}
	export := filepath.Join(t.TempDir(), "export.jsonl")
	code, out, errs = run(t, "audit", "export", "--state-dir", d.dir)
	if code != 0 || strings.Count(out, "\n") < 4 {
		t.Fatalf("export: exit %d %s", code, errs)
	}
	if err := os.WriteFile(export, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, got, errs := run(t, "audit", "verify", "--file", export); code != 0 || !strings.Contains(got, "verified: OK") {
		t.Fatalf("verify export: exit %d %s %s", code, got, errs)
	}
	bad := strings.Replace(out, `"token.created"`, `"token.revoked"`, 1)
	if bad == out {
		t.Fatal("no token.created record to tamper with")
	}
	if err := os.WriteFile(export, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, got, _ := run(t, "audit", "verify", "--file", export); code == 0 {
		t.Fatalf("tampered export verified:\n%s", got)
	}
}

// TestMIBs: the MIB modules the daemon serves are written where an NMS
// finds them.
func TestMIBs(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "mibs", dir)
	if code != 0 {
		t.Fatalf("exit %d %s", code, errs)
	}
	b, err := os.ReadFile(filepath.Join(dir, "MGMTD-CLUSTER-MIB.txt"))
	if err != nil || !strings.Contains(string(b), "MGMTD-CLUSTER-MIB DEFINITIONS ::= BEGIN") || !strings.Contains(out, dir) {
		t.Fatalf("%v %q", err, out)
	}
}

// TestClientErrorsSayWhatToDo (issue 19 item 1): a --server without a
// scheme gave a Go URL-parse error, plain HTTP to the HTTPS port an empty
// 400, an untrusted certificate no hint, and `mgmtd audit verify FILE`
// failed without --file.
func TestClientErrorsSayWhatToDo(t *testing.T) {
	d := startDaemon(t, "demo", "--speed", "0.001")
	host := strings.TrimPrefix(d.url, "https://")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "--server", host}, 2, "give https://HOST:PORT"},
		{[]string{"status", "--server", "http://" + host}, 1, "HTTPS"},
		{[]string{"status", "--server", d.url}, 1, "--ca"},
	} {
		code, _, errs := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("mgmtd %s: exit %d %q, want %d and %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.want)
		}
	}
	code, out, errs := run(t, "audit", "export", "--state-dir", d.dir)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	file := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, "audit", "verify", file); code != 0 || !strings.Contains(out, "verified: OK") {
		t.Errorf("audit verify FILE: exit %d %s %s", code, out, errs)
	}
}

// TestHistoryCLI: `mgmtd history --since 1h --object NAME` prints the
// stored events about that object; filters and JSON output work; a
// stray argument is a usage error.
func TestHistoryCLI(t *testing.T) {
	d := startDaemon(t, "demo", "--speed", "0.001")
	var recs []rest.HistoryRecord
	testutil.Eventually(t, 30*time.Second, func() bool {
		code, out, _ := run(t, "history", "--server", d.socket, "--since", "1h", "-o", "json")
		return code == 0 && json.Unmarshal([]byte(out), &recs) == nil && len(recs) > 3
	}, "no history")
	var node string
	for _, r := range recs {
		if r.Object.Kind == "node" {
			node = r.Object.Name
			break
		}
	}
	if node == "" {
		t.Fatalf("no node event in %+v", recs)
	}
	code, out, errs := run(t, "history", "--server", d.socket, "--since", "1h", "--object", node)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 2 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("history --object %s: exit %d %s %s", node, code, out, errs)
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, node) {
			t.Fatalf("line about something else than %s: %q", node, l)
		}
	}
	code, out, _ = run(t, "history", "--server", d.socket, "--kind", "resource", "--limit", "2", "--desc", "-o", "json")
	recs = nil
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 2 || recs[0].Object.Kind != "resource" || recs[0].Seq < recs[1].Seq {
		t.Fatalf("--kind resource --limit 2 --desc: exit %d %s", code, out)
	}
	if code, _, errs := run(t, "history", "extra", "--server", d.socket); code != 2 || !strings.Contains(errs, "no arguments") {
		t.Fatalf("stray argument: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, "history", "--server", d.socket, "--since", "yesterday"); code != 1 || !strings.Contains(errs, "since") {
		t.Fatalf("bad --since: exit %d %s", code, errs)
	}
}

// TestTransitionCLI: `mgmtd transition list` shows the scheduler inputs of
// the configured pengine directory and `mgmtd transition explain` what
// Pacemaker did from one (crm_simulate on a private copy).
func TestTransitionCLI(t *testing.T) {
	pengine, err := filepath.Abs(filepath.Join("..", "source", "pacemaker", "transition", "testdata", "pengine"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "mgmtd.yaml")
	if err := os.WriteFile(conf, []byte("pacemaker:\n  pengine_dir: "+pengine+"\n  log_file: \"-\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "serve", "--cib", fixtureCopy(t, "failed"), "--config", conf)
	code, out, errs := run(t, "transition", "list", "--server", d.socket)
	if code != 0 || !strings.Contains(out, "pe-input-1.bz2") || !strings.Contains(out, "pe-input-2.bz2") {
		t.Fatalf("list: exit %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, "transition", "explain", "pe-input-2.bz2", "--server", d.socket)
	if code != 0 || !regexp.MustCompile(`recover\s+svc-timeout\s+node3`).MatchString(out) {
		t.Fatalf("explain: exit %d %s %s", code, out, errs)
	}
	code, out, errs = run(t, "transition", "explain", "pe-input-1.bz2", "--scores", "--server", d.socket)
	if code != 0 || !strings.Contains(out, "scores:") || !strings.Contains(out, "-INFINITY") {
		t.Fatalf("explain --scores: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := run(t, "transition", "explain", "pe-input-7.bz2", "--server", d.socket); code != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("missing input: exit %d %s", code, errs)
	}
	if code, _, _ := run(t, "transition", "show", "--server", d.socket); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}
