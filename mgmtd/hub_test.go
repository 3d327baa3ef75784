package mgmtd

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mgmtd/audit"
	"mgmtd/audit/pgstore/pgtest"
	"mgmtd/auth"
	"mgmtd/hub"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// hubPKI is a private CA with the hub's server certificate and client
// certificates, as README "Enrolling a cluster" makes them with openssl.
type hubPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	pool   *x509.CertPool
}

func newHubPKI(t testing.TB) *hubPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mgmtd fleet CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &hubPKI{dir: t.TempDir(), ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var serial atomic.Int64

// issue makes a certificate for cn (a server one with 127.0.0.1, or a
// client one) and returns its certificate and key files.
func (p *hubPKI) issue(t testing.TB, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(100 + serial.Add(1)), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// waitHealthz waits (at most 60 s) until the hub at addr answers
// /healthz over TLS.
func (p *hubPKI) waitHealthz(t testing.TB, addr, what string) {
	t.Helper()
	tlsOnly := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	testutil.Eventually(t, 60*time.Second, func() bool {
		resp, err := tlsOnly.Get("https://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "%s answers", what)
}

// client is an HTTPS client presenting cn's certificate.
func (p *hubPKI) client(t testing.TB, cn string) *http.Client {
	t.Helper()
	cf, kf := p.issue(t, cn, false)
	pair, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{pair}}}}
}

// balancer is the load balancer in front of the hub processes, one per
// cluster so that the test can cut one cluster's network: a TCP proxy
// that connects each client to the first hub process that answers.
type balancer struct {
	ln       net.Listener
	backends []string
	blocked  atomic.Bool
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

func newBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, backends: backends, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); b.cut() })
	go b.serve()
	return b
}

func (b *balancer) addr() string { return b.ln.Addr().String() }

func (b *balancer) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		if b.blocked.Load() {
			c.Close()
			continue
		}
		var up net.Conn
		for _, a := range b.backends {
			if up, err = net.DialTimeout("tcp", a, time.Second); err == nil {
				break
			}
		}
		if up == nil {
			c.Close()
			continue
		}
		b.mu.Lock()
		b.conns[c], b.conns[up] = true, true
		b.mu.Unlock()
		go func() { io.Copy(up, c); up.Close(); c.Close() }()
		go func() { io.Copy(c, up); up.Close(); c.Close() }()
	}
}

// block cuts the cluster off (open connections too) until unblock.
func (b *balancer) block()   { b.blocked.Store(true); b.cut() }
func (b *balancer) unblock() { b.blocked.Store(false) }

func (b *balancer) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
	}
	clear(b.conns)
}

// hubDB makes an empty database on the development PostgreSQL.
func hubDB(t testing.TB) string {
	t.Helper()
	admin := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if v := os.Getenv("MGMTD_TEST_PG_DSN"); v != "" {
		admin = v
	}
	_, dsn := pgtest.NewDB(t, admin, "mgmtd_hubtest")
	return dsn("")
}

