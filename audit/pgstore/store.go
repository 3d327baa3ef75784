package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"mgmtd/audit"
)

// Options configures [Open].
type Options struct {
	// DSN is the PostgreSQL connection string (URL or key=value).
	DSN string
	// Roles names the schema's roles; zero means DefaultRoles.
	Roles Roles
	// Migrate applies the embedded migrations on the first connection; the
	// DSN must then be a superuser, and every connection assumes the writer
	// role (unless AssumeRole says otherwise) so the daemon still writes
	// with the writer's privileges only.
	Migrate bool
	// AssumeRole is a role to SET ROLE to on every connection.
	AssumeRole string
	// MaxConns bounds the connection pool; default 4.
	MaxConns int32
}

// Store is an [audit.Store] in PostgreSQL. It connects lazily and
// reconnects after failures, so it can be opened while the database is
// down.
type Store struct {
	pool  *pgxpool.Pool
	opts  Options
	log   *slog.Logger
	migMu sync.Mutex
	mig   bool

	partMu sync.Mutex
	parts  map[string]bool // months known to have a partition

	laneCfg *pgconn.Config
	laneMu  sync.Mutex
	lane    *lane // appends; nil until the first, or after Close
	closed  bool
	maps    sync.Pool // *pgtype.Map for encoding batches (a Map is not safe for concurrent use)
}

var _ audit.Store = (*Store)(nil)
var _ audit.Based = (*Store)(nil)
var _ audit.Pipeliner = (*Store)(nil)
var _ audit.GapAppender = (*Store)(nil)

// Open returns a store for opts.DSN without connecting yet.
func Open(ctx context.Context, opts Options, log *slog.Logger) (*Store, error) {
	opts.Roles = opts.Roles.orDefault()
	if opts.Migrate && opts.AssumeRole == "" {
		opts.AssumeRole = opts.Roles.Writer
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 4
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("%w: audit database dsn: %v", audit.ErrInvalid, err)
	}
	cfg.MaxConns = opts.MaxConns
	rp := cfg.ConnConfig.RuntimeParams
	rp["synchronous_commit"] = "on" // never ack what a crash could lose
	rp["TimeZone"] = "UTC"
	if rp["application_name"] == "" {
		rp["application_name"] = "mgmtd-audit"
	}
	if opts.AssumeRole != "" {
		role := pgx.Identifier{opts.AssumeRole}.Sanitize()
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "SET ROLE "+role)
			return err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit database pool: %w", err)
	}
	return &Store{pool: pool, opts: opts, log: log.With("store", "postgresql"), mig: !opts.Migrate,
		parts: map[string]bool{}, laneCfg: &cfg.ConnConfig.Config,
		maps: sync.Pool{New: func() any { return pgtype.NewMap() }}}, nil
}

