package pgstore_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
	"mgmtd/audit/pgstore"
)

func TestCLIVerifyAndExportAsReader(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t, adminDSN)
	anchorFile, pub := writeEvents(t, db, 120)
	anchors, err := audit.ReadAnchorFile(anchorFile)
	if err != nil {
		t.Fatal(err)
	}
	opts := audit.VerifyOptions{Anchors: anchors, PublicKeys: []ed25519.PublicKey{pub}}
	rep, err := pgstore.VerifyDSN(ctx, db.reader, opts, quietLog())
	if err != nil || rep.Chains[0].Records != 120 || rep.Chains[0].Anchors < 2 {
		t.Fatalf("verify --dsn as reader: %v %+v", err, rep)
	}
	var buf bytes.Buffer
	m, err := pgstore.ExportDSN(ctx, db.reader, audit.Filter{}, audit.FormatJSONL, &buf, quietLog())
	if err != nil || m.Records != 120 {
		t.Fatalf("export: %+v %v", m, err)
	}
	if _, err := audit.VerifyJSONL(ctx, &buf, opts); err != nil {
		t.Fatalf("exported file does not verify: %v", err)
	}
}

// TestOpenLogMigratesAndAssumesWriter opens the log the way the daemon
// does with a superuser DSN: the schema is migrated and records are written
// with the writer role's privileges.
func TestOpenLogMigratesAndAssumesWriter(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t, adminDSN)
	dir := t.TempDir()
	l, err := pgstore.OpenLog(ctx, pgstore.Options{DSN: db.admin, Roles: db.roles, Migrate: true},
		audit.Options{Instance: "n1", StateDir: dir}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Record(ctx, audittest.Event(1, time.Time{}))
	if err != nil || rc.Spooled || rc.Seq != 1 {
		t.Fatalf("record: %+v %v", rc, err)
	}
	var user string
	if err := l.Store().(*pgstore.Store).Pool().QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != db.roles.Writer {
		t.Fatalf("current_user = %q, %v; want %q", user, err, db.roles.Writer)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	pub, err := audit.ReadPublicKeyFile(filepath.Join(dir, "audit-anchor.pub"))
	if err != nil {
		t.Fatal(err)
	}
	anchors, _ := audit.ReadAnchorFile(filepath.Join(dir, "audit-anchors.jsonl"))
	if _, err := pgstore.VerifyDSN(ctx, db.reader, audit.VerifyOptions{Anchors: anchors, PublicKeys: []ed25519.PublicKey{pub}}, quietLog()); err != nil {
		t.Fatal(err)
	}

	// Without a DSN: the journal.
	jl, err := pgstore.OpenLog(ctx, pgstore.Options{}, audit.Options{Instance: "n1", StateDir: t.TempDir()}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer jl.Close()
	if _, ok := jl.Store().(*audit.Journal); !ok {
		t.Fatalf("store without DSN is %T, want the journal", jl.Store())
	}
}
