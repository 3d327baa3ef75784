package drbd

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/source/drbd/events"
	"mgmtd/toolexec"
)

// The DRBD 8.4 tests run the test double in its drbd84 modes, which replay
// REAL output of DRBD 8.4.11 with drbd-utils 9.22 (events/testdata/real84,
// captured in qemu VMs by tools/drbdlab/run.sh) and refuse --full, --poll
// and --json with drbdsetup-84's real message and exit code 20. The
// values checked are those of the committed capture.

const (
	follow84 = "events2 all --timestamps --statistics"
	now84    = "events2 all --now --timestamps --statistics"
	// The events2 line of hv1 where the resync after the cut link
	// starts: SyncSource, 16 MiB out of sync.
	resyncStarts = "replication:SyncSource peer-disk:Inconsistent received:0 sent:32728 out-of-sync:16384"
)

func real84(name string) string { return filepath.Join("events", "testdata", "real84", name) }

// capture84 writes the lines of a real84 capture up to and including the
// first one containing through, and returns the file's path.
func capture84(t *testing.T, name, through string) string {
	t.Helper()
	b, err := os.ReadFile(real84(name))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	found := false
	for _, l := range strings.SplitAfter(string(b), "\n") {
		out.WriteString(l)
		if strings.Contains(l, through) {
			found = true
			break
		}
	}
	if !found {
		t.Fatalf("%s: no line with %q", name, through)
	}
	p := filepath.Join(t.TempDir(), "events2")
	if err := os.WriteFile(p, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nowDump returns the n-th (from 1) `drbdsetup events2 ... --now
// --timestamps --statistics` dump of a real84 transcript file, as the
// command printed it.
func nowDump(t *testing.T, name string, n int) string {
	t.Helper()
	b, err := os.ReadFile(real84(name))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	in, k := false, 0
	for _, l := range strings.SplitAfter(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "# ") && strings.Contains(l, "$ drbdsetup events2 ") &&
			strings.Contains(l, " --now --timestamps --statistics"):
			k++
			in = k == n
		case strings.HasPrefix(l, "# exit"):
			in = false
		case in:
			out.WriteString(l)
		}
	}
	if out.Len() == 0 {
		t.Fatalf("%s: no --now dump %d", name, n)
	}
	return out.String()
}

// setup84 is setup with the double in a drbd84 mode replaying hv1's
// events2 through the line containing through, and answering --now with
// the given dump.
func setup84(t *testing.T, mode, through, now string) (fake, *model.Store, Options) {
	t.Helper()
	f, store, opts := setup(t, mode, "events2-full.txt", "status-agree.json")
	t.Setenv("FAKE_DRBD_EVENTS", capture84(t, "events2-hv1.txt", through))
	p := filepath.Join(t.TempDir(), "now")
	if err := os.WriteFile(p, []byte(now), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_DRBD_NOW", p)
	return f, store, opts
}

func peerVolume(r model.DRBDResource) (model.DRBDConnection, model.DRBDPeerVolume, bool) {
	if len(r.Connections) != 1 || len(r.Connections[0].Volumes) != 1 {
		return model.DRBDConnection{}, model.DRBDPeerVolume{}, false
	}
	return r.Connections[0], r.Connections[0].Volumes[0], true
}

// Without /proc/drbd, the source tries DRBD 9's options; drbdsetup-84
// refuses them (its usage is longer than the error's standard error tail,
// so "unrecognized option" itself is cut off) and the source switches to
// 8.4 at once, without an error or a backoff. The picture is the real
// capture's: a Primary resyncing 16 MiB to its Secondary peer.
func TestDRBD84Refused(t *testing.T) {
	f, store, opts := setup84(t, "drbd84", resyncStarts, nowDump(t, "resync-after-cut-hv1.txt", 2))
	opts.RefreshInterval = time.Hour // the capture's statistics, no --now yet
	src := start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		r, ok := view(store.Snapshot(), "r0")
		_, pv, ok2 := peerVolume(r)
		return ok && ok2 && pv.Replication == "SyncSource" && state(store.Snapshot()).State == model.SourceOK
	}, "r0 never resyncing: %+v", store.Snapshot().Sources)
	r0, _ := view(store.Snapshot(), "r0")
	c, pv, _ := peerVolume(r0)
	if r0.Role != "Primary" || len(r0.Volumes) != 1 || r0.Volumes[0].Device != "/dev/drbd0" || r0.Volumes[0].Disk != "UpToDate" ||
		r0.Volumes[0].SizeKiB != 32728 || r0.MayPromote != nil || r0.PromotionScore != nil || r0.SplitBrain {
		t.Fatalf("r0 %+v", r0)
	}
	if c.Peer != "peer" || c.PeerNodeID != 0 || c.State != "Connected" || c.PeerRole != "Secondary" ||
		pv.PeerDisk != "Inconsistent" || pv.OutOfSyncKiB != 16384 || pv.SyncPercent != nil || pv.SyncETA != nil {
		t.Fatalf("connection %+v, peer volume %+v", c, pv)
	}
	if st := state(store.Snapshot()); !st.ErrorTime.IsZero() {
		t.Fatalf("the refusal showed as an error: %+v", st)
	}
	if src.Mode() != Mode84 {
		t.Fatalf("mode %q", src.Mode())
	}
	if n9, n84 := len(f.starts(t)), len(f.runs(t, follow84)); n9 != 1 || n84 != 1 {
		t.Fatalf("%d DRBD 9 starts, %d 8.4 starts; want 1 and 1", n9, n84)
	}
	b, _ := os.ReadFile(f.log)
	if strings.Contains(string(b), " status") {
		t.Fatalf("status run on 8.4:\n%s", b)
	}
}

