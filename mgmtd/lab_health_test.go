package mgmtd

import (
	"strings"
	"testing"
	"time"

	"mgmtd/internal/lab"
	"mgmtd/internal/testutil"
)

// TestLabHealthAddress: the documented every-node deployment with one
// address for the NMS. Every node's mgmtd keeps the transient attribute
// mgmtd-healthy at 1 while its picture is fresh; an IPaddr2 with a
// location rule runs only where it is 1. Stopping the mgmtd that holds
// the address moves the address to a node whose mgmtd is healthy.
func TestLabHealthAddress(t *testing.T) {
	l := lab.Up(t, 3)
	l.Exec("node1", "cibadmin", "--create", "-o", "resources", "--xml-text",
		`<primitive id="mgmtd-ip" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="mgmtd-ip-ia">`+
			`<nvpair id="mgmtd-ip-ip" name="ip" value="198.18.0.200"/><nvpair id="mgmtd-ip-mask" name="cidr_netmask" value="24"/>`+
			`<nvpair id="mgmtd-ip-nic" name="nic" value="eth0"/></instance_attributes>`+
			`<operations><op id="mgmtd-ip-mon" name="monitor" interval="10s"/></operations></primitive>`)
	l.Exec("node1", "cibadmin", "--create", "-o", "constraints", "--xml-text",
		`<rsc_location id="mgmtd-ip-healthy" rsc="mgmtd-ip"><rule id="mgmtd-ip-healthy-rule" score="-INFINITY" boolean-op="or">`+
			`<expression id="mgmtd-ip-healthy-undef" attribute="mgmtd-healthy" operation="not_defined"/>`+
			`<expression id="mgmtd-ip-healthy-ne" attribute="mgmtd-healthy" operation="ne" value="1"/></rule></rsc_location>`)
	l.Exec("node1", "crm_resource", "--wait", "--timeout", "60s")
	if got := locate(t, l, "mgmtd-ip"); strings.Contains(got, "running on") {
		t.Fatalf("the address runs before any mgmtd is healthy: %s", got)
	}
	daemons := map[string]*labDaemon{}
	for _, n := range l.Nodes {
		daemons[n] = startLabDaemon(t, l, n, map[string]any{"health_attribute": "mgmtd-healthy"})
	}
	holder := func() string {
		got := locate(t, l, "mgmtd-ip")
		for _, n := range l.Nodes {
			if strings.Contains(got, "running on: "+n) {
				return n
			}
		}
		return ""
	}
	var first string
	testutil.Eventually(t, 90*time.Second, func() bool { first = holder(); return first != "" }, "the address starts where mgmtd is healthy")
	// The holder is asked again: while the other daemons become healthy
	// Pacemaker may still place the address elsewhere (no stickiness).
	testutil.Eventually(t, 30*time.Second, func() bool {
		if first = holder(); first == "" {
			return false
		}
		out, _ := l.Try(first, "ip", "-4", "addr", "show", "eth0")
		return strings.Contains(out, "198.18.0.200")
	}, "the node Pacemaker says holds the address has it on eth0")
	daemons[first].stop()
	var second string
	testutil.Eventually(t, 90*time.Second, func() bool { second = holder(); return second != "" && second != first },
		"the address leaves %s, whose mgmtd stopped, for a healthy node", first)
	if out, _ := l.Try(first, "attrd_updater", "--name", "mgmtd-healthy", "--query", "--node", first); strings.Contains(out, `value="1"`) {
		t.Errorf("the stopped mgmtd left its attribute: %s", out)
	}
	t.Logf("the address moved from %s to %s when %s's mgmtd stopped", first, second, first)
}
