package transition

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func input(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pengine", name))
	if err != nil {
		t.Fatal(err)
	}
	x, err := Decode(name, b, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestOpsOfALiveCluster: the operations of the input saved from a live
// cluster's CIB carry their transition numbers (transitions 0 and 2 of
// that cluster's DC).
func TestOpsOfALiveCluster(t *testing.T) {
	ops, err := Ops(input(t, "pe-input-1.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 11 {
		t.Fatalf("%d operations, want the 11 of the capture", len(ops))
	}
	seen := map[int]bool{}
	for _, op := range ops {
		if op.Node != "vm" || op.Resource == "" || op.Operation == "" || op.LastChange == 0 {
			t.Fatalf("incomplete operation %+v", op)
		}
		if parts := strings.Split(op.Key, ":"); op.Transition < 0 || len(parts) != 4 || parts[1] != strconv.Itoa(op.Transition) {
			t.Fatalf("operation %s: transition %d from key %q", op.ID, op.Transition, op.Key)
		}
		seen[op.Transition] = true
	}
	if !seen[0] || !seen[2] {
		t.Fatalf("transitions seen %v; the capture has 0 and 2", seen)
	}
}

func TestParseKeyAndMagic(t *testing.T) {
	k, err := ParseKey("10:2:0:94a5e924-df23-4c5c-9685-2c584a8b1671")
	if err != nil || k.Action != 10 || k.Transition != 2 || k.TargetRC != 0 || k.DC != "94a5e924-df23-4c5c-9685-2c584a8b1671" {
		t.Fatalf("%+v %v", k, err)
	}
	st, rc, k2, err := ParseMagic("0:7;3:5:0:94a5e924-df23-4c5c-9685-2c584a8b1671")
	if err != nil || st != 0 || rc != 7 || k2.Transition != 5 {
		t.Fatalf("%d %d %+v %v", st, rc, k2, err)
	}
	for _, bad := range []string{"", "1:2:3", "a:2:0:u", "1:-2:0:u", "1:2:0:"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"0:7", "x:7;1:2:0:u", "0:y;1:2:0:u", "07;1:2:0:u"} {
		if _, _, _, err := ParseMagic(bad); err == nil {
			t.Errorf("ParseMagic(%q) accepted", bad)
		}
	}
}

func TestParseInputName(t *testing.T) {
	for name, want := range map[string]Input{
		"pe-input-12.bz2": {Name: "pe-input-12.bz2", Kind: "input", Series: 12},
		"pe-warn-0.bz2":   {Name: "pe-warn-0.bz2", Kind: "warn", Series: 0},
		"pe-error-3":      {Name: "pe-error-3", Kind: "error", Series: 3},
	} {
		if got, ok := ParseInputName(name); !ok || got != want {
			t.Errorf("%s: %+v %v", name, got, ok)
		}
	}
	for _, bad := range []string{"../pe-input-1.bz2", "pe-input-1.bz2/x", "pe-input-.bz2", "pe-input-1.gz", "pe-series", "cib.xml"} {
		if _, ok := ParseInputName(bad); ok {
			t.Errorf("%q taken for an input", bad)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join("testdata", "pengine", "pe-input-2.bz2"))
	if _, err := Decode("pe-input-2.bz2", b, 100); err == nil || !strings.Contains(err.Error(), "more than 100 bytes") {
		t.Fatalf("limit not enforced: %v", err)
	}
	if _, err := Decode("pe-input-2.bz2", b[:len(b)/2], 64<<20); err == nil {
		t.Fatal("truncated bzip2 accepted")
	}
	if _, err := Decode("pe-input-2", []byte("<html/>"), 1000); err == nil {
		t.Fatal("a file that is not a CIB accepted")
	}
}

// TestParseLog: the line is Pacemaker 2.1's format ("Calculated
// transition %d%s%s" in libpacemaker, the suffixes ", saving inputs in "
// and the path), as a log of a DC restart shows it: a later line for the
// same number wins.
func TestParseLog(t *testing.T) {
	log := `Dec 05 08:00:01 node1 pacemaker-schedulerd[123] (pcmk__log_transition_summary) notice: Calculated transition 0, saving inputs in /var/lib/pacemaker/pengine/pe-input-7.bz2
Dec 05 08:00:02 node1 pacemaker-controld  [120] (run_graph) notice: Transition 0 (Complete=3, Pending=0, Fired=0, Skipped=0, Incomplete=0, Source=/var/lib/pacemaker/pengine/pe-input-7.bz2): Complete
Dec 05 08:01:00 node1 pacemaker-schedulerd[123] (pcmk__log_transition_summary) warning: Calculated transition 1 (with warnings), saving inputs in /var/lib/pacemaker/pengine/pe-warn-2.bz2
Dec 05 08:02:00 node1 pacemaker-schedulerd[123] (pcmk__log_transition_summary) error: Calculated transition 2 (with errors), saving inputs in /var/lib/pacemaker/pengine/pe-error-1.bz2
Dec 05 09:00:00 node1 pacemaker-schedulerd[99] (pcmk__log_transition_summary) notice: Calculated transition 0, saving inputs in /var/lib/pacemaker/pengine/pe-input-8.bz2
garbage Calculated transition x, saving inputs in /etc/passwd
`
	m, err := ParseLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{0: "pe-input-8.bz2", 1: "pe-warn-2.bz2", 2: "pe-error-1.bz2"}
	if len(m) != len(want) {
		t.Fatalf("%v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Fatalf("transition %d: %q, want %q", k, m[k], v)
		}
	}
}

func TestScores(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "scores-live.xml"))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := Scores(b)
	if err != nil || len(sc) == 0 {
		t.Fatalf("%d scores, %v", len(sc), err)
	}
	found := false
	for _, s := range sc {
		if s.Resource == "svc-off" && s.Node == "vm" && s.Score == "-INFINITY" {
			found = true
		}
	}
	if !found {
		t.Fatalf("svc-off's -INFINITY (target-role Stopped) missing: %+v", sc)
	}
}

func seeds(f *testing.F) {
	for _, n := range []string{"pe-input-1.bz2", "pe-input-2.bz2"} {
		f.Add(input(f, n))
	}
	b, _ := os.ReadFile(filepath.Join("testdata", "scores-live.xml"))
	f.Add(b)
}

func FuzzOps(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, _ := Ops(b)
		for _, op := range ops {
			if op.Transition < -1 {
				t.Fatalf("transition %d", op.Transition)
			}
		}
	})
}

