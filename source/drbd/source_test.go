package drbd

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/source/drbd/events"
)

// The source runs testdata/bin/drbdsetup, a test double replaying outputs
// written from drbdsetup(8) and drbd-utils' code (testdata/README.md):
// DRBD cannot run here. Its drbd84 modes replay real DRBD 8.4 output
// (events/testdata/real84) and refuse DRBD 9's options as real 8.4 does.

type fake struct {
	mode, log string
}

func (f fake) set(t *testing.T, mode string) {
	t.Helper()
	if err := os.WriteFile(f.mode, []byte(mode), 0o600); err != nil {
		t.Fatal(err)
	}
}

// starts returns the pids of the fake's events2 runs so far.
func (f fake) starts(t *testing.T) []int {
	t.Helper()
	return f.runs(t, "events2 --full --timestamps --poll")
}

// runs returns the pids of the fake's runs with exactly these arguments.
func (f fake) runs(t *testing.T, args string) []int {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var pids []int
	for _, l := range strings.Split(string(b), "\n") {
		pid, a, ok := strings.Cut(l, " ")
		if ok && a == args {
			n, _ := strconv.Atoi(pid)
			pids = append(pids, n)
		}
	}
	return pids
}

func setup(t *testing.T, mode, events, status string) (fake, *model.Store, Options) {
	t.Helper()
	dir := t.TempDir()
	f := fake{mode: filepath.Join(dir, "mode"), log: filepath.Join(dir, "log")}
	f.set(t, mode)
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	t.Setenv("FAKE_DRBD_MODE", f.mode)
	t.Setenv("FAKE_DRBD_LOG", f.log)
	t.Setenv("FAKE_DRBD_EVENTS", abs(filepath.Join("events", "testdata", events)))
	t.Setenv("FAKE_DRBD_STATUS", abs(filepath.Join("testdata", status)))
	opts := Options{Node: "node1", ToolDir: abs("testdata/bin"), RefreshInterval: 50 * time.Millisecond,
		CheckInterval: time.Hour, Timeout: 2 * time.Second, Backoff: 50 * time.Millisecond,
		ProcDRBD: filepath.Join(dir, "no-proc-drbd")}
	store := model.NewStore(model.StoreOptions{Cluster: "c"})
	return f, store, opts
}

func start(t *testing.T, opts Options, store *model.Store) *Source {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &testutil.SyncBuffer{}
	src := New(opts, store, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the source's log:\n%s", logs.String())
		}
	})
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return src
}

func state(s *model.Snapshot) model.SourceStatus {
	st, _ := s.Source(Name)
	return st
}

func view(s *model.Snapshot, name string) (model.DRBDResource, bool) {
	for _, r := range s.DRBD {
		if r.Name == name && r.Node == "node1" {
			return r, true
		}
	}
	return model.DRBDResource{}, false
}

// The replayed stream becomes the part; "n" on stdin brings the
// statistics (written grows with every refresh the fake answers).
func TestReplay(t *testing.T) {
	f, store, opts := setup(t, "replay", "events2-full.txt", "status-agree.json")
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		r, ok := view(store.Snapshot(), "r1")
		return ok && state(store.Snapshot()).State == model.SourceOK && len(r.Volumes) == 2
	}, "r1 never appeared: %+v", store.Snapshot().Sources)
	r0, _ := view(store.Snapshot(), "r0")
	if r0.Role != "Primary" || r0.Volumes[0].Device != "/dev/drbd0" || r0.Volumes[0].BackingDisk != "/dev/vdb" || r0.MayPromote == nil ||
		*r0.MayPromote || *r0.PromotionScore != 10103 || r0.Connections[0].Peer != "node2" || r0.Connections[0].Volumes[0].PeerDisk != "UpToDate" {
		t.Fatalf("r0 %+v", r0)
	}
	// The statistics refresh: "n" every RefreshInterval, which the fake
	// logs and answers with a change line.
	testutil.Eventually(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(f.log)
		return strings.Count(string(b), " n\n") >= 3
	}, "no n written")
	if st := state(store.Snapshot()); st.State != model.SourceOK {
		t.Fatalf("after refreshes: %+v", st)
	}
	if n := len(f.starts(t)); n != 1 {
		t.Fatalf("%d starts of events2, want 1", n)
	}
}

// A drbdsetup that is killed makes the part stale with the error, the
// status fallback serves a degraded picture, and a new events2 rebuilds
// the picture from its dump.
func TestKilled(t *testing.T) {
	f, store, opts := setup(t, "replay", "events2-full.txt", "status-agree.json")
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool { return state(store.Snapshot()).State == model.SourceOK },
		"never ok: %+v", store.Snapshot().Sources)
	f.set(t, "hang-after-dump") // status now hangs, and the next events2 too
	pid := f.starts(t)[0]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State == model.SourceStale && strings.Contains(st.LastError, "drbdsetup") && strings.Contains(st.LastError, "signal: killed")
	}, "not stale after kill: %+v", store.Snapshot().Sources)
	if _, ok := view(store.Snapshot(), "r0"); !ok {
		t.Fatal("the last good picture is gone")
	}
	f.set(t, "replay")
	testutil.Eventually(t, 10*time.Second, func() bool {
		return len(f.starts(t)) >= 2 && state(store.Snapshot()).State == model.SourceOK
	}, "not restarted: %+v", store.Snapshot().Sources)
}

