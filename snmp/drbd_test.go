package snmp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mgmtd/internal/fixture"
	"mgmtd/model"
	"mgmtd/snmp/agentx"
	"mgmtd/source/drbd"
	"mgmtd/source/drbd/events"
)

// DRBD test inputs: the drbd-fenced fixture (captured with Pacemaker's
// tools) and node1's DRBD view from events2 lines written from
// drbdsetup(8) and drbd-utils' code (no DRBD runs here:
// source/drbd/events/testdata/README.md).

func storagePacemaker(t testing.TB) *model.PacemakerPart {
	t.Helper()
	return fixture.Pacemaker(t, filepath.Join("..", "source", "pacemaker", "testdata", "drbd-fenced"))
}

// eventLines are the lines of an events2 input.
func eventLines(t testing.TB, file string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "source", "drbd", "events", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// drbdView is node1's view after lines.
func drbdView(t testing.TB, lines []string) *model.DRBDPart {
	t.Helper()
	var st events.Stream
	if err := st.Write([]byte(strings.Join(lines, ""))); err != nil {
		t.Fatal(err)
	}
	return drbd.Part("node1", &st.State)
}

// storageStore holds the fixture with node1's view after the first n
// lines of file (all when n is 0).
func storageStore(t testing.TB, file string, n int) *model.Store {
	t.Helper()
	lines := eventLines(t, file)
	if n > 0 {
		lines = lines[:n]
	}
	st := model.NewStore(model.StoreOptions{Cluster: "storage", View: "node1"})
	st.ReportAll(model.Report{Source: "pacemaker", Time: t0, Pacemaker: storagePacemaker(t)},
		model.Report{Source: "drbd", Time: t0, DRBD: drbdView(t, lines)})
	return st
}

// drbdIdx is the index of r0's volume 0 on node1 towards node-id 1 (node2).
var drbdIdx = []uint32{2, 'r', '0', 5, 'n', 'o', 'd', 'e', '1', 0, 2}

func TestDRBDTable(t *testing.T) {
	s := newTestServer(t, "unix:/nonexistent")
	snap := storageStore(t, "events2-failover.txt", 17).Snapshot()
	tb, err := s.BuildTable(snap, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		col uint32
		v   agentx.Value
	}{
		{cDRBDPeer, agentx.OctetString("node2")},
		{cDRBDMinor, agentx.Integer(0)},
		{cDRBDRole, agentx.Integer(2)},
		{cDRBDDisk, agentx.OctetString("UpToDate")},
		{cDRBDConn, agentx.OctetString("Connected")},
		{cDRBDRepl, agentx.OctetString("SyncSource")},
		{cDRBDPeerRole, agentx.Integer(3)},
		{cDRBDPeerDisk, agentx.OctetString("Inconsistent")},
		{cDRBDSyncDone, agentx.Gauge32(4520)},
		{cDRBDOutOfSync, agentx.Gauge32(36100)},
		{cDRBDSplitBrain, agentx.Integer(2)},
		{cDRBDClone, agentx.OctetString("ms_drbd_r0")},
	}
	for _, w := range want {
		name := column(tDRBD, w.col).Append(drbdIdx...)
		got, ok := tb.Lookup(name)
		if !ok || got.Type != w.v.Type || got.Num != w.v.Num || string(got.Bytes) != string(w.v.Bytes) {
			t.Errorf("column %d: %v %v, want %v", w.col, got, ok, w.v)
		}
	}
	// Exactly the one row: node1's r0 has one volume and one peer.
	rows := 0
	for i := range tb.Len() {
		if p := column(tDRBD, cDRBDPeer); len(tb.At(i).Name) > len(p) && agentx.Compare(tb.At(i).Name[:len(p)], p) == 0 {
			rows++
		}
	}
	if rows != 1 {
		t.Errorf("%d rows, want 1", rows)
	}
}

// A volume without a connection has a row with slot 0 and its local
// state; a peer node-id out of DRBD's range is omitted and counted.
func TestDRBDRowsEdges(t *testing.T) {
	r := model.DRBDResource{Name: "r9", Node: "node1", Role: "Secondary",
		Volumes: []model.DRBDVolume{{Volume: 0, Minor: 9, Disk: "UpToDate"}, {Volume: 1, Minor: 10, Disk: "Diskless"}},
		Connections: []model.DRBDConnection{{Peer: "node3", PeerNodeID: 40, State: "Connected",
			Volumes: []model.DRBDPeerVolume{{Volume: 0, Replication: "Established", PeerDisk: "UpToDate"}}}}}
	rows := drbdRows(r)
	if len(rows) != 2 || rows[1].slot != 0 || rows[1].vol.Disk != "Diskless" {
		t.Fatalf("rows %+v", rows)
	}
	if _, ok := rows[0].index(); ok {
		t.Error("node-id 40 fits the index")
	}
	if idx, ok := rows[1].index(); !ok || agentx.Compare(idx, []uint32{2, 'r', '9', 5, 'n', 'o', 'd', 'e', '1', 1, 0}) != 0 {
		t.Errorf("index %v %v", idx, ok)
	}
	if drbdRows(model.DRBDResource{Name: "r0", Volumes: r.Volumes}) != nil {
		t.Error("rows for a view from Pacemaker alone")
	}
	bd := newBuilder()
	bd.buildDRBD(&model.Snapshot{DRBD: []model.DRBDResource{r}})
	if bd.omitted != 1 {
		t.Errorf("omitted %d, want 1", bd.omitted)
	}
}

// TestDRBDNotificationRows plays node1's view of a failover (connection
// lost, resync, finished) and a split brain picture by picture, and checks
// that every drbd.* event becomes mgmtdDrbdReplicationChange whose table
// varbinds name a row of the table built from the same snapshot with the
// row's values, and whose mgmtdNotifyObject and mgmtdNotifyNode say the
// resource and node.
func TestDRBDNotificationRows(t *testing.T) {
	s := newTestServer(t, "unix:/nonexistent")
	pm := storagePacemaker(t)
	kinds := map[model.EventType]int{}
	for _, file := range []string{"events2-failover.txt", "events2-split-brain.txt"} {
		st := model.NewStore(model.StoreOptions{Cluster: "storage", View: "node1"})
		st.Report(model.Report{Source: "pacemaker", Time: t0, Pacemaker: pm})
		lines := eventLines(t, file)
		for n := 6; n <= len(lines); n++ { // from the end of the initial dump
			last := st.Events().Last()
			snap := st.Report(model.Report{Source: "drbd", Time: t0, DRBD: drbdView(t, lines[:n])})
			evs, _ := st.Events().Since(last)
			tb, err := s.BuildTable(snap, t0)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if !strings.HasPrefix(string(e.Type), "drbd.") {
					continue
				}
				trap, vbs, ok := Notification(snap, e)
				if !ok || agentx.Compare(trap, notifOID.Append(trapDRBD)) != 0 {
					t.Fatalf("%s: trap %v %v", e.Type, trap, ok)
				}
				if !nodeLocal(e) {
					t.Errorf("%s is not sent by the node that saw it", e.Type)
				}
				kinds[e.Type]++
				var obj, node string
				rowVBs := 0
				for _, vb := range vbs {
					switch {
					case agentx.Compare(vb.Name, notifyObjs.Append(nObject, 0)) == 0:
						obj = string(vb.Value.Bytes)
					case agentx.Compare(vb.Name, notifyObjs.Append(nNode, 0)) == 0:
						node = string(vb.Value.Bytes)
					case len(vb.Name) > len(notifyObjs) && agentx.Compare(vb.Name[:len(notifyObjs)], notifyObjs) == 0:
					default:
						rowVBs++
						v, ok := tb.Lookup(vb.Name)
						switch {
						case !ok:
							t.Errorf("%s line %d %q: %v names no row", file, n, e.Message, vb.Name)
						case v.Type != vb.Value.Type || v.Num != vb.Value.Num || string(v.Bytes) != string(vb.Value.Bytes):
							t.Errorf("%s line %d %q: %v = %v in the trap, %v in the table", file, n, e.Message, vb.Name, vb.Value, v)
						}
					}
				}
				if obj != "r0" || node != "node1" || rowVBs != 5 {
					t.Errorf("%s: object %q node %q, %d row varbinds", e.Type, obj, node, rowVBs)
				}
				// The row is the one the event is about.
				switch e.Type {
				case model.EventDRBDConnectionLost, model.EventDRBDSyncStarted, model.EventDRBDSyncFinished:
					conn, _ := tb.Lookup(column(tDRBD, cDRBDConn).Append(drbdIdx...))
					repl, _ := tb.Lookup(column(tDRBD, cDRBDRepl).Append(drbdIdx...))
					if e.To != string(conn.Bytes) && e.To != string(repl.Bytes) {
						t.Errorf("%s to %s: the row says %s/%s", e.Type, e.To, conn.Bytes, repl.Bytes)
					}
				case model.EventDRBDSplitBrain:
					if sb, _ := tb.Lookup(column(tDRBD, cDRBDSplitBrain).Append(drbdIdx...)); sb.Int() != 1 {
						t.Errorf("split brain: mgmtdDrbdSplitBrain %d", sb.Int())
					}
				}
			}
		}
	}
	for _, k := range []model.EventType{model.EventDRBDConnectionLost, model.EventDRBDSyncStarted, model.EventDRBDSyncFinished, model.EventDRBDSplitBrain} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in the inputs", k)
		}
	}
	// The view gone: the trap carries the values the event had, at the
	// index the row had.
	snap := storageStore(t, "events2-failover.txt", 0).Snapshot()
	gone := *snap
	gone.DRBD = nil
	view := snap.DRBD[0]
	view.Connections[0].State = "NetworkFailure"
	_, vbs, ok := Notification(&gone, model.Event{Type: model.EventDRBDConnectionLost, Object: model.ID{Kind: model.KindDRBD, Name: "r0"}, Node: "node1", To: "NetworkFailure", Data: view})
	if !ok || agentx.Compare(vbs[3].Name, column(tDRBD, cDRBDConn).Append(drbdIdx...)) != 0 || string(vbs[3].Value.Bytes) != "NetworkFailure" {
		t.Errorf("gone view: %v", vbs)
	}
}

