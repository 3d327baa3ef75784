package mgmtd

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/lab"
	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/rest"
	"mgmtd/source/pacemaker"
)

// buildMgmtd builds the mgmtd binary where the lab's nodes (and the
// hacluster user, which runs alert agents) can run it.
func buildMgmtd(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(lab.Dir, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mgmtd")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/mgmtd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	return bin
}

// eventWatcher follows a daemon's event stream and reports when an event
// for a resource moving (or starting) to a node arrives.
type eventWatcher struct {
	events chan arrival
	d      *labDaemon
}

// arrival is an event and when it arrived.
type arrival struct {
	model.Event
	at time.Time
}

func watchEvents(t testing.TB, d *labDaemon) *eventWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", d.url+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+d.tokens[auth.RoleViewer])
	resp, err := insecure.Transport.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("event stream: %v", err)
	}
	w := &eventWatcher{events: make(chan arrival, 1024)}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e model.Event
				if json.Unmarshal([]byte(data), &e) == nil {
					w.events <- arrival{e, time.Now()}
				}
			}
		}
	}()
	return w
}

// until waits for an event of rsc arriving on node and returns when the
// event reached the stream.
func (w *eventWatcher) until(t testing.TB, rsc, node string) time.Time {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case e := <-w.events:
			if e.Object.Name == rsc && (e.Type == model.EventResourceMoved || e.Type == model.EventResourceStarted) && (e.To == node || e.Node == node) {
				return e.at
			}
		case <-deadline:
			t.Fatalf("no event for %s on %s", rsc, node)
		}
	}
}

// opClock follows the cluster's operations as mgmtd's watcher does -
// crm_mon -E, inside node1, running the mgmtd binary as its agent - and
// stamps each when it is printed: the moment Pacemaker recorded it, give
// or take the few milliseconds of starting the agent. Latencies measured
// from it are mgmtd's own: from the cluster's change to mgmtd's event.
type opClock struct {
	mu  sync.Mutex
	ops []stampedOp
}

type stampedOp struct {
	pacemaker.WatchEvent
	at time.Time
}