// ensure runs the migrations once, on the first operation that can reach
// the database.
func (s *Store) ensure(ctx context.Context) error {
	s.migMu.Lock()
	defer s.migMu.Unlock()
	if s.mig {
		return nil
	}
	cfg, err := pgx.ParseConfig(s.opts.DSN)
	if err != nil {
		return fmt.Errorf("audit database dsn: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := Migrate(ctx, conn, s.opts.Roles); err != nil {
		return err
	}
	s.mig = true
	return nil
}

// Pool returns the connection pool (for tests and administrative tools).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close implements [audit.Store].
func (s *Store) Close() error {
	s.laneMu.Lock()
	s.closed = true
	if s.lane != nil {
		s.lane.close()
		s.lane = nil
	}
	s.laneMu.Unlock()
	s.pool.Close()
	return nil
}

// eventCols are the columns of a record (laneCols), in the order
// scanRecord reads them.
var eventCols = func() string {
	names := make([]string, len(laneCols))
	for i, c := range laneCols {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}()

// Head implements [audit.Store].
func (s *Store) Head(ctx context.Context, instance string) (audit.Head, error) {
	if err := s.ensure(ctx); err != nil {
		return audit.Head{}, err
	}
	return head(ctx, s.pool, instance)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func head(ctx context.Context, q querier, instance string) (audit.Head, error) {
	h := audit.Head{Instance: instance}
	var seq int64
	var hash []byte
	err := q.QueryRow(ctx, "SELECT seq, hash FROM audit.event WHERE instance = $1 ORDER BY seq DESC LIMIT 1",
		instance).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read audit head: %w", err)
	}
	h.Seq = uint64(seq)
	copy(h.Hash[:], hash)
	return h, nil
}

// Append implements [audit.Store]: one transaction that COPYs the batch
// and checks, under the instance's chain lock, that it continues the stored
// chain; see [Store.AppendPipelined].
func (s *Store) Append(ctx context.Context, recs []audit.Record) error {
	return s.AppendPipelined(ctx, recs, nil, nil)
}

// AppendPipelined implements [audit.Pipeliner].
func (s *Store) AppendPipelined(ctx context.Context, recs []audit.Record, ready <-chan struct{}, locked func()) error {
	return s.appendChecked(ctx, recs, ready, locked, nil)
}

// AppendAfterGap implements [audit.GapAppender]: the batch is checked by
// audit.append_check_gap (migration 0003) instead of audit.append_check.
func (s *Store) AppendAfterGap(ctx context.Context, recs []audit.Record, stored audit.Head) error {
	return s.appendChecked(ctx, recs, nil, nil, &stored)
}

func (s *Store) appendChecked(ctx context.Context, recs []audit.Record, ready <-chan struct{}, locked func(), gap *audit.Head) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	err := s.appendTx(ctx, recs, ready, locked, gap)
	if err != nil {
		s.partMu.Lock()
		clear(s.parts) // a purge may have dropped one
		s.partMu.Unlock()
		if errors.Is(err, audit.ErrConflict) {
			return err
		}
		return fmt.Errorf("append audit records: %w", err)
	}
	return nil
}

// conflictCode is the SQLSTATE audit.append_check raises; uniqueViolation
// is unique_violation, which an INSERT of records already stored raises.
const (
	conflictCode    = "MG001"
	uniqueViolation = "23505"
)

// appendTx appends recs on the store's lane, after ready. The batch is
// encoded first, so the wait for ready (the batch before handed to the
// lane) costs nothing but the write.
func (s *Store) appendTx(ctx context.Context, recs []audit.Record, ready <-chan struct{}, locked func(), gap *audit.Head) error {
	first := &recs[0]
	if first.Seq == 0 {
		return fmt.Errorf("%w: record sequence numbers start at 1", audit.ErrConflict)
	}
	if err := audit.CheckContinues(audit.Head{Instance: first.Instance, Seq: first.Seq - 1, Hash: first.PrevHash}, recs); err != nil {
		return err
	}
	// Partitions are created before the append transaction, in their own:
	// creating one inside it would lock the parent table while other
	// instances' appends hold it shared and wait for the partition lock.
	if err := s.ensurePartitions(ctx, recs); err != nil {
		return err
	}
	m := s.maps.Get().(*pgtype.Map)
	msg, err := encodeBatch(m, recs, gap)
	s.maps.Put(m)
	if err != nil {
		return err
	}
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l, err := s.getLane(ctx)
	if err != nil {
		return err
	}
	req, err := l.send(msg, len(recs))
	if err != nil {
		return err
	}
	if locked != nil {
		locked()
	}
	select {
	case err = <-req.done:
	case <-ctx.Done():
		// The batch's fate is unknown: break the lane, so nothing sent
		// after it can commit behind a caller told it failed.
		l.close()
		err = <-req.done
	}
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == conflictCode || pgErr.Code == uniqueViolation) {
		return fmt.Errorf("%w: %s", audit.ErrConflict, pgErr.Message)
	}
	return err
}

// getLane returns the store's lane, connecting one if there is none or the
// last one broke.
func (s *Store) getLane(ctx context.Context) (*lane, error) {
	s.laneMu.Lock()
	defer s.laneMu.Unlock()
	if s.lane != nil && !s.lane.broken() {
		return s.lane, nil
	}
	if s.lane != nil {
		s.lane.close()
		s.lane = nil
	}
	if s.closed {
		return nil, fmt.Errorf("%w: store closed", errLaneBroken)
	}
	l, err := dialLane(ctx, s.laneCfg, s.opts.AssumeRole)
	if err != nil {
		return nil, err
	}
	s.lane = l
	return l, nil
}

func monthKey(t time.Time) string { return t.UTC().Format("200601") }

func (s *Store) ensurePartitions(ctx context.Context, recs []audit.Record) error {
	need := map[string]time.Time{}
	s.partMu.Lock()
	for i := range recs {
		k := monthKey(recs[i].Time)
		if !s.parts[k] {
			need[k] = recs[i].Time
		}
	}
	s.partMu.Unlock()
	for k, t := range need {
		if _, err := s.pool.Exec(ctx, "SELECT audit.ensure_partition($1)", t); err != nil {
			return fmt.Errorf("create partition %s: %w", k, err)
		}
	}
	s.partMu.Lock()
	for k := range need {
		s.parts[k] = true
	}
	s.partMu.Unlock()
	return nil
}

