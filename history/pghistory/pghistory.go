// Package pghistory keeps the event history in PostgreSQL, in its own
// schema "history" beside the audit log's: one table partitioned by day of
// the publication time, retention by dropping whole days. Besides
// audit/pgstore it is the only importer of pgx.
//
// The schema comes from embedded, versioned migrations (migrations/*.sql,
// recorded in history.schema_migrations) applied by [Migrate] as a NOLOGIN
// owner role. By default the roles are the audit log's (an owner, the
// daemon's writer, a reader), so the daemon writes both with one DSN; the
// writer may INSERT and SELECT and create and drop partitions only through
// two owner-privileged functions.
//
// The store connects lazily and reconnects after failures, so it can be
// opened while the database is down; the history.Recorder in front of it
// keeps publication from ever waiting for it.
package pghistory

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"mgmtd/history"
	"mgmtd/internal/pgschema"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Roles names the schema's roles.
type Roles struct {
	Owner  string // owns the schema, NOLOGIN
	Writer string // the daemon
	Reader string // SELECT only
}

// DefaultRoles are the audit log's roles: one DSN serves both.
var DefaultRoles = Roles{Owner: "mgmtd_audit_owner", Writer: "mgmtd_audit_writer", Reader: "mgmtd_audit_reader"}

func (r Roles) orDefault() Roles {
	if r == (Roles{}) {
		return DefaultRoles
	}
	return r
}

// Options configure [Open].
type Options struct {
	// DSN is the PostgreSQL connection string (URL or key=value).
	DSN string
	// Roles names the roles; zero means DefaultRoles.
	Roles Roles
	// Migrate applies the migrations on the first connection; the DSN
	// must then be a superuser, and every connection assumes the writer
	// role.
	Migrate bool
	// MaxConns bounds the pool; default 4.
	MaxConns int32
}

// Store is a history.Store in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	migMu sync.Mutex
	mig   bool

	partMu sync.Mutex
	parts  map[string]bool // days known to have a partition
}

var _ history.Store = (*Store)(nil)

// Open returns a store for opts.DSN without connecting yet.
func Open(opts Options, log *slog.Logger) (*Store, error) {
	opts.Roles = opts.Roles.orDefault()
	if opts.MaxConns <= 0 {
		opts.MaxConns = 4
	}
	role := ""
	if opts.Migrate {
		role = opts.Roles.Writer
	}
	// A database that does not answer must not hold a write for long:
	// the recorder retries (Pool's connect timeout).
	pool, err := pgschema.Pool(opts.DSN, opts.MaxConns, "mgmtd-history", role, "history database")
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, opts: opts, log: log, mig: !opts.Migrate, parts: map[string]bool{}}, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool returns the connection pool (tests, benchmarks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) ensure(ctx context.Context) error {
	s.migMu.Lock()
	defer s.migMu.Unlock()
	if s.mig {
		return nil
	}
	conn, err := pgx.Connect(ctx, s.opts.DSN)
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

// micro is PostgreSQL's precision; the stored record carries the same
// time as the column, so cursors match.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func dayKey(t time.Time) string { return t.UTC().Format("20060102") }

func (s *Store) ensurePartitions(ctx context.Context, recs []history.Record) error {
	var need []time.Time
	s.partMu.Lock()
	seen := map[string]bool{}
	for _, r := range recs {
		k := dayKey(r.Published)
		if !s.parts[k] && !seen[k] {
			seen[k] = true
			need = append(need, r.Published)
		}
	}
	s.partMu.Unlock()
	for _, t := range need {
		if _, err := s.pool.Exec(ctx, "SELECT history.ensure_partition($1)", t); err != nil {
			return fmt.Errorf("history partition %s: %w", dayKey(t), err)
		}
		s.partMu.Lock()
		s.parts[dayKey(t)] = true
		s.partMu.Unlock()
	}
	return nil
}

// Append stores records in one statement; records already stored are
// skipped (ON CONFLICT DO NOTHING).
func (s *Store) Append(ctx context.Context, recs []history.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	n := len(recs)
	var (
		cluster, instance, typ, sev, kind, name, node = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seq, gen                                      = make([]int64, n), make([]int64, n)
		pub, seen                                     = make([]time.Time, n), make([]time.Time, n)
		body                                          = make([]string, n)
	)
	for i := range recs {
		r := recs[i]
		if err := r.Validate(); err != nil {
			return err
		}
		r.Published = micro(r.Published)
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("history: encode record %d: %w", r.Seq, err)
		}
		cluster[i], instance[i], seq[i], gen[i] = r.Object.Cluster, r.Instance, int64(r.Seq), int64(r.Generation)
		pub[i], seen[i], typ[i], sev[i] = r.Published, r.Time, string(r.Type), string(r.Severity)
		kind[i], name[i], node[i], body[i] = string(r.Object.Kind), r.Object.Name, r.Node, string(b)
		recs[i].Published = r.Published
	}
	if err := s.ensurePartitions(ctx, recs); err != nil {
		return err
	}
	const insert = `INSERT INTO history.event
		(cluster, instance, seq, published, seen, generation, type, severity, object_kind, object_name, node, record)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::bigint[],
			$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[])
		ON CONFLICT DO NOTHING`
	_, err := s.pool.Exec(ctx, insert, cluster, instance, seq, pub, seen, gen, typ, sev, kind, name, node, body)
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && pe.Code == "23514": // check_violation: no partition (purged meanwhile)
		s.partMu.Lock()
		clear(s.parts)
		s.partMu.Unlock()
	case errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") && n > 1:
		// A data exception (a NUL jsonb cannot hold): store the others one
		// by one and leave out the records PostgreSQL refuses, so that one
		// record never stalls the history.
		for i := range n {
			_, err := s.pool.Exec(ctx, insert, cluster[i:i+1], instance[i:i+1], seq[i:i+1], pub[i:i+1], seen[i:i+1], gen[i:i+1],
				typ[i:i+1], sev[i:i+1], kind[i:i+1], name[i:i+1], node[i:i+1], body[i:i+1])
			if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") {
				s.log.Error("history record refused by PostgreSQL; left out", "instance", instance[i], "seq", seq[i], "err", err)
				continue
			}
			if err != nil {
				return fmt.Errorf("history append: %w", err)
			}
		}
		return nil
	case errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22"):
		s.log.Error("history record refused by PostgreSQL; left out", "instance", instance[0], "seq", seq[0], "err", err)
		return nil
	}
	return fmt.Errorf("history append: %w", err)
}

