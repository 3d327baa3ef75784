package snmp

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"mgmtd/demo"
	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

func newTestServer(t testing.TB, addr string) *Server {
	t.Helper()
	s, err := New(Options{AgentX: addr, Now: fixedNow, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, demoStore(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dumpTable renders a table one varbind per line.
func dumpTable(t *agentx.Table) []byte {
	var b bytes.Buffer
	for i := range t.Len() {
		vb := t.At(i)
		v := vb.Value
		switch v.Type {
		case agentx.VarOctetString:
			fmt.Fprintf(&b, "%v = %q\n", vb.Name, v.Bytes)
		case agentx.VarObjectIdentifier:
			fmt.Fprintf(&b, "%v = %v\n", vb.Name, v.OID)
		case agentx.VarInteger:
			fmt.Fprintf(&b, "%v = %d\n", vb.Name, v.Int())
		default:
			fmt.Fprintf(&b, "%v = %d:%d\n", vb.Name, v.Type, v.Num)
		}
	}
	return b.Bytes()
}

func lineDiff(want, got []byte) string {
	w, g := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	var b bytes.Buffer
	for i := 0; i < max(len(w), len(g)) && b.Len() < 4000; i++ {
		var x, y []byte
		if i < len(w) {
			x = w[i]
		}
		if i < len(g) {
			y = g[i]
		}
		if !bytes.Equal(x, y) {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, x, y)
		}
	}
	return b.String()
}

func TestBuildTableGolden(t *testing.T) {
	s := newTestServer(t, "unix:/nonexistent")
	tb, err := s.BuildTable(demoStore().Snapshot(), t0)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "table.golden"), dumpTable(tb))
}

func TestIndexes(t *testing.T) {
	long := string(bytes.Repeat([]byte{'x'}, 49))
	tests := []struct {
		name  string
		names []string
		want  string
		ok    bool
	}{
		{"one", []string{"ab"}, ".2.97.98", true},
		{"two", []string{"a", "b"}, ".1.97.1.98", true},
		{"empty", []string{""}, "", false},
		{"too long", []string{long}, "", false},
		{"utf8 octets", []string{"é"}, ".2.195.169", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx, ok := nameIndex(tc.names...)
			if ok != tc.ok || (ok && agentx.OID(idx).String() != tc.want) {
				t.Fatalf("nameIndex(%q) = %v %v, want %s %v", tc.names, agentx.OID(idx), ok, tc.want, tc.ok)
			}
		})
	}
}

func TestOmittedRows(t *testing.T) {
	st := model.NewStore(model.StoreOptions{Cluster: "c", Now: fixedNow})
	long := string(bytes.Repeat([]byte{'n'}, 60))
	st.Report(model.Report{Source: "pacemaker", Time: t0, Pacemaker: &model.PacemakerPart{
		Nodes: []model.Node{{Name: long, State: model.NodeOnline}, {Name: "ok", State: model.NodeOnline}},
	}})
	s := newTestServer(t, "unix:/nonexistent")
	tb, err := s.BuildTable(st.Snapshot(), t0)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := tb.Lookup(clusterOID.Append(sRowsOmitted, 0))
	if !ok || v.Num != 1 {
		t.Fatalf("mgmtdRowsOmitted = %v %v, want 1", v, ok)
	}
	if _, ok := tb.Lookup(column(tNode, 5).Append(2, 'o', 'k')); !ok {
		t.Fatal("row of node ok missing")
	}
}

