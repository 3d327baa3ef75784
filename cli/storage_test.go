package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// Offline on the drbd-fenced fixture (captured with Pacemaker's tools):
// where answers the target's IQN with its storage chains, and impact
// refuses to call node1's standby safe, with crm_simulate's prediction.
func TestStorageOffline(t *testing.T) {
	cib := filepath.Join("..", "source", "pacemaker", "testdata", "drbd-fenced", "cib.xml")
	code, out, errs := run(t, "where", "iqn.2026-11.com.example:storage.r0", "--cib", cib)
	if code != 0 || !strings.Contains(out, "storage   iscsi-target iqn.2026-11.com.example:storage.r0 -> lun 1 -> device /dev/drbd0 -> drbd r0 (Primary on node1) -> node node1") ||
		!strings.Contains(out, "unknown: no DRBD source reports r0; promotion scores: node1 10000, node2 none") {
		t.Fatalf("where: %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, "impact", "node1", "--cib", cib)
	if code != 0 || !strings.Contains(out, "a planned standby of node1 is NOT safe for replicated data:") ||
		!strings.Contains(out, "r0: the Primary on node1 has no promotable peer to take over (node2 has promotion score none)") ||
		!strings.Contains(out, "stop tgt_r0 on node1") {
		t.Fatalf("impact: %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = run(t, "impact", "node2", "--cib", cib)
	if code != 0 || strings.Contains(out, "NOT safe") || !strings.Contains(out, "replication: r0 loses its replica on node2") {
		t.Fatalf("impact node2: %d\n%s", code, out)
	}
}
