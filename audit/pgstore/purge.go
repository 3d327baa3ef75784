package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mgmtd/audit"
)

// DefaultRetention is how long records are kept: seven years (SEC Rule
// 2-06 for audit workpapers).
const DefaultRetention = 7 * 365 * 24 * time.Hour

// PurgeOptions configures [Purge].
type PurgeOptions struct {
	Roles     Roles         // zero means DefaultRoles
	Retention time.Duration // default DefaultRetention
	Now       time.Time     // default time.Now()
}

// PurgeResult lists what a purge removed.
type PurgeResult struct {
	Partitions []string     // dropped partitions, oldest first
	Bases      []audit.Head // per instance, the last purged record: where chains now start
	// Kept explains why the oldest partition past retention was kept, if
	// one was.
	Kept string
}

// Purge drops whole monthly partitions of audit.event whose month ended
// more than the retention period ago, oldest first, and stops at the first
// one it may not drop. A partition is dropped only when, for every instance
// in it, its records are contiguous, continue the chain's current base, no
// record of that instance up to the partition's last one lives in another
// partition, and a recorded audit.export.manifest event describes a
// complete JSON Lines export covering them. Each drop records the new chain
// base (instance, last purged seq and hash, manifest hash) in audit.base in
// the same transaction, so [audit.Verify] starts the chain there.
//
// conn must be a superuser or a member of the owner role; the work runs as
// the owner. The caller should record the purge in the audit log (with the
// result) afterwards.
func Purge(ctx context.Context, conn *pgx.Conn, opts PurgeOptions) (PurgeResult, error) {
	opts.Roles = opts.Roles.orDefault()
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var res PurgeResult
	cutoff := opts.Now.UTC().Add(-opts.Retention)
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit.event'::regclass`)
	if err != nil {
		return res, fmt.Errorf("purge: list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return res, fmt.Errorf("purge: list partitions: %w", err)
	}
	slices.Sort(names)
	manifests, err := exportManifests(ctx, conn)
	if err != nil {
		return res, err
	}
	for _, name := range names {
		month, err := time.Parse("200601", strings.TrimPrefix(name, "event_"))
		if err != nil {
			return res, fmt.Errorf("purge: unexpected partition %s", name)
		}
		if month.AddDate(0, 1, 0).After(cutoff) {
			break
		}
		var bases []purgeBase
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{opts.Roles.Owner}.Sanitize()); err != nil {
				return err
			}
			var why string
			bases, why, err = purgeable(ctx, tx, name, manifests)
			if err != nil || why != "" {
				res.Kept = why
				return err
			}
			for _, b := range bases {
				if _, err := tx.Exec(ctx, "INSERT INTO audit.base (instance, seq, hash, manifest_sha256) VALUES ($1, $2, $3, $4)",
					b.Instance, int64(b.Seq), b.Hash[:], b.manifest); err != nil {
					return err
				}
			}
			ident := pgx.Identifier{"audit", name}.Sanitize()
			if _, err := tx.Exec(ctx, "ALTER TABLE audit.event DETACH PARTITION "+ident); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "DROP TABLE "+ident)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("purge %s: %w", name, err)
		}
		if res.Kept != "" {
			res.Kept = name + ": " + res.Kept
			break
		}
		res.Partitions = append(res.Partitions, name)
		for _, b := range bases {
			res.Bases = append(res.Bases, b.Head)
		}
	}
	return res, nil
}

type manifestRange struct {
	audit.Range
	sha string
}

func exportManifests(ctx context.Context, conn *pgx.Conn) ([]manifestRange, error) {
	rows, err := conn.Query(ctx, "SELECT after::text FROM audit.event WHERE action = $1 AND outcome = 'success' AND after IS NOT NULL",
		audit.ActionAuditExportManifest)
	if err != nil {
		return nil, fmt.Errorf("purge: read export manifests: %w", err)
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("purge: read export manifests: %w", err)
	}
	var out []manifestRange
	for _, d := range docs {
		var m audit.Manifest
		if json.Unmarshal([]byte(d), &m) != nil || m.Format != audit.FormatJSONL {
			continue
		}
		for _, r := range m.Ranges {
			if r.Complete {
				out = append(out, manifestRange{r, m.SHA256})
			}
		}
	}
	return out, nil
}

type purgeBase struct {
	audit.Head
	manifest string
}

// purgeable checks partition name; why is non-empty when it must be kept.
func purgeable(ctx context.Context, tx pgx.Tx, name string, manifests []manifestRange) ([]purgeBase, string, error) {
	ident := pgx.Identifier{"audit", name}.Sanitize()
	rows, err := tx.Query(ctx, "SELECT instance, min(seq), max(seq), count(*) FROM "+ident+" GROUP BY instance ORDER BY instance")
	if err != nil {
		return nil, "", err
	}
	type span struct {
		inst          string
		lo, hi, count int64
	}
	spans, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (span, error) {
		var s span
		return s, r.Scan(&s.inst, &s.lo, &s.hi, &s.count)
	})
	if err != nil {
		return nil, "", err
	}
	var out []purgeBase
	for _, s := range spans {
		if s.count != s.hi-s.lo+1 {
			return nil, fmt.Sprintf("instance %s: records %d..%d not contiguous", s.inst, s.lo, s.hi), nil
		}
		var base int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM audit.base WHERE instance = $1", s.inst).Scan(&base); err != nil {
			return nil, "", err
		}
		if s.lo != base+1 {
			return nil, fmt.Sprintf("instance %s: partition starts at %d, chain base is %d", s.inst, s.lo, base), nil
		}
		var elsewhere int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM audit.event WHERE instance = $1 AND seq <= $2 AND tableoid <> $3::regclass",
			s.inst, s.hi, "audit."+name).Scan(&elsewhere); err != nil {
			return nil, "", err
		}
		if elsewhere > 0 {
			return nil, fmt.Sprintf("instance %s: %d records up to %d are in later partitions", s.inst, elsewhere, s.hi), nil
		}
		sha := ""
		for _, m := range manifests {
			if m.Instance == s.inst && m.First <= uint64(s.lo) && m.Last >= uint64(s.hi) {
				sha = m.sha
				break
			}
		}
		if sha == "" {
			return nil, fmt.Sprintf("instance %s: no recorded complete JSON Lines export covers %d..%d", s.inst, s.lo, s.hi), nil
		}
		b := purgeBase{Head: audit.Head{Instance: s.inst, Seq: uint64(s.hi)}, manifest: sha}
		var hash []byte
		if err := tx.QueryRow(ctx, "SELECT hash FROM "+ident+" WHERE instance = $1 AND seq = $2", s.inst, s.hi).Scan(&hash); err != nil {
			return nil, "", err
		}
		copy(b.Hash[:], hash)
		out = append(out, b)
	}
	return out, "", nil
}
