package mgmtd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mgmtd/auth"
	"mgmtd/hub"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// loadCluster is one simulated cluster's mgmtd as the hub sees it: a
// picture of 16 nodes and 100 started primitives that changes, and the
// event log a real hub.Pusher follows.
type loadCluster struct {
	name string
	snap atomic.Pointer[model.Snapshot]
	log  *model.EventLog
	mu   sync.Mutex
	gen  uint64
}

// Snapshot is hub.Snapshotter.
func (c *loadCluster) Snapshot() *model.Snapshot { return c.snap.Load() }

func loadSnapshot(cluster string, gen uint64) *model.Snapshot {
	now := time.Now()
	s := &model.Snapshot{Generation: gen, Time: now, View: "n01", Cluster: model.Cluster{Name: cluster, DC: "n01", Quorate: true, NodesConfigured: 16, ResourcesConfigured: 100},
		Sources: []model.SourceStatus{{Name: "pacemaker", State: model.SourceOK, LastSuccess: now}}}
	for i := range 16 {
		s.Nodes = append(s.Nodes, model.Node{Name: fmt.Sprintf("n%02d", i+1), Type: model.NodeMember, State: "online", Online: true})
	}
	for i := range 100 {
		id := fmt.Sprintf("rsc%03d", i)
		s.Resources = append(s.Resources, model.Resource{ID: id, Kind: "primitive", Agent: "ocf:heartbeat:Dummy", Managed: true})
		s.Instances = append(s.Instances, model.Instance{Resource: id, Primitive: id, Top: id, Node: s.Nodes[(i+int(gen))%16].Name, Role: "Started", Active: true, Managed: true})
	}
	return model.Reindexed(s)
}

// change moves n resources: a new picture and n events.
func (c *loadCluster) change(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.snap.Store(loadSnapshot(c.name, c.gen))
	evs := make([]model.Event, n)
	for i := range evs {
		r := fmt.Sprintf("rsc%03d", rand.IntN(100))
		evs[i] = model.Event{Time: time.Now(), Type: model.EventResourceMoved, Severity: model.SeverityWarning,
			Object: model.ID{Cluster: c.name, Kind: model.KindResource, Name: r}, Node: "n02", From: "n01", To: "n02", Message: r + " moved from n01 to n02"}
	}
	c.log.Append(evs)
}

// procStat is a process's CPU time (utime+stime) and memory.
type procStat struct {
	cpu      time.Duration
	rss, hwm int64 // kB
}

func readProc(t testing.TB, pid int) procStat {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command's closing parenthesis; utime and stime
	// are the 14th and 15th fields of the line (clock ticks, 100 Hz).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	ps := procStat{cpu: time.Duration(ut+st) * 10 * time.Millisecond}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			ps.rss = kb
		case "VmHWM":
			ps.hwm = kb
		}
	}
	return ps
}

func envInt(t testing.TB, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q", key, v)
	}
	return n
}

// latencies collects change-to-hub delays by phase.
type latencies struct {
	mu    sync.Mutex
	phase string
	by    map[string][]time.Duration
	seen  map[string]bool // cluster/seq, to count each event once per stream
}

func (l *latencies) add(key string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[key] {
		return
	}
	l.seen[key] = true
	l.by[l.phase] = append(l.by[l.phase], d)
}

func (l *latencies) set(p string) { l.mu.Lock(); l.phase = p; l.mu.Unlock() }

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

