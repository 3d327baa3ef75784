package snmp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/snmp/agentx"

	"github.com/gosnmp/gosnmp"
)

const (
	entStr   = ".1.3.6.1.4.1.32473"
	vmMIBStr = ".1.3.6.1.2.1.236"
	sysName  = ".1.3.6.1.2.1.1.5.0"
)

// TestWalkGolden walks both registered subtrees through a real snmpd with
// snmpwalk (GetNext) and snmpbulkwalk (GetBulk, which snmpd turns into
// AgentX GetNext PDUs) and compares with the golden -On output.
func TestWalkGolden(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			d := startSnmpd(t, network)
			srv := newTestServer(t, d.agentx)
			startServer(t, srv)
			waitConnects(t, srv, 1)
			// The agent start notification is counted in the table.
			waitServed(t, srv, clusterOID.Append(sNotificationsSent, 0), agentx.Counter32(1))
			var all []string
			for _, tool := range []string{"snmpwalk", "snmpbulkwalk"} {
				var out strings.Builder
				for _, base := range []string{vmMIBStr, entStr} {
					args := []string{base}
					if tool == "snmpbulkwalk" {
						args = []string{"-Cr7", base}
					}
					o, err := d.tool(t, tool, args...)
					if err != nil {
						t.Fatalf("%v\n%s", err, o)
					}
					out.WriteString(o)
				}
				all = append(all, out.String())
			}
			if all[0] != all[1] {
				t.Errorf("snmpwalk and snmpbulkwalk differ:\n%s", lineDiff([]byte(all[0]), []byte(all[1])))
			}
			testutil.Golden(t, filepath.Join("testdata", "walk.golden"), []byte(all[0]))
			if strings.Contains(d.out.String(), "illegal") {
				t.Errorf("snmpd complained:\n%s", d.out.String())
			}
		})
	}
}

