package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
	"mgmtd/audit/pgstore"
)

func headOf(recs []audit.Record) audit.Head {
	r := recs[len(recs)-1]
	return audit.Head{Instance: r.Instance, Seq: r.Seq, Hash: r.Hash}
}

// pipeline appends the batches concurrently, each ordered behind the one
// before as audit.Log does, and returns their errors.
func pipeline(st *pgstore.Store, batches ...[]audit.Record) []error {
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	var ready chan struct{}
	for i, b := range batches {
		locked := make(chan struct{})
		before := ready
		wg.Go(func() {
			var once sync.Once
			signal := func() { once.Do(func() { close(locked) }) }
			defer signal()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			errs[i] = st.AppendPipelined(ctx, b, before, signal)
		})
		ready = locked
	}
	wg.Wait()
	return errs
}

// TestPipelinedFailureStopsTheBatchesBehind sends three batches at once on
// the lane; the middle one is refused by the database, so the last, which
// continues it, must fail as a conflict and only the first is stored.
func TestPipelinedFailureStopsTheBatchesBehind(t *testing.T) {
	ctx := context.Background()
	st := openWriter(t, newTestDB(t, adminDSN))
	defer st.Close()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a := audittest.Chain(audit.Head{Instance: "n1"}, 3, base)
	b := audittest.Chain(headOf(a), 3, base)
	b[1].Outcome = "bogus" // refused by the table's CHECK constraint
	c := audittest.Chain(headOf(b), 3, base)
	errs := pipeline(st, a, b, c)
	if errs[0] != nil {
		t.Fatalf("first batch: %v", errs[0])
	}
	if errs[1] == nil || errors.Is(errs[1], audit.ErrConflict) {
		t.Fatalf("refused batch: %v, want a non-conflict error", errs[1])
	}
	if !errors.Is(errs[2], audit.ErrConflict) {
		t.Fatalf("batch behind the refused one: %v, want ErrConflict", errs[2])
	}
	if h, err := st.Head(ctx, "n1"); err != nil || h != headOf(a) {
		t.Fatalf("head = %+v, %v; want %+v", h, err, headOf(a))
	}
	// The lane is still usable: the corrected batches go through.
	b = audittest.Chain(headOf(a), 3, base)
	c = audittest.Chain(headOf(b), 3, base)
	for i, err := range pipeline(st, b, c) {
		if err != nil {
			t.Fatalf("batch %d after the failure: %v", i, err)
		}
	}
	if rep, err := audit.Verify(ctx, st, audit.VerifyOptions{}); err != nil || rep.Chains[0].Records != 9 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestLaneReconnects kills the append connection's backend; the next
// append may fail (its fate is then read from the head, as audit.Log
// does), and the one after goes through on a new connection.
func TestLaneReconnects(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t, adminDSN)
	st := openWriter(t, db)
	defer st.Close()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a := audittest.Chain(audit.Head{Instance: "n1"}, 2, base)
	if err := st.Append(ctx, a); err != nil {
		t.Fatal(err)
	}
	su := adminConn(t, db.admin)
	defer su.Close(ctx)
	var n int
	if err := su.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND query LIKE 'COPY audit.event%'`, db.name).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the lane's backend: %d, %v", n, err)
	}
	h := headOf(a)
	for try := 0; ; try++ {
		b := audittest.Chain(h, 2, base)
		err := st.Append(ctx, b)
		if err == nil {
			h = headOf(b)
			break
		}
		if try > 0 {
			t.Fatalf("append after reconnecting: %v", err)
		}
		if h, err = st.Head(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
	}
	if h.Seq != 4 {
		t.Fatalf("head after reconnect = %d, want 4", h.Seq)
	}
}

// TestInstanceNamesAreQuoted appends under instance names that need
// quoting in the check the lane sends as SQL text.
func TestInstanceNamesAreQuoted(t *testing.T) {
	ctx := context.Background()
	st := openWriter(t, newTestDB(t, adminDSN))
	defer st.Close()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, inst := range []string{`o'brien`, `back\slash \x00 \'`, `$$ dollar $q$`, "ünï ✓ \"q\"; DROP TABLE x; --"} {
		recs := audittest.Chain(audit.Head{Instance: inst}, 2, base)
		if err := st.Append(ctx, recs); err != nil {
			t.Fatalf("%q: %v", inst, err)
		}
		if h, err := st.Head(ctx, inst); err != nil || h != headOf(recs) {
			t.Fatalf("%q: head %+v, %v", inst, h, err)
		}
		// A second batch passes the check only if the name matched.
		more := audittest.Chain(headOf(recs), 1, base)
		if err := st.Append(ctx, more); err != nil {
			t.Fatalf("%q: second batch: %v", inst, err)
		}
	}
}

// TestInstancesCreatePartitionsConcurrently has two daemons (two stores,
// two instances) start a new month at once: creating the partition must
// not deadlock with the other's append.
func TestInstancesCreatePartitionsConcurrently(t *testing.T) {
	db := newTestDB(t, adminDSN)
	base := time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		st := openWriter(t, db)
		defer st.Close()
		wg.Go(func() {
			h := audit.Head{Instance: fmt.Sprintf("n%d", i)}
			for m := range 6 { // a new month every batch
				recs := audittest.Chain(h, 5, base.AddDate(0, m, 0))
				if err := st.Append(context.Background(), recs); err != nil {
					errs[i] = err
					return
				}
				h = headOf(recs)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance n%d: %v", i, err)
		}
	}
}
