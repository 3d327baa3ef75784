package pgstore_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
	"mgmtd/audit/pgstore"
	"mgmtd/audit/pgstore/pgtest"
	"mgmtd/internal/testutil"
)

// writeEvents records n events through a Log on db (as the writer role)
// and returns the anchor file written at Close and the anchor public key.
func writeEvents(t *testing.T, db testDB, n int) (anchorFile string, pub ed25519.PublicKey) {
	t.Helper()
	ctx := context.Background()
	st := openWriter(t, db)
	dir := t.TempDir()
	l, err := audit.Open(ctx, audit.Options{Instance: "node1", StateDir: dir, Primary: st, AnchorInterval: -1}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := c; i < n; i += 8 {
				if _, err := l.Record(ctx, audittest.Event(i, time.Now())); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	pub = l.PublicKey()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "audit-anchors.jsonl"), pub
}

func TestWriterPrivileges(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t, adminDSN)
	writeEvents(t, db, 10)
	var part string
	su := adminConn(t, db.admin)
	defer su.Close(ctx)
	if err := su.QueryRow(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit.event'::regclass LIMIT 1`).Scan(&part); err != nil {
		t.Fatalf("find a partition: %v", err)
	}
	tests := []struct {
		as, sql string
	}{
		{"writer", "UPDATE audit.event SET outcome = 'success'"},
		{"writer", "DELETE FROM audit.event WHERE seq = 1"},
		{"writer", "TRUNCATE audit.event"},
		{"writer", "TRUNCATE audit." + part},
		{"writer", "DELETE FROM audit." + part},
		{"writer", "ALTER TABLE audit.event DISABLE TRIGGER ALL"},
		{"writer", "ALTER TABLE audit.event DROP COLUMN reason"},
		{"writer", "DROP TABLE audit.event"},
		{"writer", "DROP TABLE audit." + part},
		{"writer", "UPDATE audit.anchor SET seq = 1"},
		{"writer", "DELETE FROM audit.anchor"},
		{"writer", "TRUNCATE audit.anchor"},
		{"writer", "INSERT INTO audit.base VALUES ('node1', 1, decode(repeat('00', 32), 'hex'), 'x')"},
		{"writer", "DROP FUNCTION audit.block_change() CASCADE"},
		{"writer", "SET session_replication_role = replica"},
		{"reader", "INSERT INTO audit.anchor VALUES ('n', 1, decode(repeat('00', 32), 'hex'), now(), 'k', '', '')"},
		{"reader", "SELECT audit.ensure_partition(now())"},
		{"superuser", "UPDATE audit.event SET outcome = 'success'"},
		{"superuser", "DELETE FROM audit.event"},
		{"superuser", "TRUNCATE audit.event"},
		{"superuser", "TRUNCATE audit." + part},
		{"superuser", "DELETE FROM audit.anchor"},
	}
	dsn := map[string]string{"writer": db.writer, "reader": db.reader, "superuser": db.admin}
	for _, tc := range tests {
		t.Run(tc.as+": "+tc.sql, func(t *testing.T) {
			c := adminConn(t, dsn[tc.as])
			defer c.Close(ctx)
			_, err := c.Exec(ctx, tc.sql)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				t.Fatalf("succeeded or failed oddly: %v", err)
			}
			// 42501 insufficient_privilege: both "permission denied",
			// "must be owner" and the append-only trigger use it.
			if pgErr.Code != "42501" {
				t.Fatalf("error %s %q, want insufficient_privilege", pgErr.Code, pgErr.Message)
			}
			if tc.as == "superuser" && !strings.Contains(pgErr.Message, "append-only") {
				t.Fatalf("superuser stopped by %q, want the append-only trigger", pgErr.Message)
			}
		})
	}
	// Still intact.
	st := openWriter(t, db)
	defer st.Close()
	if rep, err := audit.Verify(ctx, st, audit.VerifyOptions{}); err != nil || rep.Chains[0].Records != 10 {
		t.Fatalf("verify after attempts: %v %+v", err, rep)
	}
}

