// Package pghub keeps a fleet hub's state in PostgreSQL, in its own
// schema "hub": the clusters with their newest picture, their current
// objects, and every event by (cluster, instance, sequence), so that
// several hub processes serve one fleet and any of them can die. Each
// ingest NOTIFYs channel mgmtd_hub; every process LISTENs and reads what
// the others took (hub.Store.Listen): a heartbeat's contact time comes in
// the payload, a new picture and new events are read from the tables.
//
// Why LISTEN/NOTIFY: the database is already the one place every process
// writes, a notification is delivered only when its transaction commits
// (so a process never reads an event before it is there), in commit
// order, to every listener, with no broker to run. Its limits - an 8,000
// byte payload, and notifications lost while a listener is disconnected -
// are met by sending only the cluster's name and contact (the listener reads the rows)
// and by reading everything again after reconnecting.
//
// The schema comes from embedded, versioned migrations (migrations/*.sql)
// applied through internal/pgschema as a NOLOGIN owner role; the hub
// processes connect as the writer. Besides audit/pgstore and
// history/pghistory it is an importer of pgx.
package pghub

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mgmtd/hub"
	"mgmtd/internal/pgschema"
	"mgmtd/model"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Channel is the NOTIFY channel of ingests.
const Channel = "mgmtd_hub"

// DefaultRoles are the hub schema's roles.
var DefaultRoles = pgschema.Roles{Owner: "mgmtd_hub_owner", Writer: "mgmtd_hub_writer", Reader: "mgmtd_hub_reader"}

// Options configure [Open].
type Options struct {
	// DSN is the PostgreSQL connection string (URL or key=value).
	DSN string
	// Migrate applies the migrations on the first connection; the DSN
	// must then be a superuser, and every connection assumes the writer
	// role.
	Migrate bool
	// MaxConns bounds the pool; default 8.
	MaxConns int32
}

// Store is a hub.Store in PostgreSQL.
type Store struct {
	pool   *pgxpool.Pool
	opts   Options
	log    *slog.Logger
	origin string // this process, in its notifications

	migMu sync.Mutex
	mig   bool
}

var _ hub.Store = (*Store)(nil)

// Open returns a store for opts.DSN without connecting yet.
func Open(opts Options, log *slog.Logger) (*Store, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = 8
	}
	role := ""
	if opts.Migrate {
		role = DefaultRoles.Writer
	}
	pool, err := pgschema.Pool(opts.DSN, opts.MaxConns, "mgmtd-hub", role, "hub database")
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Store{pool: pool, opts: opts, log: log, origin: hex.EncodeToString(b[:]), mig: !opts.Migrate}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Pool returns the connection pool (tests, benchmarks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Migrate applies the hub schema's migrations on conn (a superuser).
func Migrate(ctx context.Context, conn *pgx.Conn) error {
	ms, err := pgschema.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return pgschema.Migrate(ctx, conn, "hub", DefaultRoles, ms)
}

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
	if err := Migrate(ctx, conn); err != nil {
		return err
	}
	s.mig = true
	return nil
}