// A drbdsetup that exits after its dump: stale with its exit and standard
// error, then the status fallback's picture marked degraded.
func TestExitFallsBackToStatus(t *testing.T) {
	_, store, opts := setup(t, "exit", "events2-full.txt", "status-agree.json")
	opts.Backoff = time.Hour // one exit, then the fallback's picture stays
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State == model.SourceStale && strings.Contains(st.LastError, "drbdsetup status --json") &&
			strings.Contains(st.LastError, "netlink socket closed")
	}, "not degraded: %+v", store.Snapshot().Sources)
	r0, ok := view(store.Snapshot(), "r0")
	if !ok || r0.Role != "Primary" || r0.MayPromote != nil {
		t.Fatalf("fallback picture %+v", r0)
	}
}

// Garbage on drbdsetup's output: the child is killed (it would sleep for
// ten minutes), the part is stale with the offending line.
func TestGarbage(t *testing.T) {
	f, store, opts := setup(t, "garbage", "events2-full.txt", "status-agree.json")
	f.set(t, "garbage")
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State == model.SourceStale && strings.Contains(st.LastError, "printed garbage") && strings.Contains(st.LastError, "stack smashing")
	}, "garbage not reported: %+v", store.Snapshot().Sources)
	testutil.Eventually(t, 5*time.Second, func() bool { return len(f.starts(t)) >= 2 }, "not restarted after garbage")
}

// A drbdsetup that hangs before its dump is killed after Timeout; one that
// hangs after it is found by the status check, which hangs too.
func TestHang(t *testing.T) {
	_, store, opts := setup(t, "hang", "events2-full.txt", "status-agree.json")
	opts.Timeout = 300 * time.Millisecond
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State == model.SourceError && strings.Contains(st.LastError, "no initial state within 300ms")
	}, "hang not reported: %+v", store.Snapshot().Sources)
}

func TestHangAfterDump(t *testing.T) {
	_, store, opts := setup(t, "hang-after-dump", "events2-full.txt", "status-agree.json")
	opts.Timeout = 300 * time.Millisecond
	opts.CheckInterval = 200 * time.Millisecond
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State == model.SourceStale && strings.Contains(st.LastError, "status --json beside events2") && strings.Contains(st.LastError, "timed out")
	}, "hang after dump not reported: %+v", store.Snapshot().Sources)
	if _, ok := view(store.Snapshot(), "r1"); !ok {
		t.Fatal("the last good picture is gone")
	}
}

// The status check that disagrees with the stream restarts events2; one
// that agrees keeps it.
func TestCheck(t *testing.T) {
	f, store, opts := setup(t, "replay", "events2-full.txt", "status-agree.json")
	opts.CheckInterval = 100 * time.Millisecond
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool { return state(store.Snapshot()).State == model.SourceOK }, "never ok")
	time.Sleep(500 * time.Millisecond) // several checks that agree
	if n := len(f.starts(t)); n != 1 {
		t.Fatalf("%d starts with an agreeing status", n)
	}

	f2, store2, opts2 := setup(t, "replay", "events2-full.txt", "../events/testdata/status.json")
	opts2.CheckInterval = 100 * time.Millisecond
	opts2.RecheckDelay = 200 * time.Millisecond
	start(t, opts2, store2)
	testutil.Eventually(t, 5*time.Second, func() bool { return len(f2.starts(t)) >= 2 }, "a disagreeing status did not restart events2")
}

// A disagreement that is gone a moment later (an event on its way) does
// not restart events2.
func TestCheckTransient(t *testing.T) {
	f, store, opts := setup(t, "flaky", "events2-full.txt", "status-agree.json")
	opts.CheckInterval = 100 * time.Millisecond
	opts.RecheckDelay = 200 * time.Millisecond
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(f.log)
		return strings.Count(string(b), " status --json") >= 4
	}, "too few checks")
	if n := len(f.starts(t)); n != 1 {
		t.Fatalf("%d starts of events2 after a transient disagreement", n)
	}
	if st := state(store.Snapshot()); st.State != model.SourceOK {
		t.Fatalf("state %+v", st)
	}
}

// Split brains survive a restart of drbdsetup (whose new dump does not
// show them) until the connection is Connected again.
func TestSplitBrainSurvivesRestart(t *testing.T) {
	src := New(Options{Node: "node1"}, nil, slog.New(slog.DiscardHandler))
	stateOf := func(text string) *events.State {
		var st events.Stream
		if err := st.Write([]byte(text)); err != nil {
			t.Fatal(err)
		}
		return &st.State
	}
	split, err := os.ReadFile("events/testdata/events2-split-brain.txt")
	if err != nil {
		t.Fatal(err)
	}
	p := src.part(stateOf(string(split)))
	if !p.Resources[0].SplitBrain || !p.Resources[0].Connections[0].SplitBrain {
		t.Fatalf("split brain not seen: %+v", p.Resources[0])
	}
	// A new drbdsetup's dump: StandAlone, no helper line.
	dump := "exists resource name:r0 role:Primary\nexists connection name:r0 peer-node-id:1 conn-name:node2 connection:StandAlone role:Unknown\nexists -\n"
	p = src.part(stateOf(dump))
	if !p.Resources[0].SplitBrain || p.Resources[0].Connections[0].SplitBrainTime.IsZero() {
		t.Fatalf("split brain forgotten over a restart: %+v", p.Resources[0])
	}
	// Resolved: Connected again.
	p = src.part(stateOf(strings.Replace(dump, "StandAlone", "Connected", 1)))
	if p.Resources[0].SplitBrain {
		t.Fatal("split brain kept after Connected")
	}
	p = src.part(stateOf(dump))
	if p.Resources[0].SplitBrain {
		t.Fatal("a resolved split brain came back")
	}
}