// With /proc/drbd (the real one of the capture) saying 8.4.11, DRBD 9's
// options are not even tried. Every RefreshInterval one events2 --now
// checks the stream and brings its statistics: out-of-sync goes from the
// 16384 KiB of the event to the 8276 KiB of the dump taken 4 s later.
func TestDRBD84Now(t *testing.T) {
	f, store, opts := setup84(t, "drbd84", resyncStarts, nowDump(t, "resync-after-cut-hv1.txt", 2))
	opts.ProcDRBD = real84("proc-drbd-final-hv1.txt")
	src := start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		r, _ := view(store.Snapshot(), "r0")
		_, pv, ok := peerVolume(r)
		return ok && pv.OutOfSyncKiB == 8276 && state(store.Snapshot()).State == model.SourceOK
	}, "out-of-sync not refreshed: %+v %+v", store.Snapshot().DRBD, store.Snapshot().Sources)
	testutil.Eventually(t, 5*time.Second, func() bool { return len(f.runs(t, now84)) >= 3 }, "too few --now runs")
	if st := state(store.Snapshot()); st.State != model.SourceOK {
		t.Fatalf("after refreshes: %+v", st)
	}
	if n9, n84 := len(f.starts(t)), len(f.runs(t, follow84)); n9 != 0 || n84 != 1 || src.Mode() != Mode84 {
		t.Fatalf("%d DRBD 9 starts, %d 8.4 starts, mode %q", n9, n84, src.Mode())
	}
}

// A --now dump that disagrees with the stream (the resync is over in it)
// and still does a moment later restarts events2.
func TestDRBD84Disagree(t *testing.T) {
	f, store, opts := setup84(t, "drbd84", resyncStarts, nowDump(t, "now-hv1.txt", 1))
	opts.RefreshInterval = 100 * time.Millisecond
	opts.RecheckDelay = 200 * time.Millisecond
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool { return len(f.runs(t, follow84)) >= 2 },
		"a disagreeing --now did not restart events2: %+v", store.Snapshot().Sources)
}

