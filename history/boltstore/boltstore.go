// Package boltstore is the embedded history store: one bbolt file
// (STATE_DIR/history.db) that needs no server, used when no PostgreSQL is
// configured and by the demo. It is the only importer of bbolt.
//
// Layout (every key sorts the way queries read it):
//
//	ev    published(8) instance 0x00 seq(8)      -> the record as JSON
//	obj   name 0x00 published(8) instance 0x00 seq(8) -> nil (the object's
//	      name and, when different, the node the event happened on)
//	seq   instance 0x00 seq(8)                    -> the ev key
//	last  instance                                -> seq(8)
//
// so "the last 24 hours of object X" is one range of obj, a stream
// resuming after sequence N one range of seq, and retention a walk from the
// start of ev. Each Append is one transaction (one fsync).
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"mgmtd/history"
)

// FileName is the store's file in the state directory.
const FileName = "history.db"

var (
	bEv   = []byte("ev")
	bObj  = []byte("obj")
	bSeq  = []byte("seq")
	bLast = []byte("last")
)

// Store is the embedded history store.
type Store struct {
	db *bolt.DB
}

var _ history.Store = (*Store)(nil)

// Open opens (creating if needed) the store at path. Another process
// holding it makes Open fail after a second rather than wait.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bEv, bObj, bSeq, bLast} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func ts(t time.Time) uint64 {
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// evKey is the primary key of a position.
func evKey(p history.Position) []byte {
	k := u64(make([]byte, 0, 8+len(p.Instance)+9), ts(p.Published))
	k = append(k, p.Instance...)
	k = append(k, 0)
	return u64(k, p.Seq)
}

func seqKey(instance string, seq uint64) []byte {
	k := append([]byte(instance), 0)
	return u64(k, seq)
}

func objPrefix(name string) []byte { return append([]byte(name), 0) }

// Append stores records in one transaction; a record already stored is
// skipped.
func (s *Store) Append(ctx context.Context, recs []history.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		ev, obj, seq, last := tx.Bucket(bEv), tx.Bucket(bObj), tx.Bucket(bSeq), tx.Bucket(bLast)
		for i := range recs {
			r := &recs[i]
			sk := seqKey(r.Instance, r.Seq)
			if seq.Get(sk) != nil {
				continue
			}
			k := evKey(history.Of(r))
			v, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("history: encode record %d: %w", r.Seq, err)
			}
			if err := ev.Put(k, v); err != nil {
				return err
			}
			if err := seq.Put(sk, k); err != nil {
				return err
			}
			for _, name := range names(r) {
				if err := obj.Put(append(objPrefix(name), k...), nil); err != nil {
					return err
				}
			}
			lk := []byte(r.Instance)
			if cur := last.Get(lk); len(cur) != 8 || binary.BigEndian.Uint64(cur) < r.Seq {
				if err := last.Put(lk, u64(nil, r.Seq)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// names are the object index entries of a record.
func names(r *history.Record) []string {
	switch {
	case r.Object.Name == "" && r.Node == "":
		return nil
	case r.Node == "" || r.Node == r.Object.Name:
		return []string{r.Object.Name}
	case r.Object.Name == "":
		return []string{r.Node}
	}
	return []string{r.Object.Name, r.Node}
}

// LastSeq returns the highest stored sequence of instance.
func (s *Store) LastSeq(ctx context.Context, instance string) (uint64, error) {
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bLast).Get([]byte(instance)); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n, err
}

// Query returns one page of the records q selects.
func (s *Store) Query(ctx context.Context, q history.Query) (history.Page, error) {
	if err := q.Normalize(); err != nil {
		return history.Page{}, err
	}
	var after *history.Position
	if q.Cursor != "" {
		p, err := history.ParseCursor(q.Cursor)
		if err != nil {
			return history.Page{}, err
		}
		after = &p
	}
	var page history.Page
	err := s.db.View(func(tx *bolt.Tx) error {
		ev := tx.Bucket(bEv)
		take := func(evk []byte) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			v := ev.Get(evk)
			if v == nil {
				return true, nil // purged meanwhile
			}
			var r history.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return false, fmt.Errorf("history: stored record %x: %w", evk, err)
			}
			if !q.Match(&r) {
				return true, nil
			}
			if len(page.Records) == q.Limit {
				page.Next = history.Of(&page.Records[len(page.Records)-1]).Cursor()
				return false, nil
			}
			page.Records = append(page.Records, r)
			return true, nil
		}
		switch {
		case q.BySeq:
			from := q.AfterSeq + 1
			if after != nil {
				from = max(from, after.Seq+1)
			}
			pre := append([]byte(q.Instance), 0)
			return scan(tx.Bucket(bSeq).Cursor(), seqKey(q.Instance, from), prefixEnd(pre), false, func(_, v []byte) (bool, error) {
				return take(v)
			})
		case q.Object != "":
			pre := objPrefix(q.Object)
			lo, hi := bounds(pre, q, after)
			return scan(tx.Bucket(bObj).Cursor(), lo, hi, q.Desc, func(k, _ []byte) (bool, error) {
				return take(k[len(pre):])
			})
		default:
			lo, hi := bounds(nil, q, after)
			return scan(ev.Cursor(), lo, hi, q.Desc, func(k, _ []byte) (bool, error) { return take(k) })
		}
	})
	if page.Records == nil {
		page.Records = []history.Record{}
	}
	return page, err
}

