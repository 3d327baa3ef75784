package mgmtd

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/notify"
	"mgmtd/notify/notifytest"
	"mgmtd/rest"
)

// TestFailoverNotifications: the demo story's failover (hv1 fails
// unclean, its resources recover on hv2 and hv3) reaches a real Exim as e-mail
// (STARTTLS, AUTH PLAIN) and a webhook as signed POSTs; a route whose
// receiver is gone is retried, shown degraded over REST and its
// notifications listed as dead letters; the routes were recorded in the
// audit log as added, and a changed route at the next start as changed.
func TestFailoverNotifications(t *testing.T) {
	ex := notifytest.StartExim(t)
	var mu sync.Mutex
	var hooks []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64<<10)
		n, _ := r.Body.Read(b)
		for n < len(b) {
			m, err := r.Body.Read(b[n:])
			n += m
			if err != nil {
				break
			}
		}
		if notify.Verify([]byte("hook-secret"), b[:n], r.Header.Get(notify.SignatureHeader)) {
			mu.Lock()
			hooks = append(hooks, string(b[:n]))
			mu.Unlock()
		} else {
			http.Error(w, "bad signature", http.StatusUnauthorized)
		}
	}))
	defer hook.Close()
	gone := testutil.FreeAddr(t) // nothing listens here
	routes := notify.Config{Routes: []notify.RouteConfig{
		{Name: "ops-mail", Kind: "smtp", Filter: notify.Filter{Kinds: []string{"node.*", "fencing"}, MinSeverity: "warning"},
			SMTP: &notify.SMTPConfig{Addr: ex.Addr, From: "mgmtd@" + ex.Domain, To: []string{"ops@" + ex.Domain}, CAFile: ex.CAFile, Username: ex.User, Password: ex.Password}},
		{Name: "hook", Kind: "webhook", Filter: notify.Filter{MinSeverity: "critical"}, Webhook: &notify.WebhookConfig{URL: hook.URL, Secret: "hook-secret"}},
		{Name: "gone", Kind: "webhook", Filter: notify.Filter{Kinds: []string{"node"}}, Attempts: 2, RetryInterval: 10 * time.Millisecond, DegradedAfter: 1,
			Webhook: &notify.WebhookConfig{URL: "http://" + gone + "/x", Secret: "k"}},
	}}
	var stateDir string
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.StateDir, cfg.Cluster, cfg.Notify = "127.0.0.1:0", t.TempDir(), "demo", routes
	stateDir = cfg.StateDir
	// Fast enough for the story's failover to happen within seconds.
	d, stop := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Demo: true, DemoSpeed: 20})
	admin := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAdmin].BearerToken}

	testutil.Eventually(t, 60*time.Second, func() bool {
		for _, m := range ex.Mails() {
			if strings.Contains(m, "node hv1 left") {
				return true
			}
		}
		return false
	}, "an e-mail says node hv1 left")
	var sawLeft bool
	for _, m := range ex.Mails() {
		if strings.Contains(m, "Subject: [mgmtd] CRITICAL demo: node hv1 left (unclean)") {
			sawLeft = true
		}
		if strings.Contains(m, "X-Mgmtd-Severity: info") {
			t.Errorf("an info event passed the warning filter:\n%s", m)
		}
	}
	if !sawLeft {
		t.Errorf("no e-mail says node hv1 left; got %d mails", len(ex.Mails()))
	}
	testutil.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(hooks) > 0 }, "a signed webhook POST arrived")

	var st []rest.NotifyRoute
	testutil.Eventually(t, 30*time.Second, func() bool {
		_, _, b := call(t, "GET", d.URL+"/api/v1/notifications", admin, "")
		st = nil
		_ = json.Unmarshal(b, &st)
		return len(st) == 3 && st[2].Degraded && st[2].DeadLettered > 0
	}, "the gone route is degraded with dead letters over REST")
	if st[0].Sent == 0 || st[0].Degraded || st[1].Sent == 0 || st[2].FailedAttempts < 2 || !strings.Contains(st[2].LastError, "refused") {
		t.Errorf("status: %+v", st)
	}
	code, _, b := call(t, "GET", d.URL+"/api/v1/notifications/dead-letters?route=gone", admin, "")
	var dead []rest.DeadLetter
	if err := json.Unmarshal(b, &dead); code != 200 || err != nil || len(dead) == 0 || dead[0].Event.Object.Kind != "node" || dead[0].Attempts != 2 {
		t.Errorf("dead letters: %d %s", code, b)
	}
	if code, _, _ := call(t, "GET", d.URL+"/api/v1/notifications/dead-letters?route=nope", admin, ""); code != 404 {
		t.Errorf("unknown route: %d", code)
	}
	viewer := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleViewer].BearerToken}
	if code, _, _ := call(t, "GET", d.URL+"/api/v1/notifications", viewer, ""); code != 403 {
		t.Errorf("viewer reads notification status: %d", code)
	}
	// The metrics say the same.
	_, _, m := call(t, "GET", d.URL+"/metrics", viewer, "")
	if !strings.Contains(string(m), `mgmtd_notify_route_degraded{kind="webhook",route="gone"} 1`) {
		t.Errorf("metrics do not show the degraded route:\n%s", m)
	}
	// The routes were recorded as added, without secrets.
	_, _, a := call(t, "GET", d.URL+"/api/v1/audit?action=notify.routes.changed", admin, "")
	if n := strings.Count(string(a), `"notify.routes.changed"`); n != 3 || strings.Contains(string(a), ex.Password) || strings.Contains(string(a), "hook-secret") {
		t.Fatalf("audit of the routes: %d records\n%s", n, a)
	}
	stop()

	// The next start with the mail password changed, the gone route
	// removed: two records, the secret's change named.
	cfg2, _ := LoadConfig("")
	cfg2.Listen, cfg2.StateDir, cfg2.Cluster = "127.0.0.1:0", stateDir, "demo"
	cfg2.Notify = notify.Config{Routes: append([]notify.RouteConfig(nil), routes.Routes[:2]...)}
	mail := *routes.Routes[0].SMTP
	mail.Password = "changed"
	cfg2.Notify.Routes[0].SMTP = &mail
	d2, _ := runDaemon(t, cfg2, slog.New(slog.DiscardHandler), Options{Demo: true, DemoSpeed: 0.001})
	admin2 := map[string]string{"Authorization": "Bearer " + d2.DemoCredentials[auth.RoleAdmin].BearerToken}
	_, _, a2 := call(t, "GET", d2.URL+"/api/v1/audit?action=notify.routes.changed", admin2, "")
	s := string(a2)
	if strings.Count(s, `"notify.routes.changed"`) != 5 || !strings.Contains(s, "route's secret changed") || !strings.Contains(s, "route removed") || strings.Contains(s, "changed\"") && strings.Contains(s, `"password":"changed"`) {
		t.Errorf("audit after the change:\n%s", s)
	}
}