// An 8.4 events2 that exits: stale with its error, then the --now
// fallback's picture marked degraded.
func TestDRBD84Exit(t *testing.T) {
	_, store, opts := setup84(t, "drbd84-exit", resyncStarts, nowDump(t, "resync-after-cut-hv1.txt", 2))
	opts.Backoff = time.Hour
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State == model.SourceStale && strings.Contains(st.LastError, "the picture is from drbdsetup events2 --now") &&
			strings.Contains(st.LastError, "netlink socket closed")
	}, "not degraded: %+v", store.Snapshot().Sources)
	r0, _ := view(store.Snapshot(), "r0")
	if _, pv, ok := peerVolume(r0); !ok || r0.Role != "Primary" || pv.Replication != "SyncSource" || pv.OutOfSyncKiB != 8276 {
		t.Fatalf("fallback picture %+v", r0)
	}
}

// A killed 8.4 events2: stale, then a new one rebuilds the picture.
func TestDRBD84Killed(t *testing.T) {
	f, store, opts := setup84(t, "drbd84", resyncStarts, nowDump(t, "resync-after-cut-hv1.txt", 2))
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		return state(store.Snapshot()).State == model.SourceOK && len(f.runs(t, follow84)) == 1
	}, "never ok: %+v", store.Snapshot().Sources)
	// The next events2 hangs before its dump (for Timeout), so the
	// error stays a while; the --now fallback works meanwhile.
	f.set(t, "drbd84-hang")
	if err := syscall.Kill(f.runs(t, follow84)[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State == model.SourceStale && strings.Contains(st.LastError, "signal: killed")
	}, "not stale after kill")
	if _, ok := view(store.Snapshot(), "r0"); !ok {
		t.Fatal("the last good picture is gone")
	}
	f.set(t, "drbd84")
	testutil.Eventually(t, 10*time.Second, func() bool {
		return len(f.runs(t, follow84)) >= 2 && state(store.Snapshot()).State == model.SourceOK
	}, "not restarted: %+v", store.Snapshot().Sources)
}

// Garbage from 8.4's events2: stale with the line, and restarted.
func TestDRBD84Garbage(t *testing.T) {
	f, store, opts := setup84(t, "drbd84-garbage", resyncStarts, nowDump(t, "resync-after-cut-hv1.txt", 2))
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State != model.SourceOK && strings.Contains(st.LastError, "printed garbage") && strings.Contains(st.LastError, "stack smashing")
	}, "garbage not reported: %+v", store.Snapshot().Sources)
	testutil.Eventually(t, 5*time.Second, func() bool { return len(f.runs(t, follow84)) >= 2 }, "not restarted after garbage")
	f.set(t, "drbd84")
	testutil.Eventually(t, 5*time.Second, func() bool { return state(store.Snapshot()).State == model.SourceOK },
		"not recovered: %+v", store.Snapshot().Sources)
}

// An 8.4 events2 that hangs before its dump is killed after Timeout (the
// --now fallback serves meanwhile); one whose --now hangs after the dump
// makes the part stale, and the next --now that works clears it without
// a restart.
func TestDRBD84Hang(t *testing.T) {
	f, store, opts := setup84(t, "drbd84-hang", resyncStarts, nowDump(t, "resync-after-cut-hv1.txt", 2))
	opts.Timeout = 300 * time.Millisecond
	// 8.4 from /proc/drbd: a refusal slower than the short Timeout (a
	// loaded machine) would be a hang before the dump.
	opts.ProcDRBD = real84("proc-drbd-final-hv1.txt")
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State != model.SourceOK && strings.Contains(st.LastError, "no initial state within 300ms")
	}, "hang not reported: %+v", store.Snapshot().Sources)
	f.set(t, "drbd84")
	testutil.Eventually(t, 5*time.Second, func() bool { return state(store.Snapshot()).State == model.SourceOK },
		"not recovered: %+v", store.Snapshot().Sources)
}

