package metrics_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mgmtd/demo"
	"mgmtd/internal/fixture"
	"mgmtd/metrics"
	"mgmtd/model"
	"mgmtd/source/pacemaker"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
)

// demoSnapshots returns the snapshot of every step of the recorded demo
// story (real crm_mon and CIB output).
func demoSnapshots(t testing.TB) []*model.Snapshot {
	t.Helper()
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	var out []*model.Snapshot
	for i := range steps {
		st := model.NewStore(model.StoreOptions{Cluster: "demo", View: "hv1"})
		demo.NewPlayer(steps, st, 1).Show(i)
		out = append(out, st.Snapshot())
	}
	return out
}

// bundleSnapshot is the model of the captured bundle fixture
// (source/pacemaker/testdata/bundle: its CIB and crm_mon's XML).
func bundleSnapshot(t testing.TB) *model.Snapshot {
	t.Helper()
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	return st.Report(model.Report{Source: "pacemaker", Pacemaker: fixture.Pacemaker(t, "../source/pacemaker/testdata/bundle")})
}

func render(t testing.TB, snap *model.Snapshot, in metrics.Internals) string {
	t.Helper()
	var b bytes.Buffer
	e := metrics.Render(snap, in, snap.Time.Add(3*time.Second))
	if _, err := e.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if e.Duplicates != 0 {
		t.Errorf("%d duplicate series dropped", e.Duplicates)
	}
	return b.String()
}

func fullInternals() metrics.Internals {
	tools := metrics.NewToolStats()
	tools.Observe("crm_mon", 40*time.Millisecond, false)
	tools.Observe("crm_mon", 31*time.Second, true)
	tools.Observe("cibadmin", 3*time.Millisecond, false)
	return metrics.Internals{Start: time.Unix(1700000000, 0), Version: "test", EventsPublished: 42, EventBuffer: 4096, EventStreams: 2,
		Tools: tools, SNMP: &metrics.ChannelStats{Sent: 5, Dropped: 1, Queued: 0}, CIM: &metrics.ChannelStats{Sent: 7, Dropped: 2, Failed: 3, Queued: 1},
		Notify: []metrics.RouteStats{{Route: "ops-mail", Kind: "smtp", Sent: 3, Failed: 2, Retried: 2, Dead: 1, DeadLetters: 1, Degraded: true}},
		Audit:  &metrics.AuditStats{Queued: 1, QueueCapacity: 1024},
		Hub:    &metrics.HubStats{Sender: true, Pushes: 12, Lost: 3, Spooled: 4, Acked: 40},
		Check: &metrics.CheckStats{Time: time.Unix(1700000100, 0), Findings: map[metrics.CheckKey]int{
			{Check: "move-leftover", Severity: "warning"}: 2, {Check: "fencing-disabled", Severity: "critical"}: 1}}}
}

// promtoolCheck runs `promtool check metrics` (Prometheus's own linter)
// on the exposition: it must parse and follow the naming rules.
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPromtoolClean: the exposition of every step of the demo story (a
// failure, a node lost and fenced, recovery) is clean for promtool.
func TestPromtoolClean(t *testing.T) {
	for i, snap := range demoSnapshots(t) {
		text := render(t, snap, fullInternals())
		if !strings.Contains(text, "ha_cluster_pacemaker_resources{") {
			t.Fatalf("step %d: no resources in\n%s", i, text)
		}
		promtoolCheck(t, text)
	}
}

// TestPromtoolCatchesBadExposition makes sure the promtool check can fail:
// ha_cluster_exporter's counter-typed timestamp is refused.
func TestPromtoolCatchesBadExposition(t *testing.T) {
	bad := "# HELP ha_cluster_pacemaker_config_last_change The timestamp of the last change\n# TYPE ha_cluster_pacemaker_config_last_change counter\nha_cluster_pacemaker_config_last_change 1.571399302e+09\n"
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(bad)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "_total") {
		t.Fatalf("promtool did not flag a counter without _total: %s", out)
	}
}

// sample finds the value of the series name{labels} (labels as rendered,
// sorted) in text.
func sample(t *testing.T, text, series string) (float64, bool) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			switch v {
			case "+Inf":
				return math.Inf(1), true
			case "-Inf":
				return math.Inf(-1), true
			}
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f, true
		}
	}
	return 0, false
}

