package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mgmtd/audit/pgstore"
	"mgmtd/audit/pgstore/pgtest"
)

// The shared development PostgreSQL (scripts/deps.d/postgres.sh starts it).
// Tests create a throwaway database and roles with a per-run name and drop
// them afterwards.
var adminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var runID string // unique per test binary run

func TestMain(m *testing.M) {
	if v := os.Getenv("MGMTD_TEST_PG_DSN"); v != "" {
		adminDSN = v
	}
	b := make([]byte, 4)
	rand.Read(b)
	runID = fmt.Sprintf("t%d_%s", os.Getpid(), hex.EncodeToString(b))
	code := m.Run()
	dropRoles(rolesFor(runID))
	os.Exit(code)
}

func rolesFor(id string) pgstore.Roles {
	return pgstore.Roles{Owner: "audit_" + id + "_owner", Writer: "audit_" + id + "_writer", Reader: "audit_" + id + "_reader"}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func adminConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is required (run scripts/deps.d/postgres.sh): %v", dsn, err)
	}
	return c
}

// testDB creates an empty database, migrates it with this run's roles and
// returns DSNs for the superuser, the writer and the reader.
type testDB struct {
	name                  string
	admin, writer, reader string
	roles                 pgstore.Roles
}

func newTestDB(t testing.TB, server string) testDB {
	t.Helper()
	ctx := context.Background()
	name, dsn := pgtest.NewDB(t, server, "mgmtd_audit_"+runID)
	db := testDB{name: name, admin: dsn(""), roles: rolesFor(runID)}
	db.writer, db.reader = dsn(db.roles.Writer), dsn(db.roles.Reader)
	mc := adminConn(t, db.admin)
	defer mc.Close(ctx)
	if err := pgstore.Migrate(ctx, mc, db.roles); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func dropRoles(r pgstore.Roles) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return
	}
	defer c.Close(ctx)
	for _, n := range []string{r.Writer, r.Reader, r.Owner} {
		c.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{n}.Sanitize())
	}
}

// openWriter opens a store connected as the writer role.
func openWriter(t testing.TB, db testDB) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), pgstore.Options{DSN: db.writer, Roles: db.roles}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
