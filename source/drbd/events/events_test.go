package events

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The inputs of this file were written from drbdsetup(8) and drbd-utils'
// code, not captured from a running DRBD; real84_test.go reads the real
// DRBD 8.4 captures (testdata/README.md).
func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stream(t *testing.T, name string) *State {
	t.Helper()
	var s Stream
	if err := s.Write(read(t, name)); err != nil {
		t.Fatal(err)
	}
	return &s.State
}

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Line
		err      string
	}{
		{"end", "exists -", Line{Action: "exists", Object: "-"}, ""},
		{"timestamped end", "2026-11-01T10:00:00.000300+01:00 exists -\n",
			Line{Time: time.Date(2026, 11, 1, 9, 0, 0, 300000, time.UTC), Action: "exists", Object: "-"}, ""},
		{"path with colons", "exists path name:r0 peer-node-id:1 conn-name:n2 local:ipv4:1.2.3.4:7789 peer:ipv4:5.6.7.8:7790 established:no",
			Line{Action: "exists", Object: "path", Fields: []Field{{"name", "r0"}, {"peer-node-id", "1"}, {"conn-name", "n2"},
				{"local", "ipv4:1.2.3.4:7789"}, {"peer", "ipv4:5.6.7.8:7790"}, {"established", "no"}}}, ""},
		{"skipped", "- skipped 3", Line{Skipped: 3}, ""},
		{"empty", "", Line{}, "empty line"},
		{"unknown action", "explode resource name:r0", Line{}, "unknown action"},
		{"no name", "change resource role:Primary", Line{}, "no name"},
		{"not key value", "change resource name:r0 garbage", Line{}, "not key:value"},
		{"bad timestamp", "2026-13-01T10:00:00.000300+01:00 exists -", Line{}, "bad timestamp"},
		{"dash end with fields", "exists - name:x", Line{}, "unexpected end marker"},
		{"change dash", "change -", Line{}, "unexpected end marker"},
		{"long", "exists resource name:" + strings.Repeat("x", MaxLine), Line{}, "longer than"},
		{"many fields", "exists resource name:r" + strings.Repeat(" a:b", maxFields), Line{}, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLine([]byte(tc.in))
			if tc.err != "" {
				var se *SyntaxError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want a SyntaxError with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !l.Time.Equal(tc.want.Time) || l.Action != tc.want.Action || l.Object != tc.want.Object || l.Skipped != tc.want.Skipped ||
				len(l.Fields) != len(tc.want.Fields) {
				t.Fatalf("got %+v, want %+v", l, tc.want)
			}
			for i := range l.Fields {
				if l.Fields[i] != tc.want.Fields[i] {
					t.Fatalf("field %d: got %+v, want %+v", i, l.Fields[i], tc.want.Fields[i])
				}
			}
		})
	}
}

func TestFull(t *testing.T) {
	s := stream(t, "events2-full.txt")
	if !s.Complete {
		t.Fatal("exists - not seen")
	}
	rs := s.Resources()
	if len(rs) != 2 || rs[0].Name != "r0" || rs[1].Name != "r1" {
		t.Fatalf("resources %+v", rs)
	}
	r0 := rs[0]
	if r0.Role != "Primary" || r0.Suspended != "no" || r0.WriteOrdering != "flush" || !r0.HasPromotion || r0.MayPromote || r0.PromotionScore != 10103 {
		t.Fatalf("r0 %+v", r0)
	}
	if len(r0.Volumes) != 1 {
		t.Fatalf("r0 volumes %+v", r0.Volumes)
	}
	v := r0.Volumes[0]
	if v.Minor != 0 || v.BackingDev != "/dev/vdb" || v.Disk != "UpToDate" || v.Quorum != "yes" || v.Open != "yes" || v.SizeKiB != 1048576 || v.WrittenKiB != 734500 {
		t.Fatalf("r0/0 %+v", v)
	}
	if len(r0.Connections) != 1 {
		t.Fatalf("connections %+v", r0.Connections)
	}
	c := r0.Connections[0]
	if c.Name != "node2" || c.PeerNodeID != 1 || c.State != "Connected" || c.PeerRole != "Secondary" || len(c.Paths) != 1 || !c.Paths[0].Established ||
		c.Paths[0].Local != "ipv4:192.168.122.11:7789" {
		t.Fatalf("connection %+v", c)
	}
	p := c.PeerDevices[0]
	if p.Replication != "Established" || p.PeerDisk != "UpToDate" || p.OutOfSyncKiB != 0 || p.SentKiB != 734500 || p.Done != -1 || p.ETA != -1 {
		t.Fatalf("peer device %+v", p)
	}
	r1 := rs[1]
	if r1.Role != "Secondary" || !r1.MayPromote || len(r1.Volumes) != 2 || r1.Volumes[1].Minor != 11 || len(r1.Connections[0].PeerDevices) != 2 {
		t.Fatalf("r1 %+v", r1)
	}
	if want := time.Date(2026, 11, 1, 10, 0, 5, 20000, time.UTC); !s.Last.Equal(want) {
		t.Fatalf("last %v", s.Last)
	}
}

