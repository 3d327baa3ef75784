package mgmtd

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"mgmtd/audit"
	"mgmtd/audit/pgstore"
	"mgmtd/auth"
)

// AuditConfig configures the audit log. Without a DSN the local journal in
// the state directory is the system of record; with one, PostgreSQL is and
// the journal is the spool used while the database is unreachable.
type AuditConfig struct {
	DSN string `json:"dsn,omitempty"`
	// Migrate applies the schema (the DSN must then be a superuser; the
	// daemon still writes as the writer role).
	Migrate bool `json:"migrate,omitempty"`
	// AnchorFile receives the signed anchors somewhere the database
	// administrator cannot rewrite; default state_dir/audit-anchors.jsonl.
	AnchorFile string `json:"anchor_file,omitempty"`
	// SpoolLimit bounds the spool (records); 0 means the default, 100000.
	SpoolLimit int `json:"spool_limit,omitempty"`
	// SpoolNoiseLimit is the part of the spool the summaries of refused
	// requests may use (records); 0 means the default, a fifth of
	// SpoolLimit. The rest is reserved for actions and authentication
	// events.
	SpoolNoiseLimit int `json:"spool_noise_limit,omitempty"`
}

// validate checks the audit keys, naming the offending one.
func (c AuditConfig) validate() error {
	if c.SpoolLimit < 0 {
		return fmt.Errorf("config key audit.spool_limit: negative")
	}
	if c.SpoolNoiseLimit < 0 {
		return fmt.Errorf("config key audit.spool_noise_limit: negative")
	}
	if limit := cmp.Or(c.SpoolLimit, defaultSpoolLimit); c.SpoolNoiseLimit >= limit {
		return fmt.Errorf("config key audit.spool_noise_limit: %d is not below the spool limit %d", c.SpoolNoiseLimit, limit)
	}
	return nil
}

// defaultSpoolLimit is audit.Options' default SpoolLimit.
const defaultSpoolLimit = 100_000

// openAudit opens the audit log of a daemon.
func (d *Daemon) openAudit(ctx context.Context) error {
	c := d.cfg.Audit
	l, err := pgstore.OpenLog(ctx, pgstore.Options{DSN: c.DSN, Migrate: c.Migrate},
		audit.Options{Instance: d.cfg.View, StateDir: d.cfg.StateDir, AnchorFile: c.AnchorFile, SpoolLimit: c.SpoolLimit,
			SpoolNoiseLimit: c.SpoolNoiseLimit},
		d.log.With("component", "audit"))
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	d.Audit = l
	d.authRecorder = newAuthRecorder(l, d.log.With("component", "audit"))
	return nil
}

// system records a daemon event (start, stop, reload). A start the audit
// log cannot take yet - the database is down and the head unknown after a
// crash - is not lost: it is retried, with its time, every RetryInterval
// until the log takes it or closes.
func (d *Daemon) system(action, reason string) {
	l := d.Audit
	if l == nil {
		return
	}
	ev := audit.Event{Actor: "mgmtd", AuthMethod: "none", Action: action, Channel: audit.ChannelSystem, Time: time.Now(),
		ObjectType: "daemon", ObjectID: d.cfg.View, Outcome: audit.OutcomeSuccess, Reason: reason}
	record := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := l.Record(ctx, ev)
		return err
	}
	err := record()
	if err == nil {
		return
	}
	if action != audit.ActionDaemonStart || !errors.Is(err, audit.ErrUnavailable) || errors.Is(err, audit.ErrClosed) {
		d.log.Error("audit record failed", "action", action, "err", err)
		return
	}
	d.log.Warn("audit log cannot record the start yet; retrying until it can", "err", err)
	go func() {
		tick := time.NewTicker(startRetry)
		defer tick.Stop()
		for range tick.C {
			err := record()
			switch {
			case err == nil:
				d.log.Info("audit log recorded the start", "action", action)
				return
			case errors.Is(err, audit.ErrClosed):
				d.log.Error("audit log closed before it could record the start", "action", action)
				return
			}
		}
	}()
}

// startRetry is how often a start the audit log could not take is retried.
const startRetry = time.Second

// authRecorder hands authentication and authorization outcomes to the
// audit log. Failures with a credential, denials, logins, logouts and
// token changes are recorded every time (auth bounds the failures per
// user, source and window). Successful authentications of stateless
// credentials (tokens, Basic, certificates) would make the audit log a
// request log; they are recorded once per actor, method and source per
// window, asynchronously, so reads never wait for the log. The summaries
// of refused requests (auth.EventAuthSummary: no credentials, refused by
// the limiter) are recorded asynchronously too, as authn.summary with the
// counts in the record's after state.
type authRecorder struct {
	log    *audit.Log
	slog   *slog.Logger
	window time.Duration
	queue  chan queued
	done   chan struct{} // closed when drain has recorded the queue

	mu     sync.Mutex
	seen   map[string]time.Time
	closed bool
}

