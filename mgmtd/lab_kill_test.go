package mgmtd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
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
	// The health check, on the live cluster, names the constraint the move
	// left and the command that clears it.
	if out := cli("node2", "check"); !strings.Contains(out, "cli-prefer-d1") || !strings.Contains(out, "crm_resource --clear --resource d1") {
		t.Errorf("check after a move does not name the move's constraint:\n%s", out)
	}
	// The move is in the history, linked to the transition the DC
	// calculated and to the scheduler input it saved - which only the DC
	// has, so its mgmtd links and explains it.
	var dc string
	for _, n := range l.Nodes {
		if strings.Contains(l.Exec(n, "crm_mon", "-1"), "Current DC: "+n+" ") {
			dc = n
		}
	}
	if dc == "" {
		t.Fatal("no DC")
	}
	var hist struct {
		Records []struct {
			Type       string `json:"type"`
			Transition *struct {
				Number int    `json:"number"`
				Input  string `json:"input"`
			} `json:"transition"`
		} `json:"records"`
	}
	input := ""
	testutil.Eventually(t, 30*time.Second, func() bool {
		if daemons[dc].getAny(t, "/api/v1/history?object=d1&since=1h", &hist) != 200 {
			return false
		}
		for _, r := range hist.Records {
			if r.Type == "resource.moved" && r.Transition != nil && r.Transition.Input != "" {
				input = r.Transition.Input
				return true
			}
		}
		return false
	}, "the DC's (%s) history links d1's move to a transition and its input", dc)
	var ex struct {
		Actions []struct {
			Action   string `json:"action"`
			Resource string `json:"resource"`
		} `json:"actions"`
	}
	if code := daemons[dc].getAny(t, "/api/v1/transitions/"+input, &ex); code != 200 || len(ex.Actions) == 0 {
		t.Errorf("explain %s on the DC %s: %d %+v", input, dc, code, ex)
	}
	t.Logf("the move's transition (%s) explained on %s: %+v", input, dc, ex.Actions)
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

// getAny reads a route's body as a viewer, whether or not it is wrapped
// in the model routes' {"view", "data"} envelope; it returns the status.
func (d *labDaemon) getAny(t testing.TB, path string, out any) int {
	t.Helper()
	code, _, body := call(t, "GET", d.url+path, map[string]string{"Authorization": "Bearer " + d.tokens[auth.RoleViewer]}, "")
	if code != 200 {
		return code
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Data) > 0 {
		body = env.Data
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("%s %s: %v", d.node, path, err)
	}
	return code
}
