// Package monitoring_test checks what mgmtd ships for Prometheus and
// Grafana (monitoring/rules, monitoring/grafana): promtool accepts and
// tests every rule, the rule tests can fail, and every metric the rules
// and the dashboard use is one mgmtd's /metrics exposes.
package monitoring_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"mgmtd/demo"
	"mgmtd/metrics"
	"mgmtd/model"
	"mgmtd/source/pacemaker"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) map[string]ruleFile {
	t.Helper()
	files, _ := filepath.Glob("rules/*.rules.yml")
	if len(files) < 2 {
		t.Fatalf("rule files: %v", files)
	}
	out := map[string]ruleFile{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if err := yaml.Unmarshal(b, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = rf
	}
	return out
}

func promtool(args ...string) (string, error) {
	cmd := exec.Command("promtool", args...)
	cmd.Dir = "rules"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRulesCheck: promtool check rules accepts every rule file.
func TestRulesCheck(t *testing.T) {
	for f := range readRules(t) {
		if out, err := promtool("check", "rules", filepath.Base(f)); err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", f, err, out)
		}
	}
}

// TestRulesTests: promtool test rules passes, and every shipped alert has
// a test case in which it fires (and the compatibility recording rule one
// that evaluates it).
func TestRulesTests(t *testing.T) {
	if out, err := promtool("test", "rules", "mgmtd-alerts.test.yml"); err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	b, err := os.ReadFile("rules/mgmtd-alerts.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Alerts []struct {
				Name string `yaml:"alertname"`
				Exp  []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
			Exprs []struct {
				Expr string `yaml:"expr"`
			} `yaml:"promql_expr_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	fires, silent, exprs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.Alerts {
			if len(a.Exp) > 0 {
				fires[a.Name] = true
			} else {
				silent[a.Name] = true
			}
		}
		for _, e := range tc.Exprs {
			exprs[strings.TrimSpace(e.Expr)] = true
		}
	}
	n := 0
	for f, rf := range readRules(t) {
		found := false
		for _, rfName := range tf.RuleFiles {
			found = found || rfName == filepath.Base(f)
		}
		if !found {
			t.Errorf("%s is not among the test's rule_files", f)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				n++
				switch {
				case r.Alert != "" && !fires[r.Alert]:
					t.Errorf("alert %s has no test case in which it fires", r.Alert)
				case r.Alert != "" && !silent[r.Alert] && r.Alert != "HAClusterResourceFailures":
					t.Errorf("alert %s has no test case in which it must not fire", r.Alert)
				case r.Record != "" && !exprs[r.Record]:
					t.Errorf("recording rule %s is not evaluated by a test", r.Record)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d rules", n)
	}
}

// TestRuleTestsCanFail: with one alert's rule weakened (a node must be
// lost for 10 minutes instead of 1), the shipped tests fail.
func TestRuleTestsCanFail(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"mgmtd-alerts.rules.yml", "mgmtd-compat.rules.yml", "mgmtd-alerts.test.yml"} {
		b, err := os.ReadFile(filepath.Join("rules", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "mgmtd-alerts.rules.yml" {
			i := bytes.Index(b, []byte("alert: HAClusterNodeLost"))
			j := bytes.Index(b[i:], []byte("for: 1m"))
			if i < 0 || j < 0 {
				t.Fatal("HAClusterNodeLost's for: 1m not found")
			}
			b = append(append(append([]byte(nil), b[:i+j]...), "for: 10m"...), b[i+j+len("for: 1m"):]...)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("promtool", "test", "rules", "mgmtd-alerts.test.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "HAClusterNodeLost") {
		t.Fatalf("the weakened rule passed the tests: %v\n%s", err, out)
	}
}

// exposed returns every metric name mgmtd's /metrics can expose: the
// families rendered for every step of the demo story, a live cluster's
// capture (fencing, failures) and every internal (histogram series with
// their suffixes), plus the recording rules' names and Prometheus's up.
func exposed(t *testing.T) map[string]bool {
	t.Helper()
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	var snaps []*model.Snapshot
	for i := range steps {
		st := model.NewStore(model.StoreOptions{Cluster: "demo", View: "hv1"})
		demo.NewPlayer(steps, st, 1).Show(i)
		snaps = append(snaps, st.Snapshot())
	}
	dir := "../source/pacemaker/testdata/live/"
	mb, err1 := os.ReadFile(dir + "crm_mon-fence-history.xml")
	cb, err2 := os.ReadFile(dir + "cibadmin-query.xml")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	mon, err1 := crmmon.Parse(mb)
	doc, err2 := cib.Parse(cb)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	st := model.NewStore(model.StoreOptions{Cluster: "live"})
	st.Register(pacemaker.Name)
	st.Report(model.Report{Source: pacemaker.Name, Pacemaker: pacemaker.Build(mon, doc, nil)})
	snaps = append(snaps, st.Snapshot())
	tools := metrics.NewToolStats()
	tools.Observe("crm_mon", time.Millisecond, true)
	in := metrics.Internals{Start: time.Now(), Version: "t", EventsPublished: 1, EventBuffer: 1, Tools: tools, SNMP: &metrics.ChannelStats{}, CIM: &metrics.ChannelStats{},
		Notify: []metrics.RouteStats{{Route: "r", Kind: "smtp"}}, Audit: &metrics.AuditStats{}}
	names := map[string]bool{"up": true}
	typeLine := regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`)
	for _, s := range snaps {
		var b bytes.Buffer
		if _, err := metrics.Render(s, in, time.Now()).WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		for _, m := range typeLine.FindAllStringSubmatch(b.String(), -1) {
			names[m[1]] = true
			if m[2] == "histogram" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					names[m[1]+suf] = true
				}
			}
		}
	}
	for _, rf := range readRules(t) {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					names[r.Record] = true
				}
			}
		}
	}
	return names
}