// TestFailover follows r0's peer through loss, reconnection and resync,
// line by line.
func TestFailover(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(read(t, "events2-failover.txt"))), "\n")
	var s State
	type step struct {
		conn, repl, peerDisk string
		oos                  uint64
		done, eta            float64
	}
	var seen []step
	for _, ln := range lines {
		l, err := ParseLine([]byte(ln))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(l); err != nil {
			t.Fatal(err)
		}
		if l.Object != ObjectPeerDevice {
			continue
		}
		r, _ := s.Resource("r0")
		c := r.Connections[0]
		p := c.PeerDevices[0]
		seen = append(seen, step{c.State, p.Replication, p.PeerDisk, p.OutOfSyncKiB, p.Done, p.ETA})
	}
	want := []step{
		{"Connected", "Established", "UpToDate", 0, -1, -1},
		{"NetworkFailure", "Off", "DUnknown", 0, -1, -1},
		{"Connecting", "Off", "DUnknown", 65880, -1, -1},
		{"Connected", "WFBitMapS", "Outdated", 65880, -1, -1},
		{"Connected", "SyncSource", "Inconsistent", 65880, 0, -1},
		{"Connected", "SyncSource", "Inconsistent", 36100, 45.2, 12},
		{"Connected", "Established", "UpToDate", 0, -1, -1},
	}
	if len(seen) != len(want) {
		t.Fatalf("steps %+v", seen)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("step %d: got %+v, want %+v", i, seen[i], want[i])
		}
	}
}

func TestSplitBrain(t *testing.T) {
	s := stream(t, "events2-split-brain.txt")
	r, _ := s.Resource("r0")
	c := r.Connections[0]
	if !c.SplitBrain || c.State != "StandAlone" || !c.SplitBrainTime.Equal(time.Date(2026, 11, 1, 10, 3, 0, 40000, time.UTC)) {
		t.Fatalf("connection %+v", c)
	}
	// Resolved: the connection is Connected again.
	l, _ := ParseLine([]byte("change connection name:r0 peer-node-id:1 conn-name:node2 connection:Connected role:Secondary"))
	if err := s.Apply(l); err != nil {
		t.Fatal(err)
	}
	if c.SplitBrain {
		t.Fatal("split brain not cleared by Connected")
	}
}

func TestLifecycle(t *testing.T) {
	var st Stream
	data := read(t, "events2-lifecycle.txt")
	lines := strings.SplitAfter(string(data), "\n")
	// Up to the promotion: r9 is Primary, connected, its path IPv6.
	if err := st.Write([]byte(strings.Join(lines[:11], ""))); err != nil {
		t.Fatal(err)
	}
	r, ok := st.State.Resource("r9")
	if !ok || r.Role != "Primary" || r.Volumes[0].BackingDev != "/dev/vde" || r.Volumes[0].Disk != "UpToDate" ||
		r.Connections[0].State != "Connected" || r.Connections[0].PeerDevices[0].Replication != "Established" ||
		r.Connections[0].Paths[0].Peer != "ipv6:[fd00::3]:7789" || r.MayPromote || r.PromotionScore != 10102 {
		t.Fatalf("r9 %+v", r)
	}
	if err := st.Write([]byte(strings.Join(lines[11:], ""))); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.State.Resource("r9"); ok {
		t.Fatal("r9 not renamed")
	}
	r, ok = st.State.Resource("r10")
	if !ok || len(r.Volumes) != 0 || len(r.Connections) != 0 {
		t.Fatalf("r10 %+v", r)
	}
	l, _ := ParseLine([]byte("destroy resource name:r10"))
	if err := st.State.Apply(l); err != nil {
		t.Fatal(err)
	}
	if len(st.State.Resources()) != 0 {
		t.Fatal("r10 not destroyed")
	}
}

func TestDRBD84(t *testing.T) {
	s := stream(t, "events2-84.txt")
	r, _ := s.Resource("r0")
	if r.HasPromotion || r.Role != "Primary" || r.Volumes[0].Quorum != "" || s.Skipped != 2 {
		t.Fatalf("r0 %+v skipped %d", r, s.Skipped)
	}
	c := r.Connections[0]
	if c.Name != "peer" || c.State != "NetworkFailure" || c.PeerDevices[0].Replication != "Off" {
		t.Fatalf("connection %+v", c)
	}
}