func TestWriterSessionSynchronousCommit(t *testing.T) {
	p := pgtest.Start(t) // server default synchronous_commit = off
	db := newTestDB(t, p.DSN)
	st := openWriter(t, db)
	defer st.Close()
	var v string
	if err := st.Pool().QueryRow(context.Background(), "SHOW synchronous_commit").Scan(&v); err != nil || v != "on" {
		t.Fatalf("writer session synchronous_commit = %q, %v; want on", v, err)
	}
	// Appends go through their own connection, which checks the same.
	recs := audittest.Chain(audit.Head{Instance: "n1"}, 2, time.Now())
	if err := st.Append(context.Background(), recs); err != nil {
		t.Fatalf("append: %v", err)
	}
}

// TestTamper alters the stored log as a superuser bypassing the triggers
// (session_replication_role = replica) and checks that verify detects it.
func TestTamper(t *testing.T) {
	ctx := context.Background()
	const n = 200
	rehash := `
		CREATE TEMP TABLE t AS SELECT * FROM audit.event WHERE seq >= 120 ORDER BY seq;
		DELETE FROM audit.event WHERE seq >= 120;
		UPDATE t SET reason = reason || ' (nothing happened)' WHERE seq = 120;`
	tests := []struct {
		name    string
		sql     string
		rehash  bool // recompute the hashes from seq 120 on (as the attacker)
		trusted bool // verify with the anchor file from outside the database
		want    string
	}{
		{name: "untouched", trusted: true},
		{name: "edited row", sql: "UPDATE audit.event SET outcome = CASE outcome WHEN 'success' THEN 'failure' ELSE 'success' END WHERE seq = 100", want: "100: content hash mismatch"},
		{name: "deleted middle row", sql: "DELETE FROM audit.event WHERE seq = 150", want: "gap: expected seq 150, found 151"},
		{name: "deleted tail (db anchors deleted too)", sql: "DELETE FROM audit.event WHERE seq > 190; DELETE FROM audit.anchor", trusted: true, want: "tail deleted"},
		{name: "deleted tail, db anchor left", sql: "DELETE FROM audit.event WHERE seq > 190", want: "tail deleted"},
		{name: "rewrite with recomputed hashes", sql: rehash, rehash: true, trusted: true, want: "chain rewritten"},
		{name: "reordered rows", sql: "UPDATE audit.event SET seq = CASE seq WHEN 50 THEN 51 ELSE 50 END WHERE seq IN (50, 51)", want: "content hash mismatch"},
		{name: "anchor signed by another key", sql: "UPDATE audit.anchor SET public_key = decode(repeat('ab', 32), 'hex')", trusted: true, want: "key id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t, adminDSN)
			anchorFile, pub := writeEvents(t, db, n)
			su := adminConn(t, db.admin)
			defer su.Close(ctx)
			if tc.sql != "" {
				if _, err := su.Exec(ctx, "SET session_replication_role = replica; "+tc.sql); err != nil {
					t.Fatalf("tamper: %v", err)
				}
			}
			if tc.rehash {
				rehashTemp(t, su)
				// Also remove the database's own anchors, as the attacker would.
				if _, err := su.Exec(ctx, "SET session_replication_role = replica; DELETE FROM audit.anchor"); err != nil {
					t.Fatal(err)
				}
			}
			st := openWriter(t, db)
			defer st.Close()
			if !tc.trusted {
				rep, err := audit.Verify(ctx, st, audit.VerifyOptions{})
				audittest.CheckVerify(t, rep, err, tc.want)
				return
			}
			if tc.want != "" && tc.rehash {
				// Without the outside anchor the rewrite is invisible: that
				// is why anchors must leave the database host.
				if _, err := audit.Verify(ctx, st, audit.VerifyOptions{}); err != nil {
					t.Fatalf("rehashed chain should verify internally: %v", err)
				}
			}
			anchors, err := audit.ReadAnchorFile(anchorFile)
			if err != nil || len(anchors) == 0 {
				t.Fatalf("anchor file: %v %v", anchors, err)
			}
			rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Anchors: anchors, PublicKeys: []ed25519.PublicKey{pub}})
			audittest.CheckVerify(t, rep, err, tc.want)
		})
	}
}