var (
	reString   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")
	reMatchers = regexp.MustCompile(`\{[^}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords   = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true, "Inf": true, "NaN": true}
)

// metricNames returns the metric names a PromQL expression selects.
func metricNames(expr string) []string {
	e := reString.ReplaceAllString(expr, `""`)
	e = reMatchers.ReplaceAllString(e, " ")
	e = reRange.ReplaceAllString(e, " ")
	e = reGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range reIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && (e[loc[0]-1] == '$' || e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.') {
			continue // a variable, or part of a number (1e3, 0.95)
		}
		rest := strings.TrimLeft(e[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || keywords[name] {
			continue // a function or an operator
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.95, sum by (le, tool) (rate(mgmtd_tool_run_duration_seconds_bucket{instance=~"$instance"}[5m]))) or vector(0) and on(x) up{a="b{c}"} > bool 1e3`)
	if strings.Join(got, ",") != "mgmtd_tool_run_duration_seconds_bucket,up" {
		t.Fatalf("%v", got)
	}
}

// TestExpressionsUseExposedMetrics: every metric an alert, a recording
// rule or the dashboard selects is one mgmtd exposes.
func TestExpressionsUseExposedMetrics(t *testing.T) {
	names := exposed(t)
	check := func(where, expr string) {
		ms := metricNames(expr)
		if len(ms) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, m := range ms {
			if !names[m] {
				t.Errorf("%s: %q uses %s, which mgmtd does not expose", where, expr, m)
			}
		}
	}
	for f, rf := range readRules(t) {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				check(f+" "+r.Alert+r.Record, r.Expr)
			}
		}
	}
	checkDashboard(t, check)
}

func checkDashboard(t *testing.T, check func(where, expr string)) {
	b, err := os.ReadFile("grafana/mgmtd-ha-cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID      int                      `json:"id"`
			Title   string                   `json:"title"`
			Type    string                   `json:"type"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard: uid %q title %q, %d panels", d.UID, d.Title, len(d.Panels))
	}
	vars := map[string]bool{}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_]+\)$`)
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, s)
			continue
		}
		check("variable "+v.Name, m[1])
	}
	ids := map[int]bool{}
	useVar := regexp.MustCompile(`\$([a-zA-Z_]+)`)
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d not unique", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: grid position %+v", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
			for _, m := range useVar.FindAllStringSubmatch(tg.Expr, -1) {
				if !vars[m[1]] {
					t.Errorf("panel %q uses undefined variable $%s", p.Title, m[1])
				}
			}
		}
	}
}

// TestDashboardCheckCanFail: a dashboard expression with an unknown
// metric is caught.
func TestDashboardCheckCanFail(t *testing.T) {
	names := exposed(t)
	bad := 0
	for _, m := range metricNames(`sum(ha_cluster_pacemaker_nodes{status="online"}) + ha_cluster_sbd_devices`) {
		if !names[m] {
			bad++
		}
	}
	if bad != 1 {
		t.Fatalf("%d unknown metrics, want 1 (ha_cluster_sbd_devices)", bad)
	}
}
