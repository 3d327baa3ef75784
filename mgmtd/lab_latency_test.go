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
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/lab"
	"mgmtd/model"
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

// TestLabChangeToEvent: a change made with Pacemaker's own tools (not
// through mgmtd) reaches the event stream of the mgmtd on the node where
// it happened through the alert agent, before the version check (5 s)
// would see it. The numbers are measured by BenchmarkLabChangeToEvent.
func TestLabChangeToEvent(t *testing.T) {
	l := lab.Up(t, 3)
	bin := buildMgmtd(t)
	labDummy(t, l)
	l.Exec("node1", bin, "alert", "install", "--socket", "/run/mgmtd.sock", "--agent", filepath.Join(lab.Dir, "bin", "mgmtd-alert"))
	obs := observers(t, l)
	for _, m := range measureMoves(t, l, obs, 3) {
		if m.local > 4*time.Second {
			t.Errorf("a move to %s took %s to reach its own node's event stream: the alert agent did not push it", m.to, m.local)
		}
	}
}

// observers runs mgmtd on every node and follows each event stream.
func observers(t testing.TB, l *lab.Lab) map[string]*eventWatcher {
	t.Helper()
	obs := map[string]*eventWatcher{}
	for _, n := range l.Nodes {
		obs[n] = watchEvents(t, startLabDaemon(t, l, n))
	}
	return obs
}

// labDummy creates the Dummy d1 that stays where it is put (stickiness),
// so that clearing a move does not move it again.
func labDummy(t testing.TB, l *lab.Lab) {
	t.Helper()
	l.Exec("node1", "cibadmin", "--create", "-o", "resources", "--xml-text",
		`<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"><meta_attributes id="d1-meta"><nvpair id="d1-stick" name="resource-stickiness" value="100"/></meta_attributes></primitive>`)
	l.Exec("node1", "crm_resource", "--wait", "--timeout", "60s")
}

// move is one measured move: how long from the move command to the event
// on the node d1 moved to (local: its own alert) and on the third node
// (remote: no alert of its own), and how long Pacemaker itself took.
type move struct {
	to                     string
	local, remote, cluster time.Duration
}

// measureMoves moves d1 n times with crm_resource and measures each move
// at the observers.
func measureMoves(t testing.TB, l *lab.Lab, obs map[string]*eventWatcher, n int) []move {
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
		l.Exec("node1", "crm_resource", "--wait", "--timeout", "60s")
		m := move{to: to, cluster: time.Since(start)}
		m.local = obs[to].until(t, "d1", to).Sub(start)
		m.remote = obs[third].until(t, "d1", to).Sub(start)
		out = append(out, m)
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

// BenchmarkLabChangeToEvent measures, on the lab with mgmtd on every
// node, how long a resource move made with Pacemaker's tools takes from
// the move command to an event on mgmtd's event stream: on the node the
// resource moved to and on a third node, with the version check alone
// (every 5 s), then with the alert agent installed; next to Pacemaker's
// own time for the move (the move command to crm_resource --wait). It
// reports p50 and p99 in milliseconds over -benchtime moves per mode:
//
//	go test -run '^$' -bench LabChangeToEvent -benchtime 20x ./mgmtd/
func BenchmarkLabChangeToEvent(b *testing.B) {
	l := lab.Up(b, 3)
	bin := buildMgmtd(b)
	labDummy(b, l)
	obs := observers(b, l)
	report := func(mode string, ms []move) {
		for _, kind := range []string{"cluster", "local", "remote"} {
			var lat []time.Duration
			for _, m := range ms {
				lat = append(lat, map[string]time.Duration{"cluster": m.cluster, "local": m.local, "remote": m.remote}[kind])
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
			b.ReportMetric(p(0.5), mode+"-"+kind+"-p50-ms")
			b.ReportMetric(p(0.99), mode+"-"+kind+"-p99-ms")
		}
	}
	b.ResetTimer()
	report("poll", measureMoves(b, l, obs, b.N))
	l.Exec("node1", bin, "alert", "install", "--socket", "/run/mgmtd.sock", "--agent", filepath.Join(lab.Dir, "bin", "mgmtd-alert"))
	report("alert", measureMoves(b, l, obs, b.N))
}