const successWindow = 10 * time.Minute

func newAuthRecorder(l *audit.Log, log *slog.Logger) *authRecorder {
	r := &authRecorder{log: l, slog: log, window: successWindow, queue: make(chan queued, 1024), done: make(chan struct{}),
		seen: map[string]time.Time{}}
	go r.drain()
	return r
}

// queued is an event waiting to be recorded; noise uses only the
// spool's share for noise (audit.Log.RecordNoise).
type queued struct {
	e     audit.Event
	noise bool
}

func (r *authRecorder) drain() {
	defer close(r.done)
	for q := range r.queue {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		record := r.log.Record
		if q.noise {
			record = r.log.RecordNoise
		}
		if _, err := record(ctx, q.e); err != nil && !errors.Is(err, audit.ErrClosed) {
			r.slog.Error("audit record failed", "action", q.e.Action, "err", err)
		}
		cancel()
	}
}

// close records what is queued and stops; the audit log is closed after.
func (r *authRecorder) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	<-r.done
}

// RecordAuth implements auth.Recorder.
func (r *authRecorder) RecordAuth(ctx context.Context, ev auth.AuthEvent) {
	e := authEvent(ev)
	if ev.Kind == auth.EventAuthSummary {
		r.enqueue(e, true)
		return
	}
	if ev.Kind == auth.EventAuthSuccess {
		key := ev.ActorID + "\x00" + string(ev.Method) + "\x00" + hostOf(ev.Source)
		r.mu.Lock()
		last, ok := r.seen[key]
		fresh := !ok || ev.Time.Sub(last) >= r.window
		if fresh {
			r.seen[key] = ev.Time
			if len(r.seen) > 100000 {
				r.seen = map[string]time.Time{}
			}
		}
		r.mu.Unlock()
		if fresh {
			r.enqueue(e, false)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := r.log.Record(ctx, e); err != nil {
		r.slog.Error("audit record failed", "action", e.Action, "err", err)
	}
}

// enqueue hands e to the goroutine that records asynchronously.
func (r *authRecorder) enqueue(e audit.Event, noise bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case r.queue <- queued{e, noise}:
	default:
		r.slog.Warn("audit queue full, event not recorded", "action", e.Action, "actor", e.Actor, "source", e.Source)
	}
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return addr[:i]
	}
	return addr
}

func authEvent(ev auth.AuthEvent) audit.Event {
	e := audit.Event{Actor: ev.ActorID, AuthMethod: string(ev.Method), Action: string(ev.Kind), Time: ev.Time,
		Channel: audit.ChannelREST, Source: ev.Source, Reason: ev.Reason, Outcome: audit.OutcomeSuccess}
	if e.Actor == "" {
		// A refused caller has no identity; the claimed name is kept
		// only as a hash so that a password typed as a user name never
		// lands in the log.
		if ev.ActorName != "" {
			e.Actor = auth.ClaimedFingerprint(ev.ActorName)
		} else {
			e.Actor = "anonymous"
		}
	}
	if e.AuthMethod == "" {
		e.AuthMethod = "none"
	}
	if strings.Contains(ev.Request, " /cimom") {
		e.Channel = audit.ChannelCIM
	}
	if ev.Source == "unix" {
		e.Channel = audit.ChannelCLI
	}
	switch ev.Kind {
	case auth.EventAuthFailure:
		e.Outcome = audit.OutcomeFailure
	case auth.EventAuthSummary:
		e.Outcome, e.ObjectType, e.ObjectID = audit.OutcomeFailure, "source", ev.Source
		e.After, _ = json.Marshal(ev.Summary)
		return e
	case auth.EventDenied:
		e.Outcome = audit.OutcomeDenied
	}
	e.ObjectType, e.ObjectID = "request", ev.Request
	if ev.Object != "" {
		kind, id, ok := strings.Cut(ev.Object, ":")
		if ok {
			e.ObjectType, e.ObjectID = kind, id
		} else {
			e.ObjectType, e.ObjectID = "object", ev.Object
		}
	}
	if ev.Action != "" {
		e.Reason = strings.TrimSpace(string(ev.Action) + ": " + e.Reason)
	}
	return e
}