// rehashTemp recomputes the chain over the rows in temp table t and writes
// them back into audit.event.
func rehashTemp(t *testing.T, su *pgx.Conn) {
	ctx := context.Background()
	var prevHash []byte
	if err := su.QueryRow(ctx, "SELECT hash FROM audit.event ORDER BY seq DESC LIMIT 1").Scan(&prevHash); err != nil {
		t.Fatal(err)
	}
	rows, err := su.Query(ctx, "SELECT seq FROM t ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range seqs {
		r := readTempRecord(t, su, seq)
		copy(r.PrevHash[:], prevHash)
		r.Hash = r.ComputeHash()
		if _, err := su.Exec(ctx, "UPDATE t SET prev_hash = $1, hash = $2 WHERE seq = $3", r.PrevHash[:], r.Hash[:], seq); err != nil {
			t.Fatal(err)
		}
		prevHash = r.Hash[:]
	}
	if _, err := su.Exec(ctx, "SET session_replication_role = replica; INSERT INTO audit.event SELECT * FROM t"); err != nil {
		t.Fatal(err)
	}
}

func readTempRecord(t *testing.T, su *pgx.Conn, seq int64) audit.Record {
	var r audit.Record
	var s int64
	var ch, out string
	var before, after []byte
	err := su.QueryRow(ctx0, `SELECT instance, seq, ts, actor, auth_method, roles, channel, source, request_id, action,
		object_type, object_id, outcome, reason, before::text, after::text FROM t WHERE seq = $1`, seq).Scan(
		&r.Instance, &s, &r.Time, &r.Actor, &r.AuthMethod, &r.Roles, &ch, &r.Source, &r.RequestID, &r.Action,
		&r.ObjectType, &r.ObjectID, &out, &r.Reason, &before, &after)
	if err != nil {
		t.Fatal(err)
	}
	r.Seq, r.Time, r.Channel, r.Outcome, r.Before, r.After = uint64(s), r.Time.UTC(), audit.Channel(ch), audit.Outcome(out), before, after
	return r
}

var ctx0 = context.Background()

