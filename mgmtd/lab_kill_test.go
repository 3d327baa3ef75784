package mgmtd

import (
	"strings"
	"testing"
	"time"

	"mgmtd/internal/lab"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// TestLabNodeKill: with mgmtd and snmpd on every node, an operator works
// the cluster through mgmtd's command line (the local socket), then a
// node dies as in a power loss. The cluster fences it with the lab's
// agent and recovers its resource; every surviving mgmtd lists the
// fencing, and an NMS hears the fencing and the move exactly once, from
// one node.
func TestLabNodeKill(t *testing.T) {
	l := lab.Up(t, 3)
	bin := buildMgmtd(t)
	l.Exec("node1", "cibadmin", "--create", "-o", "resources", "--xml-text",
		`<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="d1-mon" name="monitor" interval="10s"/></operations></primitive>`)
	trapd := startLabTrapd(t)
	daemons := map[string]*labDaemon{}
	for _, n := range l.Nodes {
		startLabSnmpd(t, l, n)
		daemons[n] = startLabDaemon(t, l, n, snmpConfig)
	}
	cli := func(node string, args ...string) string {
		t.Helper()
		return l.Exec(node, bin, append(args, "--server", "unix:/run/mgmtd.sock")...)
	}

	// The command line, on node2, through its own daemon's socket.
	out := cli("node2", "resource", "move", "d1", "--node", "node3")
	if !strings.Contains(out, "crm_resource") || !strings.Contains(out, "succeeded") {
		t.Errorf("move: the CLI should show the task and the Pacemaker command it ran:\n%s", out)
	}
	if got := locate(t, l, "d1"); !strings.Contains(got, "node3") {
		t.Fatalf("after the CLI's move: %s", got)
	}
	cli("node2", "resource", "clear", "d1")
	if c := l.Exec("node1", "cibadmin", "--query", "--scope", "constraints"); strings.Contains(c, "cli-prefer-d1") {
		t.Fatalf("the CLI's clear left the move constraint:\n%s", c)
	}
	if where := cli("node1", "where", "d1"); !strings.Contains(where, "node3") {
		t.Errorf("where d1 (node1's view) does not say node3:\n%s", where)
	}
	if st := cli("node3", "status"); !strings.Contains(st, "d1") || !strings.Contains(st, "node3") {
		t.Errorf("status on node3:\n%s", st)
	}

	// node3 dies. The cluster fences it and starts d1 elsewhere.
	killed := time.Now()
	l.Kill("node3")
	testutil.Eventually(t, 120*time.Second, func() bool { _, ok := l.Fenced("node3"); return ok }, "the cluster fences node3")
	testutil.Eventually(t, 120*time.Second, func() bool {
		got := locate(t, l, "d1")
		return strings.Contains(got, "running on") && !strings.Contains(got, "node3")
	}, "d1 recovers on a surviving node")
	for _, n := range []string{"node1", "node2"} {
		d := daemons[n]
		testutil.Eventually(t, 60*time.Second, func() bool {
			var fs []model.FenceEvent
			d.get(t, "/api/v1/fencing", &fs)
			for _, f := range fs {
				if f.Target == "node3" && f.Status == "success" {
					return true
				}
			}
			return false
		}, "%s's mgmtd lists the fencing of node3", n)
	}
	fence := trapd.until(t, killed, "fencing", "node3", "success")
	// d1 moved from node3, or (when a refresh saw it stopped between)
	// started on a survivor.
	moved := trapd.untilFunc(t, killed, "of d1 recovering", func(msg string) bool {
		return strings.Contains(msg, "d1 moved from node3") || strings.Contains(msg, "d1 started on")
	})
	fencedAt, _ := l.Fenced("node3")
	t.Logf("kill -> the fence agent starts %s (it returns some seconds later), -> fencing trap %s, -> move trap %s", fencedAt.Sub(killed).Round(time.Millisecond),
		fence.at.Sub(killed).Round(time.Millisecond), moved.at.Sub(killed).Round(time.Millisecond))
	count := map[string]int{}
	senders := map[string]bool{}
	for _, tr := range trapd.all() {
		if tr.at.After(killed) && (strings.Contains(tr.msg, "fencing") || strings.Contains(tr.msg, "resource d1")) {
			count[tr.msg]++
			senders[tr.from] = true
		}
	}
	for msg, n := range count {
		if n != 1 {
			t.Errorf("%q reached snmptrapd %d times, want once", msg, n)
		}
	}
	if len(senders) != 1 {
		t.Errorf("the failover's notifications came from %v, want one node", senders)
	}

	// node3 comes back (the fence agent keeps it down until told).
	l.Start("node3")
	testutil.Eventually(t, 90*time.Second, func() bool {
		var n model.Node
		return daemons["node1"].get(t, "/api/v1/nodes/node3", &n) == 200 && n.State == model.NodeOnline
	}, "node3 rejoined after its fencing")
}
