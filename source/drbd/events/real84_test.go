package events

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"
)

// The inputs of these tests are REAL output of drbd-utils 9.22's drbdsetup
// against the DRBD 8.4.11 module of Debian 12's kernel, captured by
// tools/drbdlab/run.sh in two qemu VMs (testdata/real84/README.md). The
// values checked here are the ones of the committed capture: a new run
// of the lab gives other timestamps and statistics.

// replay applies a capture line by line, so a test can look at the State
// at a given point of the run.
type replay struct {
	t     *testing.T
	name  string
	lines []string
	i     int
	s     Stream
}

func newReplay(t *testing.T, name string) *replay {
	t.Helper()
	b := read(t, "real84/"+name)
	return &replay{t: t, name: name, lines: strings.SplitAfter(string(b), "\n")}
}

// through applies lines up to and including the next one containing sub;
// with sub empty, all the remaining lines.
func (r *replay) through(sub string) {
	r.t.Helper()
	for r.i < len(r.lines) {
		line := r.lines[r.i]
		r.i++
		if err := r.s.Write([]byte(line)); err != nil {
			r.t.Fatalf("%s: %v", r.name, err)
		}
		if sub != "" && strings.Contains(line, sub) {
			return
		}
	}
	if sub != "" {
		r.t.Fatalf("%s: no line with %q after line %d", r.name, sub, r.i)
	}
}

// r0 returns resource r0 with its one volume, connection and peer device
// (nil where there is none).
func (r *replay) r0() (*Resource, *Volume, *Connection, *PeerDevice) {
	r.t.Helper()
	res, ok := r.s.State.Resource("r0")
	if !ok {
		r.t.Fatalf("%s line %d: no r0", r.name, r.i)
	}
	var v *Volume
	var c *Connection
	var p *PeerDevice
	if len(res.Volumes) == 1 {
		v = res.Volumes[0]
	}
	if len(res.Connections) == 1 {
		c = res.Connections[0]
		if len(c.PeerDevices) == 1 {
			p = c.PeerDevices[0]
		}
	}
	return res, v, c, p
}

