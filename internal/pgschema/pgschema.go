// Package pgschema applies a PostgreSQL schema's versioned SQL migrations,
// the one way the audit log (audit/pgstore) and the event history
// (history/pghistory) create their roles and schemas: the three roles
// (an owner that cannot log in, a writer and a reader that can), the
// schema owned by the owner, and every migration not yet recorded in
// SCHEMA.schema_migrations, each in its own transaction as the owner,
// under an advisory lock so that concurrent daemons migrate once.
package pgschema

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Roles names a schema's three database roles.
type Roles struct {
	Owner  string // owns the schema, NOLOGIN
	Writer string // the daemon
	Reader string // auditors and readers
}

// Migration is one versioned SQL file (NNNN_name.sql). Its text may name
// the roles as {{owner}}, {{writer}} and {{reader}}.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the migrations in dir of fsys, ordered by version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// Migrate creates the roles when missing, the schema owned by the owner,
// and applies the migrations not yet recorded. conn must be a superuser
// (or a role that may create roles and SET ROLE to the owner). It is safe
// to run concurrently and repeatedly. Errors start with "migrate SCHEMA".
func Migrate(ctx context.Context, conn *pgx.Conn, schema string, roles Roles, ms []Migration) error {
	prefix := "migrate " + schema
	lock := "mgmtd-" + schema + "-migrate"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", lock); err != nil {
		return fmt.Errorf("%s: lock: %w", prefix, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", lock)
	for _, r := range []struct{ name, attrs string }{{roles.Owner, "NOLOGIN"}, {roles.Writer, "LOGIN"}, {roles.Reader, "LOGIN"}} {
		if err := createRole(ctx, conn, prefix, r.name, r.attrs); err != nil {
			return err
		}
	}
	owner := pgx.Identifier{roles.Owner}.Sanitize()
	table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize() + " AUTHORIZATION " + owner,
		"SET ROLE " + owner,
		`CREATE TABLE IF NOT EXISTS ` + table + ` (
			version integer PRIMARY KEY, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
		"REVOKE ALL ON " + table + " FROM PUBLIC",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %s: %w", prefix, strings.Fields(q)[0], err)
		}
	}
	defer conn.Exec(context.WithoutCancel(ctx), "RESET ROLE")
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+table).Scan(&current); err != nil {
		return fmt.Errorf("%s: read version: %w", prefix, err)
	}
	repl := strings.NewReplacer("{{owner}}", owner, "{{writer}}", pgx.Identifier{roles.Writer}.Sanitize(),
		"{{reader}}", pgx.Identifier{roles.Reader}.Sanitize())
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, repl.Replace(m.SQL)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+table+" (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: apply %s: %w", prefix, m.Name, err)
		}
	}
	return nil
}

func createRole(ctx context.Context, conn *pgx.Conn, prefix, name, attrs string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("%s: look up role %s: %w", prefix, name, err)
	}
	if exists {
		return nil
	}
	_, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{name}.Sanitize()+" "+attrs)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object: created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: create role %s: %w", prefix, name, err)
	}
	return nil
}

// Pool opens a connection pool for a store of ours: at most maxConns
// connections, times in UTC, application_name app unless the DSN names
// one, a 5 s connect timeout (a database that does not answer must not
// hold a caller for long; the stores retry), and, when asRole is not
// empty, every connection switched to that role (SET ROLE) as it opens.
// what names the store in errors ("history database").
func Pool(dsn string, maxConns int32, app, asRole, what string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s dsn: %w", what, err)
	}
	cfg.MaxConns = maxConns
	rp := cfg.ConnConfig.RuntimeParams
	rp["TimeZone"] = "UTC"
	if rp["application_name"] == "" {
		rp["application_name"] = app
	}
	if asRole != "" {
		role := pgx.Identifier{asRole}.Sanitize()
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "SET ROLE "+role)
			return err
		}
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("%s pool: %w", what, err)
	}
	return pool, nil
}
