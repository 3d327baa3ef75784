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
	cfg    Config
	events Events
	snaps  Snapshotter
	log    *slog.Logger
	routes []*route
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
	r := &Router{cfg: cfg, events: o.Events, snaps: o.Snaps, log: o.Log, now: time.Now}
	if r.events != nil {
		// The picture at New is the baseline: the router sends what
		// happens after it.
		r.start = r.events.Last()
	}
	for _, rc := range cfg.Routes {
		rc.defaults()
		s := o.Senders[rc.Name]
		if s == nil {
			var err error
			if s, err = newSender(rc); err != nil {
				for _, x := range r.routes {
					_ = x.sender.Close()
				}
				return nil, fmt.Errorf("notify.routes %s: %w", rc.Name, err)
			}
		}
		r.routes = append(r.routes, newRoute(rc, s, o.Log.With("route", rc.Name), r.clock))
	}
	return r, nil
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

// Run reads the events published after New until ctx ends and hands each to the routes whose
// filter selects it. Each route's worker runs until ctx ends; Run returns
// when they all have, and closes the senders.
func (r *Router) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, rt := range r.routes {
		wg.Add(1)
		go func() { defer wg.Done(); rt.run(ctx) }()
	}
	defer func() {
		wg.Wait()
		for _, rt := range r.routes {
			_ = rt.sender.Close()
		}
	}()
	if r.events == nil || len(r.routes) == 0 {
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
			if r.cfg.Sender != "all" && !nodeLocal(e) && snap != nil && !clusterSender(snap, dc) {
				continue
			}
			m := Message{ID: fmt.Sprintf("%s-%d", viewOf(snap), e.Seq), Cluster: e.Object.Cluster, View: viewOf(snap), Event: e}
			for _, rt := range r.routes {
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
	out := make([]RouteStatus, len(r.routes))
	for i, rt := range r.routes {
		out[i] = rt.status()
	}
	return out
}

// DeadLetters returns the dead letters of the route named (all routes for
// ""), oldest first; false when there is no such route.
func (r *Router) DeadLetters(name string) ([]DeadLetter, bool) {
	var out []DeadLetter
	found := name == ""
	for _, rt := range r.routes {
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
	out := make([]RouteConfig, len(r.routes))
	for i, rt := range r.routes {
		out[i] = rt.cfg.Redacted()
	}
	return out
}

// ErrQueueFull is the reason of a dropped notification.
var ErrQueueFull = errors.New("route queue full")