func TestReal84Primary(t *testing.T) {
	r := newReplay(t, "events2-hv1.txt")
	r.through("exists -")
	if !r.s.State.Complete || len(r.s.State.Resources()) != 0 {
		t.Fatalf("initial dump: %+v", r.s.State)
	}

	// b. drbdadm up, then primary --force: the initial full sync.
	r.through("replication:SyncSource")
	res, v, c, p := r.r0()
	if res.Role != "Primary" || res.Suspended != "no" || res.WriteOrdering != "flush" || res.HasPromotion {
		t.Fatalf("resource %+v", res)
	}
	if v.Minor != 0 || v.Disk != "UpToDate" || v.SizeKiB != 32728 || v.Quorum != "" || v.BackingDev != "" {
		t.Fatalf("volume %+v", v)
	}
	if c.PeerNodeID != 0 || c.Name != "peer" || c.State != "Connected" || c.PeerRole != "Secondary" || len(c.Paths) != 0 {
		t.Fatalf("connection %+v", c)
	}
	// 8.4's events2 has no done: and eta:, even with --statistics.
	if p.Replication != "SyncSource" || p.PeerDisk != "Inconsistent" || p.OutOfSyncKiB != 32728 || p.SentKiB != 0 ||
		p.Done != -1 || p.ETA != -1 || !Syncing(p.Replication) {
		t.Fatalf("peer device %+v", p)
	}
	r.through("peer-disk:UpToDate")
	_, _, _, p = r.r0()
	if p.Replication != "Established" || p.PeerDisk != "UpToDate" || p.OutOfSyncKiB != 0 || p.SentKiB != 32728 {
		t.Fatalf("synced: %+v", p)
	}

	// c. the link cut: NetworkFailure, then 8.4's WFConnection as
	// Connecting; 16 MiB written while cut are out of sync.
	r.through("connection:NetworkFailure")
	_, _, c, _ = r.r0()
	if c.State != "NetworkFailure" || c.PeerRole != "Unknown" {
		t.Fatalf("cut: %+v", c)
	}
	r.through("replication:Off")
	_, _, _, p = r.r0()
	if p.Replication != "Off" || p.PeerDisk != "DUnknown" {
		t.Fatalf("cut: %+v", p)
	}
	r.through("connection:Connecting")
	if _, _, c, _ = r.r0(); c.State != "Connecting" {
		t.Fatalf("waiting: %+v", c)
	}
	r.through("replication:WFBitMapS")
	_, _, c, p = r.r0()
	if c.State != "Connected" || c.PeerRole != "Secondary" || p.PeerDisk != "Consistent" || p.OutOfSyncKiB != 16384 || !Syncing(p.Replication) {
		t.Fatalf("reconnected: %+v %+v", c, p)
	}
	r.through("replication:SyncSource")
	if _, _, _, p = r.r0(); p.Replication != "SyncSource" || p.PeerDisk != "Inconsistent" || p.OutOfSyncKiB != 16384 || p.Done != -1 {
		t.Fatalf("resync: %+v", p)
	}
	r.through("replication:Established")
	if _, _, _, p = r.r0(); p.PeerDisk != "UpToDate" || p.OutOfSyncKiB != 0 || p.SentKiB != 32728+16384 {
		t.Fatalf("resynced: %+v", p)
	}

	// d. split brain: both Primary while cut. The helpers are called
	// while the connection is Connected, then it goes StandAlone and
	// 8.4 destroys it; the State keeps it with the split brain.
	r.through(" helper:initial-split-brain")
	if _, _, c, _ = r.r0(); c.SplitBrain {
		t.Fatal("initial-split-brain flagged a split brain")
	}
	r.through(" helper:split-brain")
	_, _, c, _ = r.r0()
	if want := time.Date(2026, 12, 5, 13, 56, 58, 635841000, time.UTC); !c.SplitBrain || !c.SplitBrainTime.Equal(want) {
		t.Fatalf("split brain: %+v", c)
	}
	r.through("connection:StandAlone")
	r.through("destroy connection")
	res, _, c, _ = r.r0()
	if res.Role != "Primary" || c == nil || c.State != "StandAlone" || !c.SplitBrain || len(c.PeerDevices) != 0 {
		t.Fatalf("after split brain: %+v %+v", res, c)
	}
	// drbdadm connect r0: the same connection again, still split brain
	// until Connected; hv1's 1 MiB written while cut is out of sync.
	r.through("create peer-device")
	_, _, c, p = r.r0()
	if c.State != "StandAlone" || !c.SplitBrain || p.OutOfSyncKiB != 1024 {
		t.Fatalf("connect: %+v %+v", c, p)
	}
	r.through("connection:Connected")
	if _, _, c, _ = r.r0(); c.SplitBrain {
		t.Fatalf("split brain not cleared by Connected: %+v", c)
	}
	r.through("replication:SyncSource")
	if _, _, _, p = r.r0(); p.OutOfSyncKiB != 2048 {
		t.Fatalf("resync after split brain: %+v", p)
	}
	r.through("replication:Established")

	// e. the peer runs drbdadm down (TearDown), then this node.
	r.through("connection:TearDown")
	if _, _, c, _ = r.r0(); c.State != "TearDown" || c.SplitBrain {
		t.Fatalf("peer down: %+v", c)
	}
	r.through("disk:Failed")
	if _, v, c, _ = r.r0(); v.Disk != "Failed" || c != nil || v.WrittenKiB != 17408 {
		t.Fatalf("detach: %+v %+v", v, c)
	}
	r.through("")
	if len(r.s.State.Resources()) != 0 || r.s.State.Skipped != 0 {
		t.Fatalf("end: %+v", r.s.State.Resources())
	}
	if want := time.Date(2026, 12, 5, 13, 57, 21, 794791000, time.UTC); !r.s.State.Last.Equal(want) {
		t.Fatalf("last %v", r.s.State.Last)
	}
}

