package virt

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// testLogger logs to the test at debug level when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// running is a Source started by runSource.
type running struct {
	src   *Source
	store *model.Store
	stop  func() // cancels Run and waits for it
}

// runSource starts src's Run and registers its shutdown; stop may also be
// called early. After Run returned it checks that no goroutine of this
// package or of go-libvirt is left.
func runSource(t testing.TB, src *Source, store *model.Store) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	stopped := false
	r := &running{src: src, store: store}
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Run did not return within 10 s after cancel")
		}
		checkNoLeaks(t)
	}
	t.Cleanup(r.stop)
	return r
}

// ownGoroutines returns the stacks of the goroutines started by this
// package (not by its tests) or by go-libvirt.
func ownGoroutines() []string {
	var own []string
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		mine := strings.Contains(g, "created by mgmtd/source/virt.") &&
			!strings.Contains(g, "created by mgmtd/source/virt.Test") && !strings.Contains(g, "created by mgmtd/source/virt.Benchmark") &&
			!strings.Contains(g, "created by mgmtd/source/virt.(*libvirtd)")
		if mine || strings.Contains(g, "created by github.com/digitalocean/go-libvirt") {
			own = append(own, g)
		}
	}
	return own
}

// checkNoLeaks fails when goroutines started by this package or by
// go-libvirt are still alive 5 s after their owner stopped.
func checkNoLeaks(t testing.TB) {
	t.Helper()
	var leaked []string
	if testutil.Poll(5*time.Second, func() bool { leaked = ownGoroutines(); return len(leaked) == 0 }) {
		return
	}
	t.Errorf("%d goroutines leaked after Run returned:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
}

// waitSnapshot polls the store until cond holds, for at most limit. It
// checks every 2 ms: the fake hosts change within milliseconds, and
// TestHeartbeatTimeout must end a hang before the source's next call
// meets it (a fake call made while the host hangs blocks until its
// context ends).
func waitSnapshot(t testing.TB, store *model.Store, limit time.Duration, what string, cond func(*model.Snapshot) bool) *model.Snapshot {
	t.Helper()
	var s *model.Snapshot
	if !testutil.PollEvery(2*time.Millisecond, limit, func() bool { s = store.Snapshot(); return cond(s) }) {
		t.Logf("goroutines of the source and go-libvirt at the failure:\n%s", strings.Join(ownGoroutines(), "\n\n"))
		t.Fatalf("after %s: %s not reached; hosts=%+v vms=%+v", limit, what, s.Hosts, s.VMs)
	}
	return s
}

func vmIn(s *model.Snapshot, host, name string) (model.VM, bool) {
	for _, v := range s.VMsOn(host) {
		if v.Name == name {
			return v, true
		}
	}
	return model.VM{}, false
}

func hostIn(s *model.Snapshot, name string) model.Host {
	h, _ := s.Host(name)
	return h
}

// eventSince returns the first event after seq matching typ and object name.
func eventSince(store *model.Store, seq uint64, typ model.EventType, name string) (model.Event, bool) {
	evs, _ := store.Events().Since(seq)
	for _, e := range evs {
		if e.Type == typ && e.Object.Name == name {
			return e, true
		}
	}
	return model.Event{}, false
}

// waitEvent is eventSince for a change already seen in a snapshot: the
// store shows a snapshot before it appends that snapshot's events, so the
// event may follow a moment later. It waits up to 1 s.
func waitEvent(store *model.Store, seq uint64, typ model.EventType, name string) (model.Event, bool) {
	var e model.Event
	ok := testutil.PollEvery(2*time.Millisecond, time.Second, func() bool {
		var found bool
		e, found = eventSince(store, seq, typ, name)
		return found
	})
	return e, ok
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
