package history_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/history"
	"mgmtd/history/boltstore"
	"mgmtd/history/historytest"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// outage wraps a real store and, while down, makes every Append wait until
// its context ends and fail: a database that stopped answering.
type outage struct {
	history.Store
	mu   sync.Mutex
	down bool
}

func (o *outage) set(down bool) { o.mu.Lock(); o.down = down; o.mu.Unlock() }

func (o *outage) Append(ctx context.Context, recs []history.Record) error {
	o.mu.Lock()
	down := o.down
	o.mu.Unlock()
	if down {
		<-ctx.Done()
		return errors.New("store unreachable")
	}
	return o.Store.Append(ctx, recs)
}

func openBolt(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRecorderNeverBlocks: with the store hanging, publishing goes on at
// once; the queue keeps what fits, drops and counts the rest, logs both
// the outage and the catch-up, and writes everything it kept once the
// store answers again.
func TestRecorderNeverBlocks(t *testing.T) {
	st := &outage{Store: openBolt(t)}
	st.set(true)
	var logs testutil.SyncBuffer
	r := history.NewRecorder(st, history.RecorderOptions{Instance: "n1", Queue: 100, Batch: 10, WriteTimeout: 50 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	l := model.NewEventLogWith(16, model.EventLogOptions{Tap: r.Tap})
	recs := historytest.Records("c1", "n1", 1, 250)
	start := time.Now()
	for _, rec := range recs {
		l.Append([]model.Event{rec.Event})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("publishing 250 events took %s with the store down", d)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return r.Stats().Failing }, "recorder never noticed the outage")
	s := r.Stats()
	if s.Dropped != 150 || s.Queued != 100 || s.Written != 0 {
		t.Fatalf("stats during the outage = %+v, want 150 dropped, 100 queued", s)
	}
	st.set(false)
	testutil.Eventually(t, 20*time.Second, func() bool { return r.Stats().Queued == 0 }, "queue never drained: %+v", r.Stats())
	s = r.Stats()
	if s.Written != 100 || s.Failing || s.Dropped != 150 {
		t.Fatalf("stats after the outage = %+v", s)
	}
	p, err := st.Query(context.Background(), history.Query{Instance: "n1", Limit: history.MaxLimit})
	if err != nil || len(p.Records) != 100 || p.Records[0].Seq != 1 || p.Records[99].Seq != 100 {
		t.Fatalf("stored %d records (%v); want the first 100", len(p.Records), err)
	}
	for _, want := range []string{"history store failing", "history queue full", "history store caught up", "dropped=150"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// Events published after the recovery are written too.
	l.Append([]model.Event{{Type: model.EventTask, Object: model.ID{Kind: model.KindTask, Name: "t1"}, Time: time.Now()}})
	testutil.Eventually(t, 10*time.Second, func() bool { return r.Stats().Written == 101 }, "new event not written")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRecorderFlush: what is queued at the stop is written by Flush; with
// the store down Flush gives up at its deadline and says how many were lost.
func TestRecorderFlush(t *testing.T) {
	st := &outage{Store: openBolt(t)}
	r := history.NewRecorder(st, history.RecorderOptions{Instance: "n1", Batch: 7})
	for _, rec := range historytest.Records("c1", "n1", 1, 30) {
		r.Tap([]model.Event{rec.Event})
	}
	if left := r.Flush(context.Background()); left != 0 {
		t.Fatalf("flush left %d", left)
	}
	if n, _ := st.LastSeq(context.Background(), "n1"); n != 30 {
		t.Fatalf("last seq %d after flush", n)
	}
	st.set(true)
	r.Tap([]model.Event{{Seq: 31, Published: time.Now(), Type: model.EventTask}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if left := r.Flush(ctx); left != 1 {
		t.Fatalf("flush with the store down left %d, want 1", left)
	}
}

// TestRecorderRetention purges past the retention at the start of Run.
func TestRecorderRetention(t *testing.T) {
	st := openBolt(t)
	if err := st.Append(context.Background(), historytest.Records("c1", "n1", 1, 120)); err != nil {
		t.Fatal(err)
	}
	now := historytest.Base.Add(120 * time.Minute)
	r := history.NewRecorder(st, history.RecorderOptions{Instance: "n1", Retention: time.Hour, Now: func() time.Time { return now }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, func() bool {
		p, err := st.Query(context.Background(), history.Query{Until: now.Add(-time.Hour)})
		return err == nil && len(p.Records) == 0
	}, "records past retention were not purged")
	cancel()
	<-done
	p, _ := st.Query(context.Background(), history.Query{})
	if len(p.Records) != 60 {
		t.Fatalf("%d records left, want the last hour's 60", len(p.Records))
	}
}

// TestRecorderKeepsABatch: one batch larger than the queue (a first
// picture of a thousand nodes: twelve thousand events at once) is queued
// whole and written; only what exceeds twice the batch is dropped.
func TestRecorderKeepsABatch(t *testing.T) {
	st := openBolt(t)
	r := history.NewRecorder(st, history.RecorderOptions{Instance: "n1", Queue: 100, Batch: 50})
	recs := historytest.Records("c1", "n1", 1, 250)
	evs := make([]model.Event, len(recs))
	for i, rec := range recs {
		evs[i] = rec.Event
	}
	r.Tap(evs)
	if s := r.Stats(); s.Dropped != 0 || s.Queued != 250 {
		t.Fatalf("a batch of 250 with a queue of 100: %+v", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testutil.Eventually(t, 20*time.Second, func() bool { return r.Stats().Written == 250 }, "batch not written: %+v", r.Stats())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