func TestReal84Secondary(t *testing.T) {
	r := newReplay(t, "events2-hv2.txt")
	r.through("replication:SyncTarget")
	res, v, c, p := r.r0()
	if res.Role != "Secondary" || v.Disk != "Inconsistent" || c.State != "Connected" || c.PeerRole != "Primary" ||
		p.PeerDisk != "UpToDate" || p.OutOfSyncKiB != 32728 || p.Done != -1 {
		t.Fatalf("initial sync: %+v %+v %+v %+v", res, v, c, p)
	}
	r.through(" helper:after-resync-target")
	r.through("disk:UpToDate")
	if _, v, _, _ = r.r0(); v.Disk != "UpToDate" {
		t.Fatalf("synced: %+v", v)
	}
	r.through("replication:SyncTarget")
	if _, v, _, p = r.r0(); v.Disk != "Inconsistent" || p.OutOfSyncKiB != 16384 || p.ReceivedKiB != 32728 {
		t.Fatalf("resync after the cut: %+v %+v", v, p)
	}
	r.through("change resource name:r0 role:Primary") // promoted while cut
	if res, _, _, _ = r.r0(); res.Role != "Primary" {
		t.Fatalf("promoted: %+v", res)
	}
	r.through(" helper:split-brain")
	r.through("destroy connection")
	if _, _, c, _ = r.r0(); c == nil || !c.SplitBrain || c.State != "StandAlone" {
		t.Fatalf("after split brain: %+v", c)
	}
	// drbdadm secondary; drbdadm connect --discard-my-data: hv2 becomes
	// the SyncTarget of both sides' writes.
	r.through("replication:SyncTarget")
	if res, _, c, p = r.r0(); res.Role != "Secondary" || c.SplitBrain || p.OutOfSyncKiB != 2048 {
		t.Fatalf("discard-my-data: %+v %+v %+v", res, c, p)
	}
	r.through("")
	if len(r.s.State.Resources()) != 0 {
		t.Fatal("r0 not destroyed by drbdadm down")
	}
}

// TestReal84Plain parses events2 without --timestamps and --statistics.
func TestReal84Plain(t *testing.T) {
	for _, name := range []string{"events2-plain-hv1.txt", "events2-plain-hv2.txt"} {
		r := newReplay(t, name)
		r.through(" helper:split-brain")
		_, v, c, p := r.r0()
		if !c.SplitBrain || v.SizeKiB != 0 || p.OutOfSyncKiB != 0 || !r.s.State.Last.IsZero() {
			t.Fatalf("%s: %+v %+v %+v", name, v, c, p)
		}
		r.through("")
		if len(r.s.State.Resources()) != 0 {
			t.Fatalf("%s: not all destroyed", name)
		}
	}
}

// blocks returns the outputs of the commands containing cmd in a capture
// file of init.sh's cap (each command is "# time node$ cmd", its output,
// "# exit N").
func blocks(t *testing.T, name, cmd string) [][]byte {
	t.Helper()
	var out [][]byte
	var cur *bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(read(t, "real84/"+name)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# exit"):
			if cur != nil {
				out = append(out, cur.Bytes())
				cur = nil
			}
		case strings.HasPrefix(line, "# "):
			if strings.HasSuffix(line, "$ "+cmd) {
				cur = &bytes.Buffer{}
			}
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no output of %q", name, cmd)
	}
	return out
}

// TestReal84Now parses events2 --now dumps: after the initial sync, and
// every second of the resync after the cut (out-of-sync goes down, to 0
// in the last sample while still SyncSource; never a done: or eta:).
func TestReal84Now(t *testing.T) {
	for _, cmd := range []string{"drbdsetup events2 all --now", "drbdsetup events2 all --now --timestamps --statistics", "drbdsetup events2 r0 --now --statistics"} {
		b := blocks(t, "now-hv1.txt", cmd)[0]
		var s Stream
		if err := s.Write(b); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		r, ok := s.State.Resource("r0")
		if !ok || !s.State.Complete || r.Role != "Primary" || r.Volumes[0].Disk != "UpToDate" || r.Connections[0].State != "Connected" ||
			r.Connections[0].PeerDevices[0].Replication != "Established" || r.Connections[0].PeerDevices[0].PeerDisk != "UpToDate" {
			t.Fatalf("%s: %+v", cmd, s.State)
		}
	}
	last := uint64(1 << 62)
	samples := blocks(t, "resync-after-cut-hv1.txt", "drbdsetup events2 r0 --now --timestamps --statistics")
	if len(samples) < 3 {
		t.Fatalf("%d samples", len(samples))
	}
	for i, b := range samples {
		var s Stream
		if err := s.Write(b); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		r, _ := s.State.Resource("r0")
		p := r.Connections[0].PeerDevices[0]
		if p.Replication != "SyncSource" || p.PeerDisk != "Inconsistent" || p.Done != -1 || p.ETA != -1 ||
			p.OutOfSyncKiB >= last {
			t.Fatalf("sample %d: %+v (out-of-sync before %d)", i, p, last)
		}
		last = p.OutOfSyncKiB
	}
}