func TestIntervalMillis(t *testing.T) {
	for in, want := range map[string]uint32{"": 0, "0": 0, "10000": 10000, "10000ms": 10000, "10s": 10000, "1m": 60000, "junk": 0} {
		if got := intervalMillis(in); got != want {
			t.Errorf("intervalMillis(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestVMIndexPersists(t *testing.T) {
	dir := t.TempDir()
	vms := []model.VM{{Name: "b", UUID: "u2"}, {Name: "a", UUID: "u1"}}
	ix, err := newVMIndexer(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ix.assign(vms)
	if err != nil {
		t.Fatal(err)
	}
	ix2, err := newVMIndexer(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ix2.assign(append(vms, model.VM{Name: "c", UUID: "u0"}))
	if err != nil {
		t.Fatal(err)
	}
	if first["uuid:u1"] != 1 || first["uuid:u2"] != 2 || second["uuid:u1"] != 1 || second["uuid:u2"] != 2 || second["uuid:u0"] != 3 {
		t.Fatalf("indexes not stable: first %v second %v", first, second)
	}
}

func TestNotificationMapping(t *testing.T) {
	snap := demoStore().Snapshot()
	tests := []struct {
		ev   model.Event
		trap uint32
		vb   agentx.OID // third varbind's name
	}{
		{model.Event{Type: model.EventNodeLeft, Severity: model.SeverityWarning, Object: model.ID{Name: "node2"}}, trapNodeState,
			column(tNode, 5).Append(5, 'n', 'o', 'd', 'e', '2')},
		{model.Event{Type: model.EventQuorumLost, Severity: model.SeverityCritical}, trapQuorum, clusterOID.Append(sQuorate, 0)},
		{model.Event{Type: model.EventDCChanged, To: "node2"}, trapDC, clusterOID.Append(sDCName, 0)},
		{model.Event{Type: model.EventResourceMoved, Object: model.ID{Name: "web-ip"}, Node: "node1"}, trapResourceState,
			column(tInstance, 4).Append(6, 'w', 'e', 'b', '-', 'i', 'p', 5, 'n', 'o', 'd', 'e', '1')},
		{model.Event{Type: model.EventResourceFailed, Object: model.ID{Name: "db"}, Node: "node2"}, trapResourceFail,
			column(tInstance, 7).Append(2, 'd', 'b', 5, 'n', 'o', 'd', 'e', '2')},
		{model.Event{Type: model.EventFencing, Node: "node3", To: "success"}, trapFencing,
			column(tFence, 4).Append(5, 'n', 'o', 'd', 'e', '3', uint32(t0.Add(-24*time.Hour).Unix()), 6, 'r', 'e', 'b', 'o', 'o', 't')},
		{model.Event{Type: model.EventVMState, Object: model.ID{Name: "scratch"}, Node: "node1"}, trapVMState,
			column(tVM, 4).Append(5, 'n', 'o', 'd', 'e', '1', 7, 's', 'c', 'r', 'a', 't', 'c', 'h')},
		{model.Event{Type: model.EventSourceStale, Object: model.ID{Name: "libvirt-remote"}, To: "stale"}, trapSourceDown,
			column(tSource, 2).Append(14, 'l', 'i', 'b', 'v', 'i', 'r', 't', '-', 'r', 'e', 'm', 'o', 't', 'e')},
		{model.Event{Type: model.EventSourceRecovered, Object: model.ID{Name: "catalog"}, To: "ok"}, trapSourceUp,
			column(tSource, 2).Append(7, 'c', 'a', 't', 'a', 'l', 'o', 'g')},
	}
	for _, tc := range tests {
		t.Run(string(tc.ev.Type), func(t *testing.T) {
			trap, vbs, ok := Notification(snap, tc.ev)
			if !ok {
				t.Fatal("no notification")
			}
			if agentx.Compare(trap, notifOID.Append(tc.trap)) != 0 {
				t.Errorf("trap %v, want %v", trap, notifOID.Append(tc.trap))
			}
			if len(vbs) < 3 || agentx.Compare(vbs[2].Name, tc.vb) != 0 {
				t.Fatalf("varbinds %v, want third %v", vbs, tc.vb)
			}
			if agentx.Compare(vbs[0].Name, notifyObjs.Append(1, 0)) != 0 {
				t.Errorf("first varbind %v is not mgmtdNotifySeverity.0", vbs[0].Name)
			}
		})
	}
	if _, _, ok := Notification(snap, model.Event{Type: model.EventTask}); ok {
		t.Error("task event produced a notification")
	}
}

func TestVMNotification(t *testing.T) {
	st := demoStore()
	s := newTestServer(t, "unix:/nonexistent")
	snap := st.Snapshot()
	if _, err := s.BuildTable(snap, t0); err != nil { // assigns vmIndex: scratch 1, guest1 2
		t.Fatal(err)
	}
	entry := VMMIBOID.Append(1, 4, 1)
	tests := []struct {
		ev    model.Event
		trap  uint32 // 0: none
		index uint32
	}{
		{model.Event{Type: model.EventVMState, Object: model.ID{Name: "guest1"}, Node: "node1", To: "running"}, vmTrapRunning, 2},
		{model.Event{Type: model.EventVMState, Object: model.ID{Name: "scratch"}, Node: "node1", To: "shutoff"}, vmTrapShutdown, 1},
		{model.Event{Type: model.EventVMGone, Object: model.ID{Name: "scratch"}, Node: "node1"}, vmTrapDeleted, 1},
		{model.Event{Type: model.EventVMState, Object: model.ID{Name: "guest1"}, Node: "node2", To: "shutoff"}, 0, 0}, // not our hypervisor
		{model.Event{Type: model.EventNodeLeft, Object: model.ID{Name: "node2"}}, 0, 0},
	}
	for _, tc := range tests {
		trap, vbs, ok := vmNotification(snap, "node1", s.vmIdx, tc.ev)
		if tc.trap == 0 {
			if ok {
				t.Errorf("%v on %s: unexpected %v", tc.ev.Type, tc.ev.Node, trap)
			}
			continue
		}
		if !ok || agentx.Compare(trap, VMMIBOID.Append(0, tc.trap)) != 0 {
			t.Fatalf("%v %s: trap %v %v, want %d", tc.ev.Type, tc.ev.Object.Name, trap, ok, tc.trap)
		}
		if agentx.Compare(vbs[0].Name, entry.Append(2, tc.index)) != 0 || string(vbs[0].Value.Bytes) != tc.ev.Object.Name {
			t.Errorf("%v: first varbind %v = %q", tc.ev.Type, vbs[0].Name, vbs[0].Value.Bytes)
		}
		if len(vbs[1].Value.Bytes) != 16 {
			t.Errorf("%v: vmUUID of %d octets", tc.ev.Type, len(vbs[1].Value.Bytes))
		}
	}
}

// TestNotificationRows plays two loops of the demo failover story and
// checks, for every notification of every step, that each varbind naming
// a table row (not the mgmtdNotifyObjects values) names a row of the
// table built from the same snapshot and carries that row's value: a
// manager that reads the row finds it, with the value the trap said.
func TestNotificationRows(t *testing.T) {
	steps := demo.MustLoad()
	st := model.NewStore(model.StoreOptions{Cluster: "demo", View: "hv2"})
	p := demo.NewPlayer(steps, st, 1)
	s := newTestServer(t, "unix:/nonexistent")
	checked, traps := 0, 0
	for i := range 2*len(steps) + 1 {
		last := st.Events().Last()
		p.Show(i)
		evs, _ := st.Events().Since(last)
		snap := st.Snapshot()
		tb, err := s.BuildTable(snap, t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			_, vbs, ok := Notification(snap, e)
			if !ok {
				continue
			}
			traps++
			// A domain gone from every host has no row left: the trap
			// carries the values themselves (mgmtdVmState's value,
			// mgmtdNotifyObject and mgmtdNotifyNode), as the MIB says.
			gone := e.Type == model.EventVMGone && len(snap.VMsNamed(e.Object.Name)) == 0
			if gone {
				var obj, node string
				for _, vb := range vbs {
					switch {
					case agentx.Compare(vb.Name, notifyObjs.Append(nObject, 0)) == 0:
						obj = string(vb.Value.Bytes)
					case agentx.Compare(vb.Name, notifyObjs.Append(nNode, 0)) == 0:
						node = string(vb.Value.Bytes)
					}
				}
				if obj != e.Object.Name || node != e.Node {
					t.Errorf("step %d %q: the trap of a vanished domain says object %q node %q", i%len(steps), e.Message, obj, node)
				}
				continue
			}
			for _, vb := range vbs {
				if agentx.Compare(vb.Name, notifyObjs) > 0 && len(vb.Name) > len(notifyObjs) &&
					agentx.Compare(vb.Name[:len(notifyObjs)], notifyObjs) == 0 {
					continue
				}
				checked++
				v, ok := tb.Lookup(vb.Name)
				switch {
				case !ok:
					t.Errorf("step %d %q: %v names no row", i%len(steps), e.Message, vb.Name)
				case v.Type != vb.Value.Type || v.Num != vb.Value.Num || string(v.Bytes) != string(vb.Value.Bytes):
					t.Errorf("step %d %q: %v = %v in the trap, %v in the table", i%len(steps), e.Message, vb.Name, vb.Value, v)
				}
			}
		}
	}
	t.Logf("%d notifications, %d row varbinds checked", traps, checked)
	if traps < 100 {
		t.Errorf("only %d notifications", traps)
	}
}

// TestClusterSender: with mgmtd on every node exactly one subagent sends
// the cluster-wide notifications.
func TestClusterSender(t *testing.T) {
	pm, _, _, _ := demoParts()
	for _, tc := range []struct {
		name, view, dc string
		want           bool
	}{
		{"the DC", "node1", "node1", true},
		{"not the DC", "node2", "node1", false},
		{"no DC: the first online member", "node1", "", true},
		{"no DC: not the first", "node2", "", false},
		{"no DC: a guest node never", "guest1", "", false},
		{"not a cluster node", "mgmt-host", "node1", true},
		{"no view", "", "node1", true},
	} {
		st := model.NewStore(model.StoreOptions{View: tc.view, Now: fixedNow})
		st.Report(model.Report{Source: "pacemaker", Time: t0, Pacemaker: pm})
		if got := clusterSender(st.Snapshot(), tc.dc); got != tc.want {
			t.Errorf("%s: view %q, DC %q: sender %v, want %v", tc.name, tc.view, tc.dc, got, tc.want)
		}
	}
}
