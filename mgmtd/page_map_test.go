package mgmtd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"mgmtd/auth"
	"mgmtd/model"
	"mgmtd/source/pacemaker"
)

// mapObject is one object of the page's map as ui/e2e/map.mjs reports it:
// its key, kind, name, node (instances) and ancestors, innermost first.
type mapObject struct {
	Key     string   `json:"key"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Node    string   `json:"node"`
	Parents []string `json:"parents"`
	Sev     string   `json:"sev"`
}

func mapObjects(t *testing.T, v any) []mapObject {
	t.Helper()
	b, _ := json.Marshal(v)
	var out []mapObject
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkMapAgainstAPI compares the map with the API's answers now: every
// host, node and VM is on the map once, every resource instance is (each
// active one inside its node, within the boxes its where-is chain passes
// through, in that order; each stopped one under "Not running"), a VM is
// within its host, a guest node within its VM.
func checkMapAgainstAPI(t *testing.T, d *Daemon, moment string, objs []mapObject) {
	t.Helper()
	var nodes []model.Node
	var vms []model.VM
	var hosts []model.Host
	var where model.WhereAnswer
	apiData(t, d, auth.RoleViewer, "/api/v1/nodes?limit=1000", &nodes)
	apiData(t, d, auth.RoleViewer, "/api/v1/vms?limit=1000", &vms)
	apiData(t, d, auth.RoleViewer, "/api/v1/hosts", &hosts)
	apiData(t, d, auth.RoleViewer, "/api/v1/where?q=", &where)
	boxes := map[string][]mapObject{}
	var chips []mapObject
	for _, o := range objs {
		if o.Kind == "resource" {
			chips = append(chips, o)
		} else {
			boxes[o.Kind+"/"+o.Name] = append(boxes[o.Kind+"/"+o.Name], o)
		}
	}
	one := func(key string) (mapObject, bool) {
		if n := len(boxes[key]); n != 1 {
			t.Errorf("%s: %s is on the map %d times", moment, key, n)
			return mapObject{}, false
		}
		return boxes[key][0], true
	}
	for _, h := range hosts {
		if o, ok := one("host/" + h.Name); ok && len(o.Parents) != 0 {
			t.Errorf("%s: host %s is inside %q", moment, h.Name, o.Parents)
		}
	}
	for _, n := range nodes {
		one("node/" + n.Name)
	}
	for _, v := range vms {
		if o, ok := one("vm/" + v.Name); ok && !slices.Contains(o.Parents, "host/"+v.Host) {
			t.Errorf("%s: VM %s (on host %s) is inside %q", moment, v.Name, v.Host, o.Parents)
		}
		if v.GuestNode != "" {
			if o, ok := one("node/" + v.GuestNode); ok && (len(o.Parents) == 0 || o.Parents[0] != "vm/"+v.Name) {
				t.Errorf("%s: guest node %s is inside %q, not its VM %s", moment, v.GuestNode, o.Parents, v.Name)
			}
		}
	}
	if want := len(hosts) + len(nodes) + len(vms); len(objs)-len(chips) < want {
		t.Errorf("%s: %d boxes on the map, the API has %d hosts, nodes and VMs", moment, len(objs)-len(chips), want)
	}
	// Each instance's chain, as the map should nest it.
	var want, got []string
	for _, p := range where.Instances {
		var path []string
		if p.Node == "" {
			path = []string{"area/stopped"}
		}
		for _, h := range p.Chain {
			if (h.Kind == model.KindNode || h.Kind == model.KindVM || h.Kind == model.KindHost) && h.Note != "unknown node" {
				path = append(path, string(h.Kind)+"/"+h.Name)
			}
		}
		want = append(want, p.Resource+"@"+p.Node+" in "+strings.Join(path, " < "))
	}
	for _, c := range chips {
		// A guest node whose container runs nowhere sits in an area of
		// its own; its chain ends with it.
		parents := slices.DeleteFunc(slices.Clone(c.Parents), func(p string) bool { return p == "area/unplaced" })
		got = append(got, c.Name+"@"+c.Node+" in "+strings.Join(parents, " < "))
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("%s: the map's instances\n%s\nthe API's (where-is chains)\n%s", moment, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func keysOf(objs []mapObject) map[string]mapObject {
	m := map[string]mapObject{}
	for _, o := range objs {
		m[o.Key] = o
	}
	return m
}

// TestWebPageMapStory drives the map through the demo's failover as a
// viewer: at each moment (healthy, hv1 UNCLEAN, hv1 fenced) the map
// follows the generation by itself and holds what the API holds, each
// object in its place; the resources and the VM that moved when hv1 was
// fenced slid to their new place (and nothing slides when the browser asks
// for reduced motion); a click on vip-db opens its detail page with its
// constraints, history and (for a viewer) why there are no actions;
// where-is and impact marked on the map are the API's answers (also when
// the answer of a where-is asked just before the impact arrives late); a
// deep link marks; the keyboard moves on the map and opens a detail page;
// axe-core finds no serious or critical violation on the map (light and
// dark) and on the detail page. Screenshots of the map and the detail page
// at the three moments are left in screenshotDir.
func TestWebPageMapStory(t *testing.T) {
	d := startDemo(t)
	shots := screenshotDir(t)
	viewer := d.DemoCredentials[auth.RoleViewer]
	next, stdin := runPageScript(t, "map.mjs", d.URL, viewer.BasicUser, viewer.BasicPassword, "story", shots)
	next()
	player := d.demoPlayer
	noViolations := func(moment string, v any) {
		t.Helper()
		for view, vs := range v.(map[string]any) {
			if list, _ := vs.([]any); len(list) > 0 {
				t.Errorf("%s: axe-core finds serious violations on the %s: %v", moment, view, list)
			}
		}
	}
	for _, m := range []struct {
		step int
		name string
	}{{0, "1-healthy"}, {2, "2-hv1-unclean"}, {3, "3-hv1-fenced"}} {
		player.Show(m.step)
		gen := d.Store.Snapshot().Generation
		fmt.Fprintf(stdin, "go %d %s\n", gen, m.name)
		got := next()
		objs := mapObjects(t, got["objects"])
		checkMapAgainstAPI(t, d, m.name, objs)
		keys := keysOf(objs)
		moved := strs(got["moved"])
		switch m.step {
		case 2:
			if o := keys["node/hv1"]; o.Sev != "sev-bad" {
				t.Errorf("%s: the UNCLEAN hv1 is drawn %q", m.name, o.Sev)
			}
		case 3:
			// vip-db followed db to hv2, vm-app restarted on hv2: both
			// slid there.
			if o := keys["inst/vip-db"]; len(o.Parents) == 0 || o.Parents[0] != "node/hv2" {
				t.Errorf("%s: vip-db is in %q, want node hv2", m.name, o.Parents)
			}
			for _, k := range []string{"inst/vip-db", "vm/vm-app"} {
				if !slices.Contains(moved, k) {
					t.Errorf("%s: %s moved but did not slide (slid: %q)", m.name, k, moved)
				}
			}
		}
		detail := got["detail"].(map[string]any)
		var rd struct {
			Constraints []model.Constraint `json:"constraints"`
		}
		apiData(t, d, auth.RoleViewer, "/api/v1/resources/vip-db", &rd)
		var wantCons []string
		for _, c := range rd.Constraints {
			wantCons = append(wantCons, c.ID)
		}
		if detail["hash"] != "#resource=vip-db" || detail["title"] != "resource vip-db" {
			t.Errorf("%s: the click on vip-db opened %v %v", m.name, detail["hash"], detail["title"])
		}
		if cons := strs(detail["constraints"]); !slices.Equal(cons, wantCons) || len(cons) == 0 {
			t.Errorf("%s: detail constraints %q, API %q", m.name, cons, wantCons)
		}
		hist := historyPage(t, d, map[string]string{"Authorization": "Bearer " + viewer.BearerToken}, "object=vip-db&since=720h")
		var msgs []string
		for _, r := range hist.Records {
			msgs = append(msgs, r.Message)
		}
		shown := strs(detail["history"])
		if len(shown) == 0 {
			t.Errorf("%s: no history on vip-db's detail page", m.name)
		}
		for _, s := range shown {
			if !slices.Contains(msgs, s) {
				t.Errorf("%s: the detail page's event %q is not in the API's history %q", m.name, s, msgs)
			}
		}
		if m.step == 3 && !slices.Contains(shown, "resource vip-db moved from hv1 to hv2") {
			t.Errorf("%s: the move is not in vip-db's history on the page: %q", m.name, shown)
		}
		if a := detail["actions"].(string); !strings.Contains(a, "operator or admin role") {
			t.Errorf("%s: a viewer's actions on the detail page: %q", m.name, a)
		}
		noViolations(m.name, got["violations"])
	}

	// Reduced motion: the way back to hv1 does not slide.
	fmt.Fprintln(stdin, "reduce")
	next()
	player.Show(6)
	fmt.Fprintf(stdin, "go %d 4-back-reduced\n", d.Store.Snapshot().Generation)
	back := next()
	objs := mapObjects(t, back["objects"])
	checkMapAgainstAPI(t, d, "4-back-reduced", objs)
	if o := keysOf(objs)["inst/vip-db"]; len(o.Parents) == 0 || o.Parents[0] != "node/hv1" {
		t.Errorf("back: vip-db is in %q, want node hv1", o.Parents)
	}
	if moved := back["moved"].([]any); len(moved) != 0 {
		t.Errorf("with reduced motion, %v slid", moved)
	}

	fmt.Fprintln(stdin, "end")
	end := next()
	// Where-is: every object of web's chains is marked, nothing else.
	var where model.WhereAnswer
	apiData(t, d, auth.RoleViewer, "/api/v1/where?q=web", &where)
	wantWhere := map[string]bool{"service/web": true}
	for _, p := range where.Instances {
		for _, h := range p.Chain {
			if h.Kind == model.KindResource {
				wantWhere["resource/"+h.Name+"@"+h.On] = true
			} else {
				wantWhere[string(h.Kind)+"/"+h.Name] = true
			}
		}
	}
	if got := setOf(strs(end["where"])); !mapsEqual(got, wantWhere) {
		t.Errorf("where web marked %v, the API's chains %v", keysSorted(got), keysSorted(wantWhere))
	}
	if end["where_hash"] != "#map=where%3Aweb" {
		t.Errorf("where web left the link %v", end["where_hash"])
	}
	noViolations("where", map[string]any{"map": end["where_violations"]})
	impactWant := func(node string) map[string]bool {
		var imp model.ImpactAnswer
		apiData(t, d, auth.RoleViewer, "/api/v1/impact?simulate=false&node="+node, &imp)
		w := map[string]bool{"node/" + node: true, "host/" + node: true}
		for _, p := range imp.Instances {
			w["resource/"+p.Resource+"@"+p.Node] = true
		}
		for _, g := range imp.GuestNodes {
			w["node/"+g] = true
		}
		for _, v := range imp.VMs {
			w["vm/"+v.Name] = true
		}
		for _, s := range imp.Services {
			w["service/"+s] = true
		}
		return w
	}
	if got, want := setOf(strs(end["impact"])), impactWant("hv2"); !mapsEqual(got, want) || len(got) < 3 {
		t.Errorf("impact of hv2 marked %v, the API's %v", keysSorted(got), keysSorted(want))
	}
	if n := end["impact_left"].(float64); n != 0 {
		t.Errorf("%v where-is marks left under the impact (or drawn by the late answer of a where-is asked before it)", n)
	}
	if note := end["impact_note"].(string); !strings.Contains(note, "what hv2 takes") {
		t.Errorf("the map's note after the impact of hv2: %q", note)
	}
	if got, want := setOf(strs(end["deep"])), impactWant("hv3"); !mapsEqual(got, want) {
		t.Errorf("#map=impact:hv3 marked %v, the API's %v", keysSorted(got), keysSorted(want))
	}
	k := end["keys"].(map[string]any)
	opened := k["opened"].(map[string]any)
	if k["stops"].(float64) != 1 || k["first"] == "" || k["third"] != k["expect_third"] || k["third"] == k["first"] {
		t.Errorf("keyboard on the map: %v", k)
	}
	if href := k["third_href"].(string); opened["hash"] != href || !strings.HasSuffix(href, "="+opened["title"].(string)[strings.Index(opened["title"].(string), " ")+1:]) {
		t.Errorf("Enter on %v opened %v", href, opened)
	}
	if end["back"] != "#map=impact%3Ahv3" {
		t.Errorf("back from the detail page: %v", end["back"])
	}
	noViolations("dark", map[string]any{"map": end["dark_violations"]})
	if errs := strs(next()["console_errors"]); len(errs) > 0 {
		t.Errorf("browser console errors: %q", errs)
	}
	for _, name := range []string{"1-healthy-map.png", "1-healthy-detail.png", "2-hv1-unclean-map.png", "2-hv1-unclean-detail.png",
		"3-hv1-fenced-map.png", "3-hv1-fenced-detail.png", "map-where-web.png", "map-impact-hv2.png", "dark-map.png"} {
		if fi, err := os.Stat(filepath.Join(shots, name)); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}

func setOf(list []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range list {
		m[s] = true
	}
	return m
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keysSorted(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestWebPageDetail: an operator on a daemon serving a CIB file (Pacemaker's
// tools for real, the history in its store) clicks dummy-b on the map; its
// detail page shows its constraints and its history as the API gives them
// and its actions menu; a move to node1 (where a constraint bans it) is
// previewed on the detail page itself and refused there (Apply stays off);
// the preview stays while the page follows a new generation; leaving the
// page takes the Change form back to the Cluster tab; axe-core
// finds nothing serious.
func TestWebPageDetail(t *testing.T) {
	cfg, _ := cibFileConfig(t, filepath.Join("..", "source", "pacemaker", "testdata", "primitives", "cib.xml"))
	d, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Passwords: []auth.PasswordChecker{cibUsers(t)}})
	waitResources(t, d)
	hdr := map[string]string{"Authorization": "Basic " + basic("view", "view-secret-pw")}
	shots := screenshotDir(t)
	next, stdin := runPageScript(t, "map.mjs", d.URL, "op", "op-secret-pw", "detail", shots, "dummy-b", "node1")
	shown := next()
	code, _, body := call(t, "GET", d.URL+"/api/v1/resources/dummy-b", hdr, "")
	var env struct {
		Data struct {
			Constraints []model.Constraint `json:"constraints"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal(body, &env) != nil {
		t.Fatalf("resource dummy-b: %d %s", code, body)
	}
	var want []string
	for _, c := range env.Data.Constraints {
		want = append(want, c.ID)
	}
	if got := strs(shown["constraints"]); !slices.Equal(got, want) || !slices.Contains(got, "loc-dummy-b-not-node1") {
		t.Errorf("detail constraints %q, API %q", got, want)
	}
	var msgs []string
	for _, r := range historyPage(t, d, hdr, "object=dummy-b&since=720h").Records {
		msgs = append(msgs, r.Message)
	}
	hist := strs(shown["history"])
	if len(hist) == 0 || len(msgs) == 0 {
		t.Errorf("history on the page %q, API %q", hist, msgs)
	}
	for _, h := range hist {
		if !slices.Contains(msgs, h) {
			t.Errorf("the page's event %q is not in the API's history %q", h, msgs)
		}
	}
	if menus := strs(shown["menus"]); !slices.Contains(menus, "resource/dummy-b") {
		t.Errorf("no actions menu for dummy-b on its page: %q", menus)
	}
	if vs, _ := shown["violations"].([]any); len(vs) > 0 {
		t.Errorf("axe-core finds serious violations on the detail page: %v", vs)
	}
	p := next()
	if p["in_detail"] != true {
		t.Error("the preview is not shown on the detail page")
	}
	if text := p["text"].(string); !strings.Contains(text, "It would not reach its goal") || !strings.Contains(text, "Only an admin can force it") {
		t.Errorf("preview of the banned move: %q", text)
	}
	if p["apply_disabled"] != true {
		t.Error("Apply is enabled for a move the prediction says cannot happen")
	}
	if vs, _ := p["violations"].([]any); len(vs) > 0 {
		t.Errorf("axe-core finds serious violations on the preview: %v", vs)
	}
	next() // previewed
	src := pacemaker.New(pacemaker.Options{CIBFile: cfg.Pacemaker.CIBFile}, nil, slog.New(slog.DiscardHandler))
	part, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	part.Cluster.CIBEpoch = "0:999:1"
	if gen := d.Store.Snapshot().Generation; d.Store.Report(model.Report{Source: pacemaker.Name, Pacemaker: part}).Generation == gen {
		t.Fatal("no new generation")
	}
	fmt.Fprintln(stdin, "go")
	if kept := next(); kept["in_detail"] != true || !strings.Contains(kept["text"].(string), "It would not reach its goal") {
		t.Errorf("after a new generation the detail page's preview is %v", kept)
	}
	if home := next(); home["at_home"] != true {
		t.Error("the Change form did not go back to the Cluster tab")
	}
	if errs := strs(next()["console_errors"]); len(errs) > 0 {
		t.Errorf("browser console errors: %q", errs)
	}
}
