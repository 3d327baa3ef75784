package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
)

// goldenLines returns the record lines of the JSON Lines golden export.
func goldenLines(f *testing.F) [][]byte {
	b, err := os.ReadFile(filepath.Join("testdata", "export.jsonl.golden"))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) > 0 && l[0] == '{' {
			out = append(out, l)
		}
	}
	return out
}

// FuzzDecodeCanonical: any bytes the decoder accepts re-encode to exactly
// the same bytes, so the encoding is injective (two records never share
// one) and field boundaries cannot be confused.
func FuzzDecodeCanonical(f *testing.F) {
	for _, l := range goldenLines(f) {
		r, err := audit.ParseJSONL(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(r.Canonical())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := audit.DecodeCanonical(b)
		if err != nil {
			return
		}
		if got := r.Canonical(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n in %q\nout %q", b, got)
		}
	})
}

// FuzzCanonicalFields builds records from arbitrary field values: encoding
// then decoding gives the record back, and moving bytes from one field to
// its neighbour always changes the encoding.
func FuzzCanonicalFields(f *testing.F) {
	f.Add(uint64(1), int64(1), "node1", "alice", "a\x00b", "resource.move", "web", `{"a":1}`, true, 3)
	f.Add(uint64(7), int64(-5), "", "", "", "", "", "", false, 0)
	f.Fuzz(func(t *testing.T, seq uint64, us int64, inst, actor, roles, action, reason, before string, hasBefore bool, move int) {
		r := audit.Record{Instance: inst, Seq: seq}
		r.Actor, r.Action, r.Reason, r.Time = actor, action, reason, time.UnixMicro(us).UTC()
		if roles != "" {
			r.Roles = strings.Split(roles, "\x00")
		}
		if hasBefore {
			r.Before = json.RawMessage(before)
		}
		enc := r.Canonical()
		got, err := audit.DecodeCanonical(enc)
		if err != nil {
			t.Fatalf("decode own encoding: %v", err)
		}
		if d := cmp.Diff(r, got); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
		// Shift a boundary: move up to move bytes from actor to instance.
		if n := min(max(move, 0), len(actor)); n > 0 {
			r2 := r
			r2.Instance, r2.Actor = inst+actor[:n], actor[n:]
			if bytes.Equal(r2.Canonical(), enc) {
				t.Fatalf("moving %d bytes between fields kept the encoding", n)
			}
		}
	})
}

// FuzzParseJSONL checks the JSON Lines import used by verify: whatever it
// accepts re-exports to a line that parses to the same record, with the
// same hash input; and verifying arbitrary input never panics.
func FuzzParseJSONL(f *testing.F) {
	for _, l := range goldenLines(f) {
		f.Add(l)
	}
	f.Add([]byte(`{"instance":"n","seq":1,"time":"2026-01-01T00:00:00.000000+01:00","actor":"a","auth_method":"","roles":null,"channel":"rest","source":"","request_id":"","action":"x","object_type":"","object_id":"","outcome":"success","reason":"","before":{"a":1},"after":null,"prev_hash":"` + strings.Repeat("0", 64) + `","hash":"` + strings.Repeat("0", 64) + `"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		_, _ = audit.VerifyJSONL(context.Background(), bytes.NewReader(line), audit.VerifyOptions{})
		r, err := audit.ParseJSONL(line)
		if err != nil {
			return
		}
		out := r.MarshalJSONL()
		r2, err := audit.ParseJSONL(out)
		if err != nil {
			t.Fatalf("re-exported line does not parse: %v\n%s", err, out)
		}
		if d := audittest.Diff([]audit.Record{r}, []audit.Record{r2}); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
		if !bytes.Equal(r.Canonical(), r2.Canonical()) {
			t.Fatal("canonical form changed in the round trip")
		}
		if out2 := r2.MarshalJSONL(); !bytes.Equal(out, out2) {
			t.Fatalf("export not stable:\n%s\n%s", out, out2)
		}
	})
}
