package check

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mgmtd/source/corosync"
	"mgmtd/toolexec"
)

var now = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

// checkFile gathers from a CIB file with the real crm_verify and runs
// the checks.
func checkFile(t *testing.T, file string, mod func(*Input)) Report {
	t.Helper()
	in, err := Gather(context.Background(), toolexec.Runner{Timeout: time.Minute}, Options{CIBFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if !in.VerifyRan {
		t.Fatalf("crm_verify did not run on %s: %v", file, in.Skipped)
	}
	if mod != nil {
		mod(&in)
	}
	return Run(in, now)
}

func checks(r Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Check+":"+f.Object)
	}
	return out
}

// TestFindings: each CIB of testdata (made by testdata/make.sh with
// Pacemaker's tools) is healthy.xml with one change, and the check finds
// exactly that change - healthy.xml finds nothing.
func TestFindings(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // check:object
		sev  Severity // of the first
	}{
		{"healthy", nil, ""},
		{"fencing-disabled", []string{CheckFencingDisabled + ":"}, Critical},
		{"fencing-no-device", []string{CheckVerify + ":", CheckFencingDevice + ":"}, Critical},
		{"no-quorum-ignore", []string{CheckNoQuorumPolicy + ":no-quorum-policy"}, Critical},
		{"no-quorum-ignore-2nodes", []string{CheckNoQuorumPolicy + ":no-quorum-policy"}, Warning},
		{"no-monitor", []string{CheckNoMonitor + ":batch"}, Warning},
		{"constraint-dangling", []string{CheckDangling + ":loc-web-node9"}, Warning},
		{"constraint-dangling-novalidate", []string{CheckVerify + ":", CheckDangling + ":ord-old-web"}, Critical},
		{"move-leftover", []string{CheckMoveLeftover + ":cli-ban-web-on-node3", CheckMoveLeftover + ":cli-prefer-web"}, Warning},
		{"drbd-no-fencing", []string{CheckDRBDFencing + ":drbd-data", CheckFencingDisabled + ":"}, Critical},
		{"drbd-fenced", []string{CheckDRBDFencing + ":drbd-data"}, Info},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := checkFile(t, filepath.Join("testdata", tc.file+".xml"), nil)
			got := checks(r)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("findings %q, want %q\n%+v", got, want, r.Findings)
			}
			if len(r.Findings) > 0 && r.Findings[0].Severity != tc.sev {
				t.Errorf("most severe finding %s, want %s", r.Findings[0].Severity, tc.sev)
			}
			n := 0
			for _, f := range r.Findings {
				if f.Summary == "" || f.Explanation == "" || f.Fix == "" {
					t.Errorf("finding without summary, explanation or fix: %+v", f)
				}
				n++
			}
			if r.Counts[Critical]+r.Counts[Warning]+r.Counts[Info] != n {
				t.Errorf("counts %v for %d findings", r.Counts, n)
			}
			if r.Skipped[CheckSingleLink] == "" || (tc.file == "healthy" && r.Skipped[CheckFencingUntested] == "") {
				t.Errorf("skipped checks not reported: %v", r.Skipped)
			}
		})
	}
}

// TestFixes runs each finding's fix command (its last line) with
// Pacemaker's tools on a copy of the CIB; the finding is gone afterwards.
func TestFixes(t *testing.T) {
	for _, file := range []string{"fencing-disabled", "no-quorum-ignore", "no-monitor", "constraint-dangling", "move-leftover"} {
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", file+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			cib := filepath.Join(t.TempDir(), "cib.xml")
			if err := os.WriteFile(cib, src, 0o644); err != nil {
				t.Fatal(err)
			}
			before := checkFile(t, cib, nil)
			if len(before.Findings) == 0 {
				t.Fatal("no finding to fix")
			}
			for _, f := range before.Findings {
				lines := strings.Split(f.Fix, "\n")
				fix := lines[len(lines)-1]
				cmd := exec.Command("sh", "-c", fix)
				cmd.Env = append(os.Environ(), "CIB_file="+cib)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("fix %q: %v\n%s", fix, err, out)
				}
			}
			after := checkFile(t, cib, nil)
			if len(after.Findings) != 0 {
				t.Errorf("after the fixes of %q: %q", checks(before), checks(after))
			}
		})
	}
}

func TestFencingHistory(t *testing.T) {
	no, yes := false, true
	r := checkFile(t, "testdata/healthy.xml", func(in *Input) { in.FencingSucceeded = &no })
	if got := checks(r); !slices.Equal(got, []string{CheckFencingUntested + ":"}) {
		t.Errorf("never fenced: %q", got)
	}
	r = checkFile(t, "testdata/healthy.xml", func(in *Input) { in.FencingSucceeded = &yes })
	if len(r.Findings) != 0 || r.Skipped[CheckFencingUntested] != "" {
		t.Errorf("fenced before: %q, skipped %v", checks(r), r.Skipped)
	}
}

