package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mgmtd/check"
)

func checkCopy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "check", "testdata", name+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cib.xml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func findingIDs(r check.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Check+":"+f.Object)
	}
	slices.Sort(out)
	return out
}

// TestCheck: `mgmtd check` offline on a CIB file and against a daemon
// serving the same file (GET /api/v1/check through the local socket)
// report the same findings; --fail-on sets exit status 3.
func TestCheck(t *testing.T) {
	cib := checkCopy(t, "move-leftover")
	code, out, errs := run(t, "check", "--cib", cib, "-o", "json")
	var offline check.Report
	if code != 0 || json.Unmarshal([]byte(out), &offline) != nil {
		t.Fatalf("check --cib: exit %d %s %s", code, out, errs)
	}
	want := []string{check.CheckMoveLeftover + ":cli-ban-web-on-node3", check.CheckMoveLeftover + ":cli-prefer-web"}
	if got := findingIDs(offline); !slices.Equal(got, want) {
		t.Errorf("offline findings %q, want %q", got, want)
	}
	code, out, _ = run(t, "check", "--cib", cib)
	if code != 0 || !strings.Contains(out, "0 critical, 2 warning, 0 info") || !strings.Contains(out, "fix: crm_resource --clear --resource web --node node3") {
		t.Errorf("check table: exit %d\n%s", code, out)
	}
	if code, _, errs := run(t, "check", "--cib", cib, "--fail-on", "warning"); code != 3 || !strings.Contains(errs, "2 finding(s)") {
		t.Errorf("--fail-on warning: exit %d %s", code, errs)
	}
	if code, _, _ := run(t, "check", "--cib", cib, "--fail-on", "critical"); code != 0 {
		t.Errorf("--fail-on critical without critical findings: exit %d", code)
	}
	if code, _, _ := run(t, "check", "--cib", cib, "--fail-on", "bad"); code != 2 {
		t.Errorf("--fail-on bad: exit %d", code)
	}

	d := startDaemon(t, "serve", "--cib", cib)
	code, out, errs = run(t, "check", "--server", d.socket, "-o", "json")
	var online check.Report
	if code != 0 || json.Unmarshal([]byte(out), &online) != nil {
		t.Fatalf("check --server: exit %d %s %s", code, out, errs)
	}
	if got := findingIDs(online); !slices.Equal(got, want) {
		t.Errorf("daemon's findings %q, want %q", got, want)
	}
	if online.Skipped[check.CheckFencingUntested] == "" {
		t.Errorf("a CIB file has no fencing history, but the check was not skipped: %v", online.Skipped)
	}
}
