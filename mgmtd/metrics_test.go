package mgmtd

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/rest"
)

// TestMetricsPromtool: the running demo daemon's /metrics (with the CIM
// server on), scraped with the demo's viewer token, is clean for promtool;
// a caller scoped to one node sees that node's series and none of the
// daemon's internals.
func TestMetricsPromtool(t *testing.T) {
	d := startDemoWith(t, func(c *Config) { c.CIM.Addr = "127.0.0.1:0" }, slog.New(slog.DiscardHandler))
	viewer := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleViewer].BearerToken}
	code, hdr, body := call(t, "GET", d.URL+"/metrics", viewer, "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %s\n%s", code, hdr.Get("Content-Type"), body)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{`ha_cluster_pacemaker_nodes{cluster="demo",node="hv3",status="online",type="member"} 1`, "mgmtd_events_published_total", "mgmtd_audit_queue_capacity", "mgmtd_cim_indications_queued 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
	admin := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAdmin].BearerToken}
	code, _, b := call(t, "POST", d.URL+"/api/v1/tokens", admin, `{"name":"hv3 scrape","grants":[{"role":"viewer","scope":"node:hv3"}]}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var nt rest.NewToken
	_ = json.Unmarshal(b, &nt)
	_, _, scoped := call(t, "GET", d.URL+"/metrics", map[string]string{"Authorization": "Bearer " + nt.Secret}, "")
	s := string(scoped)
	if !strings.Contains(s, `node="hv3"`) || strings.Contains(s, `node="hv1",status`) || strings.Contains(s, "mgmtd_events_published_total") {
		t.Errorf("scoped metrics show other nodes or the internals:\n%s", s)
	}
	// An auditor may not read cluster state, metrics included.
	code, _, _ = call(t, "GET", d.URL+"/metrics", map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAuditor].BearerToken}, "")
	if code != 403 {
		t.Errorf("auditor: %d", code)
	}
}

// TestPrometheusScrapes: Debian's Prometheus scrapes the running demo
// daemon over TLS with a viewer token (credentials_file), and its query
// API answers with the daemon's series.
func TestPrometheusScrapes(t *testing.T) {
	d := startDemo(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(d.DemoCredentials[auth.RoleViewer].BearerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(d.URL)
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: mgmtd
    scheme: https
    tls_config:
      insecure_skip_verify: true
    authorization:
      credentials_file: %s
    static_configs:
      - targets: [%q]
`, tokenFile, u.Host)
	cf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	cmd := exec.Command("prometheus", "--config.file="+cf, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); _ = cmd.Wait() })
	query := func(q string) []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	} {
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		// Prometheus may not listen yet: no test failure for that.
		resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&r) != nil {
			return nil
		}
		return r.Data.Result
	}
	ok := testutil.Poll(60*time.Second, func() bool {
		r := query(`up{job="mgmtd"}`)
		return len(r) == 1 && r[0].Value[1] == "1"
	})
	if !ok {
		_, _, targets := call(t, "GET", "http://"+addr+"/api/v1/targets", nil, "")
		t.Fatalf("Prometheus did not scrape mgmtd: %s\n%s", targets, out)
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return len(query(`ha_cluster_pacemaker_nodes{status="online",type="member"} == 1`)) == 3 },
		"Prometheus has the 3 online nodes of the demo")
	if r := query(`mgmtd_source_up`); len(r) == 0 {
		t.Error("no mgmtd_source_up")
	}
	if r := query(`scrape_samples_scraped{job="mgmtd"}`); len(r) != 1 || r[0].Value[1] == "0" {
		t.Errorf("samples scraped: %v", r)
	}
}
