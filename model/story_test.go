package model_test

import (
	"fmt"
	"strings"
	"testing"

	"mgmtd/demo"
	"mgmtd/model"
)

// playStory shows every recorded demo step (real crm_mon captures of a
// failover) and returns the events of each transition as "type object"
// strings.
func playStory(t *testing.T) [][]string {
	t.Helper()
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	p := demo.NewPlayer(steps, st, 1)
	var out [][]string
	for i := 0; i <= len(steps); i++ {
		last := st.Events().Last()
		p.Show(i)
		evs, missed := st.Events().Since(last)
		if missed {
			t.Fatal("event buffer dropped events")
		}
		var s []string
		for _, e := range evs {
			s = append(s, fmt.Sprintf("%s %s %s>%s", e.Type, e.Object.Name, e.From, e.To))
		}
		out = append(out, s)
	}
	return out
}

func has(evs []string, prefix string) bool {
	for _, e := range evs {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// TestStoryEvents checks the typed events of the failover story against
// what its captions (story.json) say happened.
func TestStoryEvents(t *testing.T) {
	evs := playStory(t)
	want := map[int][]string{
		1: {"resource.failed web-srv"},
		3: {"node.left hv1 online>unclean", "host.unreachable hv1", "resource.stopped web-srv", "vm.state vm-app running>unknown"},
		4: {"resource.moved vm-app hv1>hv2", "resource.moved vip-db hv1>hv2", "resource.promoted db", "node.state hv1 unclean>offline"},
		5: {"node.joined hv1", "host.reachable hv1"},
		6: {"resource.moved vm-app hv2>hv1", "vm.migrated vm-app hv2>hv1", "resource.moved vip-db hv2>hv1"},
	}
	for step, list := range want {
		for _, w := range list {
			if !has(evs[step], w) {
				t.Errorf("step %d: no event %q in %v", step, w, evs[step])
			}
		}
	}
	// The same web-srv failure hidden while app1 was down and shown again
	// is not announced a second time; nothing is announced twice.
	if has(evs[4], "resource.failed web-srv") {
		t.Errorf("step 4 re-announced the old web-srv failure: %v", evs[4])
	}
	// Sources reported together never show a half-way conflict.
	for i, e := range evs {
		if has(e, "conflict") {
			t.Errorf("step %d: transient conflict %v", i, e)
		}
	}
	// Looping back from the last step to the first changes little: the
	// story ends where it started.
	if len(evs[len(evs)-1]) > 3 {
		t.Errorf("loop back to step 0 produced %d events: %v", len(evs[len(evs)-1]), evs[len(evs)-1])
	}
}

// TestStoryWhere follows web through the guest node and its VM to the
// physical host, before and after the failover.
func TestStoryWhere(t *testing.T) {
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	p := demo.NewPlayer(steps, st, 1)
	for step, host := range map[int]string{0: "hv1", 4: "hv2", 6: "hv1"} {
		p.Show(step)
		sn := st.Snapshot()
		ans := sn.Where("192.0.2.10")
		if len(ans.Matches) == 0 || len(ans.Instances) == 0 {
			t.Fatalf("step %d: where(192.0.2.10) found nothing", step)
		}
		for _, in := range ans.Instances {
			if in.Active && in.Host != host {
				t.Errorf("step %d: %s on %s has host %s, want %s", step, in.Resource, in.Node, in.Host, host)
			}
			if in.Resource == "web-ip" {
				kinds := ""
				for _, h := range in.Chain {
					kinds += string(h.Kind) + " "
				}
				if kinds != "resource node resource vm node host " {
					t.Errorf("step %d: chain %q", step, kinds)
				}
			}
		}
		if len(ans.Addresses) != 1 || ans.Addresses[0].Method != model.MethodIPTakeover || ans.Addresses[0].Host != host {
			t.Errorf("step %d: addresses %+v", step, ans.Addresses)
		}
	}
}

// TestStoryImpact: losing the host of vm-app takes the VM, its guest node
// and the web group with it, and the unmanaged VM on that host.
func TestStoryImpact(t *testing.T) {
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{Cluster: "demo"})
	demo.NewPlayer(steps, st, 1).Show(0)
	sn := st.Snapshot()
	im := sn.Impact("hv1")
	got := map[string]bool{}
	for _, in := range im.Instances {
		got[in.Resource+"@"+in.Node] = true
	}
	for _, w := range []string{"vm-app@hv1", "web-ip@app1", "web-srv@app1", "app1@hv1"} {
		if !got[w] {
			t.Errorf("impact(hv1) misses %s: %v", w, got)
		}
	}
	if len(im.GuestNodes) == 0 || im.GuestNodes[0] != "app1" {
		t.Errorf("guest nodes %v", im.GuestNodes)
	}
	vms := map[string]bool{}
	for _, v := range im.VMs {
		vms[v.Name] = v.Managed
	}
	if managed, ok := vms["vm-app"]; !ok || !managed {
		t.Errorf("vm-app not listed as a managed VM: %v", vms)
	}
	im3 := sn.Impact("hv3")
	found := false
	for _, v := range im3.VMs {
		if v.Name == "build01" && !v.Managed {
			found = true
		}
	}
	if !found {
		t.Errorf("impact(hv3) misses the unmanaged VM build01: %+v", im3.VMs)
	}
	if sn.Impact("nosuch").Known {
		t.Error("unknown node is known")
	}
}
