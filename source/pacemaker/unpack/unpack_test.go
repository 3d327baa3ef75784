package unpack

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixtures(t testing.TB) []string {
	files, err := filepath.Glob("../testdata/*/cib.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return append(files, "../testdata/live/cibadmin-query.xml")
}

// TestBadInput: what is not a CIB is a clear error, never a panic.
func TestBadInput(t *testing.T) {
	cases := map[string]string{
		"":                                    "no root element",
		"<cib>":                               "unexpected end",
		"<cib></status>":                      "unexpected end element",
		"<crm_mon/>":                          "not <cib>",
		"<cib/>":                              "no configuration",
		"<cib><configuration/></cib><cib/>":   "content after the root",
		"<cib><configuration/></cib>trailing": "text outside",
		strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100): "nested deeper",
	}
	for in, want := range cases {
		_, err := Unpack([]byte(in), Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: err %v, want %q", in, err, want)
		}
	}
	big := make([]byte, MaxSize+1)
	if _, err := Unpack(big, Options{}); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("oversized: %v", err)
	}
}

// TestDeclinesBundles: a CIB with a bundle is declined with
// ErrUnsupported naming it, so the caller asks crm_mon.
func TestDeclinesBundles(t *testing.T) {
	data, err := os.ReadFile("../testdata/bundle/cib.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Unpack(data, Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "httpd-bundle") {
		t.Fatalf("err = %v", err)
	}
}

// TestFixtureFacts checks a few facts of the fixtures that the
// differential test (source/pacemaker) compares in full with crm_mon.
func TestFixtureFacts(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("../testdata/" + name + "/cib.xml")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r, err := Unpack(read("failed"), Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var blocked string
	for _, p := range r.Resources.Primitives {
		if p.ID == "svc-block" {
			blocked = p.Blocked + " " + p.Managed + " " + p.Failed
		}
	}
	if blocked != "true false true" {
		t.Errorf("svc-block blocked/managed/failed = %q", blocked)
	}
	if len(r.Failures) != 6 || r.Failures[len(r.Failures)-1].Status != "Timed Out" ||
		r.Failures[0].LastRCChange != "2026-11-01 10:00:00Z" {
		t.Errorf("failures: %+v", r.Failures)
	}
	r, err = Unpack(read("unclean"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range r.Nodes {
		if (n.Name == "node3") != (n.Unclean == "true") {
			t.Errorf("node %s unclean=%s", n.Name, n.Unclean)
		}
	}
}

func FuzzUnpack(f *testing.F) {
	for _, file := range fixtures(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<cib><configuration><nodes><node id="1" uname="a"/></nodes><resources/></configuration><status><node_state id="1" uname="a" in_ccm="true" crmd="online" join="member" expected="member"/></status></cib>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Unpack(data, Options{Now: time.Unix(1793527200, 0)})
		if err != nil {
			if r != nil {
				t.Fatal("result with an error")
			}
			return
		}
		if r.Summary == nil || r.Status.Code != "0" {
			t.Fatalf("incomplete result: %+v", r)
		}
	})
}

// TestCloneMaxBounded: a huge clone-max (even of an empty group) is an
// error, not a loop.
func TestCloneMaxBounded(t *testing.T) {
	for _, child := range []string{`<group id="g"/>`, `<primitive id="p" class="ocf" provider="pacemaker" type="Dummy"/>`} {
		doc := `<cib><configuration><resources><clone id="c"><meta_attributes id="m"><nvpair id="n" name="clone-max" value="99999999"/></meta_attributes>` +
			child + `</clone></resources></configuration></cib>`
		start := time.Now()
		_, err := Unpack([]byte(doc), Options{})
		if err == nil || !strings.Contains(err.Error(), "more than") {
			t.Errorf("%s: err = %v", child, err)
		}
		t.Logf("%s: %v", child, time.Since(start))
	}
}
