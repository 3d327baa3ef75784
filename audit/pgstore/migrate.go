package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Roles names the three database roles of the audit schema.
type Roles struct {
	Owner  string // owns the schema, NOLOGIN
	Writer string // INSERT and SELECT: the daemon
	Reader string // SELECT: auditors
}

// DefaultRoles are the role names used when Options.Roles is zero.
var DefaultRoles = Roles{Owner: "mgmtd_audit_owner", Writer: "mgmtd_audit_writer", Reader: "mgmtd_audit_reader"}

func (r Roles) orDefault() Roles {
	if r == (Roles{}) {
		return DefaultRoles
	}
	return r
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// Migrate creates the roles (if missing; the writer and reader may log in,
// their passwords are the administrator's business), the schema "audit"
// owned by the owner role, and applies every embedded migration not yet
// recorded in audit.schema_migrations, each in its own transaction, as the
// owner. conn must be a superuser (or a role that may create roles and SET
// ROLE to the owner). It is safe to run concurrently and repeatedly.
func Migrate(ctx context.Context, conn *pgx.Conn, roles Roles) error {
	roles = roles.orDefault()
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext('mgmtd-audit-migrate'))"); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('mgmtd-audit-migrate'))")
	for _, r := range []struct {
		name, attrs string
	}{{roles.Owner, "NOLOGIN"}, {roles.Writer, "LOGIN"}, {roles.Reader, "LOGIN"}} {
		if err := createRole(ctx, conn, r.name, r.attrs); err != nil {
			return err
		}
	}
	owner := pgx.Identifier{roles.Owner}.Sanitize()
	setup := []string{
		"CREATE SCHEMA IF NOT EXISTS audit AUTHORIZATION " + owner,
		"SET ROLE " + owner,
		`CREATE TABLE IF NOT EXISTS audit.schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
		"REVOKE ALL ON audit.schema_migrations FROM PUBLIC",
	}
	for _, q := range setup {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("migrate: %s: %w", strings.Fields(q)[0], err)
		}
	}
	defer conn.Exec(context.WithoutCancel(ctx), "RESET ROLE")
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM audit.schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	repl := strings.NewReplacer("{{owner}}", owner, "{{writer}}", pgx.Identifier{roles.Writer}.Sanitize(),
		"{{reader}}", pgx.Identifier{roles.Reader}.Sanitize())
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, repl.Replace(m.sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO audit.schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
	}
	return nil
}

func createRole(ctx context.Context, conn *pgx.Conn, name, attrs string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("migrate: look up role %s: %w", name, err)
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
		return fmt.Errorf("migrate: create role %s: %w", name, err)
	}
	return nil
}

// SchemaVersion returns the highest applied migration version (0 if none).
func SchemaVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var v int
	err := conn.QueryRow(ctx, `SELECT coalesce((SELECT max(version) FROM audit.schema_migrations), 0)`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}
