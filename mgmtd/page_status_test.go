package mgmtd

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/demo"
	"mgmtd/model"
	"mgmtd/source/pacemaker"
)

// screenshotDir is where the browser tests leave their screenshots for a
// reviewer: $MGMTD_ARTIFACTS when set, else a new directory under the
// system's temporary directory (never in the repository). The path is
// logged.
func screenshotDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("MGMTD_ARTIFACTS")
	if base == "" {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "mgmtd-ui-"+time.Now().UTC().Format("20060102-150405")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// statusProblems are the status route's problems as "kind object".
func statusProblems(t *testing.T, d *Daemon) (model.StatusReport, []string) {
	t.Helper()
	var st model.StatusReport
	apiData(t, d, auth.RoleViewer, "/api/v1/status", &st)
	var out []string
	for _, p := range st.Problems {
		out = append(out, p.Kind+" "+p.Object)
	}
	return st, out
}

// TestWebPageStatusStory drives the page through the demo's failover (the
// recorded steps shown one after the other) as a viewer: at each moment
// the status view lists what the API's status lists, worst first, the
// page follows every generation without a reload (also one that carries
// no event), the Services row does not say vip-db simply "runs on" the
// UNCLEAN hv1, the impact of hv2 does not claim hv1's fencing, and axe-core
// finds no serious or critical violation in the Cluster, Where is and
// Impact views. Then keyboard navigation, search, a deep link, an unknown
// name (asked while the previous name's answer is held back, which must
// not replace it when it arrives) and the dark theme. Screenshots of the
// three views at three moments are left in screenshotDir.
func TestWebPageStatusStory(t *testing.T) {
	d := startDemo(t)
	shots := screenshotDir(t)
	next, stdin := runPageScript(t, "status.mjs", d.URL, d.DemoCredentials[auth.RoleViewer].BasicUser,
		d.DemoCredentials[auth.RoleViewer].BasicPassword, "story", shots)
	loaded := next()
	if len(strs(loaded["problems"])) == 0 {
		t.Errorf("no status problems shown (not even \"Nothing is wrong\"): %v", loaded)
	}
	steps := demo.MustLoad()
	player := d.demoPlayer // its recorded predictions are the impact's
	for _, m := range []struct {
		step int
		name string
	}{{0, "1-healthy"}, {2, "2-hv1-unclean"}, {3, "3-hv1-fenced"}} {
		player.Show(m.step)
		st, want := statusProblems(t, d)
		fmt.Fprintf(stdin, "go %d %s\n", st.Generation, m.name)
		got := next()
		kinds := strs(got["kinds"])
		if !slices.Equal(kinds, kindsOf(want)) {
			t.Errorf("%s: page problems %q, API %q", m.name, kinds, want)
		}
		if len(want) == 0 && !strings.Contains(strings.Join(strs(got["problems"]), " "), "Nothing is wrong") {
			t.Errorf("%s: healthy, but the page says %q", m.name, strs(got["problems"]))
		}
		if sev := got["severity"].(string); !strings.EqualFold(sev, string(st.Severity)) {
			t.Errorf("%s: badge %q, API severity %s", m.name, sev, st.Severity)
		}
		var tops []string
		for _, it := range st.Tree {
			tops = append(tops, it.ID)
		}
		if tree := strs(got["tree"]); !slices.Equal(tree, tops) {
			t.Errorf("%s: page tree %q, API %q", m.name, tree, tops)
		}
		services := strings.Join(strs(got["services"]), "\n")
		if m.step == 2 {
			if !strings.Contains(services, "hv1 (node UNCLEAN)") {
				t.Errorf("%s: services do not say hv1 is UNCLEAN:\n%s", m.name, services)
			}
			if kinds[0] != "node-unclean" {
				t.Errorf("%s: first problem %q, want node-unclean", m.name, kinds[0])
			}
			impact := strings.Join(strs(got["impact"]), "\n")
			own, _, _ := strings.Cut(impact, "action(s) the cluster takes anyway")
			if strings.Contains(own, "fence hv1") || !strings.Contains(impact, "the cluster takes anyway") {
				t.Errorf("%s: impact of hv2 claims what the cluster does anyway:\n%s", m.name, impact)
			}
		}
		violations := got["violations"].(map[string]any)
		for view, v := range violations {
			if vs, _ := v.([]any); len(vs) > 0 {
				t.Errorf("%s: axe-core finds serious violations in the %s view: %v", m.name, view, vs)
			}
		}
	}

	// A new generation without any event (the CIB's epoch only): the page
	// follows it too.
	part := *steps[3].Part
	part.Cluster.CIBEpoch = "0:999:1"
	last, gen := d.Store.Events().Last(), d.Store.Snapshot().Generation
	sn := d.Store.Report(model.Report{Source: pacemaker.Name, Pacemaker: &part})
	if sn.Generation == gen {
		t.Fatalf("the epoch change made no new generation (%d)", gen)
	}
	if evs, _ := d.Store.Events().Since(last); len(evs) != 0 {
		t.Fatalf("the epoch change made events: %v", evs)
	}
	fmt.Fprintf(stdin, "go %d 4-no-event\n", sn.Generation)
	next()

	fmt.Fprintln(stdin, "end")
	nav := next()
	if nav["focused"] != "search" {
		t.Errorf(`"/" focused %q, want the search box`, nav["focused"])
	}
	if nav["hash"] != "#where=vip-db" {
		t.Errorf("search left the deep link %q", nav["hash"])
	}
	if nav["selected"] != "Impact" {
		t.Errorf("ArrowRight from Where is selected %q", nav["selected"])
	}
	unknown := nav["unknown"].(map[string]any)
	if unknown["chains"].(float64) != 0 {
		t.Errorf("an unknown name left the previous answer (or the previous name's late answer replaced it): %v", unknown)
	}
	if said := unknown["result"].(string) + strings.Join(strs(unknown["problem"]), " "); !strings.Contains(said, "no-such-thing") {
		t.Errorf("the page does not say no-such-thing is unknown: %v", unknown)
	}
	if vm := nav["unmanaged_vm"].(string); !strings.Contains(vm, "VM build01 running on host hv3 (not managed by Pacemaker)") {
		t.Errorf("where build01: %q", vm)
	}
	signedOut := nav["signed_out"].(map[string]any)
	if text := signedOut["text"].(string); !strings.Contains(text, "Not signed in") || strings.Contains(text, "Sign in") || signedOut["links"].(float64) != 0 {
		t.Errorf("signed out without OIDC: %q (%v links)", text, signedOut["links"])
	}
	if h := strs(nav["deep"]); len(h) == 0 || h[0] != "hv3 takes with it" {
		t.Errorf("deep link #impact=hv3: %q", h)
	}
	if nav["theme"] != "dark" {
		t.Errorf("theme %v after the button", nav["theme"])
	}
	if vs, _ := nav["dark_violations"].([]any); len(vs) > 0 {
		t.Errorf("axe-core finds serious violations in the dark theme: %v", vs)
	}
	if errs := strs(next()["console_errors"]); len(errs) > 0 {
		t.Errorf("browser console errors: %q", errs)
	}
	for _, name := range []string{"1-healthy-cluster.png", "2-hv1-unclean-where.png", "3-hv1-fenced-impact.png", "dark-cluster.png"} {
		if fi, err := os.Stat(filepath.Join(shots, name)); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}

func kindsOf(problems []string) []string {
	var out []string
	for _, p := range problems {
		k, _, _ := strings.Cut(p, " ")
		out = append(out, k)
	}
	return out
}

// TestWebPageSafeActions: an operator on a CIB file (Pacemaker's tools
// for real). The leftover cli-prefer constraint is shown with a Clear
// button that removes it; a move to a node the resource is banned from is
// refused after the preview (the prediction places nothing; Apply stays
// disabled) and nothing changes; the destination chosen for a move stays chosen
// while the page follows a new generation; the preview lists what the move
// causes; axe-core finds nothing serious.
func TestWebPageSafeActions(t *testing.T) {
	e := newActionEnv(t, "primitives")
	shots := screenshotDir(t)
	next, stdin := runPageScript(t, "status.mjs", e.srv.URL, "bearer", e.tokens["operator"], "safe", shots)
	loaded := next()
	if !slices.Contains(strs(loaded["kinds"]), "leftover-constraint") {
		t.Errorf("the leftover cli-prefer-dummy-c is not shown: %q", strs(loaded["problems"]))
	}
	if vs, _ := loaded["violations"].([]any); len(vs) > 0 {
		t.Errorf("axe-core finds serious violations: %v", vs)
	}
	refused := next()
	if text := refused["text"].(string); !strings.Contains(text, "It would not reach its goal: Pacemaker would not place dummy-b on node1") ||
		!strings.Contains(text, "Only an admin can force it") {
		t.Errorf("preview of the impossible move: %q", text)
	}
	if refused["apply_disabled"] != true {
		t.Error("Apply is enabled for a move the prediction says cannot happen")
	}
	next() // chosen
	// A new generation under the chosen destination.
	if err := pacemakerRefreshAfter(e, t); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "go")
	moved := next()
	if moved["kept_to"] != "node3" || moved["kept_object"] != "dummy-a" {
		t.Errorf("after a refresh the form says move %v to %v, want dummy-a to node3", moved["kept_object"], moved["kept_to"])
	}
	if p := moved["preview"].(string); !strings.Contains(p, "move dummy-a from node1 to node3") || strings.Contains(p, "nothing else") {
		t.Errorf("preview: %q", p)
	}
	if s := moved["status"].(string); !strings.Contains(s, "succeeded") {
		t.Errorf("move: %q", s)
	}
	cleared := next()
	if after := strings.Join(strs(cleared["after"]), "\n"); strings.Contains(after, "cli-prefer-dummy-c") || !strings.Contains(after, "cli-prefer-dummy-a") {
		t.Errorf("leftover constraints after Clear: %q (before %q)", after, strs(cleared["before"]))
	}
	if errs := strs(next()["console_errors"]); len(errs) > 0 {
		t.Errorf("browser console errors: %q", errs)
	}
	// The refused move changed nothing: no constraint for dummy-b (the
	// daemon's refusal of the request itself, recorded, is
	// TestRefusedWhenGoalUnreachable).
	cmd := exec.Command("cibadmin", "--query", "--xpath", "//rsc_location[@id='cli-prefer-dummy-b']")
	cmd.Env = append(os.Environ(), "CIB_file="+e.file)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("the refused move left a constraint: %s", out)
	}
}

