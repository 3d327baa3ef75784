package pacemaker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mgmtd/model"
)

// physicalPlacement computes, from crm_mon's own lines only, which active
// resource instances physically run on each member node: a resource on a
// remote node with id_as_resource=C runs where C runs.
func physicalPlacement(t *testing.T, file string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	container := map[string]string{} // guest node -> container resource
	type inst struct{ id, node string }
	var ins []inst
	var cur string
	active := false
	for _, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "<node ") && strings.Contains(l, "id_as_resource="):
			container[attr(l, "name")] = attr(l, "id_as_resource")
		case strings.HasPrefix(l, "<resource ") && strings.Contains(l, "resource_agent="):
			cur, active = attr(l, "id"), attr(l, "active") == "true"
			if strings.HasSuffix(l, "/>") {
				cur = ""
			}
		case cur != "" && strings.HasPrefix(l, "<node "):
			if active {
				ins = append(ins, inst{cur, attr(l, "name")})
			}
		case l == "</resource>":
			cur = ""
		}
	}
	where := map[string][]string{} // resource -> nodes
	for _, i := range ins {
		where[i.id] = append(where[i.id], i.node)
	}
	out := map[string][]string{}
	for _, i := range ins {
		n := i.node
		for range 8 {
			c, ok := container[n]
			if !ok {
				break
			}
			if len(where[c]) == 0 {
				n = ""
				break
			}
			n = where[c][0]
		}
		if n != "" {
			out[n] = append(out[n], i.id+"@"+i.node)
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// TestImpactMatchesPlacement: for every fixture and member node, impact()
// lists exactly the instances that crm_mon's placement (followed through
// guest containers) puts physically on that node.
func TestImpactMatchesPlacement(t *testing.T) {
	for _, dir := range fixtureDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			sn := loadFixture(t, dir)
			want := physicalPlacement(t, filepath.Join(dir, "crm_mon.xml"))
			for _, n := range sn.Nodes {
				if n.Type != model.NodeMember {
					continue
				}
				var got []string
				for _, p := range sn.Impact(n.Name).Instances {
					got = append(got, p.Resource+"@"+p.Node)
				}
				sort.Strings(got)
				w := want[n.Name]
				if len(w) == 0 && len(got) == 0 {
					continue
				}
				if diff := cmp.Diff(w, got); diff != "" {
					t.Errorf("impact(%s) (-crm_mon +impact):\n%s", n.Name, diff)
				}
			}
		})
	}
}

// TestImpactSimulationsMatchRecorded runs crm_simulate for node1 of every
// fixture (standby and failure, on private copies) and compares the
// predicted transition - the scenario's own actions and those the cluster
// takes anyway (Planned) - with the recorded crm_simulate output. Where
// the cluster plans nothing (no baseline actions), every action is the
// scenario's.
func TestImpactSimulationsMatchRecorded(t *testing.T) {
	for _, dir := range fixtureDirs(t) {
		rec := filepath.Join(dir, "simulate-node1-standby.xml")
		if _, err := os.Stat(rec); err != nil {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src := New(Options{CIBFile: filepath.Join(dir, "cib.xml")}, nil, quiet())
			sims := src.Impact(context.Background(), "node1")
			for _, sim := range sims {
				data, err := os.ReadFile(filepath.Join(dir, "simulate-node1-"+sim.Scenario+".xml"))
				if err != nil {
					t.Fatal(err)
				}
				want, _ := ParseSimulation(data)
				if sim.Error != "" && len(want) > 0 {
					t.Fatalf("%s: %s", sim.Scenario, sim.Error)
				}
				key := func(a []model.SimAction) []string {
					var out []string
					for _, x := range a {
						out = append(out, x.Action+" "+x.Resource+" "+x.Source+">"+x.Dest)
					}
					sort.Strings(out)
					return out
				}
				if diff := cmp.Diff(key(want), key(append(slices.Clone(sim.Actions), sim.Planned...))); diff != "" {
					t.Errorf("%s: live crm_simulate differs from the recording (-recorded +live):\n%s", sim.Scenario, diff)
				}
				for _, a := range sim.Planned {
					if slices.ContainsFunc(sim.Actions, func(b model.SimAction) bool { return b == a }) {
						t.Errorf("%s: %+v is both the scenario's and planned anyway", sim.Scenario, a)
					}
				}
			}
		})
	}
}
