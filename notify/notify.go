// Package notify routes mgmtd's model events to people and systems: a
// webhook (a JSON POST signed with HMAC-SHA256), e-mail over SMTP
// (STARTTLS, AUTH PLAIN) and syslog (RFC 5424 over UDP, TCP or a unix
// socket). Each route has a filter (event kind, severity, object,
// cluster), suppresses duplicates within a window, and owns a bounded
// queue and one worker: it retries with exponential backoff, keeps what it
// gave up on as dead letters, and is shown degraded while it keeps
// failing. A route that fails or is slow never holds up another route,
// the event log or anything else: when its queue is full, its new
// notifications are dropped and counted.
//
// The Router reads the daemon's event log the way the SNMP subagent does:
// it starts from the events after its start (the picture at the start is
// the baseline; events marked Baseline are skipped), and with mgmtd on
// every node only the mgmtd whose view is the DC sends the cluster-wide
// notifications (Config.Sender).
//
// notify imports only model; the wiring (package mgmtd) builds the Router
// from the configuration file, runs it as a unit and hands its status to
// REST and the metrics.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"mgmtd/model"
)

// The route kinds.
const (
	KindWebhook = "webhook"
	KindSMTP    = "smtp"
	KindSyslog  = "syslog"
)

// Message is one notification: an event and where it happened.
type Message struct {
	// ID is unique per mgmtd instance and event: VIEW-SEQ.
	ID      string
	Cluster string
	// View is the node whose mgmtd sends it.
	View  string
	Event model.Event
}

// Sender delivers messages to one destination. Send must return within
// ctx; an error means the message was not delivered (it is retried).
type Sender interface {
	Send(ctx context.Context, m Message) error
	Close() error
}

// Events is the event log the router reads; *model.EventLog implements
// it.
type Events interface {
	Last() uint64
	Wait(ctx context.Context, seq uint64) error
	Since(seq uint64) ([]model.Event, bool)
}

// Snapshotter gives the current snapshot (for the DC and the cluster
// name); *model.Store implements it.
type Snapshotter interface {
	Snapshot() *model.Snapshot
}

// Router sends events to the routes.
type Router struct {
	events Events
	snaps  Snapshotter
	log    *slog.Logger
	// senders overrides senders by route name (tests).
	senders map[string]Sender

	// mu guards cfg, routes and base; a route's own state has its lock.
	cfg    Config
	routes []*route
	// base is Run's context, nil before Run: workers of routes added by
	// Reload run under it.
	base context.Context
	// workers counts the routes' workers.
	workers sync.WaitGroup
	// lost counts events the event log overran before the router read
	// them.
	lost uint64
	// start is the sequence of the newest event when the router was
	// built.
	start uint64
	mu    sync.Mutex
	// now is the clock (tests).
	now func() time.Time
}

// Options are the router's dependencies.
type Options struct {
	Events Events
	Snaps  Snapshotter
	Log    *slog.Logger
	// Senders overrides the sender built for a route (by name): tests.
	Senders map[string]Sender
	// Now is the clock of de-duplication and status times; nil means
	// time.Now.
	Now func() time.Time
}

// New builds the router and its routes' senders. It does not connect to
// anything: a destination that is down is a degraded route, not a failed
// start.
func New(cfg Config, o Options) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Router{cfg: cfg, events: o.Events, snaps: o.Snaps, log: o.Log, now: o.Now, senders: o.Senders}
	if r.events != nil {
		// The picture at New is the baseline: the router sends what
		// happens after it.
		r.start = r.events.Last()
	}
	routes, _, err := r.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	r.routes = routes
	return r, nil
}

