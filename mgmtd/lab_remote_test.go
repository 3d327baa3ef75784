package mgmtd

import (
	"strings"
	"testing"
	"time"

	"mgmtd/internal/lab"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// TestLabRemoteNodes: a Pacemaker Remote node (pacemaker-remoted in its
// own namespaces, reached over TCP) and a guest node (pacemaker-remoted
// inside the "VM" - a Dummy with remote-node, which Pacemaker starts on a
// cluster node before connecting) join the lab; mgmtd shows each as what
// it is, with the resources they run, and where answers through them.
func TestLabRemoteNodes(t *testing.T) {
	l := lab.Up(t, 3)
	l.Remote("remote1")
	l.Guest("guest1")
	for _, p := range []struct{ id, node string }{{"on-remote", "remote1"}, {"on-guest", "guest1"}} {
		l.Exec("node1", "cibadmin", "--create", "-o", "resources", "--xml-text",
			`<primitive id="`+p.id+`" class="ocf" provider="pacemaker" type="Dummy"/>`)
		l.Exec("node1", "cibadmin", "--create", "-o", "constraints", "--xml-text",
			`<rsc_location id="`+p.id+`-loc" rsc="`+p.id+`" node="`+p.node+`" score="INFINITY"/>`)
	}
	testutil.Eventually(t, 120*time.Second, func() bool {
		return strings.Contains(locate(t, l, "on-remote"), "remote1") && strings.Contains(locate(t, l, "on-guest"), "guest1")
	}, "the cluster runs a resource on each remote node")

	d := startLabDaemon(t, l, "node2")
	testutil.Eventually(t, 60*time.Second, func() bool {
		var r, g model.Node
		return d.get(t, "/api/v1/nodes/remote1", &r) == 200 && r.Type == model.NodeRemote && r.Online &&
			d.get(t, "/api/v1/nodes/guest1", &g) == 200 && g.Type == model.NodeGuest && g.Online && g.Container == "vm-guest1"
	}, "mgmtd shows remote1 as a remote node and guest1 as a guest node in vm-guest1")
	// The chain goes through the guest node and the "VM" it runs in,
	// down to the cluster node that runs the VM.
	var w model.WhereAnswer
	if code := d.get(t, "/api/v1/where?q=on-guest", &w); code != 200 || len(w.Instances) == 0 {
		t.Fatalf("where on-guest: %d %+v", code, w)
	}
	var hops []string
	for _, h := range w.Instances[0].Chain {
		hops = append(hops, string(h.Kind)+":"+h.Name+"@"+h.On)
	}
	chain := strings.Join(hops, " -> ")
	if !strings.Contains(chain, "guest1") || !strings.Contains(chain, "vm-guest1") {
		t.Errorf("where on-guest: the chain %s does not go through guest1 and vm-guest1", chain)
	}
}