// mibArgs loads MGMTD-CLUSTER-MIB (and the IETF MIBs it imports, from
// erlang-snmp, as mibs' tests do) into a net-snmp client.
func mibArgs(t testing.TB) []string {
	t.Helper()
	m, _ := filepath.Glob("/usr/lib/erlang/lib/snmp-*/mibs/SNMPv2-SMI.mib")
	if len(m) == 0 {
		t.Fatal("IETF base MIBs not found under /usr/lib/erlang/lib/snmp-*/mibs: install erlang-snmp (scripts/deps.d/snmp.sh)")
	}
	own, err := filepath.Abs(filepath.Join("..", "mibs"))
	if err != nil {
		t.Fatal(err)
	}
	return []string{"-M", filepath.Dir(m[0]) + ":" + own, "-m", "MGMTD-CLUSTER-MIB"}
}

// TestDRBDWalk walks mgmtdDrbdTable with the real snmpwalk through snmpd
// as AgentX master, by the MIB's names: the row of node1's resync and its
// values as the MIB types them.
func TestDRBDWalk(t *testing.T) {
	d := startSnmpd(t, "unix")
	srv, err := New(Options{AgentX: d.agentx, Now: fixedNow}, storageStore(t, "events2-failover.txt", 17), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, srv)
	waitConnects(t, srv, 1)
	args := append([]string{"-v2c", "-c", "public"}, mibArgs(t)...)
	args = append(args, "127.0.0.1:"+strconv.Itoa(d.port), "MGMTD-CLUSTER-MIB::mgmtdDrbdTable")
	cmd := exec.Command(lookTool(t, "snmpwalk"), args...)
	cmd.Env = append(os.Environ(), agentEnv(d.dir)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("snmpwalk %v: %v\n%s", args, err, out)
	}
	row := `."r0"."node1".0.2`
	want := []string{
		"MGMTD-CLUSTER-MIB::mgmtdDrbdPeer" + row + ` = STRING: node2`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdMinor" + row + ` = INTEGER: 0`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdRole" + row + ` = INTEGER: primary(2)`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdDiskState" + row + ` = STRING: UpToDate`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdConnState" + row + ` = STRING: Connected`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdReplState" + row + ` = STRING: SyncSource`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdPeerRole" + row + ` = INTEGER: secondary(3)`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdPeerDiskState" + row + ` = STRING: Inconsistent`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdSyncDone" + row + ` = Gauge32: 4520 hundredths of a percent`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdOutOfSync" + row + ` = Gauge32: 36100 KiB`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdSplitBrain" + row + ` = INTEGER: false(2)`,
		"MGMTD-CLUSTER-MIB::mgmtdDrbdClone" + row + ` = STRING: ms_drbd_r0`,
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("snmpwalk mgmtdDrbdTable:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
}
