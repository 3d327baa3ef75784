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

// FuzzParse: no input panics, and whatever parses has a status.
func FuzzParse(f *testing.F) {
	for _, pat := range []string{"../testdata/*/crm_mon.xml", "../testdata/garbage/*", "../testdata/guest/simulate-*.xml"} {
		for _, b := range seeds(f, pat) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err == nil && r.Status.Code != "0" {
			t.Fatalf("no error but status %q", r.Status.Code)
		}
	})
}
