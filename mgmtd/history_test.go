package mgmtd

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/rest"
)

func historyPage(t *testing.T, d *Daemon, hdr map[string]string, query string) rest.HistoryPage {
	t.Helper()
	code, _, body := call(t, "GET", d.URL+"/api/v1/history?"+query, hdr, "")
	if code != 200 {
		t.Fatalf("history?%s: %d %s", query, code, body)
	}
	var p rest.HistoryPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// allHistory pages through the whole history.
func allHistory(t *testing.T, d *Daemon, hdr map[string]string) []rest.HistoryRecord {
	t.Helper()
	var out []rest.HistoryRecord
	q := "limit=7"
	for range 1000 {
		p := historyPage(t, d, hdr, q)
		out = append(out, p.Records...)
		if p.Next == "" {
			return out
		}
		q = "limit=7&cursor=" + p.Next
	}
	t.Fatal("history pages never end")
	return nil
}

// TestHistorySurvivesRestart: the demo's events are stored in the
// embedded store of its state directory; after a restart the daemon
// answers with the first life's events, continues their sequence, and an
// event stream resuming from before both lives (older than the 4-event
// buffer) gets every event from the history, in order, with no gap.
func TestHistorySurvivesRestart(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.StateDir, cfg.Cluster, cfg.View, cfg.EventBuffer = "127.0.0.1:0", t.TempDir(), "demo", "hv1", 4
	log := slog.New(slog.DiscardHandler)

	d1, stop1 := runDaemon(t, cfg, log, Options{Demo: true, DemoSpeed: 0.001})
	hdr1 := map[string]string{"Authorization": "Bearer " + d1.DemoCredentials[auth.RoleViewer].BearerToken}
	last1 := d1.Store.Events().Last()
	if last1 <= 4 {
		t.Fatalf("the demo's first picture published %d events; the test needs more than the buffer", last1)
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return len(allHistory(t, d1, hdr1)) == int(last1) },
		"history never held the %d events of the first life", last1)
	life1 := allHistory(t, d1, hdr1)
	stop1()

	d2, _ := runDaemon(t, cfg, log, Options{Demo: true, DemoSpeed: 0.001})
	hdr := map[string]string{"Authorization": "Bearer " + d2.DemoCredentials[auth.RoleViewer].BearerToken}
	last2 := d2.Store.Events().Last()
	if last2 <= last1 {
		t.Fatalf("second life's last event %d is not after the first life's %d", last2, last1)
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return len(allHistory(t, d2, hdr)) == int(last2) },
		"history does not hold both lives' %d events", last2)
	all := allHistory(t, d2, hdr)
	for i, r := range all {
		if r.Seq != uint64(i+1) || r.Instance != "hv1" {
			t.Fatalf("record %d is seq %d of %q; want %d of hv1", i, r.Seq, r.Instance, i+1)
		}
		if r.Published.IsZero() || r.Time.IsZero() || r.Generation == 0 {
			t.Fatalf("record %d lacks its times or generation: %+v", r.Seq, r)
		}
		if i < len(life1) && (r.Message != life1[i].Message || !r.Published.Equal(life1[i].Published)) {
			t.Fatalf("first life's record %d changed: %+v, was %+v", r.Seq, r, life1[i])
		}
	}
	if all[last1].Seq != last1+1 || !all[last1].Baseline {
		t.Fatalf("second life starts with %+v; want seq %d, a baseline event", all[last1].Event, last1+1)
	}

	// Resume from before both lives (Last-Event-ID 0: "I saw nothing"):
	// ids 1..last2 in order, no gap.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d2.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", hdr["Authorization"])
	req.Header.Set("Last-Event-ID", "0")
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	want := uint64(1)
	for want <= last2 && sc.Scan() {
		line := sc.Text()
		if line == "event: gap" {
			t.Fatalf("gap after %d", want-1)
		}
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			if id != strconv.FormatUint(want, 10) {
				t.Fatalf("stream sent id %s, want %d", id, want)
			}
			want++
		}
	}
	if want <= last2 {
		t.Fatalf("stream ended at %d of %d: %v", want-1, last2, sc.Err())
	}
}