// TestDemoValues checks what the metrics say against the model of the
// recorded story: node hv1 lost and unclean at step 2, stopped instances
// present, the fail count, timestamps as gauges, bytes not KiB.
func TestDemoValues(t *testing.T) {
	snaps := demoSnapshots(t)
	healthy, lost := snaps[0], snaps[2]
	text := render(t, healthy, metrics.Internals{})
	hv1, _ := healthy.Node("hv1")
	if v, ok := sample(t, text, `ha_cluster_pacemaker_nodes{cluster="demo",node="hv1",status="online",type="member"}`); !ok || v != 1 || !hv1.Online {
		t.Errorf("hv1 online = %v %v (model %v)", v, ok, hv1.Online)
	}
	text3 := render(t, lost, metrics.Internals{})
	n3, _ := lost.Node("hv1")
	if v, _ := sample(t, text3, `ha_cluster_pacemaker_nodes{cluster="demo",node="hv1",status="unclean",type="member"}`); v != 1 || !n3.Unclean {
		t.Errorf("step 2: hv1 unclean = %v (model %v)", v, n3.Unclean)
	}
	if v, _ := sample(t, text3, `mgmtd_node_state{cluster="demo",node="hv1",state="unclean",type="member"}`); v != 1 {
		t.Errorf("step 2: mgmtd_node_state unclean = %v", v)
	}
	// Every instance of the model is a series, stopped ones included.
	stopped := 0
	for _, snap := range snaps {
		text := render(t, snap, metrics.Internals{})
		for _, in := range snap.Instances {
			if in.Node != "" {
				continue
			}
			stopped++
			if !strings.Contains(text, `node="",`) || !strings.Contains(text, `resource="`+in.Resource+`",role="stopped",status="active"} 0`) {
				t.Errorf("stopped instance %s missing", in.Resource)
			}
		}
	}
	if stopped == 0 {
		t.Fatal("the demo story has no stopped instance; the check above checked nothing")
	}
	// Every instance is a series, bundle replicas included (which
	// ha_cluster_exporter's crm_mon decoding leaves out; the bundle is
	// the captured fixture's, the lab cannot run containers).
	bundle := bundleSnapshot(t)
	for _, snap := range []*model.Snapshot{healthy, bundle} {
		text := render(t, snap, metrics.Internals{})
		bundled := 0
		for _, in := range snap.Instances {
			series := `ha_cluster_pacemaker_resources{agent="` + in.Agent + `",`
			if !strings.Contains(text, series) || !strings.Contains(text, `node="`+in.Node+`",resource="`+in.Resource+`",role="`+strings.ToLower(string(in.Role.Normal()))+`",status="active"}`) {
				t.Errorf("instance %s on %q missing", in.Resource, in.Node)
			}
			if strings.HasPrefix(in.Top, "httpd-bundle") {
				bundled++
			}
		}
		if snap == bundle && bundled == 0 {
			t.Error("no bundle instance in the bundle fixture's model")
		}
	}
	for _, h := range healthy.Hosts {
		if v, ok := sample(t, text, `mgmtd_host_memory_bytes{cluster="demo",host="`+h.Name+`"}`); !ok || v != float64(h.MemoryKiB)*1024 || v == 0 {
			t.Errorf("host %s memory = %v, model %d KiB", h.Name, v, h.MemoryKiB)
		}
	}
	// Fail counts: every instance on a node, as the model has them.
	checked := 0
	for _, snap := range snaps {
		text := render(t, snap, metrics.Internals{})
		for _, in := range snap.Instances {
			if in.Node == "" {
				continue
			}
			v, ok := sample(t, text, `mgmtd_resource_failcount{cluster="demo",node="`+in.Node+`",resource="`+in.Resource+`"}`)
			if !ok || v != float64(in.FailCount) {
				t.Errorf("fail count %s on %s = %v %v, model %d", in.Resource, in.Node, v, ok, in.FailCount)
			}
			if in.FailCount > 0 {
				checked++
			}
		}
	}
	if checked == 0 {
		t.Error("no non-zero fail count in the story")
	}
	locs := 0
	for _, c := range healthy.Constraints {
		if c.Type == model.ConstraintLocation && c.Node != "" {
			locs++
			if !strings.Contains(text, `constraint="`+c.ID+`"`) {
				t.Errorf("location constraint %s missing", c.ID)
			}
		}
	}
	if locs == 0 {
		t.Error("the demo has no location constraint on a node; the check checked nothing")
	}
	if v, ok := sample(t, text, `ha_cluster_corosync_quorate{cluster="demo"}`); !ok || v != 1 {
		t.Errorf("corosync quorate = %v %v", v, ok)
	}
	// Source age is measured from the last success to the scrape.
	if v, ok := sample(t, text, `mgmtd_source_age_seconds{cluster="demo",source="pacemaker"}`); !ok || v != 3 {
		t.Errorf("source age = %v %v", v, ok)
	}
}

