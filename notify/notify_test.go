package notify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"context"

	"mgmtd/demo"
	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/notify"
	"mgmtd/notify/notifytest"
)

// story plays the recorded demo story (real crm_mon output) into a store
// from its healthy first step to the end: hv1 fails, is fenced, rejoins.
// The events of the first step are the baseline.
func story(t testing.TB) (*model.Store, func()) {
	t.Helper()
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{Cluster: "demo", View: "hv1"})
	p := demo.NewPlayer(steps, st, 1)
	p.Show(0)
	return st, func() {
		for i := 1; i < len(steps); i++ {
			p.Show(i)
		}
	}
}

type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	hdrs   []http.Header
}

func runRouter(t *testing.T, cfg notify.Config, st *model.Store, o notify.Options) *notify.Router {
	t.Helper()
	o.Events, o.Snaps = st.Events(), st
	r, err := notify.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// TestWebhookSigned: a failover of the demo story reaches a webhook as
// signed POSTs; the receiver verifies each signature with its own HMAC
// computation, and the payload names the event.
func TestWebhookSigned(t *testing.T) {
	secret := "webhook-secret-1"
	rec := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		rec.mu.Lock()
		rec.bodies = append(rec.bodies, b)
		rec.sigs = append(rec.sigs, req.Header.Get(notify.SignatureHeader))
		rec.hdrs = append(rec.hdrs, req.Header.Clone())
		rec.mu.Unlock()
	}))
	defer srv.Close()
	st, play := story(t)
	r := runRouter(t, notify.Config{Sender: "all", Routes: []notify.RouteConfig{{Name: "hook", Kind: "webhook",
		Filter:  notify.Filter{MinSeverity: "warning"},
		Webhook: &notify.WebhookConfig{URL: srv.URL + "/mgmtd", Secret: secret}}}}, st, notify.Options{})
	play()
	testutil.Eventually(t, 10*time.Second, func() bool { return r.Status()[0].Sent >= 3 && r.Status()[0].Queued == 0 }, "the webhook got the story's warnings")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	sawLost := false
	for i, b := range rec.bodies {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(b)
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); rec.sigs[i] != want {
			t.Errorf("POST %d: signature %q, want %q", i, rec.sigs[i], want)
		}
		var p notify.WebhookPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("POST %d: %v: %s", i, err, b)
		}
		if p.Version != 1 || p.Cluster != "demo" || p.ID == "" || rec.hdrs[i].Get(notify.DeliveryHeader) != p.ID || rec.hdrs[i].Get(notify.EventHeader) != string(p.Event.Type) {
			t.Errorf("POST %d: payload %+v headers %v", i, p, rec.hdrs[i])
		}
		if p.Event.Severity == model.SeverityInfo {
			t.Errorf("POST %d: an info event passed the warning filter: %+v", i, p.Event)
		}
		if p.Event.Type == model.EventNodeLeft && p.Event.Object.Name == "hv1" {
			sawLost = true
		}
		// A tampered body fails verification.
		if notify.Verify([]byte(secret), append(b, ' '), rec.sigs[i]) || !notify.Verify([]byte(secret), b, rec.sigs[i]) {
			t.Errorf("Verify does not tell a tampered body from the signed one")
		}
	}
	if !sawLost {
		t.Errorf("no node.left for hv1 among %d POSTs", len(rec.bodies))
	}
}

