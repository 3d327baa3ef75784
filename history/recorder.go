package history

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"mgmtd/model"
)

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	// Instance names this mgmtd in its records (its view).
	Instance string
	// Queue bounds the events waiting for the store (default 10,000,
	// and at least twice the batch being added, up to MaxQueue); past it
	// new events are dropped and counted.
	Queue int
	// Batch is the most events written at once (default 500).
	Batch int
	// WriteTimeout bounds one write (default 10s).
	WriteTimeout time.Duration
	// Retention deletes records older than this, checked every
	// PurgeInterval (default 1h); 0 keeps everything.
	Retention     time.Duration
	PurgeInterval time.Duration
	// Now is the clock (retention); nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// MaxQueue bounds the queue whatever the batch (see Tap).
const MaxQueue = 1_000_000

// Stats is what a Recorder reports about itself.
type Stats struct {
	Queued  int    `json:"queued"`  // events waiting for the store
	Written uint64 `json:"written"` // events stored since the start
	Dropped uint64 `json:"dropped"` // events lost because the queue was full
	// Failing is set while writes fail; Error is the last failure.
	Failing bool      `json:"failing"`
	Error   string    `json:"error,omitempty"`
	Since   time.Time `json:"since,omitzero"` // when the current failure began
}

// Recorder moves published events into a Store without ever blocking the
// publisher: Tap enqueues (or drops, when the queue is full), Run writes.
type Recorder struct {
	opts  RecorderOptions
	store Store

	mu      sync.Mutex
	queue   []Record
	wake    chan struct{}
	stats   Stats
	dropLog bool // a drop was logged in this run of drops
}

// NewRecorder returns a recorder writing to store.
func NewRecorder(store Store, o RecorderOptions) *Recorder {
	if o.Queue <= 0 {
		o.Queue = 10_000
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.PurgeInterval <= 0 {
		o.PurgeInterval = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{opts: o, store: store, wake: make(chan struct{}, 1)}
}

// Store returns the recorder's store.
func (r *Recorder) Store() Store { return r.store }

// Tap takes a batch of published events (model.EventLogOptions.Tap). It
// never blocks on the store: events that do not fit in the queue are
// dropped and counted.
func (r *Recorder) Tap(evs []model.Event) {
	r.mu.Lock()
	// A batch is one change of the model; a first picture of a thousand
	// nodes is more than the default queue: the bound is twice the
	// batch, up to MaxQueue, so that a working store loses none of it.
	limit := max(r.opts.Queue, min(2*len(evs), MaxQueue))
	room := limit - len(r.queue)
	n := min(room, len(evs))
	for _, e := range evs[:max(n, 0)] {
		rec := Record{Instance: r.opts.Instance, Event: e}
		if err := rec.Validate(); err != nil {
			// Never stall the queue on a record no store can take.
			r.stats.Dropped++
			r.opts.Log.Error("history record refused", "seq", e.Seq, "err", err)
			continue
		}
		r.queue = append(r.queue, rec)
	}
	if dropped := len(evs) - max(n, 0); dropped > 0 {
		r.stats.Dropped += uint64(dropped)
		if !r.dropLog {
			r.dropLog = true
			if r.stats.Since.IsZero() {
				r.stats.Since = r.opts.Now()
			}
			r.opts.Log.Error("history queue full; events are dropped until the store catches up",
				"queue", r.opts.Queue, "first_seq", evs[max(n, 0)].Seq)
		}
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Queued = len(r.queue)
	return s
}

// Run writes queued events until ctx is done, retrying a failing store
// with backoff (100 ms doubling to 5 s) and purging past retention.
// Whatever is queued when ctx ends is left for Flush.
func (r *Recorder) Run(ctx context.Context) error {
	purge := time.NewTicker(r.opts.PurgeInterval)
	defer purge.Stop()
	r.purge(ctx)
	backoff := time.Duration(0)
	for {
		var retry <-chan time.Time
		var t *time.Timer
		switch {
		case backoff > 0:
			t = time.NewTimer(backoff)
			retry = t.C
		case r.pending() > 0:
			retry = closedTime
		}
		write := false
		select {
		case <-ctx.Done():
		case <-purge.C:
			r.purge(ctx)
		case <-r.wake:
			write = backoff == 0 // a failing store waits for its retry
		case <-retry:
			write = true
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
		if !write {
			continue
		}
		if err := r.writeOnce(ctx); err != nil {
			backoff = min(max(backoff*2, 100*time.Millisecond), 5*time.Second)
			continue
		}
		backoff = 0
	}
}

var closedTime = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

func (r *Recorder) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// writeOnce writes the head of the queue (one batch); the batch leaves the
// queue only when the store took it.
func (r *Recorder) writeOnce(ctx context.Context) error {
	r.mu.Lock()
	n := min(len(r.queue), r.opts.Batch)
	batch := append([]Record(nil), r.queue[:n]...)
	r.mu.Unlock()
	if n == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.WriteTimeout)
	err := r.store.Append(wctx, batch)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if !r.stats.Failing {
			r.stats.Failing, r.stats.Since = true, r.opts.Now()
			r.opts.Log.Error("history store failing; events wait in the queue", "queued", len(r.queue), "err", err)
		}
		r.stats.Error = err.Error()
		return err
	}
	r.queue = append(r.queue[:0], r.queue[n:]...)
	r.stats.Written += uint64(n)
	if r.stats.Failing || r.dropLog {
		if len(r.queue) == 0 {
			r.opts.Log.Info("history store caught up", "dropped", r.stats.Dropped, "written", r.stats.Written,
				"dur", r.opts.Now().Sub(r.stats.Since))
			r.dropLog = false
		}
		r.stats.Failing, r.stats.Error = false, ""
		if len(r.queue) == 0 {
			r.stats.Since = time.Time{}
		}
	}
	if len(r.queue) > 0 {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Flush writes what is queued until the queue is empty, the store fails or
// ctx ends; it returns how many events were left unwritten.
func (r *Recorder) Flush(ctx context.Context) int {
	for r.pending() > 0 && ctx.Err() == nil {
		if err := r.writeOnce(ctx); err != nil {
			break
		}
	}
	left := r.pending()
	if left > 0 {
		r.opts.Log.Error("history not flushed; events lost", "lost", left)
	}
	return left
}

func (r *Recorder) purge(ctx context.Context) {
	if r.opts.Retention <= 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	before := r.opts.Now().Add(-r.opts.Retention)
	n, err := r.store.Purge(pctx, before)
	if err != nil {
		r.opts.Log.Warn("history retention failed", "err", err)
		return
	}
	if n > 0 {
		r.opts.Log.Info("history retention", "deleted", n, "before", before)
	}
}