func FuzzScores(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = Scores(b) })
}

func FuzzParseLog(f *testing.F) {
	f.Add([]byte("notice: Calculated transition 4, saving inputs in /var/lib/pacemaker/pengine/pe-input-4.bz2\n"))
	f.Add([]byte("Calculated transition 1 (with warnings), saving inputs in pe-warn-2.bz2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := ParseLog(strings.NewReader(string(b)))
		for _, v := range m {
			if _, ok := ParseInputName(v); !ok {
				t.Fatalf("%q is not an input name", v)
			}
		}
	})
}

func FuzzKey(f *testing.F) {
	for _, op := range []string{"10:2:0:94a5e924-df23-4c5c-9685-2c584a8b1671", "0:7;3:5:0:u"} {
		f.Add(op)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseKey(s); err == nil && (k.Transition < 0 || k.DC == "") {
			t.Fatalf("%q: %+v", s, k)
		}
		_, _, _, _ = ParseMagic(s)
		_, _ = ParseInputName(s)
	})
}

func FuzzDecode(f *testing.F) {
	for _, n := range []string{"pe-input-1.bz2", "pe-input-2.bz2"} {
		b, _ := os.ReadFile(filepath.Join("testdata", "pengine", n))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if x, err := Decode("pe-input-1.bz2", b, 1<<20); err == nil && len(x) > 1<<20 {
			t.Fatalf("%d bytes past the limit", len(x))
		}
	})
}