// TestFailingRouteDegradesAndNeverBlocks: a receiver that answers 500 is
// retried with backoff, shown degraded, and its notification ends as a
// dead letter; meanwhile a healthy route gets every notification and a
// route whose receiver hangs drops what overflows its small queue.
func TestFailingRouteDegradesAndNeverBlocks(t *testing.T) {
	var failing atomic.Int64
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		failing.Add(1)
		http.Error(w, "receiver broken", http.StatusInternalServerError)
	}))
	defer bad.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	var good atomic.Int64
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { good.Add(1) }))
	defer ok.Close()

	st, play := story(t)
	cfg := notify.Config{Sender: "all", Routes: []notify.RouteConfig{
		{Name: "bad", Kind: "webhook", DedupWindow: -1, Attempts: 3, RetryInterval: 5 * time.Millisecond, DegradedAfter: 2, Webhook: &notify.WebhookConfig{URL: bad.URL, Secret: "k"}},
		{Name: "hang", Kind: "webhook", DedupWindow: -1, QueueSize: 1, Attempts: 1, Timeout: time.Minute, Webhook: &notify.WebhookConfig{URL: hang.URL, Secret: "k"}},
		{Name: "good", Kind: "webhook", DedupWindow: -1, Webhook: &notify.WebhookConfig{URL: ok.URL, Secret: "k"}},
	}}
	r := runRouter(t, cfg, st, notify.Options{})
	play()
	var evs int
	for _, e := range func() []model.Event { e, _ := st.Events().Since(0); return e }() {
		if !e.Baseline {
			evs++
		}
	}
	if !testutil.Poll(10*time.Second, func() bool { return good.Load() == int64(evs) }) {
		t.Fatalf("the good route got %d of %d events: %+v", good.Load(), evs, r.Status())
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		s := r.Status()[0]
		return s.DeadLettered == uint64(evs) && s.Queued == 0
	}, "every notification of the failing route is dead-lettered: %+v", r.Status()[0])
	s := r.Status()
	if !s[0].Degraded || s[0].FailedAttempts != uint64(3*evs) || s[0].Retries != uint64(2*evs) || int(failing.Load()) != 3*evs {
		t.Errorf("failing route: %+v (receiver saw %d requests for %d events)", s[0], failing.Load(), evs)
	}
	if !strings.Contains(s[0].LastError, "500") {
		t.Errorf("last error %q", s[0].LastError)
	}
	dead, found := r.DeadLetters("bad")
	if !found || len(dead) != evs || dead[0].Attempts != 3 || dead[0].Route != "bad" {
		t.Errorf("dead letters: %v %+v", found, dead)
	}
	if s[2].Degraded || s[2].Sent != uint64(evs) {
		t.Errorf("good route: %+v", s[2])
	}
	// The hanging route holds one in flight and one queued; the rest
	// were dropped, not waited for.
	if s[1].Dropped == 0 || s[1].Dropped+uint64(s[1].Queued)+1 != uint64(evs) {
		t.Errorf("hanging route: %+v", s[1])
	}
	if _, found := r.DeadLetters("nope"); found {
		t.Error("dead letters of an unknown route")
	}
}

// TestRecovery: a receiver that fails twice and then accepts delivers on
// the third attempt; the route is degraded after two failures and clear
// after the delivery.
func TestRecovery(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if n.Add(1) <= 2 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	st := model.NewStore(model.StoreOptions{Cluster: "c", View: "x"})
	r := runRouter(t, notify.Config{Sender: "all", Routes: []notify.RouteConfig{{Name: "w", Kind: "webhook", Attempts: 5, RetryInterval: time.Millisecond, DegradedAfter: 2,
		Webhook: &notify.WebhookConfig{URL: srv.URL, Secret: "k"}}}}, st, notify.Options{})
	st.Events().Publish(model.Event{Type: model.EventFencing, Severity: model.SeverityCritical, Object: model.ID{Cluster: "c", Kind: model.KindNode, Name: "n1"}, Message: "fencing reboot of n1: success"})
	testutil.Eventually(t, 5*time.Second, func() bool { return r.Status()[0].Sent == 1 }, "delivered after retries")
	s := r.Status()[0]
	if s.Degraded || s.ConsecutiveFailures != 0 || s.FailedAttempts != 2 || s.Retries != 2 || s.DeadLettered != 0 {
		t.Errorf("%+v", s)
	}
}

// TestDedup: the same event within the window is sent once; after the
// window it is sent again.
func TestDedup(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { n.Add(1) }))
	defer srv.Close()
	st := model.NewStore(model.StoreOptions{Cluster: "c", View: "x"})
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC).UnixNano())
	r := runRouter(t, notify.Config{Sender: "all", Routes: []notify.RouteConfig{{Name: "w", Kind: "webhook", DedupWindow: 5 * time.Minute,
		Webhook: &notify.WebhookConfig{URL: srv.URL, Secret: "k"}}}}, st, notify.Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	ev := model.Event{Type: model.EventSourceStale, Severity: model.SeverityWarning, Object: model.ID{Cluster: "c", Kind: model.KindSource, Name: "pacemaker"}, To: "stale", Message: "source pacemaker is stale: x"}
	for range 3 {
		st.Events().Publish(ev)
	}
	other := ev
	other.Object.Name, other.Message = "corosync", "source corosync is stale: x"
	st.Events().Publish(other)
	testutil.Eventually(t, 5*time.Second, func() bool { return n.Load() == 2 && r.Status()[0].Deduplicated == 2 }, "2 sent, 2 suppressed: %+v", r.Status()[0])
	clock.Add(int64(4 * time.Minute))
	st.Events().Publish(ev)
	testutil.Eventually(t, 5*time.Second, func() bool { return r.Status()[0].Deduplicated == 3 }, "suppressed within the window")
	clock.Add(int64(time.Minute)) // the window has passed
	st.Events().Publish(ev)
	testutil.Eventually(t, 5*time.Second, func() bool { return n.Load() == 3 }, "sent again after the window")
	if d := r.Status()[0].Deduplicated; d != 3 {
		t.Errorf("deduplicated %d, want 3", d)
	}
}

