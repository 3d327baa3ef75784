package pacemaker

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReplayKeptCIBs compares the CIBs a failed differential run kept
// (MGMTD_DIFF_REPLAY is a glob), to check a fix without the random run.
func TestReplayKeptCIBs(t *testing.T) {
	pattern := os.Getenv("MGMTD_DIFF_REPLAY")
	if pattern == "" {
		t.Skip("set MGMTD_DIFF_REPLAY to a glob of kept CIBs")
	}
	files, _ := filepath.Glob(pattern)
	for _, f := range files {
		diffs, dec := diffCase(t, f)
		if dec != nil {
			t.Logf("%s: declined: %v", f, dec)
		}
		for _, d := range diffs {
			t.Errorf("%s: %s", f, d)
		}
	}
	t.Logf("%d CIBs replayed", len(files))
}