// liveSnapshot is the snapshot of the live single-node cluster captured
// by tools/fixtures/live.sh (source/pacemaker/testdata/live: crm_mon with
// fencing history, the CIB).
func liveSnapshot(t testing.TB) *model.Snapshot {
	t.Helper()
	dir := "../source/pacemaker/testdata/live/"
	mb, err := os.ReadFile(dir + "crm_mon-fence-history.xml")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile(dir + "cibadmin-query.xml")
	if err != nil {
		t.Fatal(err)
	}
	mon, err := crmmon.Parse(mb)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cib.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{Cluster: "live"})
	st.Register(pacemaker.Name)
	st.Report(model.Report{Source: pacemaker.Name, Pacemaker: pacemaker.Build(mon, doc, nil)})
	return st.Snapshot()
}

// TestLiveValues: the capture of a live cluster - the configuration's
// last change as a gauge, fencing history (ghost1 ok, ghost2 failed),
// the failed svc-b, location constraints with their scores, a stopped
// resource.
func TestLiveValues(t *testing.T) {
	snap := liveSnapshot(t)
	text := render(t, snap, metrics.Internals{})
	promtoolCheck(t, text)
	if snap.Cluster.LastChange.IsZero() || len(snap.Fencing) == 0 || len(snap.Failures) == 0 {
		t.Fatalf("the capture lacks what this test checks: last change %v, fencing %d, failures %d", snap.Cluster.LastChange, len(snap.Fencing), len(snap.Failures))
	}
	if !strings.Contains(text, "# TYPE ha_cluster_pacemaker_config_last_change gauge") {
		t.Error("config_last_change is not a gauge")
	}
	if v, ok := sample(t, text, `ha_cluster_pacemaker_config_last_change{cluster="`+snap.Cluster.Name+`"}`); !ok || int64(v) != snap.Cluster.LastChange.Unix() {
		t.Errorf("config_last_change = %v, model %v", v, snap.Cluster.LastChange)
	}
	for _, f := range snap.Fencing {
		if f.Completed.IsZero() {
			continue
		}
		series := `mgmtd_fencing_last_timestamp_seconds{cluster="` + snap.Cluster.Name + `",status="` + f.Status + `",target="` + f.Target + `"}`
		if v, ok := sample(t, text, series); !ok || v < float64(f.Completed.Unix()) {
			t.Errorf("%s = %v %v, model %v", series, v, ok, f.Completed)
		}
	}
	for _, f := range snap.Failures {
		series := `mgmtd_resource_failures{cluster="` + snap.Cluster.Name + `",node="` + f.Node + `",resource="` + model.PrimitiveOf(f.Resource) + `"}`
		if v, ok := sample(t, text, series); !ok || v < 1 {
			t.Errorf("%s = %v %v", series, v, ok)
		}
		if r, ok := snap.Resource(model.PrimitiveOf(f.Resource)); ok && r.Failed {
			if v, _ := sample(t, text, `mgmtd_resource_failed{cluster="`+snap.Cluster.Name+`",kind="`+string(r.Kind)+`",resource="`+r.ID+`"}`); v != 1 {
				t.Errorf("%s not failed in metrics", r.ID)
			}
		}
	}
	t.Logf("%d fencing entries, %d failures", len(snap.Fencing), len(snap.Failures))
}

// TestInternals: the internals' series and the tool histogram's buckets.
func TestInternals(t *testing.T) {
	text := render(t, demoSnapshots(t)[0], fullInternals())
	for series, want := range map[string]float64{
		`mgmtd_tool_run_duration_seconds_bucket{le="0.05",tool="crm_mon"}`:   1,
		`mgmtd_tool_run_duration_seconds_bucket{le="30",tool="crm_mon"}`:     1,
		`mgmtd_tool_run_duration_seconds_bucket{le="+Inf",tool="crm_mon"}`:   2,
		`mgmtd_tool_run_duration_seconds_count{tool="crm_mon"}`:              2,
		`mgmtd_tool_run_errors_total{tool="crm_mon"}`:                        1,
		`mgmtd_tool_run_duration_seconds_bucket{le="0.005",tool="cibadmin"}`: 1,
		`mgmtd_snmp_notifications_dropped_total`:                             1,
		`mgmtd_cim_indications_dropped_total`:                                2,
		`mgmtd_cim_indications_failed_attempts_total`:                        3,
		`mgmtd_notify_route_degraded{kind="smtp",route="ops-mail"}`:          1,
		`mgmtd_notify_dead_lettered_total{kind="smtp",route="ops-mail"}`:     1,
		`mgmtd_events_published_total`:                                       42,
		`mgmtd_audit_queue_capacity`:                                         1024,
		`mgmtd_check_findings{check="move-leftover",severity="warning"}`:     2,
		`mgmtd_check_findings{check="fencing-disabled",severity="critical"}`: 1,
		`mgmtd_check_last_run_timestamp_seconds`:                             1700000100,
		`mgmtd_hub_sender`:                                                   1,
		`mgmtd_hub_connected`:                                                0,
		`mgmtd_hub_lost_events_total`:                                        3,
		`mgmtd_hub_spooled_events`:                                           4,
		`mgmtd_hub_acked_sequence`:                                           40,
	} {
		if v, ok := sample(t, text, series); !ok || v != want {
			t.Errorf("%s = %v %v, want %v", series, v, ok, want)
		}
	}
}