// build makes the routes of cfg, keeping those of old whose
// configuration did not change (with their state and queue); fresh are
// the routes built anew. On an error nothing is kept open.
func (r *Router) build(cfg Config, old []*route) (routes, fresh []*route, err error) {
	byName := map[string]*route{}
	for _, rt := range old {
		byName[rt.cfg.Name] = rt
	}
	for _, rc := range cfg.Routes {
		fp := fingerprint(rc)
		if rt := byName[rc.Name]; rt != nil && rt.fp == fp {
			routes = append(routes, rt)
			continue
		}
		rc.defaults()
		s := r.senders[rc.Name]
		if s == nil {
			if s, err = newSender(rc); err != nil {
				for _, x := range fresh {
					_ = x.sender.Close()
				}
				return nil, nil, fmt.Errorf("notify.routes %s: %w", rc.Name, err)
			}
		}
		rt := newRoute(rc, s, r.log.With("route", rc.Name), r.clock)
		rt.fp = fp
		routes = append(routes, rt)
		fresh = append(fresh, rt)
	}
	return routes, fresh, nil
}

// fingerprint identifies a route's whole configuration, secrets
// included.
func fingerprint(rc RouteConfig) string {
	b, _ := json.Marshal(rc)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// startRoute runs rt's worker under the router's context; the caller holds mu
// and Run has begun.
func (r *Router) startRoute(rt *route) {
	ctx, cancel := context.WithCancel(r.base)
	rt.cancel, rt.done = cancel, make(chan struct{})
	r.workers.Add(1)
	go func() {
		defer r.workers.Done()
		defer close(rt.done)
		rt.run(ctx)
	}()
}

// Reload replaces the routes with those of cfg (the configuration file
// read again): a route whose configuration is unchanged keeps its state,
// queue and dead letters; a changed route starts afresh and takes over
// what waited in the old one's queue (what the old one was retrying
// becomes its dead letter); a removed route stops. It returns the names
// of the routes added, changed or removed. An invalid configuration, or a
// sender that cannot be built, changes nothing.
func (r *Router) Reload(cfg Config) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	routes, fresh, err := r.build(cfg, r.routes)
	if err != nil {
		return nil, err
	}
	kept := map[*route]bool{}
	next := map[string]*route{}
	for _, rt := range routes {
		kept[rt] = true
		next[rt.cfg.Name] = rt
	}
	var changed []string
	for _, rt := range fresh {
		changed = append(changed, rt.cfg.Name)
	}
	for _, old := range r.routes {
		if kept[old] {
			continue
		}
		successor := next[old.cfg.Name]
		if successor == nil {
			changed = append(changed, old.cfg.Name)
		}
		r.retire(old, successor)
	}
	r.cfg, r.routes = cfg, routes
	if r.base != nil {
		for _, rt := range fresh {
			r.startRoute(rt)
		}
	}
	return changed, nil
}

// retire stops old's worker, hands its queue to successor (if any) and
// closes its sender.
func (r *Router) retire(old, successor *route) {
	if old.cancel == nil { // Run has not started it
		_ = old.sender.Close()
		return
	}
	old.cancel()
	go func() {
		<-old.done
		for {
			select {
			case m := <-old.queue:
				if successor != nil {
					successor.offer(m)
				}
				continue
			default:
			}
			break
		}
		_ = old.sender.Close()
	}()
}

func (r *Router) clock() time.Time { return r.now() }

func newSender(rc RouteConfig) (Sender, error) {
	switch rc.Kind {
	case KindWebhook:
		return NewWebhook(*rc.Webhook)
	case KindSMTP:
		return NewSMTP(*rc.SMTP)
	case KindSyslog:
		return NewSyslog(*rc.Syslog)
	}
	return nil, fmt.Errorf("unknown kind %q", rc.Kind)
}

