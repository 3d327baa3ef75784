package audit

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Head is the end of an instance's chain: the last record's sequence number
// and hash, or Seq 0 and the zero hash for an empty chain.
type Head struct {
	Instance string
	Seq      uint64
	Hash     [32]byte
}

// Store keeps records durably. It is implemented by the local [Journal] and
// by package audit/pgstore; the conformance suite in audit/audittest holds
// both to the same contract. Every method is safe for concurrent use.
type Store interface {
	// Head returns the end of instance's chain.
	Head(ctx context.Context, instance string) (Head, error)
	// Append durably stores recs, all of one instance, in order, all or
	// none. recs must continue the stored chain: recs[0].Seq is Head+1 and
	// recs[0].PrevHash the head hash, each later record following the one
	// before; otherwise Append stores nothing and returns an error
	// wrapping ErrConflict. When Append returns nil the records survive a
	// crash. A non-nil error other than ErrConflict leaves it unknown
	// whether the records were stored: read Head to find out.
	Append(ctx context.Context, recs []Record) error
	// Scan calls fn for every record of instance ("" for all instances)
	// with Seq >= fromSeq, ordered by instance and then Seq, stopping at
	// the first error fn returns.
	Scan(ctx context.Context, instance string, fromSeq uint64, fn func(*Record) error) error
	// Query returns up to f.Limit records matching f, ordered by Time,
	// Instance and Seq, starting after f.Cursor.
	Query(ctx context.Context, f Filter) ([]Record, error)
	// AppendAnchor durably stores a signed anchor.
	AppendAnchor(ctx context.Context, a Anchor) error
	// Anchors returns the stored anchors of instance ("" for all), ordered
	// by instance and Seq.
	Anchors(ctx context.Context, instance string) ([]Anchor, error)
	// Close releases the store.
	Close() error
}

// Pipeliner is implemented by stores that can take a batch continuing one
// whose append is still under way (PostgreSQL: both go out on one
// connection at once and the server commits them back to back), so the
// two overlap.
type Pipeliner interface {
	// AppendPipelined is Append for a batch that may continue one still
	// being appended. It may prepare recs at once but hands them on only
	// after ready is closed - when the batch before has been handed on or
	// has failed; a nil ready means now. It calls locked (if not nil) once
	// recs are handed on, so that the batch after is ordered behind them.
	// If the batch before fails, this one fails too (ErrConflict): it
	// continues records that were not stored.
	AppendPipelined(ctx context.Context, recs []Record, ready <-chan struct{}, locked func()) error
}

// GapAppender is implemented by stores that can take a batch continuing
// a writer's own chain while the stored chain ends earlier: its tail was
// deleted, or the database restored from an older backup. The writer never
// reuses a sequence number it acknowledged, so it continues after its own
// head and the records in between stay missing, for Verify to report.
type GapAppender interface {
	// AppendAfterGap is Append for recs whose first record continues a
	// record the store does not hold: the stored chain must end exactly at
	// stored (the head the writer read), before recs[0].Seq-1; otherwise
	// it stores nothing and returns an error wrapping ErrConflict.
	AppendAfterGap(ctx context.Context, recs []Record, stored Head) error
}

// Based is implemented by stores that may have purged the start of a chain
// (retention): Bases returns, per instance, the head of the purged prefix,
// where verification starts. Stores that never purge need not implement it.
type Based interface {
	Bases(ctx context.Context) ([]Head, error)
}

// Query limits.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 1000
)

// Filter selects records for Query and Export. Zero fields match anything;
// text fields match exactly.
type Filter struct {
	Since      time.Time // records with Time >= Since
	Until      time.Time // records with Time < Until
	Instance   string
	Actor      string
	Action     string
	ObjectType string
	ObjectID   string
	Outcome    Outcome
	// Cursor continues a previous query: the Next of its Page.
	Cursor string
	// Limit is the page size, DefaultQueryLimit if 0, at most
	// MaxQueryLimit.
	Limit int
	// Newest returns the records newest first (the reverse of query
	// order); a Cursor then continues towards older records.
	Newest bool
}