// BenchmarkHubLoad is the fleet hub's load test (issue 18): two hub
// processes (the mgmtd binary, twice) on one PostgreSQL, and
// MGMTD_HUB_LOAD_CLUSTERS simulated clusters (default 50; the issue's
// scale is 500) of 16 nodes and 100 resources, each pushing through the
// real hub.Pusher over mutual TLS with its own certificate, half of them
// to each process, with the production intervals (a picture at most
// every 2 s, a heartbeat every 10 s when idle). Phases:
//
//   - connect: every cluster's first push (a full picture);
//   - steady: each cluster changes (one resource moves: a new picture
//     and one event) at random, on average every
//     MGMTD_HUB_LOAD_CHANGE_SECONDS (default 30);
//   - storm: the same, and 10% of the clusters fail over at once: a
//     node is fenced and its resources move, 10 changes of 4 events each
//     over 10 s.
//
// Each phase lasts MGMTD_HUB_LOAD_SECONDS (default 60). A client reads
// the fleet's event stream of hub process B; an event's delay is from its
// publication by the cluster's event log to its arrival in that stream
// (through the push, PostgreSQL and, for the half ingested by A,
// LISTEN/NOTIFY). Reported per phase: events and pushes a second, each
// hub process's CPU, the delay's p50 and p99, and at the end each
// process's memory and PostgreSQL's bytes per event.
//
//	MGMTD_HUB_LOAD_CLUSTERS=500 go test ./mgmtd -run '^$' -bench HubLoad -benchtime 1x -timeout 30m
func BenchmarkHubLoad(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement: -benchtime 1x")
	}
	n := envInt(b, "MGMTD_HUB_LOAD_CLUSTERS", 50)
	phaseDur := time.Duration(envInt(b, "MGMTD_HUB_LOAD_SECONDS", 60)) * time.Second
	changeEvery := time.Duration(envInt(b, "MGMTD_HUB_LOAD_CHANGE_SECONDS", 30)) * time.Second
	pki := newHubPKI(b)
	dsn := hubDB(b)
	srvCert, srvKey := pki.issue(b, "hub", true)
	names := make([]string, n)
	bindings := []auth.Binding{{Role: auth.RoleViewer, CertSubjects: []string{"ops"}}}
	for i := range names {
		names[i] = fmt.Sprintf("sim%04d", i)
		bindings = append(bindings, auth.Binding{Role: auth.RoleSender, Scope: auth.Scope{Kind: auth.KindCluster, Name: names[i]}, CertSubjects: []string{names[i]}})
	}
	bin := filepath.Join(b.TempDir(), "mgmtd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/mgmtd").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v %s", err, out)
	}
	type hubProc struct {
		addr string
		cmd  *exec.Cmd
		out  strings.Builder
	}
	procs := map[string]*hubProc{}
	for _, name := range []string{"A", "B"} {
		cfg, err := LoadConfig("")
		if err != nil {
			b.Fatal(err)
		}
		cfg.View, cfg.Listen, cfg.StateDir = "hub"+name, testutil.FreeAddr(b), b.TempDir()
		cfg.Socket = filepath.Join(cfg.StateDir, "hub.sock")
		cfg.Auth.TLS = auth.TLSConfig{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: pki.caFile}
		cfg.Auth.Bindings = bindings
		cfg.HubServer = HubServerConfig{DSN: dsn, Migrate: name == "A"}
		if err := cfg.Validate(); err != nil {
			b.Fatal(err)
		}
		js, err := json.Marshal(cfg)
		if err != nil {
			b.Fatal(err)
		}
		file := filepath.Join(cfg.StateDir, "hub.yaml")
		if err := os.WriteFile(file, js, 0o600); err != nil {
			b.Fatal(err)
		}
		p := &hubProc{addr: cfg.Listen, cmd: exec.Command(bin, "hub", "--config", file, "--log-level", "warn")}
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		if err := p.cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
			if b.Failed() || p.out.Len() > 0 {
				b.Logf("hub %s's output:\n%s", name, p.out.String())
			}
		})
		procs[name] = p
		pki.waitHealthz(b, p.addr, "hub "+name)
	}
	ops := pki.client(b, "ops")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The fleet stream of hub B.
	lat := &latencies{phase: "connect", by: map[string][]time.Duration{}, seen: map[string]bool{}}
	var streamed atomic.Int64
	go func() {
		last := int64(0)
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("https://%s/api/v1/fleet/events?last_event_id=%d", procs["B"].addr, last), nil)
			resp, err := (&http.Client{Transport: ops.Transport}).Do(req)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				data, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok {
					continue
				}
				var e hub.FleetEvent
				if json.Unmarshal([]byte(data), &e) != nil || e.ID == 0 {
					continue
				}
				last = e.ID
				streamed.Add(1)
				lat.add(fmt.Sprintf("%s/%d", e.Cluster, e.Seq), time.Since(e.Published))
			}
			resp.Body.Close()
		}
	}()

	// The clusters, each with its own certificate and pusher.
	clusters := make([]*loadCluster, n)
	pushers := make([]*hub.Pusher, n)
	for i, name := range names {
		c := &loadCluster{name: name, log: model.NewEventLog(100_000)}
		c.snap.Store(loadSnapshot(name, 0))
		clusters[i] = c
		cf, kf := pki.issue(b, name, false)
		hc := HubConfig{URL: "https://" + procs[[]string{"A", "B"}[i%2]].addr, CertFile: cf, KeyFile: kf, CAFile: pki.caFile}
		tc, err := hc.tlsConfig()
		if err != nil {
			b.Fatal(err)
		}
		p, err := hub.NewPusher(hub.PusherOptions{URL: hc.URL, TLS: tc, Snapshots: c, Events: c.log, All: true})
		if err != nil {
			b.Fatal(err)
		}
		pushers[i] = p
	}
	pool, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close(context.Background())
	type mark struct {
		at       time.Time
		a, b     procStat
		pushes   uint64
		events   uint64
		dbBytes  int64 // the hub schema: events, clusters, pictures
		evBytes  int64 // hub.event alone
		dbEvents int64
	}
	take := func() mark {
		m := mark{at: time.Now(), a: readProc(b, procs["A"].cmd.Process.Pid), b: readProc(b, procs["B"].cmd.Process.Pid)}
		for i, p := range pushers {
			m.pushes += p.Status().Sent
			m.events += clusters[i].log.Last()
		}
		if err := pool.QueryRow(ctx, "SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = 'hub' AND c.relkind IN ('r', 'p', 'm')), pg_total_relation_size('hub.event'), (SELECT count(*) FROM hub.event)").Scan(&m.dbBytes, &m.evBytes, &m.dbEvents); err != nil {
			b.Fatal(err)
		}
		return m
	}
	b.ResetTimer()
	start := take()
	var wg sync.WaitGroup
	for _, p := range pushers {
		wg.Go(func() { _ = p.Run(ctx) })
	}
	testutil.Eventually(b, 5*time.Minute, func() bool {
		for _, p := range pushers {
			if !p.Status().Connected {
				return false
			}
		}
		return true
	}, "every cluster connected")
	connected := take()

	// Changes at random, each cluster on its own.
	storm := make(chan struct{})
	for i, c := range clusters {
		wg.Go(func() {
			storm := storm
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(rand.ExpFloat64() * float64(changeEvery))):
					c.change(1)
				case <-storm:
					storm = nil
					if i%10 != 0 {
						continue
					}
					for range 10 {
						c.change(4)
						select {
						case <-ctx.Done():
							return
						case <-time.After(time.Second):
						}
					}
				}
			}
		})
	}
	lat.set("steady")
	time.Sleep(phaseDur)
	steady := take()
	lat.set("storm")
	close(storm)
	time.Sleep(phaseDur)
	stormEnd := take()
	lat.set("drain")
	// Everything published reaches hub B's stream.
	testutil.Eventually(b, 2*time.Minute, func() bool { return streamed.Load() >= int64(take().events) }, "hub B streams every event")
	b.StopTimer()
	end := take()
	cancel()
	wg.Wait()

	report := func(phase string, from, to mark) {
		el := to.at.Sub(from.at).Seconds()
		ds := lat.by[phase]
		b.Logf("%-8s %6.1f s: %7.1f pushes/s %7.1f events/s; hub A %.2f cores, hub B %.2f cores; stream delay p50 %v p99 %v max %v (%d events)",
			phase, el, float64(to.pushes-from.pushes)/el, float64(to.events-from.events)/el,
			(to.a.cpu-from.a.cpu).Seconds()/el, (to.b.cpu-from.b.cpu).Seconds()/el,
			quantile(ds, .5).Round(time.Millisecond), quantile(ds, .99).Round(time.Millisecond), quantile(ds, 1).Round(time.Millisecond), len(ds))
	}
	report("connect", start, connected)
	report("steady", connected, steady)
	report("storm", steady, stormEnd)
	perEvent := float64(end.evBytes) / float64(max(1, end.dbEvents))
	steadyRate := float64(steady.events-connected.events) / steady.at.Sub(connected.at).Seconds()
	b.Logf("memory: hub A RSS %d MiB (peak %d MiB), hub B RSS %d MiB (peak %d MiB)", end.a.rss>>10, end.a.hwm>>10, end.b.rss>>10, end.b.hwm>>10)
	b.Logf("PostgreSQL: schema hub %d MiB (%d MiB at connection) after %d events; hub.event %.0f bytes per event (table, TOAST, indexes) -> %.2f GiB a day at the steady rate (%.1f events/s)",
		end.dbBytes>>20, connected.dbBytes>>20, end.dbEvents, perEvent, perEvent*steadyRate*86400/(1<<30), steadyRate)
	b.ReportMetric(float64(n), "clusters")
	b.ReportMetric(float64(quantile(lat.by["steady"], .99).Milliseconds()), "steady-p99-ms")
	b.ReportMetric(float64(quantile(lat.by["storm"], .99).Milliseconds()), "storm-p99-ms")
	b.ReportMetric(float64(stormEnd.events-steady.events)/stormEnd.at.Sub(steady.at).Seconds(), "storm-events/s")
	b.ReportMetric((stormEnd.a.cpu-steady.a.cpu+stormEnd.b.cpu-steady.b.cpu).Seconds()/stormEnd.at.Sub(steady.at).Seconds(), "storm-hub-cores")
	b.ReportMetric(float64(max(end.a.hwm, end.b.hwm)>>10), "hub-peak-MiB")
	b.ReportMetric(perEvent, "db-bytes/event")
	for i, p := range pushers {
		if st := p.Status(); st.Lost != 0 {
			b.Errorf("%s lost %d events", names[i], st.Lost)
		}
	}
}
