// Package unit runs the parts of a daemon - listeners, sources, background
// loops - as units with one life: every unit is prepared (listeners bound,
// files opened) in the order it was added before the daemon announces that
// it is ready; then all run; the first unit that fails stops the whole
// group, and the group stops its units in the reverse order of their
// start. A unit that is degraded but running (a source gone stale, an
// AgentX master that is away) keeps running and reports that as data; only
// a unit that cannot do its job at all returns an error.
//
// This is the shape of Consul's listener handling (each server a small
// unit in one group that stops the agent rather than run degraded) and of
// etcd's documented shutdown order. unit imports only the standard
// library.
package unit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Unit is one part of a daemon. Name is required; the functions are
// optional.
type Unit struct {
	// Name names the unit in errors and logs ("rest https 127.0.0.1:8443",
	// "source pacemaker").
	Name string
	// Prepare acquires what the unit needs before the daemon is ready:
	// it binds listeners. An error aborts the start.
	Prepare func(ctx context.Context) error
	// Run does the unit's work until ctx is cancelled, and then returns
	// nil. Returning before that - with or without an error - is a
	// failure that stops the group.
	Run func(ctx context.Context) error
	// Stop, when set, stops the unit gracefully (an HTTP server's
	// Shutdown) within ctx's deadline and releases what Prepare acquired,
	// also when Run never ran (a later unit failed to prepare); Run must
	// return soon after. Run's context is cancelled after Stop returns;
	// without Stop, that cancellation is the stop.
	Stop func(ctx context.Context) error
}

// ErrExited is wrapped when a unit's Run returned while the group was not
// stopping.
var ErrExited = errors.New("stopped unexpectedly")

// Group runs units. Add them, then call Run once.
type Group struct {
	units []Unit
	// StopTimeout bounds the graceful stop of one unit; 0 means 10 s.
	StopTimeout time.Duration
	// Log gets a line per failed unit; nil discards.
	Log *slog.Logger
}

// Add appends units; they are prepared and started in this order and
// stopped in the reverse order.
func (g *Group) Add(u ...Unit) {
	for _, x := range u {
		if x.Name == "" {
			panic("unit: a unit needs a name") // a programming error in the wiring
		}
	}
	g.units = append(g.units, u...)
}

// Names lists the units in start order.
func (g *Group) Names() []string {
	out := make([]string, len(g.units))
	for i, u := range g.units {
		out[i] = u.Name
	}
	return out
}

// Error is a unit that failed to prepare or to run.
type Error struct {
	Unit string
	Err  error
}

func (e *Error) Error() string { return e.Unit + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

type running struct {
	u      Unit
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Run prepares every unit in order, calls ready (when not nil) once all
// are prepared, runs them, and waits until ctx is done or a unit fails.
// Then it stops the units in the reverse order of their start: for each,
// Stop (bounded by StopTimeout) or the cancellation of its context, and
// waits for its Run to return (bounded by StopTimeout too). It returns nil
// after a stop asked for through ctx, or the first failure as an *Error
// naming the unit. A failed Prepare stops the units prepared before it.
func (g *Group) Run(ctx context.Context, ready func()) error {
	log := g.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := g.StopTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var started []*running
	stopAll := func() {
		for i := len(started) - 1; i >= 0; i-- {
			r := started[i]
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			if r.u.Stop != nil {
				if err := r.u.Stop(sctx); err != nil {
					log.Warn("unit stop", "unit", r.u.Name, "err", err)
				}
			}
			r.cancel()
			select {
			case <-r.done:
			case <-sctx.Done():
				log.Error("unit did not stop in time", "unit", r.u.Name, "dur", timeout)
			}
			cancel()
		}
	}
	for i, u := range g.units {
		if u.Prepare == nil {
			continue
		}
		if err := u.Prepare(ctx); err != nil {
			log.Error("unit failed to start", "unit", u.Name, "err", err)
			release(ctx, g.units[:i], timeout, log)
			return &Error{Unit: u.Name, Err: err}
		}
	}
	if ready != nil {
		ready()
	}
	failed := make(chan *running, len(g.units))
	stopping := make(chan struct{})
	for _, u := range g.units {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{u: u, cancel: cancel, done: make(chan struct{})}
		started = append(started, r)
		go func() {
			defer close(r.done)
			if u.Run == nil {
				<-rctx.Done()
				return
			}
			err := u.Run(rctx)
			select {
			case <-stopping:
				if err != nil {
					log.Warn("unit stopped with an error", "unit", u.Name, "err", err)
				}
				return
			default:
			}
			if rctx.Err() != nil {
				return
			}
			if err == nil {
				err = ErrExited
			}
			r.err = err
			failed <- r
		}()
	}
	var ferr error
	select {
	case <-ctx.Done():
	case r := <-failed:
		ferr = &Error{Unit: r.u.Name, Err: r.err}
		log.Error("unit failed; stopping", "unit", r.u.Name, "err", r.err)
	}
	close(stopping)
	stopAll()
	return ferr
}

// release undoes the Prepare of units that never ran, in reverse order,
// through their Stop.
func release(ctx context.Context, units []Unit, timeout time.Duration, log *slog.Logger) {
	for i := len(units) - 1; i >= 0; i-- {
		u := units[i]
		if u.Stop == nil || u.Prepare == nil {
			continue
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		if err := u.Stop(sctx); err != nil {
			log.Warn("unit stop", "unit", u.Name, "err", err)
		}
		cancel()
	}
}

// String describes the group for debugging.
func (g *Group) String() string { return fmt.Sprint(g.Names()) }