// bounds is the key range [lo, hi) of a time-ordered scan under prefix:
// the query's times, narrowed past the cursor.
func bounds(prefix []byte, q history.Query, after *history.Position) (lo, hi []byte) {
	with := func(b []byte) []byte { return append(append([]byte(nil), prefix...), b...) }
	if !q.Since.IsZero() {
		lo = with(u64(nil, ts(q.Since)))
	} else if prefix != nil {
		lo = with(nil)
	}
	if !q.Until.IsZero() {
		hi = with(u64(nil, ts(q.Until)))
	} else if prefix != nil {
		hi = prefixEnd(prefix)
	}
	if after != nil {
		k := with(evKey(*after))
		if q.Desc {
			if hi == nil || bytes.Compare(k, hi) < 0 {
				hi = k
			}
		} else if k = append(k, 0); lo == nil || bytes.Compare(k, lo) > 0 {
			lo = k
		}
	}
	return lo, hi
}

// prefixEnd is the smallest key greater than every key with prefix p
// (p ends in 0x00 here, so incrementing the last byte is enough).
func prefixEnd(p []byte) []byte {
	e := append([]byte(nil), p...)
	e[len(e)-1]++
	return e
}

// scan calls fn for the keys in [lo, hi) (nil: open), ascending or
// descending, until fn returns false or an error.
func scan(c *bolt.Cursor, lo, hi []byte, desc bool, fn func(k, v []byte) (bool, error)) error {
	var k, v []byte
	if !desc {
		if lo == nil {
			k, v = c.First()
		} else {
			k, v = c.Seek(lo)
		}
		for ; k != nil && (hi == nil || bytes.Compare(k, hi) < 0); k, v = c.Next() {
			if ok, err := fn(k, v); !ok || err != nil {
				return err
			}
		}
		return nil
	}
	if hi == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(hi); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && (lo == nil || bytes.Compare(k, lo) >= 0); k, v = c.Prev() {
		if ok, err := fn(k, v); !ok || err != nil {
			return err
		}
	}
	return nil
}

// purgeBatch bounds one retention transaction.
const purgeBatch = 10_000

// Purge deletes the records published before t, in transactions of at
// most purgeBatch records.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	end := u64(nil, ts(before))
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			ev, obj, seq := tx.Bucket(bEv), tx.Bucket(bObj), tx.Bucket(bSeq)
			c := ev.Cursor()
			for k, v := c.First(); k != nil && bytes.Compare(k, end) < 0 && n < purgeBatch; k, v = c.First() {
				var r history.Record
				if err := json.Unmarshal(v, &r); err == nil {
					for _, name := range names(&r) {
						if err := obj.Delete(append(objPrefix(name), k...)); err != nil {
							return err
						}
					}
				}
				if len(k) > 17 {
					if err := seq.Delete(k[8:]); err != nil { // instance 0x00 seq
						return err
					}
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < purgeBatch {
			return total, nil
		}
	}
}

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }
