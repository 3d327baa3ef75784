package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// ErrSpoolFull means the journal reached its record limit. It wraps
// ErrUnavailable.
var ErrSpoolFull = fmt.Errorf("%w: spool full", ErrUnavailable)

// Journal is a [Store] in a local append-only file of JSON Lines (the same
// lines as the JSON Lines export), fsync'd on every append, with its anchors
// in a second file beside it. Without a database it is the system of record;
// with one it is the bounded spool used while the database is unreachable.
//
// A final line without a newline (a write torn by a crash, never
// acknowledged) is cut off when the journal is opened; any other malformed
// line is an error.
type Journal struct {
	path, anchorPath string
	limit            int
	readOnly         bool

	mu    sync.Mutex
	f     *os.File
	size  int64
	count int
	heads map[string]Head
}

// Journal file names inside a state directory.
const (
	JournalFile = "audit-journal.jsonl"
	SpoolFile   = "audit-spool.jsonl"
)

// OpenJournal opens (creating if needed) the journal at path; its anchors
// live in path with ".anchors" appended. limit bounds the number of records
// it accepts (0: no bound); beyond it Append fails with ErrSpoolFull.
func OpenJournal(path string, limit int) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create journal dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{path: path, anchorPath: path + ".anchors", limit: limit, f: f, heads: map[string]Head{}}
	good, err := j.load()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("cut torn journal tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek journal: %w", err)
	}
	j.size = good
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// OpenJournalReadOnly opens an existing journal for reading (Scan, Query,
// Anchors, Verify, export) while a daemon may still be appending to it: it
// never truncates, and Append fails.
func OpenJournalReadOnly(path string) (*Journal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{path: path, anchorPath: path + ".anchors", readOnly: true, f: f, heads: map[string]Head{}}
	good, err := j.load()
	if err != nil {
		f.Close()
		return nil, err
	}
	j.size = good
	return j, nil
}

// load reads the whole file, sets heads and count, and returns the length
// of its complete lines.
func (j *Journal) load() (int64, error) {
	var good int64
	err := readLines(j.f, -1, func(line []byte, n int) error {
		r, err := ParseJSONL(line)
		if err != nil {
			return fmt.Errorf("journal %s line %d: %w", j.path, n, err)
		}
		j.heads[r.Instance] = Head{Instance: r.Instance, Seq: r.Seq, Hash: r.Hash}
		j.count++
		good += int64(len(line))
		return nil
	})
	return good, err
}

// readLines calls fn for each newline-terminated line of r (up to max
// bytes, or all if max < 0); an unterminated final line is skipped.
func readLines(r io.Reader, max int64, fn func(line []byte, n int) error) error {
	if max >= 0 {
		r = io.LimitReader(r, max)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if ferr := fn(line, n); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
	}
}

// Path returns the journal file's path.
func (j *Journal) Path() string { return j.path }

// AnchorPath returns the path of the journal's anchor file.
func (j *Journal) AnchorPath() string { return j.anchorPath }

// Len returns the number of records in the journal.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.count
}

// Head implements [Store].
func (j *Journal) Head(_ context.Context, instance string) (Head, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return Head{}, ErrClosed
	}
	h, ok := j.heads[instance]
	if !ok {
		h = Head{Instance: instance}
	}
	return h, nil
}

// Append implements [Store]; it fails with ErrSpoolFull beyond the limit.
func (j *Journal) Append(_ context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return ErrClosed
	}
	if j.readOnly {
		return fmt.Errorf("append to journal %s: opened read-only", j.path)
	}
	inst := recs[0].Instance
	head, ok := j.heads[inst]
	if !ok {
		head = Head{Instance: inst}
	}
	if err := CheckContinues(head, recs); err != nil {
		return err
	}
	if j.limit > 0 && j.count+len(recs) > j.limit {
		return ErrSpoolFull
	}
	var buf bytes.Buffer
	for i := range recs {
		buf.Write(recs[i].MarshalJSONL())
	}
	if _, err := j.f.Write(buf.Bytes()); err != nil {
		j.rollback()
		return fmt.Errorf("%w: write journal: %v", ErrUnavailable, err)
	}
	if err := j.f.Sync(); err != nil {
		j.rollback()
		return fmt.Errorf("%w: sync journal: %v", ErrUnavailable, err)
	}
	j.size += int64(buf.Len())
	j.count += len(recs)
	last := &recs[len(recs)-1]
	j.heads[inst] = Head{Instance: inst, Seq: last.Seq, Hash: last.Hash}
	return nil
}