func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Ingest stores a push in one transaction (hub.Store).
func (s *Store) Ingest(ctx context.Context, p *hub.Push, now time.Time) (hub.IngestResult, error) {
	if err := s.ensure(ctx); err != nil {
		return hub.IngestResult{}, err
	}
	var snapJSON []byte
	var objs []hub.Object
	if p.Snapshot != nil {
		b, err := json.Marshal(p.Snapshot)
		if err != nil {
			return hub.IngestResult{}, fmt.Errorf("hub: encode snapshot: %w", err)
		}
		snapJSON = b
		objs = hub.SnapshotObjects(p.Cluster, model.Reindexed(p.Snapshot))
	}
	n := len(p.Events)
	instance, typ, sev, kind, name, node, body := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seq := make([]int64, n)
	pub, seen := make([]time.Time, n), make([]time.Time, n)
	for i, e := range p.Events {
		e.Published = micro(e.Published)
		if e.Object.Cluster == "" {
			e.Object.Cluster = p.Cluster
		}
		b, err := json.Marshal(e)
		if err != nil {
			return hub.IngestResult{}, fmt.Errorf("hub: encode event %d: %w", e.Seq, err)
		}
		instance[i], seq[i], pub[i], seen[i] = p.Instance, int64(e.Seq), e.Published, e.Time
		typ[i], sev[i], kind[i], name[i], node[i], body[i] = string(e.Type), string(e.Severity), string(e.Object.Kind), e.Object.Name, e.Node, string(b)
	}
	var res hub.IngestResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO hub.cluster (name, instance, url, last_contact, lost) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (name) DO UPDATE SET instance = EXCLUDED.instance,
				url = CASE WHEN EXCLUDED.url <> '' THEN EXCLUDED.url ELSE hub.cluster.url END,
				last_contact = greatest(hub.cluster.last_contact, EXCLUDED.last_contact), lost = EXCLUDED.lost`,
			p.Cluster, p.Instance, p.URL, micro(now), int64(p.Lost)); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		if snapJSON != nil {
			if _, err := tx.Exec(ctx, `UPDATE hub.cluster SET snapshot = $2::jsonb, generation = $3, snapshot_time = $4 WHERE name = $1`,
				p.Cluster, string(snapJSON), int64(p.Snapshot.Generation), micro(p.Snapshot.Time)); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM hub.object WHERE cluster = $1`, p.Cluster); err != nil {
				return fmt.Errorf("objects: %w", err)
			}
			m := len(objs)
			ok, on, ost, onodes := make([]string, m), make([]string, m), make([]string, m), make([]string, m)
			for i, o := range objs {
				ok[i], on[i], ost[i] = string(o.Kind), o.Name, o.State
				nodes := o.Nodes
				if nodes == nil {
					nodes = []string{}
				}
				nb, _ := json.Marshal(nodes)
				onodes[i] = string(nb)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO hub.object (cluster, kind, name, state, nodes)
				SELECT $1, k, n, st, coalesce(ARRAY(SELECT jsonb_array_elements_text(nd)), '{}')
				FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[]) AS u(k, n, st, nd)
				ON CONFLICT DO NOTHING`, p.Cluster, ok, on, ost, onodes); err != nil {
				return fmt.Errorf("objects: %w", err)
			}
		}
		if n > 0 {
			// Ids in commit order (see the migration).
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('mgmtd-hub-event-order'))`); err != nil {
				return fmt.Errorf("event lock: %w", err)
			}
			rows, err := tx.Query(ctx, `INSERT INTO hub.event
				(cluster, instance, seq, published, seen, received, type, severity, object_kind, object_name, node, record)
				SELECT $1, u.i, u.q, u.p, u.s, $2, u.t, u.v, u.k, u.n, u.d, u.b
				FROM unnest($3::text[], $4::bigint[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[])
					AS u(i, q, p, s, t, v, k, n, d, b)
				ON CONFLICT (cluster, instance, seq) DO NOTHING
				RETURNING id`, p.Cluster, micro(now), instance, seq, pub, seen, typ, sev, kind, name, node, body)
			if err != nil {
				return fmt.Errorf("events: %w", err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				res.Stored++
				res.MaxID = max(res.MaxID, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("events: %w", err)
			}
		}
		var last int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM hub.event WHERE cluster = $1 AND instance = $2`, p.Cluster, p.Instance).Scan(&last); err != nil {
			return fmt.Errorf("last seq: %w", err)
		}
		res.LastSeq = uint64(last)
		payload, _ := json.Marshal(note{Origin: s.origin, Cluster: p.Cluster, Snapshot: p.Snapshot != nil, Contact: micro(now).UnixMicro()})
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, string(payload)); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		return nil
	})
	if err != nil {
		return hub.IngestResult{}, fmt.Errorf("hub ingest %s: %w", p.Cluster, err)
	}
	return res, nil
}

// note is a notification's payload.
type note struct {
	Origin   string `json:"o"`
	Cluster  string `json:"c"`
	Snapshot bool   `json:"s,omitempty"`
	Contact  int64  `json:"t"` // µs since the epoch
}

const clusterColumns = `name, instance, url, last_contact, lost, snapshot`

func scanCluster(row pgx.Row) (hub.ClusterRecord, error) {
	var r hub.ClusterRecord
	var lost int64
	var snap []byte
	if err := row.Scan(&r.Name, &r.Instance, &r.URL, &r.LastContact, &lost, &snap); err != nil {
		return r, err
	}
	r.Lost = uint64(lost)
	if snap != nil {
		var sn model.Snapshot
		if err := json.Unmarshal(snap, &sn); err != nil {
			return r, fmt.Errorf("cluster %s: snapshot: %w", r.Name, err)
		}
		r.Snapshot = &sn
	}
	return r, nil
}

// Clusters returns every cluster with its newest picture.
func (s *Store) Clusters(ctx context.Context) ([]hub.ClusterRecord, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+clusterColumns+` FROM hub.cluster ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("hub clusters: %w", err)
	}
	defer rows.Close()
	var out []hub.ClusterRecord
	for rows.Next() {
		r, err := scanCluster(rows)
		if err != nil {
			return nil, fmt.Errorf("hub clusters: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Cluster returns one cluster.
func (s *Store) Cluster(ctx context.Context, name string) (hub.ClusterRecord, bool, error) {
	if err := s.ensure(ctx); err != nil {
		return hub.ClusterRecord{}, false, err
	}
	r, err := scanCluster(s.pool.QueryRow(ctx, `SELECT `+clusterColumns+` FROM hub.cluster WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return hub.ClusterRecord{}, false, nil
	}
	if err != nil {
		return hub.ClusterRecord{}, false, fmt.Errorf("hub cluster %s: %w", name, err)
	}
	return r, true, nil
}

// EventsAfter returns up to limit events with an ID above id.
func (s *Store) EventsAfter(ctx context.Context, id int64, limit int) ([]hub.FleetEvent, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, cluster, instance, record FROM hub.event WHERE id > $1 ORDER BY id LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("hub events: %w", err)
	}
	defer rows.Close()
	var out []hub.FleetEvent
	for rows.Next() {
		var e hub.FleetEvent
		var rec []byte
		if err := rows.Scan(&e.ID, &e.Cluster, &e.Instance, &rec); err != nil {
			return nil, fmt.Errorf("hub events: %w", err)
		}
		if err := json.Unmarshal(rec, &e.Event); err != nil {
			return nil, fmt.Errorf("hub event %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastID is the highest event ID stored.
func (s *Store) LastID(ctx context.Context) (int64, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM hub.event`).Scan(&id); err != nil {
		return 0, fmt.Errorf("hub last id: %w", err)
	}
	return id, nil
}

// Listen follows the other processes' ingests on a connection of its
// own (hub.Store).
func (s *Store) Listen(ctx context.Context, ready func(), changed func(hub.Change)) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("hub listen: %w", err)
	}
	// The connection leaves the pool: it is LISTENing.
	raw := conn.Hijack()
	defer raw.Close(context.WithoutCancel(ctx))
	if _, err := raw.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("hub listen: %w", err)
	}
	ready()
	for {
		n, err := raw.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("hub listen: %w", err)
		}
		var m note
		if err := json.Unmarshal([]byte(n.Payload), &m); err != nil {
			s.log.Warn("hub: a notification that is not ours", "payload", strings.ToValidUTF8(n.Payload[:min(len(n.Payload), 100)], "?"))
			continue
		}
		if m.Origin == s.origin {
			continue
		}
		changed(hub.Change{Cluster: m.Cluster, Snapshot: m.Snapshot, Contact: time.UnixMicro(m.Contact)})
	}
}

// Purge deletes the events published before t and returns how many.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM hub.event WHERE published < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("hub purge: %w", err)
	}
	return tag.RowsAffected(), nil
}