// pacemakerRefreshAfter makes a new generation on the action env: the
// CIB file's picture reported again with another epoch (no event).
func pacemakerRefreshAfter(e *actionEnv, t *testing.T) error {
	t.Helper()
	src := pacemaker.New(pacemaker.Options{CIBFile: e.file}, nil, slog.New(slog.DiscardHandler))
	part, err := src.Load(context.Background())
	if err != nil {
		return err
	}
	gen := e.store.Snapshot().Generation
	part.Cluster.CIBEpoch = "0:999:1"
	if sn := e.store.Report(model.Report{Source: pacemaker.Name, Pacemaker: part}); sn.Generation == gen {
		return fmt.Errorf("no new generation (%d)", gen)
	}
	return nil
}

// TestRefusedWhenGoalUnreachable (issue 19 item 4): the standby that
// drains nothing and the move that places nothing used to be applied and
// then "fail" with the change left in place. Now the preview says so, the
// request is refused (409) and recorded, nothing changes; an admin may
// force it, recorded as forced.
func TestRefusedWhenGoalUnreachable(t *testing.T) {
	e := newActionEnv(t, "primitives")
	path := "/api/v1/resources/dummy-b/actions/move"
	code, task, body := e.post(t, "operator", path, `{"node":"node1","dry_run":true}`)
	if code >= 300 || !strings.Contains(task.Shortfall, "would not place dummy-b on node1") {
		t.Fatalf("dry run: %d %+v %s", code, task, body)
	}
	code, _, body = e.post(t, "operator", path, `{"node":"node1"}`)
	if code != http.StatusConflict || !strings.Contains(body, "would not place dummy-b on node1") || !strings.Contains(body, "an admin may force it") {
		t.Fatalf("apply: %d %s, want 409", code, body)
	}
	var cons []model.Constraint
	e.get(t, "viewer", "/api/v1/constraints", &struct{ Data *[]model.Constraint }{&cons})
	if slices.ContainsFunc(cons, func(c model.Constraint) bool { return c.ID == "cli-prefer-dummy-b" }) {
		t.Fatal("a refused move left cli-prefer-dummy-b")
	}
	// An operator may not force; an admin may, recorded as forced.
	if code, _, body := e.post(t, "operator", path, `{"node":"node1","force":true}`); code != http.StatusForbidden {
		t.Errorf("operator force: %d %s", code, body)
	}
	code, task, body = e.post(t, "admin", path, `{"node":"node1","force":true}`)
	if code >= 300 {
		t.Fatalf("admin force: %d %s", code, body)
	}
	e.wait(t, "admin", task.ID)
	var forced bool
	for _, r := range e.records(t) {
		if strings.HasPrefix(r.Action, "resource.move") && strings.Contains(r.Reason, "forced although it would not reach its goal") {
			forced = true
		}
	}
	if !forced {
		t.Error("the forced move is not recorded as forced")
	}
}