func startOpClock(t testing.TB, l *lab.Lab, bin string) *opClock {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Command(ctx, "node1", "crm_mon", "--output-as=text", "--output-to=/dev/null",
		"--external-agent="+bin, "--external-recipient="+pacemaker.WatchRecipient)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	c := &opClock{}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if e, ok := pacemaker.ParseWatchLine(sc.Bytes()); ok {
				c.mu.Lock()
				c.ops = append(c.ops, stampedOp{e, time.Now()})
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// when waits for the successful task of rsc on node recorded after since.
func (c *opClock) when(t testing.TB, rsc, node, task string, since time.Time) time.Time {
	t.Helper()
	var at time.Time
	testutil.Eventually(t, 60*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, o := range c.ops {
			if o.at.After(since) && o.Resource == rsc && o.Node == node && o.Task == task && o.Desc == "OK" {
				at = o.at
				return true
			}
		}
		return false
	}, "the cluster records %s %s on %s", task, rsc, node)
	return at
}

// TestLabChangeToEvent: a change made with Pacemaker's own tools (not
// through mgmtd) reaches the event stream of the mgmtd on every node -
// also those where nothing ran, which Pacemaker's alerts never tell -
// through the crm_mon watcher, and the notification reaches snmptrapd
// from exactly one node, well before the version check (every 30 s while
// watching) would have seen it. The numbers are measured by
// BenchmarkLabChangeToEvent.
func TestLabChangeToEvent(t *testing.T) {
	l := lab.Up(t, 3)
	bin := buildMgmtd(t)
	labDummy(t, l)
	trapd := startLabTrapd(t)
	for _, n := range l.Nodes {
		startLabSnmpd(t, l, n)
	}
	clock := startOpClock(t, l, bin)
	obs, _ := observers(t, l, snmpConfig)
	for _, m := range measureMoves(t, l, obs, clock, trapd, 3) {
		t.Logf("move to %s: cluster %s, then local %s, remote %s, trap %s", m.to, m.cluster, m.local, m.remote, m.trap)
		if m.local > 4*time.Second || m.remote > 4*time.Second || m.trap > 4*time.Second {
			t.Errorf("a move to %s took %s (its node), %s (a third node), %s (trap) after the cluster did it: the watcher did not push it",
				m.to, m.local, m.remote, m.trap)
		}
	}
	// A move changes the configuration (its cli-prefer constraint), so it
	// is read in full; a failure and its recovery change only the status:
	// every daemon follows them by status reads that parse the node state
	// that changed and reuse the others.
	at := ""
	for _, node := range l.Nodes {
		if strings.HasSuffix(locate(t, l, "d1"), " "+node) {
			at = node
		}
	}
	l.Exec("node1", "crm_resource", "--fail", "--resource", "d1", "--node", at)
	check := func(o *eventWatcher) *model.SourceCheck {
		var h rest.Health
		o.d.getAny(t, "/healthz", &h)
		for _, st := range h.Sources {
			if st.Name == "pacemaker" && st.Check != nil {
				return st.Check
			}
		}
		return &model.SourceCheck{}
	}
	for n, o := range obs {
		testutil.Eventually(t, 60*time.Second, func() bool {
			c := check(o)
			return c.NodeStatesParsed > 0 && c.NodeStatesReused > 0
		}, n+": a status read parsed a changed node state and reused the others")
		c := check(o)
		t.Logf("%s: %d full reads, %d status reads (%d node states parsed, %d reused)", n, c.FullReads, c.StatusReads, c.NodeStatesParsed, c.NodeStatesReused)
	}
	senders := map[string]bool{}
	for _, tr := range trapd.all() {
		if strings.Contains(tr.msg, "d1") {
			senders[tr.from] = true
		}
	}
	if len(senders) != 1 {
		t.Errorf("resource notifications came from %v, want exactly one node's snmpd", senders)
	}
}

// observers runs mgmtd on every node and follows each event stream.
func observers(t testing.TB, l *lab.Lab, cfg ...map[string]any) (map[string]*eventWatcher, func()) {
	t.Helper()
	obs := map[string]*eventWatcher{}
	var stops []func()
	for _, n := range l.Nodes {
		d := startLabDaemon(t, l, n, cfg...)
		obs[n] = watchEvents(t, d)
		obs[n].d = d
		stops = append(stops, d.stop)
	}
	return obs, func() {
		for _, stop := range stops {
			stop()
		}
	}
}

// labDummy creates the Dummy d1 that stays where it is put (stickiness),
// so that clearing a move does not move it again.
func labDummy(t testing.TB, l *lab.Lab) {
	t.Helper()
	l.Exec("node1", "cibadmin", "--create", "-o", "resources", "--xml-text",
		`<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"><meta_attributes id="d1-meta"><nvpair id="d1-stick" name="resource-stickiness" value="100"/></meta_attributes></primitive>`)
	l.Exec("node1", "crm_resource", "--wait", "--timeout", "60s")
}

// move is one measured move of d1: how long Pacemaker took from the move
// command to recording the start on the new node (cluster), and from
// then to the event on the new node's mgmtd (local, where the start ran),
// on a third node's (remote, where nothing ran) and to the notification
// at snmptrapd (trap, sent by one node's mgmtd).
type move struct {
	to                           string
	cluster, local, remote, trap time.Duration
}

// measureMoves moves d1 n times with crm_resource and measures each move
// at the observers (and at trapd when not nil).
func measureMoves(t testing.TB, l *lab.Lab, obs map[string]*eventWatcher, clock *opClock, trapd *labTrapd, n int) []move {
	t.Helper()
	var out []move
	for range n {
		from := ""
		for _, node := range l.Nodes {
			if strings.Contains(locate(t, l, "d1"), node) {
				from = node
			}
		}
		to, third := "", ""
		for _, node := range l.Nodes {
			switch {
			case node == from:
			case to == "":
				to = node
			default:
				third = node
			}
		}
		start := time.Now()
		l.Exec("node1", "crm_resource", "--move", "--resource", "d1", "--node", to)
		done := clock.when(t, "d1", to, "start", start)
		m := move{to: to, cluster: done.Sub(start)}
		m.local = obs[to].until(t, "d1", to).Sub(done)
		m.remote = obs[third].until(t, "d1", to).Sub(done)
		if trapd != nil {
			m.trap = trapd.until(t, start, "d1", to).at.Sub(done)
		}
		out = append(out, m)
		l.Exec("node1", "crm_resource", "--wait", "--timeout", "60s")
		l.Exec("node1", "crm_resource", "--clear", "--resource", "d1")
		l.Exec("node1", "crm_resource", "--wait", "--timeout", "60s")
		for _, w := range obs {
			w.drain()
		}
	}
	return out
}

// drain drops the events received so far.
func (w *eventWatcher) drain() {
	for {
		select {
		case <-w.events:
		default:
			return
		}
	}
}

// BenchmarkLabChangeToEvent measures, on the lab with mgmtd (and snmpd)
// on every node and snmptrapd on the host, how long a resource move made
// with Pacemaker's tools takes from the moment the cluster recorded it
// (the start on the new node, stamped by an independent crm_mon -E) to
// an event on mgmtd's event stream - on the node the resource moved to
// and on a third node - and to the notification at snmptrapd; first with
// the version check alone (every 5 s, pacemaker.watch off: the poll),
// then with the crm_mon watcher (the default). It reports p50 and p99 in
// milliseconds over -benchtime moves per mode, and Pacemaker's own time
// (the move command to the recorded start). One mode alone:
// -bench 'LabChangeToEvent/watch'.
//
//	go test -run '^$' -bench LabChangeToEvent -benchtime 50x -timeout 60m ./mgmtd/
func BenchmarkLabChangeToEvent(b *testing.B) {
	l := lab.Up(b, 3)
	bin := buildMgmtd(b)
	labDummy(b, l)
	trapd := startLabTrapd(b)
	for _, n := range l.Nodes {
		startLabSnmpd(b, l, n)
	}
	clock := startOpClock(b, l, bin)
	report := func(b *testing.B, mode string, ms []move) {
		for _, kind := range []string{"cluster", "local", "remote", "trap"} {
			var lat []time.Duration
			for _, m := range ms {
				lat = append(lat, map[string]time.Duration{"cluster": m.cluster, "local": m.local, "remote": m.remote, "trap": m.trap}[kind])
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
			b.ReportMetric(p(0.5), mode+"-"+kind+"-p50-ms")
			b.ReportMetric(p(0.99), mode+"-"+kind+"-p99-ms")
		}
	}
	for _, mode := range []struct {
		name string
		cfg  map[string]any
	}{
		{"poll", map[string]any{"pacemaker": map[string]any{"watch": false}, "snmp": snmpConfig["snmp"]}},
		{"watch", snmpConfig},
	} {
		b.Run(mode.name, func(b *testing.B) {
			obs, stop := observers(b, l, mode.cfg)
			defer stop()
			b.ResetTimer()
			report(b, mode.name, measureMoves(b, l, obs, clock, trapd, b.N))
		})
	}
}