// TestHistoryRoute: filters, order and the recorder's state; bad
// parameters are 400s; a caller without a credential is refused.
func TestHistoryRoute(t *testing.T) {
	d := startDemo(t)
	hdr := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleViewer].BearerToken}
	last := d.Store.Events().Last()
	testutil.Eventually(t, 20*time.Second, func() bool { return len(historyPage(t, d, hdr, "limit=1000").Records) == int(last) },
		"history never held the %d events", last)
	p := historyPage(t, d, hdr, "kind=node&order=desc&since=1h")
	if len(p.Records) == 0 || p.Recorder == nil || p.Recorder.Failing || p.Recorder.Dropped != 0 {
		t.Fatalf("node events: %+v", p)
	}
	for i, r := range p.Records {
		if r.Object.Kind != "node" || (i > 0 && r.Seq > p.Records[i-1].Seq) {
			t.Fatalf("record %d: %+v (not a node event, or not newest first)", i, r.Event)
		}
	}
	name := p.Records[0].Object.Name
	for _, r := range historyPage(t, d, hdr, "object="+name).Records {
		if r.Object.Name != name && r.Node != name {
			t.Fatalf("object=%s answered %+v", name, r.Event)
		}
	}
	if got := historyPage(t, d, hdr, "since=1h&until=30m").Records; len(got) != 0 {
		t.Fatalf("an hour to half an hour ago holds %d events of a daemon just started", len(got))
	}
	for _, q := range []string{"since=yesterday", "cursor=%21%21", "severity=fatal", "order=up", "limit=0", "since=1h&until=2h"} {
		if code, _, body := call(t, "GET", d.URL+"/api/v1/history?"+q, hdr, ""); code != 400 {
			t.Errorf("history?%s: %d %s, want 400", q, code, body)
		}
	}
	if code, _, _ := call(t, "GET", d.URL+"/api/v1/history", nil, ""); code != 401 {
		t.Errorf("anonymous history: %d", code)
	}
}

// transitionDaemon runs a daemon on the live cluster's CIB with the
// scheduler inputs of source/pacemaker/transition/testdata and a log that
// names transition 0's input (the line in Pacemaker 2.1's format), and
// Basic users (cibUsers).
func transitionDaemon(t *testing.T) *Daemon {
	t.Helper()
	cfg, dir := cibFileConfig(t, filepath.Join("..", "source", "pacemaker", "testdata", "live", "cibadmin-query.xml"))
	cfg.View = "vm"
	cfg.Pacemaker.PEngineDir = filepath.Join("..", "source", "pacemaker", "transition", "testdata", "pengine")
	cfg.Pacemaker.LogFile = filepath.Join(dir, "pacemaker.log")
	line := "Nov 22 03:56:07 vm pacemaker-schedulerd[99] (pcmk__log_transition_summary) notice: Calculated transition 0, saving inputs in /var/lib/pacemaker/pengine/pe-input-1.bz2\n"
	if err := os.WriteFile(cfg.Pacemaker.LogFile, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Passwords: []auth.PasswordChecker{cibUsers(t)}})
	return d
}

// TestTransitionsRoute: a daemon on the live cluster's CIB lists the
// scheduler inputs of its pengine directory, explains one by crm_simulate
// on a private copy (the resource whose monitor timed out is recovered),
// and links the stored resource events to their transition; the log names
// the input.
func TestTransitionsRoute(t *testing.T) {
	d := transitionDaemon(t)
	hdr := map[string]string{"Authorization": "Basic " + basic("view", "view-secret-pw")}
	code, _, body := call(t, "GET", d.URL+"/api/v1/transitions", hdr, "")
	var ins []model.TransitionInput
	if code != 200 || json.Unmarshal(body, &ins) != nil || len(ins) != 2 {
		t.Fatalf("transitions: %d %s", code, body)
	}
	code, _, body = call(t, "GET", d.URL+"/api/v1/transitions/pe-input-2.bz2", hdr, "")
	var ex model.Explanation
	if code != 200 || json.Unmarshal(body, &ex) != nil || len(ex.Actions) != 1 || ex.Actions[0].Action != "recover" || ex.Actions[0].Resource != "svc-timeout" {
		t.Fatalf("explain: %d %s", code, body)
	}
	code, _, body = call(t, "GET", d.URL+"/api/v1/transitions/pe-input-1.bz2?scores=true", hdr, "")
	if code != 200 || json.Unmarshal(body, &ex) != nil || len(ex.Scores) == 0 || ex.Input.Transition != 0 {
		t.Fatalf("explain with scores: %d %s", code, body)
	}
	for q, want := range map[string]int{"pe-input-9.bz2": 404, "cib.xml": 400, "pe-input-1.bz2?scores=maybe": 400} {
		if code, _, body := call(t, "GET", d.URL+"/api/v1/transitions/"+q, hdr, ""); code != want {
			t.Errorf("%s: %d %s, want %d", q, code, body, want)
		}
	}
	// The first picture's resource events carry their transition.
	var linked *rest.HistoryRecord
	testutil.Eventually(t, 30*time.Second, func() bool {
		for _, r := range historyPage(t, d, hdr, "object=svc-a&kind=resource").Records {
			if r.Transition != nil {
				linked = &r
				return true
			}
		}
		return false
	}, "no stored event of svc-a is linked to a transition")
	if tr := linked.Transition; tr.Number != 0 || tr.Input != "pe-input-1.bz2" || tr.InputBy != "log" {
		t.Fatalf("svc-a's event linked to %+v", tr)
	}
}