// TestFilter: kinds (patterns and object kinds), severity, objects (by
// object or node) and clusters.
func TestFilter(t *testing.T) {
	ev := model.Event{Type: model.EventResourceFailed, Severity: model.SeverityCritical, Object: model.ID{Cluster: "prod", Kind: model.KindResource, Name: "web-srv"}, Node: "hv2"}
	for _, c := range []struct {
		name string
		f    notify.Filter
		want bool
	}{
		{"empty", notify.Filter{}, true},
		{"kind pattern", notify.Filter{Kinds: []string{"resource.*"}}, true},
		{"object kind", notify.Filter{Kinds: []string{"resource"}}, true},
		{"other kind", notify.Filter{Kinds: []string{"node.*", "fencing"}}, false},
		{"severity", notify.Filter{MinSeverity: "critical"}, true},
		{"object", notify.Filter{Objects: []string{"web*"}}, true},
		{"node", notify.Filter{Objects: []string{"hv2"}}, true},
		{"other object", notify.Filter{Objects: []string{"db"}}, false},
		{"cluster", notify.Filter{Clusters: []string{"prod"}}, true},
		{"other cluster", notify.Filter{Clusters: []string{"test*"}}, false},
	} {
		if got := c.f.Match(ev); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	info := ev
	info.Severity = model.SeverityInfo
	if (notify.Filter{MinSeverity: "warning"}).Match(info) {
		t.Error("info passed a warning filter")
	}
}

// TestValidate names the offending key.
func TestValidate(t *testing.T) {
	hook := &notify.WebhookConfig{URL: "https://example.test/x", Secret: "k"}
	for _, c := range []struct {
		cfg  notify.Config
		want string
	}{
		{notify.Config{Sender: "some"}, "notify.sender"},
		{notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "webhook", Webhook: hook}, {Name: "a", Kind: "webhook", Webhook: hook}}}, "notify.routes[1].name"},
		{notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "webhook", Webhook: &notify.WebhookConfig{URL: "ftp://x", Secret: "k"}}}}, "webhook.url"},
		{notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "webhook", Webhook: &notify.WebhookConfig{URL: "https://example.test/x"}}}}, "secret"},
		{notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "smtp", Webhook: hook}}}, "kind"},
		{notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "smtp", SMTP: &notify.SMTPConfig{Addr: "mail.example.test:25", From: "a@b.c", To: []string{"d@e.f"}, TLS: "none"}}}}, "loopback"},
		{notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "syslog", Syslog: &notify.SyslogConfig{Network: "udp", Addr: "x"}}}}, "syslog.addr"},
		{notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "syslog", Syslog: &notify.SyslogConfig{Network: "udp", Addr: "h:514", Facility: "bogus"}}}}, "syslog.facility"},
		{notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "webhook", Webhook: hook, Filter: notify.Filter{MinSeverity: "loud"}}}}, "min_severity"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	good := notify.Config{Routes: []notify.RouteConfig{{Name: "a", Kind: "webhook", Webhook: hook}}}
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
}

