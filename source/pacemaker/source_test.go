package pacemaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/model"
	"mgmtd/source/pacemaker/crmmon"
	"mgmtd/toolexec"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestLiveToolsOnCIBFile runs the real crm_mon and reads the CIB file, as
// `mgmtd serve --cib` does, and compares with the recorded fixture.
func TestLiveToolsOnCIBFile(t *testing.T) {
	if _, err := exec.LookPath("crm_mon"); err != nil {
		t.Fatalf("crm_mon is not installed (scripts/deps.d/pacemaker.sh installs it): %v", err)
	}
	for _, fx := range []string{"guest", "bundle", "promotable"} {
		t.Run(fx, func(t *testing.T) {
			st := model.NewStore(model.StoreOptions{View: "test"})
			src := New(Options{CIBFile: filepath.Join("testdata", fx, "cib.xml")}, st, quiet())
			if err := src.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := st.Snapshot()
			want := loadFixture(t, filepath.Join("testdata", fx))
			if len(got.Instances) != len(want.Instances) || len(got.Nodes) != len(want.Nodes) {
				t.Fatalf("live: %d instances %d nodes; recorded: %d instances %d nodes",
					len(got.Instances), len(got.Nodes), len(want.Instances), len(want.Nodes))
			}
			for i := range got.Instances {
				g, w := got.Instances[i], want.Instances[i]
				if g.Resource != w.Resource || g.Node != w.Node || g.Role != w.Role || g.Host != w.Host {
					t.Errorf("instance %d: live %+v, recorded %+v", i, g, w)
				}
			}
		})
	}
}

// fakeTools writes shell scripts named like the Pacemaker tools.
func fakeTools(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBadTools: a missing binary, a hanging crm_mon, garbage, truncated
// XML, "Not connected" and too much output each make the source stale with
// the error; the last good picture stays served, marked stale; nothing
// panics. A later good refresh recovers it.
func TestBadTools(t *testing.T) {
	good, err := filepath.Abs("testdata/guest/crm_mon.xml")
	if err != nil {
		t.Fatal(err)
	}
	cibFile, _ := filepath.Abs("testdata/guest/cib.xml")
	truncated, _ := filepath.Abs("testdata/garbage/crm_mon-truncated-1500.xml")
	notConn, _ := filepath.Abs("testdata/garbage/crm_mon-not-connected.xml")
	cases := []struct {
		name, script, want string
	}{
		{"missing", "", "no such file"},
		{"hang", "sleep 30", "timed out"},
		{"garbage", "echo 'Segmentation fault (core dumped)'", "crm_mon xml"},
		{"truncated", "cat " + truncated, "crm_mon xml"},
		{"not-connected", "cat " + notConn + "; exit 102", "Not connected"},
		{"huge", "yes '<x/>' | head -c 3000000", "output exceeds limit"},
		{"exit-nonzero-empty", "echo oops >&2; exit 1", "exit status 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := model.NewStore(model.StoreOptions{View: "test"})
			okDir := fakeTools(t, map[string]string{"crm_mon": "cat " + good})
			src := New(Options{CIBFile: cibFile, ToolDir: okDir, Timeout: 2 * time.Second, MaxOutput: 1 << 20, Status: StatusCrmMon}, st, quiet())
			if err := src.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			before := st.Snapshot()
			if before.Stale() || len(before.Instances) == 0 {
				t.Fatalf("good refresh: stale=%v instances=%d", before.Stale(), len(before.Instances))
			}
			scripts := map[string]string{}
			if c.script != "" {
				scripts["crm_mon"] = c.script
			}
			src.tools.Dir = fakeTools(t, scripts)
			start := time.Now()
			err := src.Refresh(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("refresh error = %v, want it to mention %q", err, c.want)
			}
			if c.name == "hang" && time.Since(start) > 20*time.Second {
				t.Fatalf("hanging tool was not killed at its timeout (%s)", time.Since(start))
			}
			after := st.Snapshot()
			if !after.Stale() {
				t.Fatal("snapshot not marked stale")
			}
			stt, _ := after.Source(Name)
			if stt.State != model.SourceStale || !strings.Contains(stt.LastError, c.want) || stt.LastSuccess.IsZero() {
				t.Fatalf("source status = %+v", stt)
			}
			if len(after.Instances) != len(before.Instances) || len(after.Nodes) != len(before.Nodes) {
				t.Fatal("last good picture was not kept")
			}
			var ev []model.Event
			ev, _ = st.Events().Since(0)
			if !hasEvent(ev, model.EventSourceStale) {
				t.Fatal("no source.stale event")
			}
			src.tools.Dir = okDir
			if err := src.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st.Snapshot().Stale() {
				t.Fatal("not recovered")
			}
			ev, _ = st.Events().Since(0)
			if !hasEvent(ev, model.EventSourceRecovered) {
				t.Fatal("no source.recovered event")
			}
		})
	}
}

