// Package history keeps every model event durably: the event, the
// snapshot generation it came from, when the source saw it (Event.Time)
// and when mgmtd published it (Event.Published), under the mgmtd instance
// that published it and the cluster it is about.
//
// A [Store] holds the records: package history/boltstore in an embedded
// file in the state directory (the default, and the demo's), package
// history/pghistory in PostgreSQL beside the audit log, partitioned by day
// with retention. The [Recorder] sits between the model's event log and a
// store: the log hands it every batch under its lock, the recorder queues
// it (bounded) and writes it from its own goroutine, so a slow or failing
// store never blocks publication; what does not fit is dropped, counted and
// logged, and the recovery is logged with the count.
//
// Records are keyed by (instance, seq); queries filter by cluster as well,
// so that a hub holding several clusters' histories answers with the same
// interface. history imports only the model and the standard library; the
// stores bring their third-party module (bbolt, pgx) with them.
package history

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"mgmtd/model"
)

// Record is one stored event: the event as the model published it and the
// mgmtd instance (its view, the node it runs on) that published it.
type Record struct {
	Instance string `json:"instance"`
	model.Event
}

// Query selects records. Times bound the publication time (Since
// inclusive, Until exclusive); zero times are open. Empty filters match
// everything.
type Query struct {
	// Cluster and Instance select whose records (a hub holds several).
	Cluster  string
	Instance string
	Since    time.Time
	Until    time.Time
	// Object matches the object's name or the node an event happened on
	// (`--object web`, `--object node1`).
	Object     string
	Kinds      []model.Kind     // object kinds: node, resource, vm, ...
	Types      []string         // event types; "resource." matches every resource event
	Severities []model.Severity // info, warning, critical
	// AfterSeq, with Instance, selects the records after this sequence
	// (an event stream resuming); it orders by sequence. BySeq does the
	// same from the start (AfterSeq 0).
	AfterSeq uint64
	BySeq    bool
	// Cursor continues a page (Page.Next).
	Cursor string
	// Limit bounds a page: 0 means DefaultLimit, at most MaxLimit.
	Limit int
	// Desc returns the newest first.
	Desc bool
}

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Page is one page of records and the cursor of the next ("" at the end).
type Page struct {
	Records []Record `json:"records"`
	Next    string   `json:"next,omitempty"`
}

// Store keeps history records. Implementations are safe for concurrent
// use.
type Store interface {
	// Append stores records. Storing a record that is already stored
	// (same instance and sequence) again is not an error: a batch whose
	// commit was not acknowledged is sent again.
	Append(ctx context.Context, recs []Record) error
	// Query returns one page of the records q selects, ordered by
	// publication time (then instance, sequence), or by sequence with
	// AfterSeq.
	Query(ctx context.Context, q Query) (Page, error)
	// LastSeq is the highest stored sequence of instance (0 for none).
	LastSeq(ctx context.Context, instance string) (uint64, error)
	// Purge deletes the records published before t and returns how many
	// (a store that drops whole partitions may keep some newer than t).
	Purge(ctx context.Context, before time.Time) (int64, error)
	// Close releases the store.
	Close() error
}

// ErrInvalid is wrapped by the errors of a query that cannot be answered
// as asked (a front-end's 400).
var ErrInvalid = errors.New("invalid history query")

// ErrCursor is returned for a cursor that is not one this package made.
var ErrCursor = fmt.Errorf("%w: bad cursor", ErrInvalid)

// Normalize checks q and applies the limits.
func (q *Query) Normalize() error {
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0:
		return fmt.Errorf("%w: negative limit", ErrInvalid)
	case q.Limit > MaxLimit:
		q.Limit = MaxLimit
	}
	if q.AfterSeq > 0 {
		q.BySeq = true
	}
	if q.BySeq && q.Instance == "" {
		return fmt.Errorf("%w: after_seq needs an instance", ErrInvalid)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return fmt.Errorf("%w: until must be after since", ErrInvalid)
	}
	return nil
}

// Match reports whether r passes q's filters (times, cluster, instance,
// object, kinds, types, severities; not the cursor or AfterSeq).
func (q *Query) Match(r *Record) bool {
	if q.Cluster != "" && r.Object.Cluster != q.Cluster {
		return false
	}
	if q.Instance != "" && r.Instance != q.Instance {
		return false
	}
	if !q.Since.IsZero() && r.Published.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !r.Published.Before(q.Until) {
		return false
	}
	if q.Object != "" && r.Object.Name != q.Object && r.Node != q.Object {
		return false
	}
	if len(q.Kinds) > 0 && !contains(q.Kinds, r.Object.Kind) {
		return false
	}
	if len(q.Severities) > 0 && !contains(q.Severities, r.Severity) {
		return false
	}
	if len(q.Types) > 0 {
		ok := false
		for _, t := range q.Types {
			if string(r.Type) == t || strings.HasSuffix(t, ".") && strings.HasPrefix(string(r.Type), t) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Position is where a record stands in the order of a query: publication
// time, instance, sequence. A cursor is the position of the last record of
// a page.
type Position struct {
	Published time.Time
	Instance  string
	Seq       uint64
}

// Of returns r's position.
func Of(r *Record) Position {
	return Position{Published: r.Published, Instance: r.Instance, Seq: r.Seq}
}

// Cursor encodes p.
func (p Position) Cursor() string {
	b := binary.BigEndian.AppendUint64(nil, uint64(p.Published.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = append(b, p.Instance...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a cursor made by Position.Cursor.
func ParseCursor(s string) (Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 16 || len(b) > 16+maxInstance {
		return Position{}, ErrCursor
	}
	return Position{Published: time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC(), Seq: binary.BigEndian.Uint64(b[8:]),
		Instance: string(b[16:])}, nil
}

// maxInstance bounds an instance name (a node name).
const maxInstance = 255

// Compare orders positions: publication time, instance, sequence.
func (p Position) Compare(o Position) int {
	if c := p.Published.Compare(o.Published); c != 0 {
		return c
	}
	if c := strings.Compare(p.Instance, o.Instance); c != 0 {
		return c
	}
	switch {
	case p.Seq < o.Seq:
		return -1
	case p.Seq > o.Seq:
		return 1
	}
	return 0
}

// Validate checks a record before it is stored.
func (r *Record) Validate() error {
	switch {
	case r.Seq == 0:
		return fmt.Errorf("history: record without a sequence")
	case r.Instance == "" || len(r.Instance) > maxInstance:
		return fmt.Errorf("history: instance must be 1 to %d bytes", maxInstance)
	case r.Published.IsZero():
		return fmt.Errorf("history: record %d without a publication time", r.Seq)
	case strings.IndexByte(r.Instance, 0) >= 0 || strings.IndexByte(r.Object.Name, 0) >= 0 || strings.IndexByte(r.Node, 0) >= 0:
		return fmt.Errorf("history: NUL in the instance, object or node of record %d", r.Seq)
	}
	return nil
}