func TestDRBD84NowHang(t *testing.T) {
	f, store, opts := setup84(t, "drbd84-nowhang", resyncStarts, nowDump(t, "resync-after-cut-hv1.txt", 2))
	opts.Timeout = time.Second
	opts.RefreshInterval = 200 * time.Millisecond
	opts.ProcDRBD = real84("proc-drbd-final-hv1.txt")
	start(t, opts, store)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st := state(store.Snapshot())
		return st.State == model.SourceStale && strings.Contains(st.LastError, "drbdsetup events2 --now beside events2") &&
			strings.Contains(st.LastError, "timed out")
	}, "--now hang not reported: %+v", store.Snapshot().Sources)
	if _, ok := view(store.Snapshot(), "r0"); !ok {
		t.Fatal("the last good picture is gone")
	}
	f.set(t, "drbd84")
	testutil.Eventually(t, 5*time.Second, func() bool { return state(store.Snapshot()).State == model.SourceOK },
		"not recovered: %+v", store.Snapshot().Sources)
	if n := len(f.runs(t, follow84)); n != 1 {
		t.Fatalf("%d starts of events2", n)
	}
}

// RefreshStatistics takes a dump's statistics unless the stream has an
// event newer than the dump (real hv1 lines and dumps).
func TestRefreshStatistics(t *testing.T) {
	b, err := os.ReadFile(capture84(t, "events2-hv1.txt", resyncStarts))
	if err != nil {
		t.Fatal(err)
	}
	var s events.Stream
	if err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	dump, err := ParseNow([]byte(nowDump(t, "resync-after-cut-hv1.txt", 2)))
	if err != nil {
		t.Fatal(err)
	}
	oos := func() uint64 {
		r, _ := s.State.Resource("r0")
		return r.Connections[0].PeerDevices[0].OutOfSyncKiB
	}
	if d := Disagreement(&s.State, dump); d != "" {
		t.Fatal(d)
	}
	RefreshStatistics(&s.State, dump)
	if oos() != 8276 {
		t.Fatalf("out-of-sync %d after the dump", oos())
	}
	// The resync's end (13:56:14), newer than the dump (13:56:08).
	if err := s.Write([]byte("2026-12-05T13:56:14.290091+00:00 change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 replication:Established peer-disk:UpToDate received:0 sent:49112 out-of-sync:0 pending:0 unacked:0\n")); err != nil {
		t.Fatal(err)
	}
	RefreshStatistics(&s.State, dump)
	if oos() != 0 {
		t.Fatalf("an older dump overwrote out-of-sync: %d", oos())
	}
	if _, err := ParseNow([]byte("exists resource name:r0 role:Primary\n")); err == nil {
		t.Fatal("a dump without its end accepted")
	}
}