// TestSyslogRsyslog: RFC 5424 messages over UDP, TCP and a unix socket
// are parsed by a real rsyslogd into the fields they carry.
func TestSyslogRsyslog(t *testing.T) {
	rs := notifytest.StartRsyslog(t)
	st := model.NewStore(model.StoreOptions{Cluster: "demo", View: "hv1"})
	routes := []notify.RouteConfig{
		{Name: "udp", Kind: "syslog", Syslog: &notify.SyslogConfig{Network: "udp", Addr: rs.UDP, Facility: "local3"}},
		{Name: "tcp", Kind: "syslog", Syslog: &notify.SyslogConfig{Network: "tcp", Addr: rs.TCP}},
		{Name: "unix", Kind: "syslog", Syslog: &notify.SyslogConfig{Network: "unix", Addr: rs.Unix, AppName: "mgmtd-test"}},
	}
	runRouter(t, notify.Config{Sender: "all", Routes: routes}, st, notify.Options{})
	st.Events().Publish(model.Event{Type: model.EventNodeLeft, Severity: model.SeverityCritical, Object: model.ID{Cluster: "demo", Kind: model.KindNode, Name: "hv1"},
		Node: "hv1", From: "online", To: "unclean", Message: `node hv1 left (unclean) "quoted" [x]`})
	st.Events().Publish(model.Event{Type: model.EventResourceStarted, Severity: model.SeverityInfo, Object: model.ID{Cluster: "demo", Kind: model.KindResource, Name: "web"},
		Node: "hv2", To: "hv2", Message: "resource web started on hv2"})
	testutil.Eventually(t, 10*time.Second, func() bool { return len(rs.Lines()) == 6 }, "rsyslog received 6 messages: %q", rs.Lines())
	got := map[string][]string{}
	for _, l := range rs.Lines() {
		f := strings.SplitN(l, "|", 9)
		got[f[0]] = append(got[f[0]], l)
		if len(f) != 9 {
			t.Fatalf("line %q", l)
		}
		msg := strings.TrimPrefix(f[8], "\ufeff")
		switch f[6] {
		case "node.left":
			if f[2] != "crit" || f[3] != "hv1" || !strings.Contains(f[7], `object="hv1"`) || !strings.Contains(f[7], `to="unclean"`) ||
				!strings.Contains(f[7], `[mgmtd@32473 id="hv1-1"`) || msg != `node hv1 left (unclean) "quoted" [x]` {
				t.Errorf("node.left: %q", l)
			}
		case "resource.started":
			if f[2] != "info" || !strings.Contains(f[7], `node="hv2"`) || msg != "resource web started on hv2" {
				t.Errorf("resource.started: %q", l)
			}
		default:
			t.Errorf("msgid %q: %q", f[6], l)
		}
	}
	for in, fac := range map[string]string{"imudp": "local3", "imtcp": "daemon", "imuxsock": "daemon"} {
		if len(got[in]) != 2 {
			t.Errorf("%s: %q", in, got[in])
			continue
		}
		if f := strings.Split(got[in][0], "|"); f[1] != fac {
			t.Errorf("%s: facility %q, want %s", in, f[1], fac)
		}
	}
	if f := strings.Split(got["imuxsock"][0], "|"); f[4] != "mgmtd-test" {
		t.Errorf("app name %q", f[4])
	}
}

// TestSMTPExim: a real Exim with STARTTLS and AUTH PLAIN receives the
// e-mail; a wrong password fails and is retried; a server without TLS is
// refused when STARTTLS is required.
func TestSMTPExim(t *testing.T) {
	ex := notifytest.StartExim(t)
	st := model.NewStore(model.StoreOptions{Cluster: "demo", View: "hv2"})
	smtpRoute := func(name, password string) notify.RouteConfig {
		return notify.RouteConfig{Name: name, Kind: "smtp", Attempts: 2, RetryInterval: 10 * time.Millisecond, SMTP: &notify.SMTPConfig{Addr: ex.Addr, From: "mgmtd <mgmtd@" + ex.Domain + ">",
			To: []string{"ops@" + ex.Domain}, CAFile: ex.CAFile, Username: ex.User, Password: password, SubjectPrefix: "[" + name + "]"}}
	}
	implicit := smtpRoute("implicit", ex.Password)
	implicit.SMTP.Addr, implicit.SMTP.TLS = ex.TLSAddr, "tls"
	r := runRouter(t, notify.Config{Sender: "all", Routes: []notify.RouteConfig{smtpRoute("mail", ex.Password), smtpRoute("wrongpw", "nope"), implicit}}, st, notify.Options{})
	st.Events().Publish(model.Event{Type: model.EventFencing, Severity: model.SeverityCritical, Object: model.ID{Cluster: "demo", Kind: model.KindNode, Name: "hv1"},
		Node: "hv1", To: "success", Message: "fencing reboot of hv1: success"})
	if !testutil.Poll(20*time.Second, func() bool { return len(ex.Mails()) == 2 }) {
		t.Fatalf("%d mails delivered, want 2 (STARTTLS and implicit TLS); status %+v\n%s", len(ex.Mails()), r.Status(), ex.Log())
	}
	for _, prefix := range []string{"mail", "implicit"} {
		found := false
		for _, mail := range ex.Mails() {
			if !strings.Contains(mail, "Subject: ["+prefix+"] CRITICAL demo: fencing reboot of hv1: success") {
				continue
			}
			found = true
			for _, want := range []string{"X-Mgmtd-Event: fencing", "Envelope-to: ops@example.test", "Object:     node hv1"} {
				if !strings.Contains(mail, want) {
					t.Errorf("mail lacks %q:\n%s", want, mail)
				}
			}
		}
		if !found {
			t.Errorf("no mail from route %s", prefix)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return r.Status()[1].DeadLettered == 1 }, "the wrong password is dead-lettered")
	if s := r.Status()[1]; !strings.Contains(s.LastError, "535") || s.FailedAttempts != 2 {
		t.Errorf("wrong password: %+v", s)
	}
	if !strings.Contains(ex.Log(), "A=plain:mgmtd") || !strings.Contains(ex.Log(), "X=TLS") {
		t.Errorf("exim did not log an authenticated TLS session:\n%s", ex.Log())
	}
}

