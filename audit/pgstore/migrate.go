package pgstore

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mgmtd/internal/pgschema"
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

// Migrate creates the roles (if missing; the writer and reader may log in,
// their passwords are the administrator's business), the schema "audit"
// owned by the owner role, and applies every embedded migration not yet
// recorded in audit.schema_migrations, each in its own transaction, as the
// owner. conn must be a superuser (or a role that may create roles and SET
// ROLE to the owner). It is safe to run concurrently and repeatedly.
func Migrate(ctx context.Context, conn *pgx.Conn, roles Roles) error {
	ms, err := pgschema.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return pgschema.Migrate(ctx, conn, "audit", pgschema.Roles(roles.orDefault()), ms)
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