func hasEvent(evs []model.Event, typ model.EventType) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// TestNeverSucceeded: a source whose tool never worked is an error, with
// no picture.
func TestNeverSucceeded(t *testing.T) {
	st := model.NewStore(model.StoreOptions{})
	st.Register(Name)
	src := New(Options{CIBFile: "testdata/guest/cib.xml", ToolDir: t.TempDir(), Status: StatusCrmMon}, st, quiet())
	err := src.Refresh(context.Background())
	var te *toolexec.Error
	if !errors.As(err, &te) {
		t.Fatalf("want a *toolexec.Error, got %v", err)
	}
	s, _ := st.Snapshot().Source(Name)
	if s.State != model.SourceError {
		t.Fatalf("state %s", s.State)
	}
}

// TestImpactSimulatesOnCopy runs crm_simulate on a copy and never changes
// the CIB file.
func TestImpactSimulatesOnCopy(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/guest/cib.xml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cib.xml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	src := New(Options{CIBFile: file}, nil, quiet())
	sims := src.Impact(context.Background(), "node1")
	if len(sims) != 2 {
		t.Fatalf("%d simulations", len(sims))
	}
	for _, s := range sims {
		if s.Error != "" {
			t.Fatalf("%s: %s", s.Scenario, s.Error)
		}
	}
	found := false
	for _, a := range sims[0].Actions {
		if a.Action == "migrate" && a.Resource == "vm-app" && a.Source == "node1" && a.Dest == "node2" {
			found = true
		}
	}
	if !found {
		t.Fatalf("standby of node1 should live-migrate vm-app to node2, got %+v", sims[0].Actions)
	}
	after, _ := os.ReadFile(file)
	if string(after) != string(data) {
		t.Fatal("the CIB file was modified")
	}
	// Compare with the recorded simulation of the same scenario.
	rec, err := os.ReadFile("testdata/guest/simulate-node1-standby.xml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseSimulation(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(sims[0].Actions) {
		t.Fatalf("live simulation %v, recorded %v", sims[0].Actions, want)
	}
}

// TestHugeOutputIsCutAtTheDefault (issue 13 item 13): a crm_mon printing
// 300 MB took the daemon to 1.3 GB under the old 256 MiB bound; with the
// default bound the run is killed once it passes 64 MiB.
func TestHugeOutputIsCutAtTheDefault(t *testing.T) {
	dir := fakeTools(t, map[string]string{"crm_mon": "yes '<x/>' | head -c 300000000"})
	src := New(Options{CIBFile: "testdata/guest/cib.xml", ToolDir: dir, Status: StatusCrmMon}, model.NewStore(model.StoreOptions{}), quiet())
	_, err := src.Load(context.Background())
	if !errors.Is(err, toolexec.ErrOutputLimit) || !strings.Contains(err.Error(), fmt.Sprint(DefaultMaxOutput)) {
		t.Fatalf("err %v, want the output limit of %d bytes", err, DefaultMaxOutput)
	}
}

// The watch agent's line carries the operation and survives odd values;
// ParseWatchLine reads it back and takes no other line.
func TestWatchAgentLine(t *testing.T) {
	env := map[string]string{"CRM_notify_recipient": WatchRecipient, "CRM_notify_node": "node2", "CRM_notify_rsc": "d1",
		"CRM_notify_task": "start", "CRM_notify_desc": "not running\nnow", "CRM_notify_rc": "7"}
	if !IsWatchAgent(func(k string) string { return env[k] }) || IsWatchAgent(func(string) string { return "" }) {
		t.Fatal("IsWatchAgent")
	}
	var b strings.Builder
	if err := WatchAgent(&b, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("not one line: %q", b.String())
	}
	e, ok := ParseWatchLine([]byte(b.String()))
	if !ok || e != (WatchEvent{Node: "node2", Resource: "d1", Task: "start", Desc: "not_running_now"}) {
		t.Errorf("parsed %+v %v from %q", e, ok, b.String())
	}
	for _, l := range []string{"Cluster Summary:", "mgmtd-watch: node", "  * Stack: corosync"} {
		if _, ok := ParseWatchLine([]byte(l)); ok {
			t.Errorf("took %q", l)
		}
	}
}

