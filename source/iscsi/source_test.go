package iscsi

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/model"
	"mgmtd/toolexec"
)

// The failure modes run testdata/bin/tgtadm, a test double replaying the
// real capture tgtadm/testdata/target-show.txt; realtgt_test.go runs the
// real tgtd.

type fake struct{ mode, log string }

func (f fake) set(t *testing.T, mode string) {
	t.Helper()
	if err := os.WriteFile(f.mode, []byte(mode), 0o600); err != nil {
		t.Fatal(err)
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func setup(t *testing.T, mode string) (fake, *model.Store, Options) {
	t.Helper()
	dir := t.TempDir()
	f := fake{mode: filepath.Join(dir, "mode"), log: filepath.Join(dir, "log")}
	f.set(t, mode)
	t.Setenv("FAKE_TGTADM_MODE", f.mode)
	t.Setenv("FAKE_TGTADM_LOG", f.log)
	t.Setenv("FAKE_TGTADM_OUTPUT", abs(t, "tgtadm/testdata/target-show.txt"))
	opts := Options{Node: "node1", ToolDir: abs(t, "testdata/bin"), Interval: 50 * time.Millisecond, Timeout: time.Second}
	return f, model.NewStore(model.StoreOptions{Cluster: "c"}), opts
}

func start(t *testing.T, opts Options, store *model.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	src := New(opts, store, slog.New(slog.DiscardHandler))
	go func() { done <- src.Run(ctx) }()
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
}

func state(s *model.Snapshot) model.SourceStatus {
	st, _ := s.Source(Name)
	return st
}

// waitFor polls the store until cond holds, failing after 10 s.
func waitFor(t *testing.T, store *model.Store, what string, cond func(*model.Snapshot) bool) *model.Snapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := store.Snapshot()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s; source %+v, targets %+v", what, state(s), s.ISCSITargets)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func live(s *model.Snapshot, iqn string) (model.ISCSITarget, bool) {
	t, ok := s.Target(iqn)
	return t, ok && len(t.Live) > 0
}

const store1 = "iqn.2026-12.org.example.demo:store"

func TestReplay(t *testing.T) {
	f, store, opts := setup(t, "replay")
	var runs []toolexec.Run
	ch := make(chan toolexec.Run, 100)
	opts.Observe = func(r toolexec.Run) {
		select {
		case ch <- r:
		default:
		}
	}
	start(t, opts, store)
	s := waitFor(t, store, "target", func(s *model.Snapshot) bool { _, ok := live(s, store1); return ok })
	if st := state(s); st.State != model.SourceOK {
		t.Errorf("state %+v", st)
	}
	tg, _ := s.Target(store1)
	if !tg.Unmanaged || tg.Node != "node1" || len(tg.LUNs) != 1 || tg.LUNs[0].Path != "/tmp/mgmtd-tgt-fixture/store.img" {
		t.Errorf("target %+v", tg)
	}
	lt := tg.Live[0]
	if lt.State != "ready" || lt.TID != 1 || len(lt.Sessions) != 2 || lt.Sessions[0].Initiator != "iqn.2026-12.org.example.client:host1" ||
		strings.Join(lt.Sessions[0].Addresses, ",") != "127.0.0.1" || len(lt.LUNs) != 1 || lt.LUNs[0].SizeMB != 67 || !lt.LUNs[0].Online {
		t.Errorf("live %+v", lt)
	}
	ar, _ := s.Target("iqn.2026-12.org.example.demo:archive")
	if l := ar.Live[0].LUNs; len(l) != 2 || l[0].Online || !l[1].Readonly || l[0].BackingType != "aio" {
		t.Errorf("archive LUNs %+v", l)
	}
	if sp, _ := s.Target("iqn.2026-12.org.example.demo:spare"); sp.Live[0].State != "offline" || len(sp.LUNs) != 0 {
		t.Errorf("spare %+v", sp)
	}
	w := s.Where("iqn.2026-12.org.example.client:host2")
	var targets []string
	for _, m := range w.Matches {
		if m.Kind == model.KindInitiator {
			targets = append(targets, m.Note)
		}
	}
	if len(targets) != 2 || !strings.Contains(targets[0], "archive on node1 from 127.0.0.1") {
		t.Errorf("where host2: %+v", w.Matches)
	}
	runs = append(runs, <-ch)
	if runs[0].Tool != "tgtadm" || runs[0].Err != nil || runs[0].Bytes == 0 {
		t.Errorf("observed %+v", runs[0])
	}
	b, _ := os.ReadFile(f.log)
	if !strings.HasPrefix(string(b), "--lld iscsi --mode target --op show\n") {
		t.Errorf("tgtadm ran with %q", b)
	}
}

func TestControlPort(t *testing.T) {
	f, store, opts := setup(t, "replay")
	opts.ControlPort = 7
	if _, err := New(opts, store, slog.New(slog.DiscardHandler)).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f.log)
	if string(b) != "-C 7 --lld iscsi --mode target --op show\n" {
		t.Errorf("tgtadm ran with %q", b)
	}
}

// Each failure makes the part stale with a clear error and keeps the last
// good part; the next good run clears it.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		mode, want string
		is         error
	}{
		{"fail", "can't send the request to the tgt daemon", nil},
		{"hang", "timed out", toolexec.ErrTimeout},
		{"garbage", "not a target list", nil},
		{"huge", "output exceeds limit", toolexec.ErrOutputLimit},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			f, store, opts := setup(t, "replay")
			opts.Timeout = 300 * time.Millisecond
			if tc.mode == "huge" {
				opts.Timeout, opts.MaxOutput = 5*time.Second, 8<<10
			}
			src := New(opts, store, slog.New(slog.DiscardHandler))
			ctx := context.Background()
			if _, err := src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			f.set(t, tc.mode)
			begin := time.Now()
			_, err := src.Refresh(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if d := time.Since(begin); d > 8*time.Second {
				t.Errorf("took %s", d)
			}
			s := store.Snapshot()
			if st := state(s); st.State != model.SourceStale || !strings.Contains(st.LastError, tc.want) {
				t.Errorf("state %+v", st)
			}
			if _, ok := live(s, store1); !ok {
				t.Error("last good part lost")
			}
			f.set(t, "empty")
			if _, err := src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			s = store.Snapshot()
			if st := state(s); st.State != model.SourceOK {
				t.Errorf("after recovery: %+v", st)
			}
			if len(s.ISCSITargets) != 0 {
				t.Errorf("no target any more, got %+v", s.ISCSITargets)
			}
		})
	}
}

// A source whose tgtadm never works is an error, not a crash, and Run
// keeps polling.
func TestRunKeepsPolling(t *testing.T) {
	f, store, opts := setup(t, "fail")
	start(t, opts, store)
	waitFor(t, store, "error", func(s *model.Snapshot) bool {
		return strings.Contains(state(s).LastError, "tgt daemon")
	})
	f.set(t, "replay")
	waitFor(t, store, "recovery", func(s *model.Snapshot) bool { _, ok := live(s, store1); return ok && state(s).State == model.SourceOK })
}

func TestMissingTool(t *testing.T) {
	_, store, opts := setup(t, "replay")
	opts.ToolDir = t.TempDir()
	_, err := New(opts, store, slog.New(slog.DiscardHandler)).Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "tgtadm") {
		t.Fatalf("err %v", err)
	}
}
