package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Format is an export format.
type Format string

// Export formats. JSON Lines is the canonical export: [VerifyJSONL]
// re-verifies it offline. CSV is for spreadsheets, CEF for SIEMs.
const (
	FormatJSONL Format = "jsonl"
	FormatCSV   Format = "csv"
	FormatCEF   Format = "cef"
)

// ParseFormat checks an export format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatJSONL, FormatCSV, FormatCEF:
		return f, nil
	}
	return "", fmt.Errorf("%w: export format %q not one of jsonl, csv, cef", ErrInvalid, s)
}

// Manifest describes an export: what it covers and the SHA-256 of the bytes
// written. Recorded as an audit.export.manifest event, it is what a retention
// purge requires.
type Manifest struct {
	Format  Format  `json:"format"`
	Records int     `json:"records"`
	SHA256  string  `json:"sha256"`
	Ranges  []Range `json:"ranges"`
}

// Range is the part of one instance's chain an export covers.
type Range struct {
	Instance string `json:"instance"`
	First    uint64 `json:"first"`
	Last     uint64 `json:"last"`
	Records  int    `json:"records"`
	// Complete is true when every record First..Last is in the export.
	Complete bool `json:"complete"`
}

// csvHeader names the CSV columns.
var csvHeader = []string{"instance", "seq", "time", "actor", "auth_method", "roles", "channel", "source",
	"request_id", "action", "object_type", "object_id", "outcome", "reason", "before", "after", "prev_hash", "hash"}

// WriteExport writes every record of src matching f (its Cursor and Limit
// are ignored) to w in format, in query order, and returns the manifest. It
// records nothing; [Log.Export] is the audited way.
func WriteExport(ctx context.Context, src Store, f Filter, format Format, w io.Writer) (Manifest, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return Manifest{}, err
	}
	f.Cursor, f.Limit, f.Newest = "", MaxQueryLimit, false
	f, err := f.Normalize()
	if err != nil {
		return Manifest{}, err
	}
	h := sha256.New()
	out := io.MultiWriter(w, h)
	var cw *csv.Writer
	if format == FormatCSV {
		cw = csv.NewWriter(out)
		if err := cw.Write(csvHeader); err != nil {
			return Manifest{}, fmt.Errorf("export: %w", err)
		}
	}
	m := Manifest{Format: format}
	ranges := map[string]*Range{}
	for {
		recs, err := src.Query(ctx, f)
		if err != nil {
			return m, fmt.Errorf("export: query: %w", err)
		}
		for i := range recs {
			r := &recs[i]
			switch format {
			case FormatJSONL:
				_, err = out.Write(r.MarshalJSONL())
			case FormatCSV:
				err = cw.Write(csvRow(r))
			case FormatCEF:
				_, err = io.WriteString(out, CEF(r)+"\n")
			}
			if err != nil {
				return m, fmt.Errorf("export: write: %w", err)
			}
			m.Records++
			rg := ranges[r.Instance]
			if rg == nil {
				rg = &Range{Instance: r.Instance, First: r.Seq, Last: r.Seq}
				ranges[r.Instance] = rg
			}
			rg.First, rg.Last, rg.Records = min(rg.First, r.Seq), max(rg.Last, r.Seq), rg.Records+1
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return m, fmt.Errorf("export: write: %w", err)
			}
		}
		if len(recs) < f.Limit {
			break
		}
		f.Cursor = CursorAfter(&recs[len(recs)-1])
	}
	for _, rg := range ranges {
		rg.Complete = uint64(rg.Records) == rg.Last-rg.First+1
		m.Ranges = append(m.Ranges, *rg)
	}
	slices.SortFunc(m.Ranges, func(a, b Range) int { return cmp.Compare(a.Instance, b.Instance) })
	m.SHA256 = hex.EncodeToString(h.Sum(nil))
	return m, nil
}

// csvRow is r as CSV cells, each neutralised against formula injection
// ([csvCell]).
func csvRow(r *Record) []string {
	row := []string{r.Instance, strconv.FormatUint(r.Seq, 10), r.Time.Format(TimeLayout), r.Actor, r.AuthMethod,
		strings.Join(r.Roles, ";"), string(r.Channel), r.Source, r.RequestID, r.Action, r.ObjectType, r.ObjectID,
		string(r.Outcome), r.Reason, string(r.Before), string(r.After),
		hex.EncodeToString(r.PrevHash[:]), hex.EncodeToString(r.Hash[:])}
	for i, c := range row {
		row[i] = csvCell(c)
	}
	return row
}

// csvCell keeps a spreadsheet from running a cell as a formula (OWASP, CSV
// injection): a cell that starts with = + - @, a tab or a carriage return
// gets a leading apostrophe. The CSV export is for reading; the JSON Lines
// export keeps every value exact and is the one that verifies.
func csvCell(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// CEF returns r as one ArcSight Common Event Format line (without newline):
//
//	CEF:0|mgmtd|mgmtd|1|action|action|severity|rt=... suser=... ...
//
// Severity is 3 for success, 5 for failure or error, 7 for denied.
func CEF(r *Record) string {
	sev := "3"
	switch r.Outcome {
	case OutcomeFailure, OutcomeError:
		sev = "5"
	case OutcomeDenied:
		sev = "7"
	}
	var b strings.Builder
	b.WriteString("CEF:0|mgmtd|mgmtd|1|")
	b.WriteString(cefHeader(r.Action) + "|" + cefHeader(r.Action) + "|" + sev + "|")
	ext := [][2]string{
		{"rt", strconv.FormatInt(r.Time.UnixMilli(), 10)},
		{"suser", r.Actor},
		{"src", r.Source},
		{"act", r.Action},
		{"outcome", string(r.Outcome)},
		{"reason", r.Reason},
		{"dvchost", r.Instance},
		{"app", string(r.Channel)},
		{"cs1Label", "object"}, {"cs1", r.ObjectType + "/" + r.ObjectID},
		{"cs2Label", "requestId"}, {"cs2", r.RequestID},
		{"cs3Label", "roles"}, {"cs3", strings.Join(r.Roles, ",")},
		{"cs4Label", "authMethod"}, {"cs4", r.AuthMethod},
		{"cn1Label", "seq"}, {"cn1", strconv.FormatUint(r.Seq, 10)},
		{"cs5Label", "hash"}, {"cs5", hex.EncodeToString(r.Hash[:])},
	}
	for i, kv := range ext {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[0] + "=" + cefValue(kv[1]))
	}
	return b.String()
}

var (
	cefHeaderEsc = strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\n", " ", "\r", " ")
	cefValueEsc  = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`)
)

func cefHeader(s string) string { return cefHeaderEsc.Replace(s) }
func cefValue(s string) string  { return cefValueEsc.Replace(s) }
