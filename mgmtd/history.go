package mgmtd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"mgmtd/history"
	"mgmtd/history/boltstore"
	"mgmtd/history/pghistory"
	"mgmtd/internal/unit"
	"mgmtd/model"
	"mgmtd/rest"
)

// HistoryConfig configures the event history (docs/design.md, "Event
// history"). Without a DSN (its own or the audit log's) the history is the
// embedded store STATE_DIR/history.db.
type HistoryConfig struct {
	// Disabled keeps no history (events live in memory only).
	Disabled bool `json:"disabled,omitempty"`
	// DSN is the PostgreSQL database; default: audit.dsn. "local" keeps
	// the embedded store although the audit log is in PostgreSQL.
	DSN string `json:"dsn,omitempty"`
	// Migrate applies the history schema (default: audit.migrate).
	Migrate *bool `json:"migrate,omitempty"`
	// Retention deletes history older than this (default 720h, 30 days;
	// negative keeps everything). PostgreSQL drops whole days.
	Retention time.Duration `json:"retention,omitempty"`
	// Queue bounds the events waiting for the store (default 10000);
	// past it events are dropped from the history (never from the
	// stream), counted and logged.
	Queue int `json:"queue,omitempty"`
}

func (c HistoryConfig) validate() error {
	if c.Queue < 0 || c.Queue > 10_000_000 {
		return fmt.Errorf("config key history.queue: %d is outside 0..10000000", c.Queue)
	}
	if c.Retention > 0 && c.Retention < time.Hour {
		return fmt.Errorf("config key history.retention: %s is below 1h", c.Retention)
	}
	return nil
}

// defaultRetention is history.retention's default.
const defaultRetention = 30 * 24 * time.Hour

// openHistory opens the history store and its recorder, and returns the
// options that make the model's event log continue the stored sequence
// and hand every event to the recorder. An embedded store that cannot be
// opened fails the start; a PostgreSQL that does not answer does not (the
// recorder queues and retries), and the sequence then continues from a
// time-derived floor so that it still never goes back.
func (d *Daemon) openHistory() (model.EventLogOptions, error) {
	c := d.cfg.History
	if c.Disabled {
		if d.cfg.Hub.URL != "" {
			// A fleet hub keys events by (cluster, instance, sequence):
			// without a history to continue, the sequence must still
			// never go back across restarts.
			return model.EventLogOptions{FirstSeq: uint64(time.Now().UnixMicro())}, nil
		}
		return model.EventLogOptions{}, nil
	}
	log := d.log.With("component", "history")
	var st history.Store
	dsn := cmp.Or(c.DSN, d.cfg.Audit.DSN)
	if dsn != "" && dsn != "local" {
		migrate := d.cfg.Audit.Migrate
		if c.Migrate != nil {
			migrate = *c.Migrate
		}
		s, err := pghistory.Open(pghistory.Options{DSN: dsn, Migrate: migrate}, log)
		if err != nil {
			return model.EventLogOptions{}, err
		}
		st = s
	} else {
		s, err := boltstore.Open(filepath.Join(d.cfg.StateDir, boltstore.FileName))
		if err != nil {
			return model.EventLogOptions{}, err
		}
		st = s
	}
	retention := c.Retention
	switch {
	case retention == 0:
		retention = defaultRetention
	case retention < 0:
		retention = 0
	}
	d.history = history.NewRecorder(st, history.RecorderOptions{Instance: d.cfg.View, Queue: c.Queue, Retention: retention, Log: log})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	last, err := st.LastSeq(ctx, d.cfg.View)
	first := last + 1
	if err != nil {
		// Past any sequence an earlier life can have reached: a
		// microsecond clock (below 2^53, so JavaScript keeps it exact).
		first = max(first, uint64(time.Now().UnixMicro()))
		log.Warn("history store unreachable at start; the event sequence continues from the clock", "first_seq", first, "err", err)
	}
	return model.EventLogOptions{FirstSeq: first, Tap: d.history.Tap}, nil
}

// historyUnit writes the history; it is the first unit, so it stops last,
// after everything that publishes events.
func (d *Daemon) historyUnit() unit.Unit {
	return unit.Unit{Name: "history", Run: d.history.Run}
}

// closeHistory writes what is still queued (5 s at most) and closes the
// store.
func (d *Daemon) closeHistory() {
	if d.history == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.history.Flush(ctx)
	if err := d.history.Store().Close(); err != nil {
		d.log.Error("close history", "component", "history", "err", err)
	}
	d.history = nil
}

// historyReader adapts the recorder's store to the REST routes.
type historyReader struct {
	rec      *history.Recorder
	instance string
}

func (h historyReader) History(ctx context.Context, q rest.HistoryQuery) (rest.HistoryPage, error) {
	hq := history.Query{Cluster: q.Cluster, Instance: q.Instance, Since: q.Since, Until: q.Until, Object: q.Object,
		Kinds: q.Kinds, Types: q.Types, Severities: q.Severities, AfterSeq: q.AfterSeq, BySeq: q.Resume, Cursor: q.Cursor, Limit: q.Limit, Desc: q.Desc}
	if (q.AfterSeq > 0 || q.Resume) && hq.Instance == "" {
		hq.Instance = h.instance
	}
	p, err := h.rec.Store().Query(ctx, hq)
	if errors.Is(err, history.ErrInvalid) {
		return rest.HistoryPage{}, rest.BadRequest(err.Error())
	}
	if err != nil {
		return rest.HistoryPage{}, err
	}
	out := rest.HistoryPage{Records: make([]rest.HistoryRecord, len(p.Records)), Next: p.Next}
	for i, r := range p.Records {
		out.Records[i] = rest.HistoryRecord{Instance: r.Instance, Event: r.Event}
	}
	s := h.rec.Stats()
	out.Recorder = &rest.HistoryStats{Queued: s.Queued, Written: s.Written, Dropped: s.Dropped, Failing: s.Failing, Error: s.Error, Since: s.Since}
	return out, nil
}
