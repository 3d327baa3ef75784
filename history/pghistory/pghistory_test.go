package pghistory_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mgmtd/audit/pgstore/pgtest"
	"mgmtd/history"
	"mgmtd/history/historytest"
	"mgmtd/history/pghistory"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// The shared development PostgreSQL (scripts/deps.d/postgres.sh starts it);
// each test gets a throwaway database, the run its own roles.
var adminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var runID string

func TestMain(m *testing.M) {
	if v := os.Getenv("MGMTD_TEST_PG_DSN"); v != "" {
		adminDSN = v
	}
	b := make([]byte, 4)
	rand.Read(b)
	runID = fmt.Sprintf("h%d_%s", os.Getpid(), hex.EncodeToString(b))
	code := m.Run()
	if c, err := pgx.Connect(context.Background(), adminDSN); err == nil {
		r := roles()
		for _, n := range []string{r.Writer, r.Reader, r.Owner} {
			c.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{n}.Sanitize())
		}
		c.Close(context.Background())
	}
	os.Exit(code)
}

func roles() pghistory.Roles {
	return pghistory.Roles{Owner: "hist_" + runID + "_owner", Writer: "hist_" + runID + "_writer", Reader: "hist_" + runID + "_reader"}
}

// newDB creates an empty database on server and returns the superuser's
// DSN to it.
func newDB(t testing.TB, server string) string {
	t.Helper()
	_, dsn := pgtest.NewDB(t, server, "mgmtd_hist_"+runID)
	return dsn("")
}

// open opens a store on dsn that migrates on first use and writes as the
// writer role.
func open(t testing.TB, dsn string) *pghistory.Store {
	t.Helper()
	s, err := pghistory.Open(pghistory.Options{DSN: dsn, Roles: roles(), Migrate: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	historytest.Run(t, historytest.Harness{
		Open: func(t *testing.T) history.Store { return open(t, newDB(t, adminDSN)) },
		Reopen: func(t *testing.T, s history.Store) history.Store {
			var db string
			s.(*pghistory.Store).Pool().QueryRow(context.Background(), "SELECT current_database()").Scan(&db)
			s.Close()
			cfg, _ := pgx.ParseConfig(adminDSN)
			return open(t, fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db))
		},
	})
}

// TestWriterOnly: the daemon's role reads and writes history, creates and
// drops partitions only through the functions, and cannot change what is
// stored; the reader only reads.
func TestWriterOnly(t *testing.T) {
	ctx := context.Background()
	dsn := newDB(t, adminDSN)
	s := open(t, dsn)
	if err := s.Append(ctx, historytest.Records("c1", "n1", 1, 5)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE history.event SET type = 'x'", "DELETE FROM history.event", "DROP TABLE history.event",
		"CREATE TABLE history.x (a int)"} {
		if _, err := s.Pool().Exec(ctx, q); err == nil {
			t.Errorf("the writer may %q", q)
		}
	}
	cfg, _ := pgx.ParseConfig(dsn)
	c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", roles().Reader, cfg.Host, cfg.Port, cfg.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM history.event").Scan(&n); err != nil || n != 5 {
		t.Fatalf("reader counts %d, %v", n, err)
	}
	if _, err := c.Exec(ctx, "SELECT history.purge(now())"); err == nil {
		t.Error("the reader may purge")
	}
}

// TestRefusedRecord: a record PostgreSQL cannot hold (a NUL in its data,
// which jsonb refuses) is left out and logged; the rest of its batch is
// stored and nothing stalls.
func TestRefusedRecord(t *testing.T) {
	ctx := context.Background()
	s := open(t, newDB(t, adminDSN))
	recs := historytest.Records("c1", "n1", 1, 10)
	recs[4].Message = "bad \x00 byte"
	if err := s.Append(ctx, recs); err != nil {
		t.Fatalf("append: %v", err)
	}
	p, err := s.Query(ctx, history.Query{})
	if err != nil || len(p.Records) != 9 {
		t.Fatalf("%d records stored (%v), want 9", len(p.Records), err)
	}
	for _, r := range p.Records {
		if r.Seq == 5 {
			t.Fatal("the refused record was stored")
		}
	}
}

// TestDatabaseDown: a private server is stopped under a running recorder.
// Publishing goes on without waiting, the recorder queues, drops past its
// queue and counts; when the server is back everything queued is stored
// and the recorder says it caught up.
func TestDatabaseDown(t *testing.T) {
	srv := pgtest.Start(t)
	s := open(t, newDB(t, srv.DSN))
	var logs testutil.SyncBuffer
	r := history.NewRecorder(s, history.RecorderOptions{Instance: "n1", Queue: 200, Batch: 50, WriteTimeout: 2 * time.Second,
		Log: slogTo(&logs)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	l := model.NewEventLogWith(64, model.EventLogOptions{Tap: r.Tap})
	publish := func(n int) time.Duration {
		start := time.Now()
		for i := range n {
			l.Append([]model.Event{{Type: model.EventResourceMoved, Severity: model.SeverityWarning, Time: time.Now(),
				Object: model.ID{Cluster: "c1", Kind: model.KindResource, Name: fmt.Sprintf("r%d", i%7)}}})
		}
		return time.Since(start)
	}
	publish(20)
	testutil.Eventually(t, 30*time.Second, func() bool { return r.Stats().Written == 20 }, "first events not written: %+v", r.Stats())

	srv.Stop(t, "immediate")
	if d := publish(300); d > 5*time.Second {
		t.Fatalf("publishing with the database down took %s", d)
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return r.Stats().Failing }, "outage not noticed: %+v", r.Stats())
	st := r.Stats()
	if st.Dropped != 100 || st.Queued != 200 {
		t.Fatalf("during the outage: %+v; want 200 queued, 100 dropped", st)
	}
	srv.Start(t)
	testutil.Eventually(t, 60*time.Second, func() bool { st := r.Stats(); return st.Queued == 0 && !st.Failing },
		"never caught up: %+v", r.Stats())
	if n, err := s.LastSeq(context.Background(), "n1"); err != nil || n != 220 {
		t.Fatalf("last stored seq %d (%v), want 220", n, err)
	}
	if !strings.Contains(logs.String(), "history store caught up") || !strings.Contains(logs.String(), "dropped=100") {
		t.Fatalf("catch-up not reported:\n%s", logs.String())
	}
}