// Run reads the events published after New until ctx ends and hands
// each to the routes whose filter selects it. Each route's worker runs
// until ctx ends (or Reload retires it); Run returns when they all have,
// and closes the senders.
func (r *Router) Run(ctx context.Context) error {
	r.mu.Lock()
	r.base = ctx
	for _, rt := range r.routes {
		r.startRoute(rt)
	}
	r.mu.Unlock()
	defer func() {
		r.workers.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, rt := range r.routes {
			_ = rt.sender.Close()
		}
	}()
	if r.events == nil {
		<-ctx.Done()
		return nil
	}
	seq := r.start
	var dc string
	if r.snaps != nil {
		dc = r.snaps.Snapshot().Cluster.DC
	}
	for {
		if err := r.events.Wait(ctx, seq); err != nil {
			return nil
		}
		evs, missed := r.events.Since(seq)
		var snap *model.Snapshot
		if r.snaps != nil {
			snap = r.snaps.Snapshot()
		}
		r.mu.Lock()
		routes, sender := r.routes, r.cfg.Sender
		r.mu.Unlock()
		if missed {
			lost := uint64(1)
			if len(evs) > 0 && evs[0].Seq > seq+1 {
				lost = evs[0].Seq - seq - 1
			}
			r.mu.Lock()
			r.lost += lost
			r.mu.Unlock()
			r.log.Warn("notify: events lost before they became notifications: the event log overran", "events", lost)
			if snap != nil {
				dc = snap.Cluster.DC
			}
		}
		for _, e := range evs {
			seq = max(seq, e.Seq)
			if e.Type == model.EventDCChanged {
				dc = e.To
			}
			if e.Baseline || e.Type == model.EventTask {
				continue
			}
			if sender != "all" && !nodeLocal(e) && snap != nil && !clusterSender(snap, dc) {
				continue
			}
			m := Message{ID: fmt.Sprintf("%s-%d", viewOf(snap), e.Seq), Cluster: e.Object.Cluster, View: viewOf(snap), Event: e}
			for _, rt := range routes {
				rt.offer(m)
			}
		}
	}
}

func viewOf(s *model.Snapshot) string {
	if s == nil {
		return ""
	}
	return s.View
}

// nodeLocal reports whether every mgmtd sends e: it is about this mgmtd's
// own data sources.
func nodeLocal(e model.Event) bool {
	return e.Type == model.EventSourceStale || e.Type == model.EventSourceRecovered
}

// clusterSender reports whether this mgmtd sends the cluster-wide
// notifications when dc is the DC: the one whose view is the DC; while
// there is no DC, the first online member by name; a view that is not a
// node of the cluster sends them all. (The rule of the SNMP subagent.)
func clusterSender(snap *model.Snapshot, dc string) bool {
	view := snap.View
	if _, ok := snap.Node(view); view == "" || !ok {
		return true
	}
	if dc != "" {
		return dc == view
	}
	for _, n := range snap.Nodes {
		if n.Type == model.NodeMember && n.Online {
			return n.Name == view
		}
	}
	return true
}

// Lost is the number of events the event log overran before the router
// read them.
func (r *Router) Lost() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

// Status returns every route's status, in configuration order.
func (r *Router) Status() []RouteStatus {
	r.mu.Lock()
	routes := r.routes
	r.mu.Unlock()
	out := make([]RouteStatus, len(routes))
	for i, rt := range routes {
		out[i] = rt.status()
	}
	return out
}

// DeadLetters returns the dead letters of the route named (all routes for
// ""), oldest first; false when there is no such route.
func (r *Router) DeadLetters(name string) ([]DeadLetter, bool) {
	r.mu.Lock()
	routes := r.routes
	r.mu.Unlock()
	var out []DeadLetter
	found := name == ""
	for _, rt := range routes {
		if name != "" && rt.cfg.Name != name {
			continue
		}
		found = true
		out = append(out, rt.deadLetters()...)
	}
	return out, found
}

// Routes returns the routes' configuration without secrets.
func (r *Router) Routes() []RouteConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RouteConfig, len(r.routes))
	for i, rt := range r.routes {
		out[i] = rt.cfg.Redacted()
	}
	return out
}

// ErrQueueFull is the reason of a dropped notification.
var ErrQueueFull = errors.New("route queue full")