func scanRecord(rows pgx.Rows) (audit.Record, error) {
	var r audit.Record
	var seq int64
	var channel, outcome string
	var before, after, prev, hash []byte
	err := rows.Scan(&r.Instance, &seq, &r.Time, &r.Actor, &r.AuthMethod, &r.Roles, &channel, &r.Source,
		&r.RequestID, &r.Action, &r.ObjectType, &r.ObjectID, &outcome, &r.Reason, &before, &after, &prev, &hash)
	if err != nil {
		return r, fmt.Errorf("scan audit record: %w", err)
	}
	r.Seq, r.Time = uint64(seq), r.Time.UTC()
	r.Channel, r.Outcome = audit.Channel(channel), audit.Outcome(outcome)
	if before != nil {
		r.Before = before
	}
	if after != nil {
		r.After = after
	}
	if len(prev) != 32 || len(hash) != 32 {
		return r, fmt.Errorf("audit record %s/%d: hash columns of wrong length", r.Instance, r.Seq)
	}
	copy(r.PrevHash[:], prev)
	copy(r.Hash[:], hash)
	return r, nil
}

// Scan implements [audit.Store]; rows stream from the server.
func (s *Store) Scan(ctx context.Context, instance string, fromSeq uint64, fn func(*audit.Record) error) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, "SELECT "+eventCols+` FROM audit.event
		WHERE ($1 = '' OR instance = $1) AND seq >= $2 ORDER BY instance, seq`, instance, int64(min(fromSeq, 1<<63-1)))
	if err != nil {
		return fmt.Errorf("scan audit records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan audit records: %w", err)
	}
	return nil
}

// Query implements [audit.Store].
func (s *Store) Query(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	f, err := f.Normalize()
	if err != nil {
		return nil, err
	}
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.Since.IsZero() {
		add("ts >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		add("ts < ?", f.Until)
	}
	for _, c := range []struct{ col, v string }{{"instance", f.Instance}, {"actor", f.Actor},
		{"action", f.Action}, {"object_type", f.ObjectType}, {"object_id", f.ObjectID}, {"outcome", string(f.Outcome)}} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	if p, ok, _ := f.After(); ok {
		args = append(args, p.Time, p.Instance, int64(min(p.Seq, 1<<63-1)))
		n := len(args)
		cmp := ">"
		if f.Newest {
			cmp = "<"
		}
		where = append(where, fmt.Sprintf("(ts, instance, seq) %s ($%d, $%d, $%d)", cmp, n-2, n-1, n))
	}
	q := "SELECT " + eventCols + " FROM audit.event"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Newest {
		q += " ORDER BY ts DESC, instance DESC, seq DESC LIMIT " + strconv.Itoa(f.Limit)
	} else {
		q += " ORDER BY ts, instance, seq LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit records: %w", err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit records: %w", err)
	}
	return out, nil
}

// AppendAnchor implements [audit.Store].
func (s *Store) AppendAnchor(ctx context.Context, a audit.Anchor) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO audit.anchor (instance, seq, hash, signed_at, key_id, public_key, signature)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, a.Instance, int64(a.Seq), a.Hash[:], a.Time, a.KeyID,
		[]byte(a.PublicKey), a.Signature)
	if err != nil {
		return fmt.Errorf("store audit anchor: %w", err)
	}
	return nil
}

// Anchors implements [audit.Store].
func (s *Store) Anchors(ctx context.Context, instance string) ([]audit.Anchor, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT instance, seq, hash, signed_at, key_id, public_key, signature
		FROM audit.anchor WHERE $1 = '' OR instance = $1 ORDER BY instance, seq, key_id`, instance)
	if err != nil {
		return nil, fmt.Errorf("read audit anchors: %w", err)
	}
	defer rows.Close()
	var out []audit.Anchor
	for rows.Next() {
		var a audit.Anchor
		var seq int64
		var hash, pub []byte
		if err := rows.Scan(&a.Instance, &seq, &hash, &a.Time, &a.KeyID, &pub, &a.Signature); err != nil {
			return nil, fmt.Errorf("read audit anchors: %w", err)
		}
		a.Seq, a.Time, a.PublicKey = uint64(seq), a.Time.UTC(), pub
		copy(a.Hash[:], hash)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit anchors: %w", err)
	}
	return out, nil
}

// Bases implements [audit.Based]: the last purged record per instance.
func (s *Store) Bases(ctx context.Context) ([]audit.Head, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (instance) instance, seq, hash FROM audit.base
		ORDER BY instance, seq DESC`)
	if err != nil {
		return nil, fmt.Errorf("read audit bases: %w", err)
	}
	defer rows.Close()
	var out []audit.Head
	for rows.Next() {
		var h audit.Head
		var seq int64
		var hash []byte
		if err := rows.Scan(&h.Instance, &seq, &hash); err != nil {
			return nil, fmt.Errorf("read audit bases: %w", err)
		}
		h.Seq = uint64(seq)
		copy(h.Hash[:], hash)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit bases: %w", err)
	}
	return out, nil
}