// Page is one page of query results.
type Page struct {
	Records []Record
	// Next is the cursor for the following page, "" when this is the last.
	Next string
}

// Position is a record's place in query order (Time, Instance, Seq).
type Position struct {
	Time     time.Time
	Instance string
	Seq      uint64
}

// Normalize checks f and returns it with its limit set and times in UTC.
func (f Filter) Normalize() (Filter, error) {
	if f.Limit == 0 {
		f.Limit = DefaultQueryLimit
	}
	if f.Limit < 0 || f.Limit > MaxQueryLimit {
		return f, fmt.Errorf("%w: limit %d not in 1..%d", ErrInvalid, f.Limit, MaxQueryLimit)
	}
	switch f.Outcome {
	case "", OutcomeSuccess, OutcomeFailure, OutcomeDenied, OutcomeError:
	default:
		return f, fmt.Errorf("%w: outcome %q", ErrInvalid, f.Outcome)
	}
	if _, _, err := f.After(); err != nil {
		return f, err
	}
	for _, s := range []string{f.Instance, f.Actor, f.Action, f.ObjectType, f.ObjectID} {
		if err := validText("filter", s); err != nil {
			return f, err
		}
	}
	if !f.Since.IsZero() {
		f.Since = f.Since.UTC()
	}
	if !f.Until.IsZero() {
		f.Until = f.Until.UTC()
	}
	return f, nil
}

// After decodes f.Cursor; ok is false when there is none.
func (f *Filter) After() (p Position, ok bool, err error) {
	if f.Cursor == "" {
		return p, false, nil
	}
	parts := strings.SplitN(f.Cursor, ".", 3)
	if len(parts) != 3 {
		return p, false, fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	us, err1 := strconv.ParseInt(parts[0], 10, 64)
	seq, err2 := strconv.ParseUint(parts[1], 10, 64)
	inst, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return p, false, fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	return Position{Time: time.UnixMicro(us).UTC(), Instance: string(inst), Seq: seq}, true, nil
}

// CursorAfter returns the cursor that continues a query after r.
func CursorAfter(r *Record) string {
	return strconv.FormatInt(r.Time.UnixMicro(), 10) + "." + strconv.FormatUint(r.Seq, 10) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(r.Instance))
}

// Match reports whether r is selected by f, ignoring Cursor and Limit.
func (f *Filter) Match(r *Record) bool {
	switch {
	case !f.Since.IsZero() && r.Time.Before(f.Since),
		!f.Until.IsZero() && !r.Time.Before(f.Until),
		f.Instance != "" && r.Instance != f.Instance,
		f.Actor != "" && r.Actor != f.Actor,
		f.Action != "" && r.Action != f.Action,
		f.ObjectType != "" && r.ObjectType != f.ObjectType,
		f.ObjectID != "" && r.ObjectID != f.ObjectID,
		f.Outcome != "" && r.Outcome != f.Outcome:
		return false
	}
	return true
}

// ComparePosition orders records as queries return them: by Time, then
// Instance (bytewise), then Seq.
func ComparePosition(a, b Position) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := strings.Compare(a.Instance, b.Instance); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// Position returns r's place in query order.
func (r *Record) Position() Position {
	return Position{Time: r.Time, Instance: r.Instance, Seq: r.Seq}
}

// CheckContinues reports whether recs continue head: all of head's
// instance, sequence numbers one after the other from head.Seq+1, each
// PrevHash the hash before. The error wraps ErrConflict.
func CheckContinues(head Head, recs []Record) error {
	prevSeq, prevHash := head.Seq, head.Hash
	for i := range recs {
		r := &recs[i]
		if r.Instance != head.Instance {
			return fmt.Errorf("%w: record for instance %q in a batch for %q", ErrConflict, r.Instance, head.Instance)
		}
		if r.Seq != prevSeq+1 || r.PrevHash != prevHash {
			return fmt.Errorf("%w: instance %q: record %d does not continue head %d", ErrConflict, r.Instance, r.Seq, prevSeq)
		}
		prevSeq, prevHash = r.Seq, r.Hash
	}
	return nil
}