func TestGetMany(t *testing.T) {
	d := startSnmpd(t, "unix")
	srv := newTestServer(t, d.agentx)
	startServer(t, srv)
	waitConnects(t, srv, 1)
	out, err := d.tool(t, "snmpget",
		entStr+".1.1.1.0",                      // mgmtdClusterName.0
		entStr+".1.3.1.5.5.110.111.100.101.50", // mgmtdNodeState."node2"
		sysName,                                // snmpd's own
		entStr+".1.1.5.0",                      // mgmtdClusterQuorate.0
		entStr+".1.3.1.5.9.110.111.110.101",    // missing row
		entStr+".1.99.0",                       // missing object
		vmMIBStr+".1.2.0",                      // vmNumber.0
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{
		entStr + `.1.1.1.0 = STRING: "democluster"`,
		entStr + `.1.3.1.5.5.110.111.100.101.50 = INTEGER: 2`,
		sysName + ` = STRING: "snmpd-under-test"`,
		entStr + `.1.1.5.0 = INTEGER: 1`,
		entStr + `.1.3.1.5.9.110.111.110.101 = No Such Instance currently exists at this OID`,
		entStr + `.1.99.0 = No Such Object available on this agent at this OID`,
		vmMIBStr + `.1.2.0 = INTEGER: 2`,
	}
	if got := strings.TrimSpace(out); got != strings.Join(want, "\n") {
		t.Fatalf("snmpget:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// TestSetRefused checks that a SET into our subtree fails cleanly with
// notWritable and that snmpd keeps answering, for both our objects and its
// own, and still accepts a SET elsewhere.
func TestSetRefused(t *testing.T) {
	d := startSnmpd(t, "unix")
	srv := newTestServer(t, d.agentx)
	startServer(t, srv)
	waitConnects(t, srv, 1)
	for range 2 {
		out, err := d.tool(t, "snmpset", "-t", "3", "-r", "0", entStr+".1.1.1.0", "s", "renamed", vmMIBStr+".1.9.0", "i", "1")
		if err == nil || !strings.Contains(out, "notWritable") {
			t.Fatalf("snmpset into our subtree: %v\n%s", err, out)
		}
	}
	out, err := d.tool(t, "snmpget", "-t", "2", "-r", "0", sysName, entStr+".1.1.1.0")
	if err != nil || !strings.Contains(out, "snmpd-under-test") || !strings.Contains(out, `"democluster"`) {
		t.Fatalf("snmpd stopped answering after refused SET: %v\n%s", err, out)
	}
	if st := srv.Stats(); st.SetsRefused < 2 || st.Connects != 1 {
		t.Fatalf("stats after SETs: %+v", st)
	}
}

// TestGosnmpWalk walks with gosnmp, whose walks check that OIDs increase,
// and compares with the table the server built.
func TestGosnmpWalk(t *testing.T) {
	d := startSnmpd(t, "unix")
	srv := newTestServer(t, d.agentx)
	startServer(t, srv)
	waitConnects(t, srv, 1)
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(d.port), Community: "public", Version: gosnmp.Version2c,
		Timeout: 3 * time.Second, Retries: 1, MaxRepetitions: 20}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	tb := srv.client.Table()
	for _, walk := range []struct {
		name string
		fn   func(string) ([]gosnmp.SnmpPDU, error)
	}{{"WalkAll", g.WalkAll}, {"BulkWalkAll", g.BulkWalkAll}} {
		var got []string
		for _, base := range []string{vmMIBStr, entStr} {
			pdus, err := walk.fn(base)
			if err != nil {
				t.Fatalf("%s %s: %v", walk.name, base, err)
			}
			for _, p := range pdus {
				got = append(got, p.Name)
			}
		}
		if len(got) != tb.Len() {
			t.Fatalf("%s returned %d varbinds, table has %d", walk.name, len(got), tb.Len())
		}
		for i, name := range got {
			if want := tb.At(i).Name.String(); name != want {
				t.Fatalf("%s varbind %d = %s, want %s", walk.name, i, name, want)
			}
		}
	}
	pdu, err := g.Get([]string{entStr + ".1.1.1.0", sysName})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := pdu.Variables[0].Value.([]byte); !ok || string(v) != "democluster" {
		t.Fatalf("gosnmp Get mgmtdClusterName.0 = %#v", pdu.Variables[0].Value)
	}
}

// TestNotifications sends a burst of model events through snmpd to a real
// snmptrapd and checks that the agent start, the node and quorum traps
// arrive with their varbinds.
func TestNotifications(t *testing.T) {
	d := newSnmpd(t, "unix")
	td := startTrapd(t, d.trap)
	d.run(t)
	st := demoStore()
	srv, err := New(Options{AgentX: d.agentx, Now: fixedNow}, st, st.Events(), nil)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, srv)
	waitConnects(t, srv, 1)
	testutil.Eventually(t, waitTimeout, func() bool { return srv.Stats().NotifiesSent >= 1 }, "the agent start notification is sent")

	// node2 goes offline and the partition loses quorum; VM scratch
	// starts on node1, the VM-MIB's hypervisor.
	pm, cs, vt, _ := demoParts()
	vt.VMs[1].State = model.VMRunning
	st.Report(model.Report{Source: "libvirt", Time: t0.Add(time.Minute), Virt: vt})
	pm.Nodes[1].State, pm.Nodes[1].Online = model.NodeOffline, false
	pm.Cluster.Quorate = false
	st.Report(model.Report{Source: "pacemaker", Time: t0.Add(time.Minute), Pacemaker: pm})
	cs.Membership.Quorate = false
	st.Report(model.Report{Source: "corosync", Time: t0.Add(time.Minute), Corosync: cs})

	want := []string{
		entStr + ".0.1", // mgmtdAgentStart
		entStr + ".0.2", // mgmtdNodeStateChange
		entStr + ".1.3.1.5.5.110.111.100.101.50 = INTEGER: 5", // node2 offline
		entStr + ".0.3",                   // mgmtdQuorumChange
		entStr + ".1.1.5.0 = INTEGER: 2",  // not quorate
		entStr + ".1.20.1.0 = INTEGER: 3", // severity critical
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		b, _ := os.ReadFile(td.log)
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				return false
			}
		}
		return true
	}, "the traps are in snmptrapd's log")
	if s := srv.Stats(); s.NotifiesDropped != 0 {
		t.Errorf("notifications dropped: %+v", s)
	}
}