// TestCorosync judges corosync-cmapctl output captured from a real
// single-node Corosync 3 (token 3000, one knet link).
func TestCorosync(t *testing.T) {
	raw, err := os.ReadFile("../source/corosync/testdata/single-node/cmapctl.txt")
	if err != nil {
		t.Fatal(err)
	}
	cm, err := corosync.ParseCmap(raw)
	if err != nil {
		t.Fatal(err)
	}
	cmap := map[string]string{}
	for k, v := range cm {
		cmap[k] = v.Value
	}
	r := checkFile(t, "testdata/healthy.xml", func(in *Input) { in.Cmap = cmap })
	if got := checks(r); !slices.Equal(got, []string{CheckSingleLink + ":vm"}) {
		t.Errorf("findings %q, want the single link of node vm (and a token of %s is not short)", got, cmap["runtime.config.totem.token"])
	}
	if r.Skipped[CheckToken] != "" || r.Skipped[CheckSingleLink] != "" {
		t.Errorf("corosync checks skipped: %v", r.Skipped)
	}
}

// TestCorosyncShortToken judges corosync-cmapctl captured from a real
// single-node Corosync 3 with a 1000 ms token
// (testdata/corosync-short-token.sh): the token finding, with its fix.
func TestCorosyncShortToken(t *testing.T) {
	raw, err := os.ReadFile("testdata/corosync-short-token/cmapctl.txt")
	if err != nil {
		t.Fatal(err)
	}
	cm, err := corosync.ParseCmap(raw)
	if err != nil {
		t.Fatal(err)
	}
	cmap := map[string]string{}
	for k, v := range cm {
		cmap[k] = v.Value
	}
	r := checkFile(t, "testdata/healthy.xml", func(in *Input) { in.Cmap = cmap })
	var token *Finding
	for i := range r.Findings {
		if r.Findings[i].Check == CheckToken {
			token = &r.Findings[i]
		}
	}
	if token == nil || !strings.Contains(token.Summary, "1000 ms") || !strings.Contains(token.Fix, "token: 5000") {
		t.Errorf("no token finding for a 1000 ms token: %+v", r.Findings)
	}
}

// TestVerifyMissing: without crm_verify the check still runs, and says
// what it skipped.
func TestVerifyMissing(t *testing.T) {
	in, err := Gather(context.Background(), toolexec.Runner{Env: []string{"PATH=/nonexistent"}, Timeout: time.Minute},
		Options{CIBFile: "testdata/fencing-disabled.xml"})
	if err != nil {
		t.Fatal(err)
	}
	r := Run(in, now)
	if r.Skipped[CheckVerify] == "" {
		t.Errorf("crm_verify missing but not reported: %v", r.Skipped)
	}
	if got := checks(r); !slices.Equal(got, []string{CheckFencingDisabled + ":"}) {
		t.Errorf("findings %q", got)
	}
}

func TestParseVerify(t *testing.T) {
	raw, err := os.ReadFile("testdata/verify-fencing-no-device.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := ParseVerify(raw)
	if len(got) != 1 || got[0].Level != "error" || !strings.HasPrefix(got[0].Text, "Resource start-up disabled since no STONITH resources have been defined Either configure") {
		t.Errorf("%+v", got)
	}
	raw = []byte("(a) \terror: one\n(a) \twarning: two\n(b) \terror: three\nerror: four\nnotice: x\ncrm_verify: Errors found\n")
	got = ParseVerify(raw)
	want := []VerifyMessage{{"error", "one"}, {"warning", "two"}, {"error", "three"}, {"error", "four"}}
	if !slices.Equal(got, want) {
		t.Errorf("%+v", got)
	}
	many := strings.Repeat("error: x\n", MaxVerifyMessages+10)
	if got := ParseVerify([]byte(many)); len(got) != MaxVerifyMessages+1 {
		t.Errorf("%d messages kept of %d", len(got), MaxVerifyMessages+10)
	}
}

func FuzzParseVerify(f *testing.F) {
	files, _ := filepath.Glob("testdata/verify-*.txt")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs := ParseVerify(b)
		if len(msgs) > MaxVerifyMessages+1 {
			t.Fatalf("%d messages", len(msgs))
		}
		for _, m := range msgs {
			if m.Level != "error" && m.Level != "warning" {
				t.Fatalf("level %q", m.Level)
			}
		}
	})
}
