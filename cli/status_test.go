package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mgmtd/internal/testutil"
)

// TestStatusOnDemoStory (issue 19 items 3 and 7): `mgmtd status` on the
// demo's CIB files (captured from Pacemaker's tools) at each step of the
// failover story: what is wrong comes first, failed and stranded
// instances never read "Started" alone, the tree shows groups, clones and
// bundles with their instances, and the exit code says how bad it is; the
// whole output is kept as a golden file per step. --check prints one
// monitoring-plugins line with perfdata and exits 0/1/2.
func TestStatusOnDemoStory(t *testing.T) {
	steps, err := filepath.Glob(filepath.Join("..", "demo", "data", "step-*", "cib.xml"))
	if err != nil || len(steps) < 8 {
		t.Fatalf("demo steps: %v %v", steps, err)
	}
	wantExit := map[string]int{
		"step-00": 0, // all healthy
		"step-01": 3, // web-srv failed and restarted, the failed action stays: warning
		"step-02": 4, // hv1 UNCLEAN
		"step-04": 4, // hv2 alone, no quorum
		"step-07": 0, // r0 in sync and back on hv1
		"step-08": 0, // back where it started
	}
	wantCheck := map[int]int{0: 0, 3: 1, 4: 2}
	for _, cib := range steps {
		step := filepath.Base(filepath.Dir(cib))
		t.Run(step, func(t *testing.T) {
			code, out, errs := runBin(t, nil, nil, "status", "--cib", cib)
			if code != 0 && code != 3 && code != 4 {
				t.Fatalf("status: exit %d %s", code, errs)
			}
			if want, ok := wantExit[step]; ok && code != want {
				t.Errorf("exit %d, want %d:\n%s", code, want, out)
			}
			// What is wrong comes before the tree.
			if code != 0 {
				w, r := strings.Index(out, "what is wrong:"), strings.Index(out, "resources:")
				if w < 0 || w > r {
					t.Errorf("no \"what is wrong\" before the resources:\n%s", out)
				}
			}
			for _, l := range strings.Split(out, "\n") {
				if (strings.Contains(l, "[failed") || strings.Contains(l, "blocked")) && strings.HasSuffix(strings.TrimSpace(l), "Started") {
					t.Errorf("a failed or blocked resource reads Started: %q", l)
				}
			}
			testutil.Golden(t, filepath.Join("testdata", "status", step+".txt"), []byte(out))

			ccode, cout, _ := runBin(t, nil, nil, "status", "--check", "--cib", cib)
			if ccode != wantCheck[code] {
				t.Errorf("status --check: exit %d, want %d (status exited %d): %s", ccode, wantCheck[code], code, cout)
			}
			first, _, _ := strings.Cut(cout, "\n")
			re := regexp.MustCompile(`^MGMTD (OK|WARNING|CRITICAL) - [^|]+ \| nodes=\d+;;;0 .*failed_actions=\d+;0;;0 leftover_constraints=\d+;0;;0 quorate=[01];;1:;0;1$`)
			if !re.MatchString(first) {
				t.Errorf("status --check line %q does not match %s", first, re)
			}
		})
	}
	t.Run("stranded", func(t *testing.T) {
		_, out, _ := runBin(t, nil, nil, "status", "--cib", filepath.Join("..", "demo", "data", "step-02", "cib.xml"))
		i := strings.Index(out, "what is wrong:")
		if i < 0 || !strings.Contains(strings.SplitN(out[i:], "\n", 3)[1], "hv1 is UNCLEAN") {
			t.Errorf("step-02: the first problem is not hv1 UNCLEAN:\n%s", out)
		}
		if !regexp.MustCompile(`vip-db \(ocf:heartbeat:IPaddr2\):\s+Started \(node UNCLEAN\) on hv1`).MatchString(out) {
			t.Errorf("step-02: vip-db on the UNCLEAN hv1 is not marked:\n%s", out)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		code, out, _ := runBin(t, nil, []string{"MGMTD_SERVER=unix:" + filepath.Join(t.TempDir(), "none.sock")}, "status", "--check")
		if code != 3 || !strings.HasPrefix(out, "MGMTD UNKNOWN - ") {
			t.Errorf("no daemon: exit %d %q, want 3 and UNKNOWN", code, out)
		}
	})
	t.Run("leftover constraint", func(t *testing.T) {
		// A move leaves cli-prefer: status says so, with how to clear it.
		cib := filepath.Join(t.TempDir(), "cib.xml")
		b, err := os.ReadFile(filepath.Join("..", "demo", "data", "step-00", "cib.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cib, b, 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errs := runBin(t, nil, nil, "resource", "move", "vip-db", "--node", "hv2", "--cib", cib, "--audit-dir", t.TempDir())
		if code != 0 && !strings.Contains(errs, "cli-prefer") {
			t.Fatalf("move: exit %d %s", code, errs)
		}
		if !strings.Contains(errs, "cli-prefer constraint; it stays until \"mgmtd resource clear vip-db\"") {
			t.Errorf("move did not warn about its constraint: %s", errs)
		}
		code, out, _ := runBin(t, nil, nil, "status", "--cib", cib)
		if code != 3 || !strings.Contains(out, "constraint cli-prefer-vip-db (left by a move or ban) pins vip-db to hv2") {
			t.Errorf("status after a move: exit %d\n%s", code, out)
		}
		_, out, errs = runBin(t, nil, nil, "resource", "move", "vip-db", "--cib", cib, "--audit-dir", t.TempDir())
		if !strings.Contains(errs, "without --node, Pacemaker moves vip-db by banning it") {
			t.Errorf("move without --node did not warn about the cli-ban: %s %s", out, errs)
		}
	})
}
