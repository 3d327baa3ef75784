package hub

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"mgmtd/model"
)

// PushPath is the hub's push route.
const PushPath = "/api/v1/hub/push"

// Snapshotter gives the current snapshot; *model.Store implements it.
type Snapshotter interface {
	Snapshot() *model.Snapshot
}

// PusherOptions configure a [Pusher].
type PusherOptions struct {
	// URL is the hub (or its load balancer): https://HOST:PORT.
	URL string
	// TLS carries the client certificate and the CAs that sign the
	// hub's certificate.
	TLS *tls.Config
	// Snapshots and Events are the daemon's model.
	Snapshots Snapshotter
	Events    *model.EventLog
	// Self is the cluster's own mgmtd URL, shown by the hub as the place
	// to act (called at each connection: the listener binds late).
	Self func() string
	// All pushes from this mgmtd whatever the election says (a view that
	// is not a cluster node always pushes; see model.Snapshot.ClusterSender).
	All bool
	// SnapshotInterval is the shortest time between two full pictures
	// (default 2 s): a picture goes at connection and then when the
	// generation changed, at most this often.
	SnapshotInterval time.Duration
	// Heartbeat is how often an idle sender tells the hub it is alive
	// (default 10 s); the hub's stale limit should be a few of these.
	Heartbeat time.Duration
	// Spool bounds the events kept while the hub is unreachable (default
	// 100,000); past it the oldest are dropped, counted and logged.
	Spool int
	// Timeout bounds one request (default 15 s).
	Timeout time.Duration
	// MaxBackoff bounds the wait between attempts (default 30 s).
	MaxBackoff time.Duration
	Log        *slog.Logger
}

// PusherStatus is what the pusher did so far.
type PusherStatus struct {
	Sender    bool      `json:"sender"`    // this mgmtd is the cluster's sender now
	Connected bool      `json:"connected"` // the last request succeeded
	Acked     uint64    `json:"acked"`     // the hub's last sequence for this instance
	Spooled   int       `json:"spooled"`   // events waiting
	Sent      uint64    `json:"sent"`      // pushes that succeeded
	Lost      uint64    `json:"lost"`      // events dropped (spool full, event log overrun)
	LastError string    `json:"last_error,omitempty"`
	LastPush  time.Time `json:"last_push,omitzero"`
}

// Pusher sends a cluster's pictures and events to a hub. It is a run
// unit's Run (package mgmtd wires it when the configuration has hub.url).
type Pusher struct {
	opts   PusherOptions
	log    *slog.Logger
	client *http.Client
	wake   chan struct{}

	mu    sync.Mutex
	spool spool
	st    PusherStatus
	// outage counts what an outage cost, logged once when it ends.
	outageStart time.Time
	outageLost  uint64
}

// NewPusher checks the options and returns a pusher.
func NewPusher(o PusherOptions) (*Pusher, error) {
	if !strings.HasPrefix(o.URL, "https://") && !strings.HasPrefix(o.URL, "http://") {
		return nil, fmt.Errorf("hub url %q: want https://HOST:PORT", o.URL)
	}
	if o.Snapshots == nil || o.Events == nil {
		return nil, errors.New("hub pusher: no model")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.SnapshotInterval, 2*time.Second)
	def(&o.Heartbeat, 10*time.Second)
	def(&o.Timeout, 15*time.Second)
	def(&o.MaxBackoff, 30*time.Second)
	if o.Spool <= 0 {
		o.Spool = 100_000
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Self == nil {
		o.Self = func() string { return "" }
	}
	tr := &http.Transport{TLSClientConfig: o.TLS, ForceAttemptHTTP2: true, MaxIdleConns: 2, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: o.Timeout}
	return &Pusher{opts: o, log: o.Log, client: &http.Client{Transport: tr, Timeout: o.Timeout}, wake: make(chan struct{}, 1)}, nil
}

// Status returns the pusher's counters.
func (p *Pusher) Status() PusherStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Spooled = p.spool.len()
	return st
}

// Run pushes until ctx ends.
func (p *Pusher) Run(ctx context.Context) error {
	go p.follow(ctx)
	p.send(ctx)
	return nil
}

