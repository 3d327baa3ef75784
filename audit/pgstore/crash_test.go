package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
	"mgmtd/audit/pgstore/pgtest"
	"mgmtd/internal/testutil"
)

// load drives a Log with clients concurrent recorders until stop is closed
// and remembers every answer by request id.
type load struct {
	mu       sync.Mutex
	acked    map[string]audit.Receipt
	failed   map[string]error
	nAcked   atomic.Int64
	nSpooled atomic.Int64
	nFailed  atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(l *audit.Log, clients int) *load {
	ld := &load{acked: map[string]audit.Receipt{}, failed: map[string]error{}, stop: make(chan struct{})}
	for c := range clients {
		ld.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-ld.stop:
					return
				default:
				}
				e := audittest.Event(i, time.Time{})
				e.RequestID = fmt.Sprintf("c%d-%d", c, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				rc, err := l.Record(ctx, e)
				cancel()
				ld.mu.Lock()
				if err != nil {
					ld.failed[e.RequestID] = err
					ld.nFailed.Add(1)
				} else {
					ld.acked[e.RequestID] = rc
					ld.nAcked.Add(1)
					if rc.Spooled {
						ld.nSpooled.Add(1)
					}
				}
				ld.mu.Unlock()
				if err != nil {
					// Not synchronisation: a fail-closed Log answers at
					// once, so back off a little instead of spinning.
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	return ld
}

func (ld *load) halt() { close(ld.stop); ld.wg.Wait() }

// checkStored checks that every acknowledged record is in the database with
// the acknowledged seq and hash, that no failed record is, and that the
// chain verifies against the anchor file.
func checkStored(t *testing.T, db testDB, ld *load, anchorFile string) {
	t.Helper()
	ctx := context.Background()
	c := adminConn(t, db.admin)
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT request_id, seq, hash FROM audit.event WHERE instance = 'node1'")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		seq  int64
		hash []byte
	}
	stored := map[string]row{}
	n := 0
	for rows.Next() {
		var id string
		var r row
		if err := rows.Scan(&id, &r.seq, &r.hash); err != nil {
			t.Fatal(err)
		}
		if _, dup := stored[id]; dup && id != "" {
			t.Errorf("request %s stored twice", id)
		}
		stored[id] = r
		n++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	lost := 0
	for id, rc := range ld.acked {
		r, ok := stored[id]
		if !ok || uint64(r.seq) != rc.Seq || [32]byte(r.hash) != rc.Hash {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged events missing or different in the database", lost, len(ld.acked))
	}
	falseFail := 0
	for id := range ld.failed {
		if _, ok := stored[id]; ok {
			falseFail++
		}
	}
	if falseFail > 0 {
		t.Errorf("%d events reported failed were stored", falseFail)
	}
	st := openWriter(t, db)
	defer st.Close()
	anchors, err := audit.ReadAnchorFile(anchorFile)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Anchors: anchors})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	t.Logf("acked %d (spooled %d), failed %d, rows %d, anchors matched %d",
		len(ld.acked), ld.nSpooled.Load(), len(ld.failed), n, rep.Chains[0].Anchors)
}

func openLogOn(t *testing.T, db testDB, spoolLimit int) (*audit.Log, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := audit.Open(context.Background(), audit.Options{Instance: "node1", StateDir: dir, Primary: openWriter(t, db),
		SpoolLimit: spoolLimit, RetryInterval: 50 * time.Millisecond, CommitTimeout: 3 * time.Second,
		AnchorInterval: 200 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	return l, filepath.Join(dir, "audit-anchors.jsonl")
}

// TestCrashUnderLoad stops PostgreSQL with pg_ctl stop -m immediate (a
// crash) under load and restarts it: every acknowledged event must be
// stored, no event reported failed may be stored, and the chain verifies.
func TestCrashUnderLoad(t *testing.T) {
	p := pgtest.Start(t)
	db := newTestDB(t, p.DSN)
	l, anchorFile := openLogOn(t, db, 1_000_000)
	ld := startLoad(l, 32)
	testutil.Eventually(t, 60*time.Second, func() bool { return ld.nAcked.Load() >= 3000 }, "3000 events are acknowledged")
	p.Stop(t, "immediate")
	testutil.Eventually(t, 30*time.Second, func() bool { return ld.nSpooled.Load() >= 500 }, "the log has spooled 500 events")
	p.Start(t)
	testutil.Eventually(t, 60*time.Second, func() bool { return !l.Degraded() }, "the spool is replayed")
	after := ld.nAcked.Load()
	testutil.Eventually(t, 60*time.Second, func() bool { return ld.nAcked.Load() >= after+2000 }, "2000 more events are acknowledged after recovery")
	ld.halt()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(ld.failed) > 0 {
		for _, err := range ld.failed {
			t.Errorf("%d events failed although the spool had room, e.g. %v", len(ld.failed), err)
			break
		}
	}
	checkStored(t, db, ld, anchorFile)
}

// TestOutageSpoolAndFailClosed keeps PostgreSQL down while events arrive:
// the spool takes them until it is full, then Record fails closed with
// ErrUnavailable; after the restart the spool is replayed and nothing
// acknowledged is lost.
func TestOutageSpoolAndFailClosed(t *testing.T) {
	p := pgtest.Start(t)
	db := newTestDB(t, p.DSN)
	const spoolLimit = 400
	l, anchorFile := openLogOn(t, db, spoolLimit)
	ld := startLoad(l, 16)
	testutil.Eventually(t, 60*time.Second, func() bool { return ld.nAcked.Load() >= 1000 }, "1000 events are acknowledged")
	p.Stop(t, "fast")
	testutil.Eventually(t, 60*time.Second, func() bool { return ld.nFailed.Load() >= 200 }, "200 fail-closed answers arrived")
	ld.mu.Lock()
	for id, err := range ld.failed {
		if !errors.Is(err, audit.ErrUnavailable) {
			t.Errorf("request %s failed with %v, want ErrUnavailable", id, err)
		}
	}
	if s := ld.nSpooled.Load(); s > spoolLimit {
		t.Errorf("%d events spooled, limit %d", s, spoolLimit)
	}
	ld.mu.Unlock()
	if !l.Degraded() {
		t.Error("log not degraded while the database is down")
	}
	p.Start(t)
	testutil.Eventually(t, 60*time.Second, func() bool { return !l.Degraded() }, "the spool is replayed")
	failedBefore := ld.nFailed.Load()
	after := ld.nAcked.Load()
	testutil.Eventually(t, 60*time.Second, func() bool { return ld.nAcked.Load() >= after+500 }, "500 more events are acknowledged after recovery")
	ld.halt()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if ld.nSpooled.Load() == 0 {
		t.Error("nothing went through the spool")
	}
	if f := ld.nFailed.Load(); f > failedBefore+int64(16) {
		t.Errorf("%d failures after recovery", f-failedBefore)
	}
	checkStored(t, db, ld, anchorFile)
	// The log recorded its own degradation and recovery.
	ctx := context.Background()
	c := adminConn(t, db.admin)
	defer c.Close(ctx)
	var deg, rec int
	c.QueryRow(ctx, "SELECT count(*) FILTER (WHERE action = 'audit.degraded'), count(*) FILTER (WHERE action = 'audit.recovered') FROM audit.event").Scan(&deg, &rec)
	if deg < 1 || rec < 1 {
		t.Errorf("audit.degraded recorded %d times, audit.recovered %d times; want both", deg, rec)
	}
}

// TestRestartWhileDatabaseDown: a daemon that closed its log cleanly and
// starts again while the database is down continues after the head in its
// local head file, in the spool; one that stops while records sit in the
// spool continues the spooled chain; both are replayed once the database
// is back. A daemon that crashed (its head file is not clean: batches may
// have committed beyond it) and starts with the database down and an empty
// spool does not know its head and fails closed until the database
// answers.
func TestRestartWhileDatabaseDown(t *testing.T) {
	ctx := context.Background()
	p := pgtest.Start(t)
	db := newTestDB(t, p.DSN)
	dir := t.TempDir()
	open := func(dir string) *audit.Log {
		l, err := audit.Open(ctx, audit.Options{Instance: "node1", StateDir: dir, Primary: openWriter(t, db),
			RetryInterval: 20 * time.Millisecond, CommitTimeout: 2 * time.Second, AnchorInterval: -1}, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	record := func(l *audit.Log, n int) []audit.Receipt {
		var out []audit.Receipt
		for i := range n {
			rc, err := l.Record(ctx, audittest.Event(i, time.Time{}))
			if err != nil {
				t.Fatalf("record: %v", err)
			}
			out = append(out, rc)
		}
		return out
	}
	l := open(dir)
	record(l, 10)
	crashed := copyDir(t, dir) // what a kill -9 would leave: head file not clean
	l.Close()
	p.Stop(t, "fast")

	// A crash with the database down: the head is unknown, fail closed.
	l = open(crashed)
	if !l.Degraded() {
		t.Fatal("not degraded with the database down")
	}
	if _, err := l.Record(ctx, audittest.Event(0, time.Time{})); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("record with unknown head after a crash = %v, want ErrUnavailable", err)
	}
	l.Close()

	// A clean stop: continue after the local head, in the spool.
	l = open(dir)
	if rc := record(l, 1)[0]; !rc.Spooled || rc.Seq != 11 {
		t.Fatalf("first record after a clean restart with the database down: %+v, want spooled seq 11", rc)
	}
	l.Close()

	p.Start(t)
	l = open(dir)
	record(l, 5)
	p.Stop(t, "fast")
	spooled := record(l, 20)
	if !spooled[0].Spooled {
		t.Fatalf("first record during the outage: %+v", spooled[0])
	}
	last := spooled[len(spooled)-1].Seq
	l.Close() // the spool keeps 20 records plus audit.degraded

	l = open(dir) // database still down: continue the spooled chain
	rc := record(l, 1)[0]
	if !rc.Spooled || rc.Seq != last+1 {
		t.Fatalf("after restart with spool: %+v, want spooled seq %d", rc, last+1)
	}
	p.Start(t)
	testutil.Eventually(t, 30*time.Second, func() bool { return !l.Degraded() }, "the spool is replayed")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := openWriter(t, db)
	defer st.Close()
	head, err := audit.ReadHeadFile(filepath.Join(dir, audit.HeadFile))
	if err != nil || !head.Clean {
		t.Fatalf("head file after a clean close: %+v %v", head, err)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Heads: []audit.Head{head.Head}})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if h := rep.Chains[0].Head; h < rc.Seq || h != head.Seq {
		t.Fatalf("database head %d after replay, want %d (the head file's)", h, head.Seq)
	}
}