// TestReloadNotifyRoutes: on SIGHUP the daemon reads its configuration
// file again and replaces the notification routes: the reload and each
// route change are recorded in the audit log, the new route delivers; a
// broken file changes nothing and is recorded as a failed reload.
func TestReloadNotifyRoutes(t *testing.T) {
	var first, second atomic.Int64
	s1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { first.Add(1) }))
	defer s1.Close()
	s2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { second.Add(1) }))
	defer s2.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "mgmtd.yaml")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	route := func(name, url string) string {
		return "  - name: " + name + "\n    kind: webhook\n    dedup_window: -1s\n    webhook: {url: \"" + url + "\", secret: s3cret-" + name + "}\n"
	}
	write("notify:\n  routes:\n" + route("one", s1.URL))
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.StateDir, cfg.Cluster = "127.0.0.1:0", filepath.Join(dir, "state"), "demo"
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Demo: true, DemoSpeed: 0.001, ConfigFile: file})
	admin := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAdmin].BearerToken}
	ev := model.Event{Type: model.EventQuorumLost, Severity: model.SeverityCritical, Object: model.ID{Cluster: "demo", Kind: model.KindCluster, Name: "demo"}, Message: "cluster demo lost quorum"}
	d.Store.Events().Publish(ev)
	testutil.Eventually(t, 10*time.Second, func() bool { return first.Load() == 1 }, "route one delivered")

	write("notify:\n  routes:\n" + route("two", s2.URL))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		st := d.Notify.Status()
		return len(st) == 1 && st[0].Name == "two"
	}, "SIGHUP replaced route one by route two")
	d.Store.Events().Publish(ev)
	testutil.Eventually(t, 10*time.Second, func() bool { return second.Load() == 1 }, "route two delivered")
	if first.Load() != 1 {
		t.Errorf("the removed route delivered again")
	}

	write("notify:\n  routes:\n  - name: broken\n    kind: webhook\n")
	if err := d.ReloadNotify(); err == nil {
		t.Fatal("a broken file was accepted")
	}
	if st := d.Notify.Status(); len(st) != 1 || st[0].Name != "two" {
		t.Errorf("a broken file changed the routes: %+v", st)
	}
	_, _, a := call(t, "GET", d.URL+"/api/v1/audit?action=notify.routes.changed", admin, "")
	s := string(a)
	if strings.Count(s, `"notify.routes.changed"`) != 3 || !strings.Contains(s, "route removed (configuration file reloaded)") ||
		!strings.Contains(s, "route added (configuration file reloaded)") || strings.Contains(s, "s3cret") {
		t.Errorf("route changes in the audit log:\n%s", s)
	}
	_, _, a = call(t, "GET", d.URL+"/api/v1/audit?action=config.reload", admin, "")
	if s := string(a); strings.Count(s, `"config.reload"`) != 2 || !strings.Contains(s, `"outcome":"failure"`) || !strings.Contains(s, `"outcome":"success"`) {
		t.Errorf("reloads in the audit log:\n%s", s)
	}
}