// TestReload: an unchanged route keeps its counters, a changed one sends
// to its new destination, an added one starts, a removed one stops; an
// invalid configuration changes nothing.
func TestReload(t *testing.T) {
	var one, two, three atomic.Int64
	count := func(n *atomic.Int64) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { n.Add(1) }))
	}
	s1, s2, s3 := count(&one), count(&two), count(&three)
	defer s1.Close()
	defer s2.Close()
	defer s3.Close()
	st := model.NewStore(model.StoreOptions{Cluster: "c", View: "x"})
	keep := notify.RouteConfig{Name: "keep", Kind: "webhook", DedupWindow: -1, Webhook: &notify.WebhookConfig{URL: s1.URL, Secret: "k"}}
	moved := notify.RouteConfig{Name: "moved", Kind: "webhook", DedupWindow: -1, Webhook: &notify.WebhookConfig{URL: s1.URL, Secret: "k"}}
	gone := notify.RouteConfig{Name: "gone", Kind: "webhook", DedupWindow: -1, Webhook: &notify.WebhookConfig{URL: s3.URL, Secret: "k"}}
	r := runRouter(t, notify.Config{Sender: "all", Routes: []notify.RouteConfig{keep, moved, gone}}, st, notify.Options{})
	ev := model.Event{Type: model.EventQuorumLost, Severity: model.SeverityCritical, Object: model.ID{Cluster: "c", Kind: model.KindCluster, Name: "c"}, Message: "cluster c lost quorum"}
	st.Events().Publish(ev)
	testutil.Eventually(t, 5*time.Second, func() bool { return one.Load() == 2 && three.Load() == 1 }, "the first event reached keep, moved and gone")

	moved2 := moved
	moved2.Webhook = &notify.WebhookConfig{URL: s2.URL, Secret: "k"}
	added := notify.RouteConfig{Name: "added", Kind: "syslog", Syslog: &notify.SyslogConfig{Network: "udp", Addr: "127.0.0.1:9"}}
	if _, err := r.Reload(notify.Config{Sender: "all", Routes: []notify.RouteConfig{keep, {Name: "bad", Kind: "webhook"}}}); err == nil {
		t.Fatal("an invalid configuration was accepted")
	}
	changed, err := r.Reload(notify.Config{Sender: "all", Routes: []notify.RouteConfig{keep, moved2, added}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(changed, ",") != "moved,added,gone" {
		t.Errorf("changed %v", changed)
	}
	st.Events().Publish(ev)
	testutil.Eventually(t, 5*time.Second, func() bool { return one.Load() == 3 && two.Load() == 1 }, "the second event reached keep and the moved route's new URL")
	s := r.Status()
	if len(s) != 3 || s[0].Name != "keep" || s[0].Sent != 2 || s[1].Name != "moved" || s[1].Sent != 1 || s[2].Name != "added" {
		t.Errorf("status after reload: %+v", s)
	}
	if three.Load() != 1 {
		t.Errorf("the removed route sent %d", three.Load())
	}
}