func TestStreamChunks(t *testing.T) {
	data := read(t, "events2-full.txt")
	var whole Stream
	if err := whole.Write(data); err != nil {
		t.Fatal(err)
	}
	// One byte at a time gives the same state.
	var bytewise Stream
	for i := range data {
		if err := bytewise.Write(data[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := dump(&whole.State), dump(&bytewise.State); a != b {
		t.Fatalf("chunked differs:\n%s\n%s", a, b)
	}
	if whole.Lines() != strings.Count(string(data), "\n") {
		t.Fatalf("lines %d", whole.Lines())
	}
}

func TestStreamErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, err string }{
		{"garbage", "exists -\nHello, I am not drbdsetup\n", "line 2: unknown action"},
		{"bad role", "exists resource name:r0 role:\x1b[1;36mPrimary\x1b[0m\n", "line 1: events2 exists resource: bad role"},
		{"bad number", "exists device name:r0 volume:x minor:0\n", "bad volume"},
		{"no peer", "exists connection name:r0 connection:Connected\n", "no peer-node-id"},
		{"endless line", strings.Repeat("x", MaxLine+1), "longer than limit"},
		{"bad done", "exists peer-device name:r0 peer-node-id:1 volume:0 replication:SyncSource done:ten\n", "bad done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Stream
			err := s.Write([]byte(tc.in))
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	var s State
	var b strings.Builder
	for i := 0; i <= MaxPeers; i++ {
		b.Reset()
		b.WriteString("exists connection name:r0 conn-name:x peer-node-id:")
		b.WriteString(strings.Repeat("1", 1) + string(rune('0'+i%10)) + string(rune('0'+i/10)))
		l, err := ParseLine([]byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Apply(l)
		if i < MaxPeers && err != nil {
			t.Fatal(err)
		}
		if i == MaxPeers && (err == nil || !strings.Contains(err.Error(), "more than 32 connections")) {
			t.Fatalf("peer %d: err %v", i, err)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	s, err := ParseStatusJSON(read(t, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := s.Resource("r0")
	if !ok || r.Role != "Primary" || r.HasPromotion || r.Volumes[0].Disk != "UpToDate" || r.Volumes[0].SizeKiB != 1048576 || r.Volumes[0].Quorum != "yes" {
		t.Fatalf("r0 %+v", r)
	}
	c := r.Connections[0]
	p := c.PeerDevices[0]
	if c.Name != "node2" || c.State != "Connected" || c.Paths[0].Peer != "ipv4:192.168.122.12:7789" || p.Replication != "SyncSource" ||
		p.PeerDisk != "Inconsistent" || p.OutOfSyncKiB != 36100 || p.Done != 45.2 || p.ETA != 12 {
		t.Fatalf("connection %+v peer %+v", c, p)
	}
	empty, err := ParseStatusJSON(read(t, "status-empty.json"))
	if err != nil || len(empty.Resources()) != 0 || !empty.Complete {
		t.Fatalf("empty: %v %+v", err, empty)
	}
	for _, bad := range []string{"", "{}", `[{"name":""}]`, `[{"name":"r0","devices":[{"volume":0,"percent-in-sync":nan}]}]`, "[] []",
		`[{"name":"r0"},{"name":"r0"}]`} {
		if _, err := ParseStatusJSON([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// done is clamped to 0..100 (drbdsetup computes it from counters that
// move while it reads them) and nan is no estimate.
func TestDoneClamped(t *testing.T) {
	for in, want := range map[string]float64{"-0.50": 0, "100.20": 100, "45.20": 45.2, "nan": -1, "-nan": -1} {
		var s State
		l, err := ParseLine([]byte("exists peer-device name:r0 peer-node-id:1 volume:0 replication:SyncTarget done:" + in))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(l); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		r, _ := s.Resource("r0")
		if got := r.Connections[0].PeerDevices[0].Done; got != want {
			t.Errorf("done:%s = %v, want %v", in, got, want)
		}
	}
}

func TestClone(t *testing.T) {
	s := stream(t, "events2-full.txt")
	c := s.Clone()
	before := dump(c)
	l, _ := ParseLine([]byte("change peer-device name:r0 peer-node-id:1 conn-name:node2 volume:0 replication:Off peer-disk:DUnknown"))
	if err := s.Apply(l); err != nil {
		t.Fatal(err)
	}
	if dump(c) != before || dump(s) == before {
		t.Fatal("clone shares state")
	}
}