// rollback cuts a failed partial write off again (best effort).
func (j *Journal) rollback() {
	_ = j.f.Truncate(j.size)
	_, _ = j.f.Seek(j.size, io.SeekStart)
}

// rebase sets the head an empty journal continues from, so a spool can
// take over a chain stored elsewhere.
func (j *Journal) rebase(h Head) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.count != 0 {
		return fmt.Errorf("rebase journal %s: not empty", j.path)
	}
	j.heads[h.Instance] = h
	return nil
}

// Reset empties the journal (used for the spool once it is replayed).
// Heads are kept, so Head still answers the last record appended.
func (j *Journal) Reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return ErrClosed
	}
	if j.readOnly {
		return fmt.Errorf("reset journal %s: opened read-only", j.path)
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("reset journal: %w", err)
	}
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reset journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("reset journal: %w", err)
	}
	j.size, j.count = 0, 0
	return nil
}

// Scan implements [Store].
func (j *Journal) Scan(ctx context.Context, instance string, fromSeq uint64, fn func(*Record) error) error {
	recs, err := j.collect(ctx, func(r *Record) bool {
		return (instance == "" || r.Instance == instance) && r.Seq >= fromSeq
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(recs, func(a, b Record) int {
		if a.Instance != b.Instance {
			if a.Instance < b.Instance {
				return -1
			}
			return 1
		}
		return 0 // file order is seq order within an instance
	})
	for i := range recs {
		if err := fn(&recs[i]); err != nil {
			return err
		}
	}
	return nil
}

// Query implements [Store].
func (j *Journal) Query(ctx context.Context, f Filter) ([]Record, error) {
	f, err := f.Normalize()
	if err != nil {
		return nil, err
	}
	after, hasAfter, _ := f.After()
	dir := 1 // query order; -1: newest first
	if f.Newest {
		dir = -1
	}
	recs, err := j.collect(ctx, func(r *Record) bool {
		return f.Match(r) && (!hasAfter || dir*ComparePosition(r.Position(), after) > 0)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recs, func(a, b Record) int { return dir * ComparePosition(a.Position(), b.Position()) })
	if len(recs) > f.Limit {
		recs = recs[:f.Limit]
	}
	return recs, nil
}

// collect reads the committed part of the journal and returns the records
// keep selects.
func (j *Journal) collect(ctx context.Context, keep func(*Record) bool) ([]Record, error) {
	j.mu.Lock()
	size, closed := j.size, j.f == nil
	j.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	f, err := os.Open(j.path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	var out []Record
	err = readLines(f, size, func(line []byte, n int) error {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := ParseJSONL(line)
		if err != nil {
			return fmt.Errorf("journal %s line %d: %w", j.path, n, err)
		}
		if keep(&r) {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// AppendAnchor implements [Store].
func (j *Journal) AppendAnchor(_ context.Context, a Anchor) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return ErrClosed
	}
	if j.readOnly {
		return fmt.Errorf("append anchor to journal %s: opened read-only", j.path)
	}
	return appendLineFile(j.anchorPath, a.MarshalJSONL())
}

// Anchors implements [Store].
func (j *Journal) Anchors(_ context.Context, instance string) ([]Anchor, error) {
	all, err := ReadAnchorFile(j.anchorPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, a := range all {
		if instance == "" || a.Instance == instance {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b Anchor) int {
		if a.Instance != b.Instance {
			if a.Instance < b.Instance {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return out, nil
}

// Close implements [Store].
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return fmt.Errorf("close journal: %w", err)
	}
	return nil
}