// TestCrossCheckReportsDisagreement feeds a wrong native answer (node2
// in standby, which it is not) in StatusBoth: the refresh uses crm_mon's
// answer, and the disagreement is counted and shown, with both answers,
// in the source status.
func TestCrossCheckReportsDisagreement(t *testing.T) {
	requireTool(t, "crm_mon")
	st := model.NewStore(model.StoreOptions{View: "test"})
	src := New(Options{CIBFile: filepath.Join("testdata", "failed", "cib.xml"), Status: StatusBoth}, st, quiet())
	var told [][]string
	src.opts.Disagreement = func(d []string) { told = append(told, d) }
	src.unpackHook = func(r *crmmon.Result) {
		for i := range r.Nodes {
			if r.Nodes[i].Name == "node2" {
				r.Nodes[i].Standby = "true"
			}
		}
	}
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	sn := st.Snapshot()
	for _, n := range sn.Nodes {
		if n.Name == "node2" && n.Standby {
			t.Errorf("node2 shown in standby: the wrong native answer was used")
		}
	}
	var check *model.SourceCheck
	for _, ss := range sn.Sources {
		if ss.Name == Name {
			check = ss.Check
		}
	}
	if check == nil || check.Checks != 1 || check.Disagreements != 1 || check.Mode != StatusBoth {
		t.Fatalf("source check: %+v", check)
	}
	if len(check.LastDisagreement) != 1 || !strings.Contains(check.LastDisagreement[0], "node2") ||
		!strings.Contains(check.LastDisagreement[0], "native id=2 type=member online=true standby=true") ||
		!strings.Contains(check.LastDisagreement[0], "crm_mon id=2 type=member online=true standby=false") {
		t.Errorf("last disagreement: %q", check.LastDisagreement)
	}
	if len(told) != 1 {
		t.Errorf("Disagreement hook told %d times", len(told))
	}

	// Within the interval and without a configuration change, the next
	// refresh uses the (still wrong) native answer without asking crm_mon.
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := src.Check(); c.Checks != 1 {
		t.Errorf("cross-check ran again within its interval: %+v", c)
	}
}

// TestNativeNeedsNoCrmMon: in StatusNative the refresh reads the CIB and
// runs no crm_mon (the tool directory has none), and the part equals the
// one built from crm_mon.
func TestNativeNeedsNoCrmMon(t *testing.T) {
	requireTool(t, "crm_mon")
	file := filepath.Join("testdata", "promotable", "cib.xml")
	native, err := New(Options{CIBFile: file, Status: StatusNative, ToolDir: t.TempDir()}, nil, quiet()).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	viaMon, err := New(Options{CIBFile: file, Status: StatusCrmMon}, nil, quiet()).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(native.Instances) != fmt.Sprint(viaMon.Instances) || fmt.Sprint(native.Nodes) != fmt.Sprint(viaMon.Nodes) {
		t.Errorf("native part differs from crm_mon's:\n%v\n%v", native.Instances, viaMon.Instances)
	}
	if _, err := New(Options{CIBFile: file, Status: StatusCrmMon, ToolDir: t.TempDir()}, nil, quiet()).Load(context.Background()); err == nil {
		t.Error("crm_mon mode without crm_mon succeeded")
	}
}

// The watcher refreshes for crm_mon's own status output and for an
// operation that ended, not for one that only began.
func TestWatchLinesNews(t *testing.T) {
	s := New(Options{}, model.NewStore(model.StoreOptions{}), quiet())
	for _, c := range []struct {
		in   string
		news bool
	}{
		{"mgmtd-watch: node=node2 rsc=d1 task=start desc=pending rc=193\n", false},
		{"mgmtd-watch: node=node2 rsc=d1 task=start desc=OK rc=0\n", true},
		{"mgmtd-watch: node=node2 rsc=d1 task=stop desc=pending\nmgmtd-watch: node=node2 rsc=d1 task=stop desc=OK\n", true},
		{"Cluster Summary:\n  * Stack: corosync\n", true},
		{"  * Current DC: node1 (vers", true},
	} {
		if _, news := s.watchLines([]byte(c.in)); news != c.news {
			t.Errorf("%q: news %v, want %v", c.in, news, c.news)
		}
	}
}

// TestCrossCheckFailureWaits: a cross-check whose crm_mon fails (here: a
// crm_mon that hangs past the cross-check's timeout, as the real one
// did at 1,000 nodes under the 30 s tool timeout) leaves the native
// answer standing and is not run again at the next refresh: it waits
// its interval like a successful check.
func TestCrossCheckFailureWaits(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho run >>" + calls + "\nexec sleep 30\n"
	if err := os.WriteFile(filepath.Join(dir, "crm_mon"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{View: "test"})
	src := New(Options{CIBFile: filepath.Join("testdata", "failed", "cib.xml"), Status: StatusBoth, ToolDir: dir,
		Timeout: 200 * time.Millisecond, CrossCheckTimeout: 300 * time.Millisecond, CrossCheckInterval: time.Hour}, st, quiet())
	for range 3 {
		if err := src.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(calls)
	if n := strings.Count(string(b), "run"); n != 1 {
		t.Errorf("crm_mon ran %d times in three refreshes, want once", n)
	}
	if c := src.Check(); c.Checks != 0 || c.Disagreements != 0 {
		t.Errorf("a failed cross-check counted as a check: %+v", c)
	}
	for _, n := range st.Snapshot().Nodes {
		if n.Name == "node1" && !n.Online {
			t.Error("the native answer was not used")
		}
	}
}
