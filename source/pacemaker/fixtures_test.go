package pacemaker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
)

// fixtureDirs lists the captured fixtures (each has cib.xml and crm_mon.xml
// recorded from Pacemaker's own tools, see testdata/*/COMMANDS.txt).
func fixtureDirs(t testing.TB) []string {
	t.Helper()
	dirs, err := filepath.Glob("testdata/*/crm_mon.xml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures found: %v", err)
	}
	var out []string
	for _, d := range dirs {
		dir := filepath.Dir(d)
		if _, err := os.Stat(filepath.Join(dir, "cib.xml")); err == nil {
			out = append(out, dir)
		}
	}
	return out
}

func loadFixture(t testing.TB, dir string) *model.Snapshot {
	t.Helper()
	monData, err := os.ReadFile(filepath.Join(dir, "crm_mon.xml"))
	if err != nil {
		t.Fatal(err)
	}
	cibData, err := os.ReadFile(filepath.Join(dir, "cib.xml"))
	if err != nil {
		t.Fatal(err)
	}
	mon, err := crmmon.Parse(monData)
	if err != nil {
		t.Fatalf("%s: parse crm_mon: %v", dir, err)
	}
	doc, err := cib.Parse(cibData)
	if err != nil {
		t.Fatalf("%s: parse cib: %v", dir, err)
	}
	st := model.NewStore(model.StoreOptions{View: "test"})
	return st.Report(model.Report{Source: Name, Pacemaker: Build(mon, doc, nil)})
}

// locate reads crm_resource --locate output: resource -> nodes it runs on.
// Resources crm_resource does not know are left out.
func locate(t *testing.T, dir string) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "locate.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rsc, text, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		switch {
		case strings.Contains(text, " is running on: "):
			_, node, _ := strings.Cut(text, " is running on: ")
			node, _, _ = strings.Cut(node, " ")
			out[rsc] = append(out[rsc], node)
		case strings.HasSuffix(text, " is NOT running"):
			if _, ok := out[rsc]; !ok {
				out[rsc] = []string{}
			}
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// TestWhereMatchesCrmResource checks, for every fixture, that the nodes
// where() places each primitive on are exactly the nodes crm_resource
// --locate reports on the same CIB.
func TestWhereMatchesCrmResource(t *testing.T) {
	for _, dir := range fixtureDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			sn := loadFixture(t, dir)
			loc := locate(t, dir)
			if len(loc) == 0 {
				t.Fatal("locate.txt has no answers")
			}
			checked := 0
			for rsc, want := range loc {
				r, ok := sn.Resource(rsc)
				if ok && r.Kind != model.KindPrimitive {
					continue // crm_resource answers groups and clones by their first member only
				}
				ans := sn.Where(rsc)
				if len(ans.Matches) == 0 {
					t.Errorf("where(%q): no match, crm_resource knows it", rsc)
					continue
				}
				got := []string{}
				for _, p := range ans.Instances {
					if p.Active && p.Node != "" && (p.Resource == rsc || p.Primitive == rsc) {
						got = append(got, p.Node)
					}
				}
				sort.Strings(got)
				if base := model.PrimitiveOf(rsc); base != rsc && len(sn.InstancesOf(rsc)) == 0 {
					got = got[:0]
					for _, p := range ans.Instances {
						if p.Active && p.Node != "" && p.Primitive == base {
							got = append(got, p.Node)
						}
					}
					// An anonymous clone's instance number: crm_mon does not
					// say which number runs where, so the located node must
					// be one of the primitive's nodes.
					for _, n := range want {
						if !slices.Contains(got, n) {
							t.Errorf("where(%q) = %v, crm_resource --locate says %s", rsc, got, n)
						}
					}
					checked++
					continue
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("where(%q) nodes differ from crm_resource --locate (-want +got):\n%s", rsc, diff)
				}
				checked++
			}
			if checked == 0 {
				t.Fatal("no primitive was checked")
			}
		})
	}
}

// TestInstancesMatchCrmMon checks the contract other checks rely on: one
// instance per primitive <resource> element per node, one with an empty
// node for a stopped one, with ids and roles exactly as crm_mon prints.
func TestInstancesMatchCrmMon(t *testing.T) {
	for _, dir := range fixtureDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			sn := loadFixture(t, dir)
			want := crmMonInstances(t, filepath.Join(dir, "crm_mon.xml"))
			var got []string
			for _, in := range sn.Where("").Instances {
				got = append(got, in.Resource+"|"+string(in.Role)+"|"+in.Node)
			}
			sort.Strings(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("instances differ from crm_mon (-want +got):\n%s", diff)
			}
		})
	}
}

// crmMonInstances reads crm_mon's resource elements with a plain token
// walk (independent of the parser under test).
func crmMonInstances(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur []string // id, role
	nodes := 0
	for _, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "<resource ") && strings.Contains(l, "resource_agent="):
			cur = []string{attr(l, "id"), attr(l, "role")}
			nodes = 0
			if strings.HasSuffix(l, "/>") {
				out = append(out, cur[0]+"|"+cur[1]+"|")
				cur = nil
			}
		case cur != nil && strings.HasPrefix(l, "<node "):
			out = append(out, cur[0]+"|"+cur[1]+"|"+attr(l, "name"))
			nodes++
		case cur != nil && l == "</resource>":
			if nodes == 0 {
				out = append(out, cur[0]+"|"+cur[1]+"|")
			}
			cur = nil
		}
	}
	sort.Strings(out)
	return out
}

func attr(l, name string) string {
	_, v, ok := strings.Cut(l, " "+name+"=\"")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, "\"")
	return v
}

// TestSnapshotGolden keeps the whole snapshot of each fixture as JSON.
func TestSnapshotGolden(t *testing.T) {
	for _, dir := range fixtureDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			sn := loadFixture(t, dir)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			view := struct {
				Cluster     model.Cluster
				Nodes       []model.Node
				Resources   []model.Resource
				Where       model.WhereAnswer
				Failures    []model.Failure
				Fencing     []model.FenceEvent
				Constraints []model.Constraint
			}{sn.Cluster, sn.Nodes, sn.Resources, sn.Where(""), sn.Failures, sn.Fencing, sn.Constraints}
			if err := enc.Encode(view); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join(dir, "snapshot.golden.json"), buf.Bytes())
		})
	}
}
