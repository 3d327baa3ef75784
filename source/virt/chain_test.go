package virt

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"mgmtd/internal/fixture"
	"mgmtd/model"
	"mgmtd/source/pacemaker"
)

// TestWhereChainThroughLibvirt joins the recorded Pacemaker fixture "guest"
// (crm_mon: web-ip and web-srv run on guest node app1, whose container
// vm-app runs on node1) with real libvirtds serving one test-driver host
// per cluster node: where(web) must end at the physical host through the
// libvirt domain, impact(node1) must list the unmanaged VM on node1, and a
// domain running where Pacemaker does not place it is a conflict.
func TestWhereChainThroughLibvirt(t *testing.T) {
	requireTools(t)
	part := fixture.Pacemaker(t, filepath.Join("..", "pacemaker", "testdata", "guest"))
	// Where crm_mon runs each VirtualDomain resource is where libvirt runs
	// the domain of the same name; vm-plain's domain is on the wrong host,
	// and node1 also runs a VM Pacemaker does not manage.
	placed := map[string][]genDomain{}
	for _, in := range part.Instances {
		if in.Active && in.Agent == "ocf:heartbeat:VirtualDomain" {
			host := in.Node
			if in.Primitive == "vm-plain" {
				host = "node1"
			}
			placed[host] = append(placed[host], genDomain{Name: in.Primitive, UUID: uuidFor(in.Primitive), VCPUs: 2, MemoryKiB: 1 << 20, RunState: -1})
		}
	}
	placed["node1"] = append(placed["node1"], genDomain{Name: "scratch", UUID: uuidFor("scratch"), VCPUs: 1, MemoryKiB: 1 << 19, RunState: -1})
	dir := t.TempDir()
	d := startLibvirtd(t, dir)
	var hosts []HostConfig
	for _, n := range []string{"node1", "node2", "node3"} {
		x, err := genNodeXML(8, 16<<20, placed[n])
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, n+".xml")
		if err := os.WriteFile(file, x, 0o644); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, HostConfig{Name: n, URI: d.uri(file)})
	}
	store := model.NewStore(model.StoreOptions{Cluster: "c1"})
	store.Report(model.Report{Source: pacemaker.Name, Pacemaker: part})
	runSource(t, New(integrationOptions(hosts...), store, testLogger(t)), store)
	sn := waitSnapshot(t, store, 10*time.Second, "all VMs", func(s *model.Snapshot) bool { return len(s.VMs) >= 4 })

	ans := sn.Where("web")
	if len(ans.Instances) != 2 {
		t.Fatalf("where(web): %+v", ans.Instances)
	}
	for _, p := range ans.Instances {
		var kinds []string
		for _, h := range p.Chain {
			kinds = append(kinds, string(h.Kind)+":"+h.Name)
		}
		want := []string{"resource:" + p.Resource, "node:app1", "resource:vm-app", "vm:vm-app", "node:node1", "host:node1"}
		if p.Host != "node1" || p.VM != "vm-app" || len(kinds) != len(want) {
			t.Fatalf("chain of %s: %v (host %s)", p.Resource, kinds, p.Host)
		}
		for i := range want {
			if kinds[i] != want[i] {
				t.Fatalf("chain of %s: %v, want %v", p.Resource, kinds, want)
			}
		}
	}
	vm, ok := sn.VMOn("node1", "vm-app")
	if !ok || !vm.Managed || vm.Resource != "vm-app" || vm.GuestNode != "app1" {
		t.Fatalf("vm-app: %+v", vm)
	}
	im := sn.Impact("node1")
	names := map[string]bool{}
	for _, v := range im.VMs {
		names[v.Name] = v.Managed
	}
	if managed, ok := names["scratch"]; !ok || managed {
		t.Errorf("impact(node1) should list the unmanaged VM scratch: %v", names)
	}
	gotWeb := false
	for _, in := range im.Instances {
		if in.Resource == "web-srv" {
			gotWeb = true
		}
	}
	if !gotWeb {
		t.Error("impact(node1) misses web-srv inside vm-app")
	}
	misplaced := false
	for _, c := range sn.Conflicts {
		if c.Type == "misplaced" && c.VM == "vm-plain" {
			misplaced = true
		}
	}
	if !misplaced {
		t.Errorf("vm-plain runs on node1 but Pacemaker says node3: conflicts %+v", sn.Conflicts)
	}
}

func uuidFor(name string) string {
	var h [16]byte
	for i, c := range []byte(name) {
		h[i%16] ^= c + byte(i)
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, b := range h {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[b>>4], hex[b&15])
	}
	return string(out)
}