func getJSON(t *testing.T, c *http.Client, url string, v any) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// TestHubFleet (issue 18): two hub processes on one PostgreSQL (the
// mgmtd binary and one in this process), three demo clusters pushing
// through a load balancer each. The binary is killed (SIGKILL) and one cluster's network is cut for longer than the stale
// limit: the cluster is marked stale and then current again, and no event
// is lost - every event each cluster published is stored once at the hub
// and reached the surviving process's fleet stream. Reads are cut to the
// clusters a caller's grants reach; a denial is audited; a cluster's
// certificate pushes for its own cluster only.
func TestHubFleet(t *testing.T) {
	pki := newHubPKI(t)
	dsn := hubDB(t)
	srvCert, srvKey := pki.issue(t, "hub", true)
	clusters := []string{"c1", "c2", "c3"}
	bindings := []auth.Binding{
		{Role: auth.RoleViewer, CertSubjects: []string{"ops"}},
		{Role: auth.RoleViewer, Scope: auth.Scope{Kind: auth.KindCluster, Name: "c1"}, CertSubjects: []string{"reader-c1"}},
	}
	for _, c := range clusters {
		bindings = append(bindings, auth.Binding{Role: auth.RoleSender, Scope: auth.Scope{Kind: auth.KindCluster, Name: c}, CertSubjects: []string{c}})
	}
	const staleAfter = 2 * time.Second
	hubConfig := func(name string) *Config {
		cfg, err := LoadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		cfg.View, cfg.Listen, cfg.StateDir = name, "127.0.0.1:0", t.TempDir()
		cfg.Auth.TLS = auth.TLSConfig{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: pki.caFile}
		cfg.Auth.Bindings = bindings
		cfg.HubServer = HubServerConfig{DSN: dsn, Migrate: true, StaleAfter: staleAfter}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	// Hub A is the mgmtd binary, killed with SIGKILL later; hub B runs in
	// this process, so that the test can read its audit log and socket.
	cfgA := hubConfig("hubA")
	cfgA.Listen = testutil.FreeAddr(t)
	cfgA.Socket = filepath.Join(cfgA.StateDir, "hub.sock")
	js, err := json.Marshal(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	fileA := filepath.Join(cfgA.StateDir, "hub.yaml")
	if err := os.WriteFile(fileA, js, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "mgmtd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/mgmtd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	procA := exec.Command(bin, "hub", "--config", fileA, "--log-level", "warn")
	var logA strings.Builder
	procA.Stdout, procA.Stderr = &logA, &logA
	if err := procA.Start(); err != nil {
		t.Fatal(err)
	}
	waitA := make(chan error, 1)
	go func() { waitA <- procA.Wait() }()
	t.Cleanup(func() {
		_ = procA.Process.Kill()
		<-waitA
		if t.Failed() {
			t.Logf("hub A's output:\n%s", logA.String())
		}
	})
	pki.waitHealthz(t, cfgA.Listen, "hub A (the binary)")
	hubB, err := NewHub(hubConfig("hubB"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hubB, _ = runDaemonWith(t, hubB)
	testutil.Eventually(t, 20*time.Second, hubB.Fleet.Ready, "hub B loaded the fleet")
	addrB := strings.TrimPrefix(hubB.URL, "https://")

	daemons := map[string]*Daemon{}
	lbs := map[string]*balancer{}
	for _, c := range clusters {
		lbs[c] = newBalancer(t, cfgA.Listen, addrB)
		cert, key := pki.issue(t, c, false)
		cfg, err := LoadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen, cfg.StateDir, cfg.Cluster, cfg.View = "127.0.0.1:0", t.TempDir(), c, "hv1"
		cfg.Hub = HubConfig{URL: "https://" + lbs[c].addr(), CertFile: cert, KeyFile: key, CAFile: pki.caFile,
			SnapshotInterval: 200 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Demo: true, DemoSpeed: 20})
		daemons[c] = d
	}
	ops := pki.client(t, "ops")
	type clustersReply struct {
		Data []hub.ClusterInfo `json:"data"`
	}
	fleetOf := func(d *Daemon, c *http.Client) map[string]hub.ClusterInfo {
		var r clustersReply
		if code := getJSON(t, c, d.URL+"/api/v1/fleet/clusters", &r); code != 200 {
			t.Fatalf("clusters: %d", code)
		}
		out := map[string]hub.ClusterInfo{}
		for _, ci := range r.Data {
			out[ci.Name] = ci
		}
		return out
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		f := fleetOf(hubB, ops)
		for _, c := range clusters {
			if ci, ok := f[c]; !ok || ci.ContactLost || ci.Nodes == 0 {
				return false
			}
		}
		return true
	}, "hub B shows three current clusters")

	// The surviving process's fleet stream, from the first event on.
	var streamMu sync.Mutex
	streamed := map[int64]string{}
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	go func() {
		for sctx.Err() == nil {
			req, _ := http.NewRequestWithContext(sctx, "GET", hubB.URL+"/api/v1/fleet/events?last_event_id=0", nil)
			sc := &http.Client{Transport: ops.Transport}
			resp, err := sc.Do(req)
			if err != nil {
				continue
			}
			sc2 := bufio.NewScanner(resp.Body)
			sc2.Buffer(make([]byte, 1<<20), 1<<20)
			for sc2.Scan() {
				if data, ok := strings.CutPrefix(sc2.Text(), "data: "); ok {
					var e hub.FleetEvent
					if json.Unmarshal([]byte(data), &e) == nil && e.ID > 0 {
						streamMu.Lock()
						streamed[e.ID] = fmt.Sprintf("%s/%s/%d", e.Cluster, e.Instance, e.Seq)
						streamMu.Unlock()
					}
				}
			}
			resp.Body.Close()
		}
	}()

	// Kill hub A: its clusters' balancers go to hub B.
	waitEvents := func(c string, n uint64) {
		from := daemons[c].Store.Events().Last()
		testutil.Eventually(t, 30*time.Second, func() bool { return daemons[c].Store.Events().Last() >= from+n }, "%s publishes %d more events", c, n)
	}
	waitEvents("c1", 5)
	// The balancers send everything to A while it lives.
	resp, err := ops.Get("https://" + cfgA.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsA, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, c := range clusters {
		if !strings.Contains(string(metricsA), `mgmtd_fleet_events_stored_total{cluster="`+c+`"}`) || strings.Contains(string(metricsA), `mgmtd_fleet_events_stored_total{cluster="`+c+`"} 0`+"\n") {
			t.Fatalf("hub A stored nothing of %s before it was killed:\n%s", c, metricsA)
		}
	}
	if err := procA.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-waitA
	waitA <- nil // for the cleanup
	waitEvents("c1", 5)

	// Cut c2 off for longer than the stale limit; it publishes meanwhile.
	lbs["c2"].block()
	testutil.Eventually(t, 30*time.Second, func() bool {
		ci := fleetOf(hubB, ops)["c2"]
		return ci.Stale && ci.ContactLost && strings.Contains(ci.StaleReason, "no contact")
	}, "hub B marks c2 stale")
	waitEvents("c2", 10)
	if st := daemons["c2"].Pusher.Status(); st.Connected || st.Spooled == 0 {
		t.Fatalf("c2's pusher while cut off: %+v", st)
	}
	for _, c := range []string{"c1", "c3"} {
		if ci := fleetOf(hubB, ops)[c]; ci.ContactLost {
			t.Fatalf("%s stale while only c2 is cut off: %+v", c, ci)
		}
	}
	lbs["c2"].unblock()
	testutil.Eventually(t, 30*time.Second, func() bool { return !fleetOf(hubB, ops)["c2"].ContactLost }, "c2 current again")

	// No event lost: everything each cluster published up to now is at
	// the hub, once, with the same content.
	pool, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close(context.Background())
	for _, c := range clusters {
		d := daemons[c]
		upTo := d.Store.Events().Last()
		testutil.Eventually(t, 30*time.Second, func() bool { return d.Pusher.Status().Acked >= upTo }, "%s's events up to %d acknowledged", c, upTo)
		evs, missed := d.Store.Events().Since(0)
		if missed {
			t.Fatalf("%s: the daemon's own event log overran; the test cannot compare", c)
		}
		rows, err := pool.Query(context.Background(), "SELECT seq, type, object_name FROM hub.event WHERE cluster = $1 AND instance = 'hv1' AND seq <= $2 ORDER BY seq", c, int64(upTo))
		if err != nil {
			t.Fatal(err)
		}
		stored := map[uint64]string{}
		for rows.Next() {
			var seq int64
			var typ, name string
			if err := rows.Scan(&seq, &typ, &name); err != nil {
				t.Fatal(err)
			}
			stored[uint64(seq)] = typ + " " + name
		}
		rows.Close()
		n := 0
		for _, e := range evs {
			if e.Seq > upTo {
				break
			}
			n++
			if got, want := stored[e.Seq], string(e.Type)+" "+e.Object.Name; got != want {
				t.Errorf("%s event %d: hub has %q, cluster published %q", c, e.Seq, got, want)
			}
		}
		if len(stored) != n || n < 10 {
			t.Errorf("%s: hub holds %d events up to %d, the cluster published %d", c, len(stored), upTo, n)
		}
		if st := d.Pusher.Status(); st.Lost != 0 {
			t.Errorf("%s's pusher lost %d events", c, st.Lost)
		}
		var buf bytes.Buffer
		if err := d.renderMetrics(&buf, d.Store.Snapshot(), true); err != nil || !strings.Contains(buf.String(), "mgmtd_hub_connected 1") {
			t.Errorf("%s's metrics on the push: %v\n%s", c, err, buf.String())
		}
	}
	// Every stored event reached hub B's stream (ingested by A before it
	// died, or by B), once each.
	// (Ids may have gaps: an insert that conflicts with an event already
	// stored - a push resent after a lost answer - still draws an id.)
	var ids []int64
	idRows, err := pool.Query(context.Background(), "SELECT id FROM hub.event ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for idRows.Next() {
		var id int64
		if err := idRows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	idRows.Close()
	missing := func() []int64 {
		streamMu.Lock()
		defer streamMu.Unlock()
		var out []int64
		for _, id := range ids {
			if _, ok := streamed[id]; !ok {
				out = append(out, id)
			}
		}
		return out
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return len(missing()) == 0 },
		"hub B's stream has every one of the %d stored events", len(ids))

	// Fleet answers.
	var objs struct {
		Data []hub.Object `json:"data"`
	}
	if code := getJSON(t, ops, hubB.URL+"/api/v1/fleet/objects?kind=resource&cluster=c3", &objs); code != 200 || len(objs.Data) == 0 {
		t.Fatalf("objects of c3: %d %+v", code, objs)
	}
	var where struct {
		Data []hub.ClusterWhere `json:"data"`
	}
	if code := getJSON(t, ops, hubB.URL+"/api/v1/fleet/where?q="+objs.Data[0].Name, &where); code != 200 || len(where.Data) != 3 {
		t.Fatalf("where %s: %d %+v", objs.Data[0].Name, code, where)
	}
	if where.Data[0].URL != daemons[where.Data[0].Cluster].URL {
		t.Errorf("where links to %q, the cluster serves %q", where.Data[0].URL, daemons[where.Data[0].Cluster].URL)
	}
	var impact struct {
		Data []hub.ClusterImpact `json:"data"`
	}
	if code := getJSON(t, ops, hubB.URL+"/api/v1/fleet/impact?node=hv2", &impact); code != 200 || len(impact.Data) != 3 {
		t.Fatalf("impact hv2: %d %+v", code, impact)
	}
	resp, err = ops.Get(hubB.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(string(metricsText))
	if out, err := check.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("promtool check metrics on the fleet's metrics: %v\n%s", err, out)
	}
	for _, c := range clusters {
		if !strings.Contains(string(metricsText), `mgmtd_fleet_cluster_contact_lost{cluster="`+c+`"} 0`) {
			t.Errorf("metrics lack %s's staleness:\n%s", c, metricsText)
		}
	}

	// Authorization by cluster.
	reader := pki.client(t, "reader-c1")
	if f := fleetOf(hubB, reader); len(f) != 1 || f["c1"].Name != "c1" {
		t.Errorf("reader-c1 sees %v", f)
	}
	if code := getJSON(t, reader, hubB.URL+"/api/v1/fleet/objects?cluster=c2", nil); code != 403 {
		t.Errorf("reader-c1 reads c2's objects: %d", code)
	}
	if code := getJSON(t, reader, hubB.URL+"/api/v1/fleet/where?q="+objs.Data[0].Name, &where); code != 200 || len(where.Data) != 1 || where.Data[0].Cluster != "c1" {
		t.Errorf("reader-c1's where: %d %+v", code, where)
	}
	c1 := pki.client(t, "c1")
	body := strings.NewReader(`{"cluster":"c2","instance":"hv1","sent":"2026-12-05T10:00:00Z"}`)
	resp, err = c1.Post(hubB.URL+hub.PushPath, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("c1 pushes for c2: %d", resp.StatusCode)
	}
	// Limits: a body that decodes past 64 MiB (a gzip bomb), too many
	// events.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"cluster":"c1","instance":"hv1","url":"`))
	zeros := make([]byte, 1<<20)
	for range hub.MaxPushBytes>>20 + 1 {
		zw.Write(zeros)
	}
	zw.Close()
	req, _ := http.NewRequest("POST", hubB.URL+hub.PushPath, &bomb)
	req.Header.Set("Content-Encoding", "gzip")
	slow := &http.Client{Timeout: 2 * time.Minute, Transport: c1.Transport} // 64 MiB through gzip, with -race
	if resp, err = slow.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a push decoding past the limit: %d", resp.StatusCode)
	}
	many := hub.Push{Cluster: "c1", Instance: "hv1", Events: make([]model.Event, hub.MaxPushEvents+1)}
	for i := range many.Events {
		many.Events[i] = model.Event{Seq: uint64(i + 1), Published: time.Now(), Type: model.EventTask}
	}
	mb, _ := json.Marshal(many)
	if resp, err = c1.Post(hubB.URL+hub.PushPath, "application/json", bytes.NewReader(mb)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a push of %d events: %d", len(many.Events), resp.StatusCode)
	}
	if code := getJSON(t, c1, hubB.URL+"/api/v1/fleet/clusters", nil); code != 403 {
		t.Errorf("a sender reads the fleet: %d", code)
	}
	// A viewer token scoped to c3, made by root on the hub's socket.
	sock := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", hubB.Socket)
	}}}
	resp, err = sock.Post("http://hub/api/v1/tokens", "application/json", strings.NewReader(`{"name":"noc-c3","grants":[{"role":"viewer","scope":"cluster:c3"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Secret string `json:"secret"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 201 && resp.StatusCode != 200 || tok.Secret == "" {
		t.Fatalf("token on the hub's socket: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", hubB.URL+"/api/v1/fleet/clusters", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Secret)
	noCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
	resp, err = noCert.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var scoped clustersReply
	json.NewDecoder(resp.Body).Decode(&scoped)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(scoped.Data) != 1 || scoped.Data[0].Name != "c3" {
		t.Errorf("the c3 token sees %d %+v", resp.StatusCode, scoped.Data)
	}
	// The fleet page, as a global viewer's token sees it.
	resp, err = sock.Post("http://hub/api/v1/tokens", "application/json", strings.NewReader(`{"name":"noc","grants":[{"role":"viewer"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	shot := filepath.Join(t.TempDir(), "fleet.png")
	next, _ := runPageScript(t, "fleet.mjs", hubB.URL, tok.Secret, "c2", shot)
	pg := next()
	t.Logf("fleet page: %v %v", pg["rows"], pg["detail"])
	rows := pg["rows"].([]any)
	if len(rows) != 3 || !strings.HasSuffix(pg["url"].(string), "/ui/fleet.html#c2") {
		t.Errorf("fleet page at %v: %d rows: %v", pg["url"], len(rows), rows)
	}
	for _, r := range rows {
		cells := r.(map[string]any)["cells"].([]any)
		if h := cells[1].(string); h != "healthy" && h != "warning" && h != "critical" {
			t.Errorf("fleet page: %v's health is %q", cells[0], h)
		}
	}
	detail := pg["detail"].(map[string]any)
	if detail["link"] != daemons["c2"].URL || detail["title"] != "Cluster c2" || detail["objects"].(float64) == 0 {
		t.Errorf("c2's detail on the fleet page: %v (c2 serves %s)", detail, daemons["c2"].URL)
	}
	if v := pg["axe"].([]any); len(v) != 0 || len(pg["console_errors"].([]any)) != 0 {
		t.Errorf("fleet page: axe %v, console %v", v, pg["console_errors"])
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		page, err := hubB.Audit.Query(context.Background(), audit.Filter{Action: "authz.denied", Limit: 100}, audit.Event{Actor: "test", AuthMethod: "none", Channel: audit.ChannelSystem})
		if err != nil {
			t.Logf("audit query: %v", err)
			return false
		}
		var reader, push bool
		for _, r := range page.Records {
			s := fmt.Sprint(r)
			reader = reader || strings.Contains(s, "reader-c1") && strings.Contains(s, "c2")
			push = push || strings.Contains(s, "hub.push")
		}
		if !(reader && push) {
			t.Logf("denials: %+v", page.Records)
		}
		return reader && push
	}, "hub B audited the denials")
}

// TestHubSequenceWithoutHistory: a daemon that pushes to a hub but keeps
// no history starts its event sequence from the clock, so that a restart
// never repeats a (cluster, instance, sequence) the hub already holds.
func TestHubSequenceWithoutHistory(t *testing.T) {
	pki := newHubPKI(t)
	cert, key := pki.issue(t, "c1", false)
	for _, withHub := range []bool{false, true} {
		cfg, err := LoadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen, cfg.StateDir, cfg.Cluster = "127.0.0.1:0", t.TempDir(), "c1"
		cfg.History.Disabled = true
		if withHub {
			cfg.Hub = HubConfig{URL: "https://127.0.0.1:1", CertFile: cert, KeyFile: key, CAFile: pki.caFile}
		}
		before := uint64(time.Now().UnixMicro())
		d, err := NewDaemon(cfg, slog.New(slog.DiscardHandler), Options{Demo: true, DemoSpeed: 0.001})
		if err != nil {
			t.Fatal(err)
		}
		last := d.Store.Events().Last()
		d.closeAudit()
		if got := last >= before; got != withHub {
			t.Errorf("hub %v: the sequence starts after %d (clock %d)", withHub, last, before)
		}
	}
}
