package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder is what front-ends need from the audit log. Record returns only
// after the record is durable; an error wrapping ErrUnavailable means the
// caller must fail closed (refuse the action, HTTP 503).
type Recorder interface {
	Record(ctx context.Context, e Event) (Receipt, error)
}

// Options configures [Open].
type Options struct {
	// Instance names this mgmtd instance; each instance writes its own
	// chain. Required.
	Instance string
	// StateDir holds the journal (without Primary) or the spool (with
	// Primary), and by default the anchor key. Required.
	StateDir string
	// Primary is the system of record, normally a pgstore.Store. When nil
	// the local journal in StateDir is the system of record. Log.Close
	// closes it.
	Primary Store
	// AnchorKeyFile is the Ed25519 key that signs anchors, created if
	// missing. Default StateDir/audit-anchor.key.
	AnchorKeyFile string
	// AnchorFile receives every anchor too (JSON Lines, fsync'd): put it
	// where the database administrator cannot rewrite it. Default, with a
	// Primary, StateDir/audit-anchors.jsonl; without, anchors go to the
	// journal's anchor file only unless this is set.
	AnchorFile string
	// HeadFile is the local head file (see [LocalHead]): with a Primary,
	// the head of the chain is written there (fsync'd, atomically renamed)
	// before a record up to it is acknowledged. Default, with a Primary,
	// StateDir/audit-head.json; without one there is none (the journal is
	// local itself).
	HeadFile string
	// AnchorInterval is how often the head is anchored when it moved;
	// default 1 minute, negative disables periodic anchors (Close still
	// anchors).
	AnchorInterval time.Duration
	// SpoolLimit bounds the spool in records; default 100,000. When the
	// spool is full and the Primary unreachable, Record fails closed.
	SpoolLimit int
	// SpoolNoiseLimit is the part of the spool that noise
	// ([Log.RecordNoise]: what unauthenticated callers cause) may use:
	// noise is spooled only while the spool holds fewer records, so
	// SpoolLimit-SpoolNoiseLimit records stay reserved for actions and
	// real authentication events. Default SpoolLimit/5; it must be below
	// SpoolLimit.
	SpoolNoiseLimit int
	// QueueSize bounds requests waiting for the writer; default 8192.
	QueueSize int
	// MaxBatch bounds the records committed in one transaction; default
	// 1024.
	MaxBatch int
	// CommitTimeout bounds one append to the Primary; default 5 s. After
	// it the batch goes to the spool.
	CommitTimeout time.Duration
	// RetryInterval is how often the writer tries to reach the Primary
	// while spooling; default 1 s.
	RetryInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() error {
	if o.Instance == "" || o.StateDir == "" {
		return fmt.Errorf("%w: options: instance and state dir are required", ErrInvalid)
	}
	if err := validText("instance", o.Instance); err != nil {
		return err
	}
	if o.AnchorKeyFile == "" {
		o.AnchorKeyFile = filepath.Join(o.StateDir, "audit-anchor.key")
	}
	if o.AnchorFile == "" && o.Primary != nil {
		o.AnchorFile = filepath.Join(o.StateDir, "audit-anchors.jsonl")
	}
	if o.HeadFile == "" && o.Primary != nil {
		o.HeadFile = filepath.Join(o.StateDir, HeadFile)
	}
	if o.AnchorInterval == 0 {
		o.AnchorInterval = time.Minute
	}
	if o.SpoolLimit <= 0 {
		o.SpoolLimit = 100_000
	}
	if o.SpoolNoiseLimit <= 0 {
		o.SpoolNoiseLimit = o.SpoolLimit / 5
	}
	if o.SpoolNoiseLimit >= o.SpoolLimit {
		return fmt.Errorf("%w: options: spool noise limit %d not below the spool limit %d", ErrInvalid, o.SpoolNoiseLimit, o.SpoolLimit)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 5 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Log is the audit log of one mgmtd instance: a single writer goroutine that
// chains records and group-commits them to the store, spooling locally while
// the Primary is unreachable. It implements [Recorder].
type Log struct {
	opts  Options
	log   *slog.Logger
	store Store    // Primary, or the journal when there is none
	spool *Journal // nil without a Primary
	key   ed25519.PrivateKey

	queue   chan *request
	closing chan struct{}
	done    chan struct{}
	closeMu sync.RWMutex // senders hold it shared while enqueueing
	closed  bool

	// Writer state, touched only by the writer goroutine.
	head        Head // chain head, including batches in flight
	durable     Head // head of what is known stored
	flights     []*flight
	headKnown   bool
	spooling    bool
	anchoredSeq uint64
	nextRetry   time.Time
	// noiseRefused counts noise refused for want of its share of the
	// spool since the last recovery.
	noiseRefused int
	// acked is the highest head acknowledged to a caller (or read from
	// the database), as the head file says or is about to.
	acked Head

	// The head writer (with a head file): acks carries what it is to make
	// durable, headsDone is closed when it has stopped; headFileFailing
	// is its (set while writing fails, logged once).
	acks            chan ackBatch
	headsDone       chan struct{}
	headFile        *headWriter
	headFileFailing bool

	degraded atomic.Bool
}

type request struct {
	ev    Event
	noise bool         // may use only the noise share of the spool
	state atomic.Int32 // reqPending, reqTaken, reqCancelled
	done  chan result
}

const (
	reqPending int32 = iota
	reqTaken
	reqCancelled
)

type result struct {
	rc  Receipt
	err error
}

// Open starts the audit log. Without opts.Primary the journal in
// opts.StateDir is the system of record. With a Primary, the spool in
// opts.StateDir is replayed first if it holds records. When the Primary is
// unreachable at start and the spool is empty, the chain continues in the
// spool after the local head file's head if the last run closed the log
// cleanly; after a crash (batches may have committed beyond the head
// file) the head is unknown and Record fails closed until the Primary
// answers. A Primary whose chain ends before the head file's head lost
// records: the log continues after its own head - it never reuses a
// sequence number - and records the gap as audit.tampered.
func Open(ctx context.Context, opts Options, log *slog.Logger) (*Log, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	key, err := LoadOrCreateKey(opts.AnchorKeyFile)
	if err != nil {
		return nil, err
	}
	if err := writePublicKey(filepath.Join(opts.StateDir, "audit-anchor.pub"), key); err != nil {
		return nil, err
	}
	l := &Log{opts: opts, log: log.With("instance", opts.Instance), key: key,
		queue: make(chan *request, opts.QueueSize), closing: make(chan struct{}), done: make(chan struct{})}
	if opts.Primary == nil {
		j, err := OpenJournal(filepath.Join(opts.StateDir, JournalFile), 0)
		if err != nil {
			return nil, err
		}
		l.store = j
		if l.head, err = j.Head(ctx, opts.Instance); err != nil {
			j.Close()
			return nil, err
		}
		l.headKnown = true
	} else {
		sp, err := OpenJournal(filepath.Join(opts.StateDir, SpoolFile), opts.SpoolLimit)
		if err != nil {
			return nil, err
		}
		l.store, l.spool = opts.Primary, sp
		l.headFile = &headWriter{path: opts.HeadFile}
		local, err := l.openHeadFile()
		if err != nil {
			l.headFile.close()
			sp.Close()
			return nil, err
		}
		l.acks, l.headsDone = make(chan ackBatch, 2*pipelineDepth), make(chan struct{})
		go l.writeHeads()
		l.startPrimary(ctx, local)
	}
	l.durable = l.head
	l.anchoredSeq = l.head.Seq
	go l.run()
	return l, nil
}

// writePublicKey leaves the anchor public key beside the state for
// auditors (rewritten when it differs).
func writePublicKey(path string, key ed25519.PrivateKey) error {
	want := MarshalPublicKey(key.Public().(ed25519.PublicKey))
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		return fmt.Errorf("write anchor public key: %w", err)
	}
	return nil
}

// openHeadFile reads the local head file (a missing one, or one of
// another instance, is no head: nil) and marks it unclean at once, so
// that a crash of this run is not taken for a clean stop.
func (l *Log) openHeadFile() (*LocalHead, error) {
	local, err := ReadHeadFile(l.opts.HeadFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case local.Instance != l.opts.Instance:
		l.log.Warn("audit head file is of another instance; ignored", "file", l.opts.HeadFile, "file_instance", local.Instance)
		return nil, nil
	}
	l.acked = local.Head
	if local.Clean {
		unclean := local
		unclean.Clean = false
		if err := l.headFile.write(unclean); err != nil {
			return nil, err
		}
	}
	return &local, nil
}

// startPrimary finds the head from the Primary, the spool and the local
// head file.
func (l *Log) startPrimary(ctx context.Context, local *LocalHead) {
	sh, _ := l.spool.Head(ctx, l.opts.Instance)
	spooled := l.spool.Len() > 0 && sh.Seq > 0
	cctx, cancel := context.WithTimeout(ctx, l.opts.CommitTimeout)
	ph, err := l.opts.Primary.Head(cctx, l.opts.Instance)
	cancel()
	switch {
	case err != nil && spooled:
		l.head, l.headKnown, l.spooling = sh, true, true
		l.log.Warn("audit database unreachable at start; continuing the spooled chain", "err", err, "seq", sh.Seq)
	case err != nil && local != nil && local.Clean:
		l.head, l.headKnown, l.spooling = local.Head, true, true
		if rerr := l.spool.rebase(local.Head); rerr != nil {
			l.log.Error("rebase spool", "err", rerr)
		}
		l.log.Warn("audit database unreachable at start; continuing after the local head in the spool", "err", err, "seq", local.Seq)
	case err != nil:
		l.spooling = true
		why := "no local head file"
		if local != nil {
			why = "the last run did not close the log (records may have committed beyond the local head)"
		}
		l.log.Error("audit database unreachable at start and spool empty: head unknown, recording fails closed until it answers",
			"err", err, "why", why)
	case spooled:
		l.head, l.headKnown, l.spooling = sh, true, true
		if ph.Seq > sh.Seq {
			l.head = ph
		}
		l.replay(ctx)
	default:
		l.adoptHead(ctx, ph)
	}
	l.degraded.Store(l.spooling || !l.headKnown)
}

// adoptHead continues the chain after ph, the Primary's head, when the
// spool is empty. A Primary whose chain ends before the head this
// instance acknowledged has lost records (its tail was deleted, or it was
// restored from an older backup): the log then continues after its own
// head, spooling, and the replay appends the spool after the gap with the
// gap recorded (audit.tampered). A Primary whose record at the
// acknowledged head differs was rewritten: recorded the same way.
func (l *Log) adoptHead(ctx context.Context, ph Head) {
	switch {
	case ph.Seq < l.acked.Seq:
		l.log.Error("audit database chain ends before the head this instance acknowledged: records deleted; continuing after the acknowledged head",
			"db_seq", ph.Seq, "acked_seq", l.acked.Seq)
		l.head, l.durable, l.headKnown, l.spooling = l.acked, l.acked, true, true
		l.degraded.Store(true)
		if l.spool.Len() == 0 {
			if err := l.spool.rebase(l.acked); err != nil {
				l.log.Error("rebase spool", "err", err)
			}
		}
		l.replay(ctx)
		return
	case ph.Seq == l.acked.Seq && ph.Hash != l.acked.Hash:
		l.head, l.durable, l.headKnown = ph, ph, true
		l.log.Error("audit database record at the acknowledged head differs from the one acknowledged", "seq", ph.Seq)
		l.commitSystem(ActionAuditTampered, fmt.Sprintf("record %d in the database differs from the one this instance acknowledged (local head file): the chain was rewritten", ph.Seq))
		return
	}
	l.head, l.durable, l.headKnown = ph, ph, true
	l.ack(ph, nil, nil)
}

// Degraded reports whether the log currently writes to its spool (or does
// not know its head) instead of the Primary.
func (l *Log) Degraded() bool { return l.degraded.Load() }

// QueueStats returns how many records wait for the writer and how many
// its queue holds before Record waits (for the metrics).
func (l *Log) QueueStats() (queued, capacity int) { return len(l.queue), cap(l.queue) }

// Record makes e durable and returns its place in the chain; see
// [Recorder]. e is sanitised ([Event.Sanitized]: content never makes a
// record fail), validated and normalized (time in µs UTC, now if zero;
// roles sorted; before/after compacted). Once the writer has taken the event
// into a batch, Record waits for that batch's outcome even if ctx ends, so
// an event reported failed was never stored.
func (l *Log) Record(ctx context.Context, e Event) (Receipt, error) {
	return l.record(ctx, e, false)
}

// RecordNoise is [Log.Record] for noise: events that unauthenticated
// callers cause (the summaries of refused requests). While the Primary is
// unreachable they may use only Options.SpoolNoiseLimit records of the
// spool; beyond it they are refused (ErrUnavailable) and counted, and the
// count is recorded with audit.recovered. So noise never takes the room
// actions and real authentication events need.
func (l *Log) RecordNoise(ctx context.Context, e Event) (Receipt, error) {
	return l.record(ctx, e, true)
}

func (l *Log) record(ctx context.Context, e Event, noise bool) (Receipt, error) {
	e = e.Sanitized()
	if err := e.Validate(); err != nil {
		return Receipt{}, err
	}
	req := &request{ev: e.normalize(l.opts.Now()), noise: noise, done: make(chan result, 1)}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return Receipt{}, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	select {
	case l.queue <- req:
		l.closeMu.RUnlock()
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return Receipt{}, fmt.Errorf("%w: queue full: %w", ErrUnavailable, ctx.Err())
	}
	select {
	case res := <-req.done:
		return res.rc, res.err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqPending, reqCancelled) {
			return Receipt{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
		res := <-req.done
		return res.rc, res.err
	}
}

// Close stops the writer after committing what is queued, writes a final
// anchor and closes the stores (the Primary included). Shutdown order:
// refuse new records, drain the queue, anchor, close spool, close Primary.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	close(l.closing)
	l.closeMu.Unlock()
	<-l.done
	if l.acks != nil {
		close(l.acks)
		<-l.headsDone
		if l.headKnown && len(l.flights) == 0 {
			l.writeHead(l.acked, true) // nothing in flight: the stores hold the chain up to it
		}
		l.headFile.close()
	}
	var errs []error
	if l.spool != nil {
		errs = append(errs, l.spool.Close())
	}
	errs = append(errs, l.store.Close())
	return errors.Join(errs...)
}

// pipelineDepth is how many batches may be in flight to a Pipeliner.
const pipelineDepth = 2

func (l *Log) run() {
	defer close(l.done)
	tick := min(l.opts.RetryInterval, max(l.opts.AnchorInterval, 10*time.Millisecond))
	if l.opts.AnchorInterval < 0 {
		tick = l.opts.RetryInterval
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	lastAnchor := time.Now()
	// With a database, two batches may be in flight: the second is sent
	// while the first commits, and the server starts it as soon as the
	// first's commit is durable. (Three or four were no faster: the
	// batches only get smaller; docs/benchmarks.md.) The journal takes one.
	depth := 1
	if _, ok := l.store.(Pipeliner); ok && l.spool != nil {
		depth = pipelineDepth
	}
	// pending collects requests while batches are in flight. A new batch
	// joins the pipeline when no batch is in flight, or when it holds its
	// share (1/depth) of the requests outstanding at the last completion:
	// small batches would waste a pipeline slot.
	var pending []*request
	target := 1
	flush := func() {
		if len(pending) > 0 && len(l.flights) < depth && (len(l.flights) == 0 || len(pending) >= target) {
			l.submit(pending)
			pending = nil
		}
	}
	for {
		var doneCh <-chan error
		if len(l.flights) > 0 {
			doneCh = l.flights[0].done
		}
		queue := l.queue
		if len(pending) >= l.opts.MaxBatch {
			queue = nil
		}
		select {
		case req := <-queue:
			pending = append(pending, req)
			for len(pending) < l.opts.MaxBatch {
				select {
				case r := <-l.queue:
					pending = append(pending, r)
					continue
				default:
				}
				break
			}
			flush()
		case err := <-doneCh:
			// Requests outstanding: the batch just answered (its callers
			// come back), the ones still in flight, and those waiting.
			total := len(pending) + len(l.queue)
			for _, f := range l.flights {
				total += len(f.taken)
			}
			target = max(1, min(total/depth, l.opts.MaxBatch))
			l.complete(err)
			flush()
		case <-ticker.C:
			l.maintain()
			if l.opts.AnchorInterval > 0 && time.Since(lastAnchor) >= l.opts.AnchorInterval {
				l.anchor()
				lastAnchor = time.Now()
			}
		case <-l.closing:
			// Finish what is in flight, commit what was queued before
			// Close, anchor and stop.
			for len(l.flights) > 0 {
				l.complete(<-l.flights[0].done)
			}
			if len(pending) > 0 {
				l.commitSync(pending)
			}
			for {
				select {
				case req := <-l.queue:
					l.commitSync(l.fill(req))
					continue
				default:
				}
				break
			}
			l.anchor()
			return
		}
	}
}

// fill returns a batch starting with req and whatever else is queued.
func (l *Log) fill(req *request) []*request {
	batch := []*request{req}
	for len(batch) < l.opts.MaxBatch {
		select {
		case r := <-l.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// maintain retries the Primary while spooling or while the head is unknown.
func (l *Log) maintain() {
	if l.spool == nil || (!l.spooling && l.headKnown) || time.Now().Before(l.nextRetry) {
		return
	}
	l.nextRetry = time.Now().Add(l.opts.RetryInterval)
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	defer cancel()
	if !l.headKnown {
		ph, err := l.opts.Primary.Head(ctx, l.opts.Instance)
		if err != nil {
			return
		}
		l.anchoredSeq = max(l.anchoredSeq, ph.Seq)
		l.log.Info("audit chain head read back from database", "seq", ph.Seq)
		if ph.Seq < l.acked.Seq {
			l.adoptHead(ctx, ph) // spools and replays across the gap
			return
		}
		if l.spool.Len() == 0 {
			if err := l.spool.rebase(ph); err != nil {
				l.log.Error("rebase spool", "err", err)
			}
		}
		l.adoptHead(ctx, ph)
	}
	l.replay(ctx)
}

// replay sends the spool to the Primary in order and switches back to it.
func (l *Log) replay(ctx context.Context) {
	ph, err := l.opts.Primary.Head(ctx, l.opts.Instance)
	if err != nil {
		return
	}
	var pending []Record
	var conflict error
	err = l.spool.Scan(ctx, l.opts.Instance, 0, func(r *Record) error {
		switch {
		case r.Seq < ph.Seq:
		case r.Seq == ph.Seq:
			if r.Hash != ph.Hash {
				conflict = fmt.Errorf("%w: spooled record %d differs from the database's", ErrConflict, r.Seq)
			}
		default:
			pending = append(pending, *r)
		}
		return conflict
	})
	if conflict != nil || err != nil {
		l.log.Error("audit spool replay impossible", "err", errors.Join(conflict, err))
		return
	}
	// The spool (or, with an empty spool, the head) beyond the database's
	// head plus one: the database lost records this instance acknowledged.
	// The gap is recorded at the end of the spool and the spool appended
	// after it.
	gap := (len(pending) > 0 && pending[0].Seq > ph.Seq+1) || (len(pending) == 0 && l.head.Seq > ph.Seq)
	if gap {
		ga, ok := l.opts.Primary.(GapAppender)
		if !ok {
			l.log.Error("audit spool does not continue the database chain, which cannot take a gap", "db_seq", ph.Seq, "seq", l.head.Seq)
			return
		}
		from := l.head.Seq
		if len(pending) > 0 {
			from = pending[0].Seq - 1
		}
		rec, err := l.spoolSystem(ActionAuditTampered, fmt.Sprintf("the database's chain ended at %d, but this instance had acknowledged records up to %d: "+
			"records %d..%d are missing from the database (deleted, or the database restored from an older backup); the chain continues after them",
			ph.Seq, from, ph.Seq+1, from))
		if err != nil {
			l.log.Error("record the audit chain gap in the spool", "err", err)
			return
		}
		pending = append(pending, rec)
		actx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
		n := min(len(pending), l.opts.MaxBatch)
		err = ga.AppendAfterGap(actx, pending[:n], ph)
		cancel()
		if err != nil {
			l.log.Warn("audit spool replay across the gap interrupted", "err", err)
			return
		}
		l.log.Error("audit database chain had a gap: recorded as audit.tampered and continued after it", "db_seq", ph.Seq, "seq", from)
		pending = pending[n:]
	} else if len(pending) > 0 && (pending[0].Seq != ph.Seq+1 || pending[0].PrevHash != ph.Hash) {
		l.log.Error("audit spool does not continue the database chain", "db_seq", ph.Seq, "spool_first", pending[0].Seq)
		return
	}
	for len(pending) > 0 {
		n := min(len(pending), l.opts.MaxBatch)
		actx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
		err := l.opts.Primary.Append(actx, pending[:n])
		cancel()
		if err != nil {
			l.log.Warn("audit spool replay interrupted", "err", err)
			return // next try reads the head back and skips what committed
		}
		pending = pending[n:]
	}
	if l.head.Seq < ph.Seq {
		// The Primary is ahead of what we knew (a batch whose commit we
		// could not confirm did commit): follow it.
		l.head = ph
	}
	l.durable = l.head
	n := l.spool.Len()
	if err := l.spool.Reset(); err != nil {
		l.log.Error("reset audit spool", "err", err)
		return
	}
	l.spooling = false
	l.degraded.Store(false)
	l.log.Info("audit database reachable again; spool replayed", "records", n, "seq", l.head.Seq, "noise_refused", l.noiseRefused)
	reason := fmt.Sprintf("replayed %d spooled records", n)
	if l.noiseRefused > 0 {
		reason += fmt.Sprintf("; %d noise records refused while the spool's share for noise (%d) was full", l.noiseRefused, l.opts.SpoolNoiseLimit)
		l.noiseRefused = 0
	}
	l.commitSystem(ActionAuditRecovered, reason)
}

// spoolSystem appends an event raised by the log itself directly to the
// spool, chained on the head, and returns its record.
func (l *Log) spoolSystem(action, reason string) (Record, error) {
	r := Record{Event: l.systemEvent(action, reason), Instance: l.opts.Instance, Seq: l.head.Seq + 1, PrevHash: l.head.Hash}
	r.Hash = r.ComputeHash()
	if err := l.spool.Append(context.Background(), []Record{r}); err != nil {
		return r, err
	}
	h := Head{Instance: r.Instance, Seq: r.Seq, Hash: r.Hash}
	l.head, l.durable = h, h
	l.ack(h, nil, nil)
	return r, nil
}

func (l *Log) systemEvent(action, reason string) Event {
	return Event{Actor: "mgmtd:" + l.opts.Instance, AuthMethod: "internal", Action: action,
		Channel: ChannelSystem, ObjectType: "audit-log", ObjectID: l.opts.Instance, Outcome: OutcomeSuccess,
		Reason: reason}.Sanitized().normalize(l.opts.Now())
}

// commitSystem records an event raised by the log itself; failures are
// logged (they are already visible as degradation). Nothing is in flight
// when it is called.
func (l *Log) commitSystem(action, reason string) {
	req := &request{ev: l.systemEvent(action, reason), done: make(chan result, 1)}
	req.state.Store(reqTaken)
	l.commitSync([]*request{req})
	if res := <-req.done; res.err != nil {
		l.log.Warn("record audit system event", "action", action, "err", res.err)
	}
}

// flight is a batch being appended to the store.
type flight struct {
	taken   []*request
	recs    []Record
	oldHead Head // the chain head the batch continues
	newHead Head
	done    chan error    // the append's result, read by complete
	locked  chan struct{} // closed when the batch was handed to the store or failed
}

// commitSync commits batch and answers it before returning.
func (l *Log) commitSync(batch []*request) {
	for len(l.flights) > 0 {
		l.complete(<-l.flights[0].done)
	}
	l.submit(batch)
	for len(l.flights) > 0 {
		l.complete(<-l.flights[0].done)
	}
}

// submit chains the batch's live requests and starts appending them to the
// store, or spools them (synchronously) while degraded.
func (l *Log) submit(batch []*request) {
	taken := batch[:0]
	for _, req := range batch {
		if req.state.Load() == reqTaken || req.state.CompareAndSwap(reqPending, reqTaken) {
			taken = append(taken, req)
		}
	}
	if len(taken) == 0 {
		return
	}
	if l.spooling || !l.headKnown {
		// Degraded: nothing is in flight (complete resolved it all).
		if !l.headKnown || time.Now().After(l.nextRetry) {
			l.maintain()
		}
		if !l.headKnown {
			l.answer(taken, nil, false, fmt.Errorf("%w: chain head unknown: database unreachable", ErrUnavailable))
			return
		}
		if l.spooling {
			if taken = l.admitNoise(taken); len(taken) == 0 {
				return
			}
		}
	}
	f := &flight{taken: taken, recs: make([]Record, len(taken)), oldHead: l.head, done: make(chan error, 1),
		locked: make(chan struct{})}
	prev, seq := l.head.Hash, l.head.Seq
	for i, req := range taken {
		seq++
		r := &f.recs[i]
		r.Event, r.Instance, r.Seq, r.PrevHash = req.ev, l.opts.Instance, seq, prev
		r.Hash = r.ComputeHash()
		prev = r.Hash
	}
	last := &f.recs[len(f.recs)-1]
	f.newHead = Head{Instance: l.opts.Instance, Seq: last.Seq, Hash: last.Hash}
	if l.spooling {
		if l.spoolFlights([]*flight{f}, nil) {
			l.head = f.newHead
		}
		return
	}
	l.head = f.newHead // optimistic: the next batch chains on this one
	var before *flight
	if len(l.flights) > 0 {
		before = l.flights[len(l.flights)-1]
	}
	l.flights = append(l.flights, f)
	go func() {
		var once sync.Once
		signal := func() { once.Do(func() { close(f.locked) }) }
		defer signal()
		// The batch is handed to the store behind the previous one.
		var ready chan struct{}
		if before != nil {
			ready = before.locked
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
		defer cancel()
		var err error
		if p, ok := l.store.(Pipeliner); ok {
			err = p.AppendPipelined(ctx, f.recs, ready, signal)
		} else {
			if ready != nil {
				<-ready
			}
			err = l.store.Append(ctx, f.recs)
		}
		f.done <- err
	}()
}

// admitNoise answers the noise in taken that would take the spool past
// its noise share, and returns the rest.
func (l *Log) admitNoise(taken []*request) []*request {
	room := l.opts.SpoolNoiseLimit - l.spool.Len()
	kept := taken[:0]
	for _, req := range taken {
		if req.noise && room <= 0 {
			if l.noiseRefused == 0 {
				l.log.Warn("audit spool: the share for noise is full; noise is refused (and counted) until the database is back",
					"noise_limit", l.opts.SpoolNoiseLimit)
			}
			l.noiseRefused++
			req.done <- result{err: fmt.Errorf("%w: the spool's share for noise (%d records) is full", ErrUnavailable, l.opts.SpoolNoiseLimit)}
			continue
		}
		room--
		kept = append(kept, req)
	}
	return kept
}

// complete handles the outcome of the oldest flight.
func (l *Log) complete(err error) {
	f := l.flights[0]
	if err == nil {
		l.flights = l.flights[1:]
		l.durable = f.newHead
		l.answer(f.taken, f.recs, false, nil)
		return
	}
	// The oldest failed: let the younger ones finish (they cannot commit
	// unless the oldest did), then find out from the head what is stored.
	group := l.flights
	l.flights = nil
	for _, g := range group[1:] {
		<-g.done
	}
	if l.spool == nil {
		l.head = l.durable
		for _, g := range group {
			l.answer(g.taken, nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err))
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	ph, herr := l.store.Head(ctx, l.opts.Instance)
	cancel()
	if herr == nil {
		// Batches up to the head committed; later ones did not.
		i := 0
		for ; i < len(group) && group[i].newHead.Seq <= ph.Seq; i++ {
			if group[i].newHead.Seq == ph.Seq && group[i].newHead != ph {
				i = -1
				break
			}
		}
		if i < 0 || (i == 0 && ph != group[0].oldHead) || (i > 0 && group[i-1].newHead != ph) {
			l.headKnown = false
			for _, g := range group {
				l.answer(g.taken, nil, false, fmt.Errorf("%w: unexpected database head %d after failed append: %w", ErrUnavailable, ph.Seq, err))
			}
			l.log.Error("audit chain conflict: another writer uses this instance name?", "db_seq", ph.Seq, "err", err)
			return
		}
		for _, g := range group[:i] {
			l.durable = g.newHead
			l.answer(g.taken, g.recs, false, nil)
		}
		group = group[i:]
		if len(group) == 0 {
			l.head, l.durable = ph, ph
			return
		}
		if errors.Is(err, ErrConflict) {
			l.head, l.durable = ph, ph
			for _, g := range group {
				l.answer(g.taken, nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err))
			}
			return
		}
	}
	// The database is unreachable (or refused the batch): spool the rest,
	// in order. When the head could not be read, the batches may have
	// committed; replay skips what the database already holds.
	l.log.Warn("audit database unreachable; spooling locally", "err", err)
	l.spooling = true
	l.degraded.Store(true)
	l.nextRetry = time.Now().Add(l.opts.RetryInterval)
	base := group[0].oldHead
	if l.spool.Len() == 0 {
		if rerr := l.spool.rebase(base); rerr != nil {
			l.log.Error("rebase spool", "err", rerr)
		}
	}
	l.head = base
	var ambiguous error
	if herr != nil {
		ambiguous = err
	}
	if l.spoolFlights(group, ambiguous) {
		l.commitSystem(ActionAuditDegraded, "database unreachable: "+errString(err, herr))
	}
}

func errString(errs ...error) string {
	for _, e := range errs {
		if e != nil {
			return e.Error()
		}
	}
	return ""
}

// spoolFlights appends the flights' records to the spool, in order, and
// answers them. ambiguous is the database's error when they may have
// committed there anyway. It reports whether all were spooled.
func (l *Log) spoolFlights(group []*flight, ambiguous error) bool {
	for i, f := range group {
		if err := l.spool.Append(context.Background(), f.recs); err != nil {
			if ambiguous != nil {
				// Neither confirmed nor refused by the database and not
				// spooled: only the database head can tell.
				l.headKnown = false
			}
			for _, g := range group[i:] {
				l.answer(g.taken, nil, false, fmt.Errorf("%w: %w", ErrUnavailable, err))
			}
			return false
		}
		l.head, l.durable = f.newHead, f.newHead
		l.answer(f.taken, f.recs, true, nil)
	}
	return true
}

func (l *Log) answer(taken []*request, recs []Record, spooled bool, err error) {
	if err != nil {
		for _, req := range taken {
			req.done <- result{err: err}
		}
		return
	}
	res := make([]result, len(taken))
	for i := range taken {
		r := &recs[i]
		res[i] = result{rc: Receipt{Instance: r.Instance, Seq: r.Seq, Hash: r.Hash, Time: r.Time, Spooled: spooled}}
	}
	var h Head
	if len(recs) > 0 {
		last := &recs[len(recs)-1]
		h = Head{Instance: last.Instance, Seq: last.Seq, Hash: last.Hash}
	}
	l.ack(h, taken, res)
}

// ackBatch is a head to make durable in the head file and the answers
// that wait for it.
type ackBatch struct {
	head  Head
	taken []*request
	res   []result
}

// ack notes h as acknowledged and sends the answers res to taken. With a
// head file they go through the head writer ([Log.writeHeads]): the file
// says h before any caller hears of a record up to it.
func (l *Log) ack(h Head, taken []*request, res []result) {
	if h.Seq > l.acked.Seq {
		l.acked = h
	}
	if l.acks == nil {
		for i, req := range taken {
			req.done <- res[i]
		}
		return
	}
	l.acks <- ackBatch{head: l.acked, taken: taken, res: res}
}

// writeHeads is the head writer: it writes the head file once for all the
// batches waiting (group commit, so the writer's pipeline is not held up
// by the file's fsync), then sends their answers in order.
func (l *Log) writeHeads() {
	defer close(l.headsDone)
	var written Head
	for b := range l.acks {
		batch := []ackBatch{b}
	more:
		for {
			select {
			case b, ok := <-l.acks:
				if !ok {
					break more
				}
				batch = append(batch, b)
			default:
				break more
			}
		}
		if h := batch[len(batch)-1].head; h.Seq > written.Seq {
			l.writeHead(h, false)
			written = h
		}
		for _, b := range batch {
			for i, req := range b.taken {
				req.done <- b.res[i]
			}
		}
	}
}

// writeHead writes h to the head file; clean says nothing is in flight.
// A failure is logged once until a write succeeds again: the records are
// durable all the same, but a deleted tail up to them would go unnoticed.
func (l *Log) writeHead(h Head, clean bool) {
	if h.Seq == 0 {
		return
	}
	err := l.headFile.write(LocalHead{Head: h, Time: time.Now(), Clean: clean})
	if err != nil && !l.headFileFailing {
		l.log.Error("write audit head file", "err", err)
	}
	l.headFileFailing = err != nil
}

// anchor signs the head if it moved since the last anchor and writes the
// anchor to the store (or spool) and to the anchor file.
func (l *Log) anchor() {
	if !l.headKnown || l.durable.Seq == 0 || l.durable.Seq == l.anchoredSeq {
		return
	}
	a := SignAnchor(l.key, l.opts.Instance, l.durable.Seq, l.durable.Hash, l.opts.Now())
	var target Store = l.store
	if l.spooling {
		target = l.spool
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	defer cancel()
	if err := target.AppendAnchor(ctx, a); err != nil {
		l.log.Warn("store audit anchor", "err", err, "seq", a.Seq)
	}
	if l.opts.AnchorFile != "" {
		if err := appendLineFile(l.opts.AnchorFile, a.MarshalJSONL()); err != nil {
			l.log.Error("write audit anchor file", "err", err, "seq", a.Seq)
			return
		}
	}
	l.anchoredSeq = a.Seq
}

// PublicKey returns the public half of the anchor key, for auditors.
func (l *Log) PublicKey() ed25519.PublicKey { return l.key.Public().(ed25519.PublicKey) }

// Store returns the system of record (the Primary, or the journal).
func (l *Log) Store() Store { return l.store }

// Query records an audit.query event for the accessor described by by
// (actor, auth method, roles, channel, source, request id) and then returns
// one page of records matching f. If the access cannot be recorded, nothing
// is returned (error wrapping ErrUnavailable).
func (l *Log) Query(ctx context.Context, f Filter, by Event) (Page, error) {
	f, err := f.Normalize()
	if err != nil {
		return Page{}, err
	}
	if _, err := l.recordAccess(ctx, by, ActionAuditQuery, filterJSON(f, "")); err != nil {
		return Page{}, err
	}
	recs, err := l.store.Query(ctx, f)
	if err != nil {
		return Page{}, fmt.Errorf("%w: query: %w", ErrUnavailable, err)
	}
	p := Page{Records: recs}
	if len(recs) == f.Limit {
		p.Next = CursorAfter(&recs[len(recs)-1])
	}
	return p, nil
}

// Export records an audit.export event for by, writes every record
// matching f (Cursor and Limit ignored) to w in format, and then records an
// audit.export.manifest event carrying the returned manifest (its SHA-256
// is what a retention purge looks for).
func (l *Log) Export(ctx context.Context, f Filter, format Format, w io.Writer, by Event) (Manifest, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return Manifest{}, err
	}
	f.Cursor, f.Limit = "", 0
	f, err := f.Normalize()
	if err != nil {
		return Manifest{}, err
	}
	if _, err := l.recordAccess(ctx, by, ActionAuditExport, filterJSON(f, format)); err != nil {
		return Manifest{}, err
	}
	m, err := WriteExport(ctx, l.store, f, format, w)
	if err != nil {
		return m, err
	}
	mj, _ := json.Marshal(m)
	if _, err := l.recordAccess(ctx, by, ActionAuditExportManifest, mj); err != nil {
		return m, err
	}
	return m, nil
}

func (l *Log) recordAccess(ctx context.Context, by Event, action string, after json.RawMessage) (Receipt, error) {
	by.Action, by.ObjectType, by.ObjectID, by.After, by.Before = action, "audit-log", l.opts.Instance, after, nil
	by.Outcome, by.Time = OutcomeSuccess, time.Time{}
	if by.Channel == "" {
		by.Channel = ChannelSystem
	}
	return l.Record(ctx, by)
}

func filterJSON(f Filter, format Format) json.RawMessage {
	m := map[string]string{}
	add := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	if !f.Since.IsZero() {
		add("since", f.Since.Format(TimeLayout))
	}
	if !f.Until.IsZero() {
		add("until", f.Until.Format(TimeLayout))
	}
	add("instance", f.Instance)
	add("actor", f.Actor)
	add("action", f.Action)
	add("object_type", f.ObjectType)
	add("object_id", f.ObjectID)
	add("outcome", string(f.Outcome))
	add("cursor", f.Cursor)
	if f.Newest {
		add("order", "newest")
	}
	add("format", string(format))
	b, _ := json.Marshal(m)
	return b
}
