package crmmon

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func seeds(t testing.TB, pattern string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed files match %s", pattern)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

func TestParseFixtures(t *testing.T) {
	for name, data := range seeds(t, "../testdata/*/crm_mon.xml") {
		r, err := Parse(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(r.Nodes) == 0 {
			t.Errorf("%s: no nodes", name)
		}
	}
}

func TestParseSimulations(t *testing.T) {
	n := 0
	for name, data := range seeds(t, "../testdata/*/simulate-*.xml") {
		r, err := Parse(data)
		if err != nil && !errors.Is(err, ErrStatus) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		n += len(r.Actions)
	}
	if n == 0 {
		t.Fatal("no predicted action in any simulation fixture")
	}
}

// TestGarbage feeds the captured bad outputs (truncated, text, empty, a
// CIB instead of crm_mon, two documents, crm_mon's "Not connected"): each
// is an error, none panics.
func TestGarbage(t *testing.T) {
	for name, data := range seeds(t, "../testdata/garbage/crm_mon-*") {
		r, err := Parse(data)
		if err == nil {
			t.Errorf("%s: parsed without error (%d nodes)", name, len(r.Nodes))
		}
	}
}

func TestNotConnected(t *testing.T) {
	data, err := os.ReadFile("../testdata/garbage/crm_mon-not-connected.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data)
	if !errors.Is(err, ErrStatus) {
		t.Fatalf("want ErrStatus, got %v", err)
	}
}

func TestTime(t *testing.T) {
	for _, s := range []string{"2026-11-01 10:00:00 +00:00", "Sun Nov  1 10:00:00 2026", "2026-11-01T10:00:00Z", "1793527200"} {
		if Time(s).IsZero() {
			t.Errorf("Time(%q) is zero", s)
		}
	}
	if !Time("yesterday").IsZero() {
		t.Error("garbage time parsed")
	}
}

// maxSeed bounds the seed size: large seeds make the fuzzer spend its
// time minimizing new inputs.
const maxSeed = 4 << 10

// FuzzParse: no input panics, and whatever parses has a status.
func FuzzParse(f *testing.F) {
	for _, pat := range []string{"../testdata/*/crm_mon.xml", "../testdata/garbage/*", "../testdata/guest/simulate-*.xml"} {
		for _, b := range seeds(f, pat) {
			// Large seeds make the fuzzer spend its time minimizing.
			if len(b) <= maxSeed {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`<pacemaker-result api-version="2.25"><summary><current_dc present="true" name="n1" with_quorum="true"/></summary>
<nodes><node name="n1" id="1" online="true" type="member"/><node name="g1" id="g1" online="true" type="remote" id_as_resource="vm"/></nodes>
<resources><resource id="vm" resource_agent="ocf:heartbeat:VirtualDomain" role="Started" active="true"><node name="n1" id="1"/></resource>
<clone id="c" multi_state="true"><resource id="s:0" role="Promoted" active="true"><node name="n1" id="1"/></resource></clone>
<bundle id="b"><replica id="0"><resource id="b-podman-0" role="Started" active="true"><node name="n1"/></resource></replica></bundle></resources>
<failures><failure op_key="vm_start_0" node="n1" exitcode="1" last-rc-change="2026-11-01 10:00:00 +00:00"/></failures>
<status code="0" message="OK"/></pacemaker-result>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err == nil && r.Status.Code != "0" {
			t.Fatalf("no error but status %q", r.Status.Code)
		}
	})
}

// stonith_admin's history (captured on the lab after a real fencing) has
// crm_mon's fence events in a list; an empty history is no error, and a
// crm_mon document's own history is read too.
func TestParseFenceHistory(t *testing.T) {
	b, err := os.ReadFile("../testdata/stonith_admin-history.xml")
	if err != nil {
		t.Fatal(err)
	}
	fh, err := ParseFenceHistory(b)
	if err != nil || len(fh) != 1 || fh[0].Target != "node3" || fh[0].Status != "success" || fh[0].Action != "reboot" || fh[0].Completed == "" {
		t.Fatalf("%+v %v", fh, err)
	}
	empty := `<pacemaker-result api-version="2.25" request="stonith_admin --output-as=xml --history *">
  <list name="fencing history" count="0"/>
  <status code="0" message="OK"/>
</pacemaker-result>`
	if fh, err := ParseFenceHistory([]byte(empty)); err != nil || len(fh) != 0 {
		t.Errorf("empty: %+v %v", fh, err)
	}
	if _, err := ParseFenceHistory([]byte(`<pacemaker-result><status code="0" message="OK"/></pacemaker-result>`)); err == nil {
		t.Error("a result without a history parsed")
	}
}

// FuzzParseFenceHistory: no input panics; what parses is a list of
// events.
func FuzzParseFenceHistory(f *testing.F) {
	for _, b := range seeds(f, "../testdata/stonith_admin-history.xml") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseFenceHistory(data)
	})
}