// LastSeq returns the highest stored sequence of instance.
func (s *Store) LastSeq(ctx context.Context, instance string) (uint64, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM history.event WHERE instance = $1", instance).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("history last seq: %w", err)
	}
	return uint64(n), nil
}

// Query returns one page of the records q selects.
func (s *Store) Query(ctx context.Context, q history.Query) (history.Page, error) {
	if err := q.Normalize(); err != nil {
		return history.Page{}, err
	}
	var after *history.Position
	if q.Cursor != "" {
		p, err := history.ParseCursor(q.Cursor)
		if err != nil {
			return history.Page{}, err
		}
		after = &p
	}
	if err := s.ensure(ctx); err != nil {
		return history.Page{}, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Cluster != "" {
		where = append(where, "cluster = "+arg(q.Cluster))
	}
	if q.Instance != "" {
		where = append(where, "instance = "+arg(q.Instance))
	}
	if !q.Since.IsZero() {
		where = append(where, "published >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "published < "+arg(q.Until))
	}
	if q.Object != "" {
		a := arg(q.Object)
		where = append(where, "(object_name = "+a+" OR node = "+a+")")
	}
	if len(q.Kinds) > 0 {
		ks := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			ks[i] = string(k)
		}
		where = append(where, "object_kind = ANY("+arg(ks)+")")
	}
	if len(q.Severities) > 0 {
		ss := make([]string, len(q.Severities))
		for i, v := range q.Severities {
			ss[i] = string(v)
		}
		where = append(where, "severity = ANY("+arg(ss)+")")
	}
	if len(q.Types) > 0 {
		var exact, prefix []string
		for _, t := range q.Types {
			if strings.HasSuffix(t, ".") {
				prefix = append(prefix, likeEscape.Replace(t)+"%")
			} else {
				exact = append(exact, t)
			}
		}
		where = append(where, "(type = ANY("+arg(exact)+") OR type LIKE ANY("+arg(prefix)+"))")
	}
	order := "published, instance, seq"
	if q.BySeq {
		from := q.AfterSeq
		if after != nil {
			from = max(from, after.Seq)
		}
		where = append(where, "seq > "+arg(int64(from)))
		order = "seq"
	} else {
		if q.Desc {
			order = "published DESC, instance DESC, seq DESC"
		}
		if after != nil {
			op := ">"
			if q.Desc {
				op = "<"
			}
			where = append(where, "(published, instance, seq) "+op+" ("+arg(after.Published)+", "+arg(after.Instance)+"::text COLLATE \"C\", "+arg(int64(after.Seq))+")")
		}
	}
	sql := "SELECT record FROM history.event"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY " + order + " LIMIT " + strconv.Itoa(q.Limit+1)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return history.Page{}, fmt.Errorf("history query: %w", err)
	}
	defer rows.Close()
	page := history.Page{Records: []history.Record{}}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return history.Page{}, fmt.Errorf("history query: %w", err)
		}
		if len(page.Records) == q.Limit {
			page.Next = history.Of(&page.Records[len(page.Records)-1]).Cursor()
			break
		}
		var r history.Record
		if err := json.Unmarshal(b, &r); err != nil {
			return history.Page{}, fmt.Errorf("history: stored record: %w", err)
		}
		page.Records = append(page.Records, r)
	}
	if err := rows.Err(); err != nil {
		return history.Page{}, fmt.Errorf("history query: %w", err)
	}
	return page, nil
}

var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Purge drops the daily partitions that end at or before t (a day is kept
// whole while any of it is within retention).
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT history.purge($1)", before).Scan(&n); err != nil {
		return 0, fmt.Errorf("history purge: %w", err)
	}
	s.partMu.Lock()
	clear(s.parts)
	s.partMu.Unlock()
	return n, nil
}

// Migrate creates the roles when missing (the writer and reader may log
// in), the schema "history" owned by the owner, and applies the embedded
// migrations not yet recorded, each in its own transaction, as the owner.
// conn must be a superuser. It is safe to run concurrently and repeatedly.
func Migrate(ctx context.Context, conn *pgx.Conn, roles Roles) error {
	ms, err := pgschema.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return pgschema.Migrate(ctx, conn, "history", pgschema.Roles(roles.orDefault()), ms)
}
