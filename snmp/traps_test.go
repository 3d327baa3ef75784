package snmp

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mgmtd/internal/testutil"
)

// trapd is a snmptrapd on loopback that logs one line per notification:
// "TRAP" and the varbinds, tab-separated, each "name = TYPE: value" (-On).
type trapd struct {
	log string
}

// startTrapd starts snmptrapd on the UDP port snmpd sends to and waits
// until it logs its start.
func startTrapd(t testing.TB, port int) *trapd {
	t.Helper()
	dir := t.TempDir()
	d := &trapd{log: filepath.Join(dir, "traps.log")}
	startDaemon(t, "snmptrapd", agentEnv(dir), "-f", "-C", "-c", "testdata/snmptrapd.conf", "-On", "-Lf", d.log,
		"-F", "TRAP %v\n", "-p", filepath.Join(dir, "snmptrapd.pid"), "udp:127.0.0.1:"+strconv.Itoa(port))
	testutil.Eventually(t, waitTimeout, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "NET-SNMP version")
	}, "snmptrapd has started")
	return d
}

// snmpdWithTrapd starts snmpd (unix AgentX socket) and the snmptrapd it
// sends notifications to.
func snmpdWithTrapd(t testing.TB) (*snmpd, *trapd) {
	t.Helper()
	d := newSnmpd(t, "unix")
	td := startTrapd(t, d.trap)
	d.run(t)
	return d, td
}

// trap is one logged notification: its snmpTrapOID.0 value and every
// varbind as "name = TYPE: value".
type trap struct {
	oid string
	vbs []string
}

// value returns the value text of the varbind named name ("" if none).
func (tr trap) value(name string) string {
	for _, vb := range tr.vbs {
		if v, ok := strings.CutPrefix(vb, name+" = "); ok {
			return v
		}
	}
	return ""
}

// message is the trap's mgmtdNotifyMessage.0 without quotes.
func (tr trap) message() string {
	v, _ := strings.CutPrefix(tr.value(entStr+".1.20.2.0"), "STRING: ")
	return strings.Trim(v, `"`)
}

// traps returns our notifications (MGMTD-CLUSTER-MIB's and the VM-MIB's,
// not snmpd's own coldStart) logged so far, in arrival order.
func (d *trapd) traps(t testing.TB) []trap {
	t.Helper()
	b, err := os.ReadFile(d.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []trap
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, "TRAP ")
		if !ok {
			continue
		}
		tr := trap{vbs: strings.Split(rest, "\t")}
		tr.oid, _ = strings.CutPrefix(tr.value(".1.3.6.1.6.3.1.1.4.1.0"), "OID: ")
		if strings.HasPrefix(tr.oid, entStr+".") || strings.HasPrefix(tr.oid, vmMIBStr+".") {
			out = append(out, tr)
		}
	}
	return out
}

// count returns how many logged notifications have snmpTrapOID.0 oid.
func (d *trapd) count(t testing.TB, oid string) int {
	n := 0
	for _, tr := range d.traps(t) {
		if tr.oid == oid {
			n++
		}
	}
	return n
}
