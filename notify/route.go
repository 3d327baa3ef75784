package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"mgmtd/model"
)

// RouteStatus is what REST and the metrics show of a route.
type RouteStatus struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Degraded is set while DegradedAfter attempts in a row have failed;
	// one delivery clears it.
	Degraded bool `json:"degraded"`
	// ConsecutiveFailures counts the failed attempts since the last
	// delivery.
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorTime       time.Time `json:"last_error_time,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	Sent                uint64    `json:"sent"`
	FailedAttempts      uint64    `json:"failed_attempts"`
	Retries             uint64    `json:"retries"`
	Dropped             uint64    `json:"dropped"`
	Deduplicated        uint64    `json:"deduplicated"`
	DeadLettered        uint64    `json:"dead_lettered"`
	Queued              int       `json:"queued"`
	QueueSize           int       `json:"queue_size"`
	DeadLetters         int       `json:"dead_letters"`
}

// DeadLetter is a notification a route gave up on.
type DeadLetter struct {
	Route    string      `json:"route"`
	ID       string      `json:"id"`
	Event    model.Event `json:"event"`
	Attempts int         `json:"attempts"`
	Error    string      `json:"error"`
	Time     time.Time   `json:"time"`
}

type route struct {
	cfg    RouteConfig
	fp     string // fingerprint of the configuration as given
	sender Sender
	// cancel stops the worker, done is closed when it has (set by
	// Router.start).
	cancel context.CancelFunc
	done   chan struct{}
	log    *slog.Logger
	now    func() time.Time
	queue  chan Message

	mu   sync.Mutex
	st   RouteStatus
	seen map[string]time.Time // dedup key -> when sent
	dead []DeadLetter
}

func newRoute(cfg RouteConfig, s Sender, log *slog.Logger, now func() time.Time) *route {
	rt := &route{cfg: cfg, sender: s, log: log, now: now, queue: make(chan Message, cfg.QueueSize), seen: map[string]time.Time{}}
	rt.st = RouteStatus{Name: cfg.Name, Kind: cfg.Kind, Target: target(cfg), QueueSize: cfg.QueueSize}
	return rt
}

// target names the destination without secrets.
func target(c RouteConfig) string {
	switch {
	case c.Webhook != nil:
		return c.Redacted().Webhook.URL
	case c.SMTP != nil:
		return "smtp://" + c.SMTP.Addr
	case c.Syslog != nil:
		return c.Syslog.Network + "://" + c.Syslog.Addr
	}
	return ""
}

// dedupKey: the same change of the same object. A failure's occurrence
// (call id, time) is part of its message, so a new failure of the same
// operation is not a duplicate.
func dedupKey(e model.Event) string {
	return string(e.Type) + "\x00" + e.Object.String() + "\x00" + e.Node + "\x00" + e.To + "\x00" + e.Message
}

// offer queues m if the filter selects it and it is not a duplicate;
// it never blocks.
func (rt *route) offer(m Message) {
	if !rt.cfg.Filter.Match(m.Event) {
		return
	}
	now := rt.now()
	rt.mu.Lock()
	if rt.cfg.DedupWindow > 0 {
		k := dedupKey(m.Event)
		if t, ok := rt.seen[k]; ok && now.Sub(t) < rt.cfg.DedupWindow {
			rt.st.Deduplicated++
			rt.mu.Unlock()
			return
		}
		rt.seen[k] = now
		if len(rt.seen) > 4*rt.cfg.QueueSize+1024 {
			for k, t := range rt.seen {
				if now.Sub(t) >= rt.cfg.DedupWindow {
					delete(rt.seen, k)
				}
			}
		}
	}
	rt.mu.Unlock()
	select {
	case rt.queue <- m:
	default:
		rt.mu.Lock()
		rt.st.Dropped++
		rt.mu.Unlock()
		rt.log.Warn("notify: route queue full; notification dropped", "event", m.Event.Type, "object", m.Event.Object.Name)
	}
}

func (rt *route) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-rt.queue:
			rt.deliver(ctx, m)
		}
	}
}

// deliver tries m up to Attempts times with exponential backoff, and
// makes it a dead letter when every attempt failed (or the daemon stops
// while it waits to retry).
func (rt *route) deliver(ctx context.Context, m Message) {
	wait := rt.cfg.RetryInterval
	var err error
	attempts := 0
	for attempts < rt.cfg.Attempts {
		if attempts > 0 {
			rt.mu.Lock()
			rt.st.Retries++
			rt.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				rt.bury(m, attempts, err)
				return
			case <-t.C:
			}
			wait = min(2*wait, rt.cfg.MaxRetryInterval)
		}
		attempts++
		actx, cancel := context.WithTimeout(ctx, rt.cfg.Timeout)
		err = rt.sender.Send(actx, m)
		cancel()
		now := rt.now()
		rt.mu.Lock()
		if err == nil {
			rt.st.Sent++
			rt.st.LastSuccess = now
			if rt.st.Degraded {
				rt.log.Info("notify: route delivers again")
			}
			rt.st.Degraded, rt.st.ConsecutiveFailures = false, 0
			rt.mu.Unlock()
			return
		}
		rt.st.FailedAttempts++
		rt.st.ConsecutiveFailures++
		rt.st.LastError, rt.st.LastErrorTime = err.Error(), now
		if !rt.st.Degraded && rt.st.ConsecutiveFailures >= rt.cfg.DegradedAfter {
			rt.st.Degraded = true
			rt.log.Warn("notify: route degraded: it keeps failing", "err", err, "attempts", rt.st.ConsecutiveFailures)
		}
		rt.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
	}
	rt.bury(m, attempts, err)
}

func (rt *route) bury(m Message, attempts int, err error) {
	msg := "daemon stopping"
	if err != nil {
		msg = err.Error()
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.st.DeadLettered++
	if rt.cfg.DeadLetters <= 0 {
		return
	}
	if len(rt.dead) >= rt.cfg.DeadLetters {
		rt.dead = append(rt.dead[:0], rt.dead[1:]...)
	}
	rt.dead = append(rt.dead, DeadLetter{Route: rt.cfg.Name, ID: m.ID, Event: m.Event, Attempts: attempts, Error: msg, Time: rt.now()})
	rt.log.Warn("notify: notification dead-lettered", "event", m.Event.Type, "object", m.Event.Object.Name, "attempts", attempts, "err", msg)
}

func (rt *route) status() RouteStatus {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	st := rt.st
	st.Queued = len(rt.queue)
	st.DeadLetters = len(rt.dead)
	return st
}

func (rt *route) deadLetters() []DeadLetter {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]DeadLetter(nil), rt.dead...)
}