// copyDir copies the files of dir to a new temporary directory: what a
// crash (kill -9) would have left on disk at this moment.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestDeletedTailAfterLastAnchor: the database administrator deletes the
// records written after the last anchor (two completed actions) while the
// daemon crashes. Verify with the anchor file alone cannot see it; with
// the daemon's local head file it reports the deleted tail. The restarted
// daemon never reuses the deleted sequence numbers: it continues after its
// own head and records the gap as audit.tampered, which verify reports as
// a gap from then on.
func TestDeletedTailAfterLastAnchor(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t, adminDSN)
	dir := t.TempDir()
	open := func(dir string) *audit.Log {
		l, err := audit.Open(ctx, audit.Options{Instance: "node1", StateDir: dir, Primary: openWriter(t, db), AnchorInterval: -1}, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open(dir)
	for i := range 10 {
		if _, err := l.Record(ctx, audittest.Event(i, time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	l.Close() // anchors seq 10
	l = open(dir)
	for i := range 2 {
		if rc, err := l.Record(ctx, audittest.Event(i, time.Time{})); err != nil || rc.Seq != uint64(11+i) {
			t.Fatalf("record: %+v %v", rc, err)
		}
	}
	crashed := copyDir(t, dir) // kill -9 now: no anchor for 11 and 12
	l.Close()
	su := adminConn(t, db.admin)
	defer su.Close(ctx)
	if _, err := su.Exec(ctx, "SET session_replication_role = replica; DELETE FROM audit.event WHERE seq > 10; DELETE FROM audit.anchor WHERE seq > 10"); err != nil {
		t.Fatal(err)
	}
	anchors, err := audit.ReadAnchorFile(filepath.Join(crashed, "audit-anchors.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := pgstore.VerifyDSN(ctx, db.reader, audit.VerifyOptions{Anchors: anchors}, quietLog()); err != nil {
		t.Fatalf("without the head file the deleted tail is invisible, but verify said: %v %+v", err, rep)
	}
	head, err := audit.ReadHeadFile(filepath.Join(crashed, audit.HeadFile))
	if err != nil || head.Seq != 12 || head.Clean {
		t.Fatalf("head file after the crash: %+v %v, want seq 12, not clean", head, err)
	}
	rep, err := pgstore.VerifyDSN(ctx, db.reader, audit.VerifyOptions{Anchors: anchors, Heads: []audit.Head{head.Head}}, quietLog())
	audittest.CheckVerify(t, rep, err, "node1/12: local head file anchor beyond the chain head 10 (tail deleted)")

	// The restart after the crash.
	l = open(crashed)
	rc, err := l.Record(ctx, audittest.Event(0, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Seq <= 13 {
		t.Fatalf("first record after the restart has seq %d, want it after 12 (acknowledged before the crash) and 13 (the gap record): sequence numbers reused", rc.Seq)
	}
	l.Close()
	recs, err := openWriter(t, db).Query(ctx, audit.Filter{Action: audit.ActionAuditTampered})
	if err != nil || len(recs) != 1 || recs[0].Seq != 13 || !strings.Contains(recs[0].Reason, "records 11..12 are missing") {
		t.Fatalf("audit.tampered: %+v %v", recs, err)
	}
	rep, err = pgstore.VerifyDSN(ctx, db.reader, audit.VerifyOptions{Anchors: anchors, Heads: []audit.Head{head.Head}}, quietLog())
	audittest.CheckVerify(t, rep, err, "gap: expected seq 11, found 13")
}

// TestTailDeletedWhileRunning: the tail is deleted under a running writer.
// Its next append does not continue the stored chain; it reads the head
// back, finds it behind what it acknowledged, records the gap
// (audit.tampered) and continues after its own head.
func TestTailDeletedWhileRunning(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t, adminDSN)
	l, err := audit.Open(ctx, audit.Options{Instance: "node1", StateDir: t.TempDir(), Primary: openWriter(t, db), AnchorInterval: -1,
		RetryInterval: 20 * time.Millisecond}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 5 {
		if _, err := l.Record(ctx, audittest.Event(i, time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	su := adminConn(t, db.admin)
	defer su.Close(ctx)
	if _, err := su.Exec(ctx, "SET session_replication_role = replica; DELETE FROM audit.event WHERE seq > 3"); err != nil {
		t.Fatal(err)
	}
	var rc audit.Receipt
	testutil.Eventually(t, 10*time.Second, func() bool {
		rc, err = l.Record(ctx, audittest.Event(9, time.Time{}))
		return err == nil
	}, "the writer records again: %v", err)
	if rc.Seq <= 6 {
		t.Fatalf("record after the deleted tail has seq %d, want it after 5 (acknowledged) and the gap record", rc.Seq)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return !l.Degraded() }, "the gap is bridged")
	recs, err := openWriter(t, db).Query(ctx, audit.Filter{Action: audit.ActionAuditTampered})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Reason, "records 4..5 are missing") {
		t.Fatalf("audit.tampered: %+v %v", recs, err)
	}
	rep, err := pgstore.VerifyDSN(ctx, db.reader, audit.VerifyOptions{}, quietLog())
	audittest.CheckVerify(t, rep, err, "gap: expected seq 4, found 6")
}