// On 8.4 a split brain leaves the connection StandAlone, which drbdsetup
// destroys: a new dump (after a restart of events2, or the --now
// fallback) no longer shows it. The source keeps it, StandAlone, until
// the connection is created again and Connected; the check does not see
// the kept connection as a difference.
func TestDRBD84SplitBrain(t *testing.T) {
	src := New(Options{Node: "node1"}, nil, slog.New(slog.DiscardHandler))
	src.mode = Mode84
	b, err := os.ReadFile(real84("events2-hv1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	destroyed := strings.Index(text, "13:56:58.889020+00:00 destroy connection")
	reconnected := strings.Index(text, "13:57:05.124542+00:00 change connection")
	if destroyed < 0 || reconnected < 0 {
		t.Fatal("capture lines not found")
	}
	// The offsets after those lines.
	destroyed += strings.IndexByte(text[destroyed:], '\n') + 1
	reconnected += strings.IndexByte(text[reconnected:], '\n') + 1
	var s events.Stream
	if err := s.Write([]byte(text[:destroyed])); err != nil {
		t.Fatal(err)
	}
	p := src.part(&s.State)
	if !p.Resources[0].SplitBrain || len(p.Resources[0].Connections) != 1 || p.Resources[0].Connections[0].State != "StandAlone" {
		t.Fatalf("split brain not seen: %+v", p.Resources[0])
	}
	// What 8.4 prints now: no connection (written by hand from the
	// capture's lines; drbdsetup printed no dump at this point).
	dump, err := ParseNow([]byte("exists resource name:r0 role:Primary suspended:no write-ordering:flush\n" +
		"exists device name:r0 volume:0 minor:0 disk:UpToDate size:32728 read:49112 written:17408 al-writes:12 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no\n" +
		"exists -\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := Disagreement(&s.State, dump); d != "" {
		t.Fatalf("the kept StandAlone connection is a difference: %s", d)
	}
	p = src.part(dump)
	r := p.Resources[0]
	if !r.SplitBrain || len(r.Connections) != 1 || !r.Connections[0].SplitBrain || r.Connections[0].Peer != "peer" ||
		r.Connections[0].State != "StandAlone" || r.Connections[0].SplitBrainTime.IsZero() {
		t.Fatalf("split brain forgotten with its destroyed connection: %+v", r)
	}
	// Resolved: drbdadm connect creates the connection, Connected.
	if err := s.Write([]byte(text[destroyed:reconnected])); err != nil {
		t.Fatal(err)
	}
	if p = src.part(&s.State); p.Resources[0].SplitBrain {
		t.Fatalf("split brain kept after Connected: %+v", p.Resources[0])
	}
	if p = src.part(dump); p.Resources[0].SplitBrain || len(p.Resources[0].Connections) != 0 {
		t.Fatalf("a resolved split brain came back: %+v", p.Resources[0])
	}
	// DRBD 9 forgets a split brain whose connection is gone (removed).
	src9 := New(Options{Node: "node1"}, nil, slog.New(slog.DiscardHandler))
	var s9 events.Stream
	if err := s9.Write([]byte(text[:destroyed])); err != nil {
		t.Fatal(err)
	}
	src9.part(&s9.State)
	if p = src9.part(dump); p.Resources[0].SplitBrain {
		t.Fatal("DRBD 9: split brain kept without its connection")
	}
}

// drbdsetup-84's refusal, through the Runner: its usage makes the
// standard error longer than the error keeps, so the "unrecognized
// option" line is lost and the usage tells it.
func TestRefused(t *testing.T) {
	_, _, opts := setup84(t, "drbd84", resyncStarts, "")
	tools := toolexec.Runner{Dir: opts.ToolDir, Timeout: 2 * time.Second}
	_, err := tools.Run(context.Background(), nil, "drbdsetup", "events2", "--full", "--timestamps", "--poll")
	var te *toolexec.Error
	if !errors.As(err, &te) || te.ExitCode != 20 || strings.Contains(te.Stderr, "unrecognized option") || !refused(err) {
		t.Fatalf("%v", err)
	}
	_, err = tools.Run(context.Background(), nil, "drbdsetup", "events2", "all", "--now", "--timestamps", "--statistics")
	if err != nil || refused(err) {
		t.Fatal(err)
	}
	if refused(&toolexec.Error{Tool: "drbdsetup", ExitCode: 20, Err: errors.New("exit status 20"), Stderr: "drbdsetup: netlink error"}) {
		t.Fatal("a netlink error (DRBD 9's exit 20) taken for a refusal")
	}
}

// The version line of /proc/drbd decides the mode, logged once.
func TestDetect(t *testing.T) {
	var logged strings.Builder
	src := New(Options{Node: "node1", ProcDRBD: real84("proc-drbd-final-hv1.txt")}, nil, slog.New(slog.NewTextHandler(&logged, nil)))
	if m, m2 := src.detect(), src.detect(); m != Mode84 || m2 != Mode84 || src.Mode() != Mode84 {
		t.Fatalf("real 8.4 /proc/drbd: %q %q", m, m2)
	}
	if n := strings.Count(logged.String(), `msg="DRBD mode"`); n != 1 || !strings.Contains(logged.String(), "says version 8.4.11") {
		t.Fatalf("logged %d times:\n%s", n, logged.String())
	}
	p := filepath.Join(t.TempDir(), "drbd")
	// DRBD 9's first line (drbd-9.2's format, written by hand).
	if err := os.WriteFile(p, []byte("version: 9.2.12 (api:2/proto:86-122)\nGIT-hash: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src9 := New(Options{Node: "node1", ProcDRBD: p}, nil, slog.New(slog.DiscardHandler))
	if m := src9.detect(); m != Mode9 {
		t.Fatalf("DRBD 9 /proc/drbd: %q", m)
	}
	if err := os.WriteFile(p, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := procVersion(p); err == nil {
		t.Fatalf("version %q from garbage", v)
	}
}