// follow moves the event log's events into the spool as they come.
func (p *Pusher) follow(ctx context.Context) {
	log := p.opts.Events
	seq := log.Oldest() - 1
	for {
		if err := log.Wait(ctx, seq); err != nil {
			return
		}
		evs, missed := log.Since(seq)
		p.mu.Lock()
		if missed && len(evs) > 0 && evs[0].Seq > seq+1 && seq > 0 {
			p.loseLocked(evs[0].Seq - seq - 1)
		}
		for _, e := range evs {
			seq = max(seq, e.Seq)
			if n := p.spool.len() - p.opts.Spool + 1; n > 0 {
				p.spool.drop(n)
				p.loseLocked(uint64(n))
			}
			p.spool.push(e)
		}
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *Pusher) loseLocked(n uint64) {
	if p.outageLost == 0 {
		p.log.Warn("hub spool full: dropping the oldest events", "limit", p.opts.Spool)
	}
	p.st.Lost += n
	p.outageLost += n
}

// send is the sender's loop: hello (a full picture) at each connection,
// then events and pictures as they come, a heartbeat when idle.
func (p *Pusher) send(ctx context.Context) {
	var (
		connected bool
		lastGen   uint64
		lastSnap  time.Time
		lastPush  time.Time
		backoff   = time.Second
	)
	tick := time.NewTicker(min(p.opts.SnapshotInterval, p.opts.Heartbeat) / 2)
	defer tick.Stop()
	for ctx.Err() == nil {
		snap := p.opts.Snapshots.Snapshot()
		sender := p.opts.All || snap.ClusterSender()
		p.mu.Lock()
		if sender != p.st.Sender {
			p.log.Info("hub: this mgmtd's role changed", "sender", sender)
			p.st.Sender = sender
		}
		if !sender {
			// Another node's mgmtd pushes; this one's events are its
			// view of the same changes.
			p.spool.drop(p.spool.len())
			connected = false
		}
		p.mu.Unlock()
		if sender && len(snap.Nodes) > 0 {
			now := time.Now()
			push := &Push{Cluster: snap.Cluster.Name, Instance: snap.View, URL: p.opts.Self(), Sent: now}
			if !connected || (snap.Generation != lastGen && now.Sub(lastSnap) >= p.opts.SnapshotInterval) {
				push.Snapshot = snap
			}
			p.mu.Lock()
			// The hello carries no events: its answer says where the hub
			// stands for this instance.
			acked := p.st.Acked
			for _, e := range p.spool.items() {
				if len(push.Events) == 1000 || !connected {
					break
				}
				if e.Seq > acked {
					push.Events = append(push.Events, e)
				}
			}
			push.Lost = p.st.Lost
			p.mu.Unlock()
			if push.Snapshot != nil || len(push.Events) > 0 || now.Sub(lastPush) >= p.opts.Heartbeat {
				reply, err := p.post(ctx, push)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					p.failed(err, connected)
					connected = false
					select {
					case <-ctx.Done():
					case <-time.After(backoff):
					}
					backoff = min(2*backoff, p.opts.MaxBackoff)
					continue
				}
				backoff = time.Second
				if !connected {
					p.recovered(reply)
				}
				connected, lastPush = true, now
				if push.Snapshot != nil {
					lastGen, lastSnap = push.Snapshot.Generation, now
				}
				p.mu.Lock()
				p.st.Acked, p.st.Connected, p.st.LastError, p.st.LastPush = reply.LastSeq, true, "", now
				p.st.Sent++
				i, waiting := 0, p.spool.items()
				for i < len(waiting) && waiting[i].Seq <= reply.LastSeq {
					i++
				}
				p.spool.drop(i)
				more := p.spool.len() > 0
				p.mu.Unlock()
				if more {
					continue
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-tick.C:
		}
	}
}

func (p *Pusher) failed(err error, wasConnected bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Connected, p.st.LastError = false, err.Error()
	if wasConnected || p.outageStart.IsZero() {
		p.outageStart, p.outageLost = time.Now(), 0
		p.log.Warn("hub unreachable; spooling events", "url", p.opts.URL, "err", err)
	}
}

func (p *Pusher) recovered(r PushReply) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.outageStart.IsZero() {
		p.log.Info("hub reachable again", "url", p.opts.URL, "dur", time.Since(p.outageStart), "lost", p.outageLost, "spooled", p.spool.len())
	} else {
		p.log.Info("hub connected", "url", p.opts.URL, "last_seq", r.LastSeq)
	}
	p.outageStart, p.outageLost = time.Time{}, 0
}

// post sends one push (gzip JSON) and reads the reply.
func (p *Pusher) post(ctx context.Context, push *Push) (PushReply, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(push); err != nil {
		return PushReply{}, fmt.Errorf("encode push: %w", err)
	}
	if err := zw.Close(); err != nil {
		return PushReply{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(p.opts.URL, "/")+PushPath, &buf)
	if err != nil {
		return PushReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := p.client.Do(req)
	if err != nil {
		return PushReply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return PushReply{}, fmt.Errorf("read hub reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return PushReply{}, fmt.Errorf("hub answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var r PushReply
	if err := json.Unmarshal(body, &r); err != nil {
		return PushReply{}, fmt.Errorf("hub reply: %w", err)
	}
	return r, nil
}

// spool is the events waiting for the hub, oldest first: appending and
// dropping from the front cost O(1) amortized, so a full spool that drops
// its oldest event for every new one does not copy itself each time.
type spool struct {
	buf  []model.Event
	head int
}

func (s *spool) len() int             { return len(s.buf) - s.head }
func (s *spool) items() []model.Event { return s.buf[s.head:] }
func (s *spool) push(e model.Event)   { s.buf = append(s.buf, e) }

// drop removes the n oldest events.
func (s *spool) drop(n int) {
	s.head += n
	if s.head >= len(s.buf) {
		clear(s.buf)
		s.buf, s.head = s.buf[:0], 0
		return
	}
	if s.head > 1024 && s.head > len(s.buf)/2 {
		m := copy(s.buf, s.buf[s.head:])
		clear(s.buf[m:]) // release what the events held
		s.buf, s.head = s.buf[:m], 0
	}
}