// TestEscaping: label values with quotes, backslashes, newlines and
// invalid UTF-8 stay one valid line.
func TestEscaping(t *testing.T) {
	e := metrics.NewExposition()
	e.Family("x_info", metrics.Gauge, "help with \\ and\nnewline").Add(1, "v", "a\"b\\c\nd\xff")
	e.Family("x_info", metrics.Gauge, "").Add(2, "v", "a\"b\\c\nd\xff") // duplicate
	var b bytes.Buffer
	if _, err := e.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := "# HELP x_info help with \\\\ and\\nnewline\n# TYPE x_info gauge\nx_info{v=\"a\\\"b\\\\c\\nd\uFFFD\"} 1\n"
	if b.String() != want || e.Duplicates != 1 {
		t.Fatalf("got %q (dups %d)\nwant %q", b.String(), e.Duplicates, want)
	}
	promtoolCheck(t, b.String())
}

func BenchmarkRenderDemo(b *testing.B) {
	snap := demoSnapshots(b)[4]
	in := fullInternals()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if _, err := metrics.Render(snap, in, snap.Time).WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/scrape")
}

// largeSnapshot is a synthetic 1,000-node, 10,000-primitive cluster (the
// size of the model rebuild benchmark) for measuring a scrape.
func largeSnapshot() *model.Snapshot {
	p := &model.PacemakerPart{Cluster: model.Cluster{Name: "big", Quorate: true, DC: "n0000", StonithEnabled: true}}
	for i := range 1000 {
		name := fmt.Sprintf("n%04d", i)
		p.Nodes = append(p.Nodes, model.Node{Name: name, ID: fmt.Sprint(i + 1), Type: model.NodeMember, State: model.NodeOnline, Online: true,
			ResourcesRunning: 10, Attributes: map[string]string{"site": "a", "rack": fmt.Sprint(i % 40)}})
	}
	for i := range 10000 {
		id := fmt.Sprintf("rsc%05d", i)
		node := p.Nodes[i%1000].Name
		p.Resources = append(p.Resources, model.Resource{ID: id, Kind: model.KindPrimitive, Agent: "ocf:heartbeat:Dummy", Managed: true,
			Meta: map[string]string{"migration-threshold": "3"}})
		p.Instances = append(p.Instances, model.Instance{Resource: id, Primitive: id, Top: id, Agent: "ocf:heartbeat:Dummy", Node: node,
			Role: model.RoleStarted, Active: true, Managed: true, FailCount: i % 3})
		p.Constraints = append(p.Constraints, model.Constraint{ID: "loc-" + id, Type: model.ConstraintLocation, Resource: id, Node: node, Score: "100"})
	}
	st := model.NewStore(model.StoreOptions{Cluster: "big", View: "n0000"})
	st.Register("pacemaker")
	st.Report(model.Report{Source: "pacemaker", Pacemaker: p})
	return st.Snapshot()
}

func BenchmarkRenderLarge(b *testing.B) {
	snap := largeSnapshot()
	in := fullInternals()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if _, err := metrics.Render(snap, in, snap.Time).WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/scrape")
}

// FuzzLabelValue: any label value and help text render as one HELP, one
// TYPE and one sample line, and the value reads back (as valid UTF-8).
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"", "hv1", `a"b\c`, "line\nbreak", "\xff\xfe", "ünïcödé", `\n`, "}", "{x=\"y\"}"} {
		f.Add(s, "help")
	}
	// Seeds from the demo: every node attribute value of the story.
	for _, snap := range demoSnapshots(f) {
		for _, n := range snap.Nodes {
			for k, v := range n.Attributes {
				f.Add(v, k)
			}
		}
	}
	f.Fuzz(func(t *testing.T, v, help string) {
		e := metrics.NewExposition()
		e.Family("x_info", metrics.Gauge, help).Add(1, "v", v)
		var b bytes.Buffer
		if _, err := e.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[2], `x_info{v="`) || !strings.HasSuffix(lines[2], `"} 1`) {
			t.Fatalf("%q", b.String())
		}
		got := unescape(strings.TrimSuffix(strings.TrimPrefix(lines[2], `x_info{v="`), `"} 1`))
		if want := strings.ToValidUTF8(v, "\uFFFD"); got != want {
			t.Fatalf("value %q read back as %q", want, got)
		}
	})
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
