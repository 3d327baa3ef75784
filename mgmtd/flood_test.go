package mgmtd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/audit"
	"mgmtd/audit/pgstore"
	"mgmtd/audit/pgstore/pgtest"
	"mgmtd/auth"
	"mgmtd/internal/testutil"
)

// flood sends requests without credentials to url from the loopback
// addresses ips, two workers per address, until at least n are sent and
// stop is closed, and returns the answers by status. sent counts the
// requests sent so far.
func flood(t *testing.T, url string, ips []string, n int64, stop <-chan struct{}, sent *atomic.Int64) map[int]int64 {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int64{}
	var wg sync.WaitGroup
	for i := range 2 * len(ips) {
		c := clientFrom(t, ips[i%len(ips)])
		wg.Go(func() {
			for {
				if sent.Add(1) > n {
					select {
					case <-stop:
						return
					default:
					}
				}
				resp, err := c.Get(url + "/api/v1/nodes")
				if err != nil {
					t.Errorf("flood: %v", err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes
}

func loopbacks(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s.%d", prefix, 10+i))
	}
	return out
}

// stopResource stops a resource as the operator (Basic op) and waits for
// its task to succeed.
func stopResource(t *testing.T, d *Daemon, name string) action.Task {
	t.Helper()
	op := []string{"Authorization", "Basic " + basic("op", "op-secret-pw")}
	resp, body := testutil.HTTP(t, insecure, "POST", d.URL+"/api/v1/resources/"+name+"/actions/stop", "", op...)
	var task action.Task
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &task) != nil {
		t.Fatalf("stop %s: %d %s", name, resp.StatusCode, body)
	}
	testutil.Eventually(t, 90*time.Second, func() bool {
		resp, body := testutil.HTTP(t, insecure, "GET", d.URL+"/api/v1/tasks/"+task.ID, "", op...)
		return resp.StatusCode == http.StatusOK && json.Unmarshal(body, &task) == nil && task.State.Terminal()
	}, "task %s ends", task.ID)
	if task.State != action.StateSucceeded {
		t.Fatalf("stop %s: task %s %s: %s", name, task.ID, task.State, task.Error)
	}
	return task
}

// summarised sums the counts of the authn.summary records after seq.
func summarised(t *testing.T, d *Daemon, after uint64) (records int, requests int) {
	t.Helper()
	err := d.Audit.Store().Scan(context.Background(), "", after+1, func(r *audit.Record) error {
		if r.Action == string(auth.EventAuthSummary) {
			var s auth.Summary
			if err := json.Unmarshal(r.After, &s); err != nil {
				return err
			}
			records++
			requests += s.Count
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return records, requests
}

// headSeq is the last sequence number in the daemon's audit log.
func headSeq(t *testing.T, d *Daemon) uint64 {
	t.Helper()
	h, err := d.Audit.Store().Head(context.Background(), d.cfg.View)
	if err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

// TestUnauthenticatedFlood is the flood of issue 13: 10,000 requests
// without credentials from four sources against a daemon on a CIB file
// whose audit log is in PostgreSQL (a private server, stopped in the second
// half).
//
//   - The audit log grows by one authn.summary per source and summary
//     window (500 ms here), which together count every one of the 10,000
//     requests, plus what the operator's action records: at most
//     4 × (windows + 2) + 10 records, where the daemon wrote one per request
//     before (1,800-2,900 a second). The log lines are bounded the same way.
//   - An operator's action (a resource stop on the CIB file) succeeds
//     during the flood.
//   - With PostgreSQL down and the flood coming from 50 sources, the
//     spool's share for noise (100 of 1,000 records here) fills and noise
//     is refused; an action still succeeds, spooled. After the restart the
//     spool is replayed, audit.recovered counts the refused noise, and the
//     chain verifies against the daemon's local head file.
func TestUnauthenticatedFlood(t *testing.T) {
	pg := pgtest.Start(t)
	var logs testutil.SyncBuffer
	cfg, _ := cibConfig(t, "primitives")
	const window = 500 * time.Millisecond
	cfg.Audit = AuditConfig{DSN: pg.DSN, Migrate: true, SpoolLimit: 1000, SpoolNoiseLimit: 100}
	cfg.Auth.Limits.SummaryWindow = window
	d, _ := runDaemon(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)), Options{Passwords: []auth.PasswordChecker{cibUsers(t)}})
	waitResources(t, d)
	before := countRecords(t, d) // daemon.start
	first := headSeq(t, d)

	// 1. The flood (at least 10,000 requests, and until the operator's
	// action in the middle of it is done).
	const n = 10_000
	sources := loopbacks("127.0.0", 4)
	start := time.Now()
	var codes map[int]int64
	var progress atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { codes = flood(t, d.URL, sources, n, stop, &progress); close(done) }()
	testutil.Eventually(t, time.Minute, func() bool { return progress.Load() >= 1000 }, "the flood is under way")
	stopResource(t, d, "dummy-a")
	close(stop)
	<-done
	elapsed := time.Since(start)
	sent := int(codes[401] + codes[429])
	if sent < n || len(codes) != 2 {
		t.Fatalf("answers %v, want at least %d of 401 and 429", codes, n)
	}
	d.Auth.FlushSummaries()
	testutil.Eventually(t, 30*time.Second, func() bool { _, req := summarised(t, d, first); return req == sent },
		"the summaries count all %d requests", sent)
	windows := int(elapsed/window) + 1
	bound := len(sources)*(windows+2) + 10
	grew := countRecords(t, d) - before
	sums, _ := summarised(t, d, first)
	t.Logf("%d requests (%v) in %s: the audit log grew by %d records (%d summaries), bound %d (%d sources x (%d windows + 2) + 10)",
		sent, codes, elapsed.Round(time.Millisecond), grew, sums, bound, len(sources), windows)
	if grew > bound {
		t.Errorf("the audit log grew by %d records for %d refused requests, want at most %d", grew, sent, bound)
	}
	if lines := strings.Count(logs.String(), "authentication failed") + strings.Count(logs.String(), "refused requests summarised"); lines > 2*len(sources)*(windows+2) {
		t.Errorf("%d log lines about refused requests, want at most %d", lines, 2*len(sources)*(windows+2))
	}

	// 2. PostgreSQL down, the flood from 50 sources fills the spool's share
	// for noise; an action still succeeds.
	outageStart := headSeq(t, d)
	pg.Stop(t, "fast")
	stop, done = make(chan struct{}), make(chan struct{})
	go func() { flood(t, d.URL, loopbacks("127.0.1", 50), 0, stop, &progress); close(done) }()
	testutil.Eventually(t, time.Minute, func() bool { return strings.Contains(logs.String(), "the share for noise is full") },
		"the spool's share for noise is full")
	task := stopResource(t, d, "dummy-b")
	close(stop)
	<-done

	// 3. PostgreSQL back: replayed, the refused noise counted, verified.
	pg.Start(t)
	testutil.Eventually(t, time.Minute, func() bool { return !d.Audit.Degraded() }, "the spool is replayed")
	d.Auth.FlushSummaries()
	var recovered, intent, outcome bool
	var err error
	if !testutil.Poll(30*time.Second, func() bool {
		recovered, intent, outcome = false, false, false
		err = d.Audit.Store().Scan(context.Background(), "", outageStart+1, func(r *audit.Record) error {
			recovered = recovered || (r.Action == audit.ActionAuditRecovered && strings.Contains(r.Reason, "noise records refused"))
			intent = intent || (r.Action == "resource.stop.intent" && strings.Contains(r.Reason, task.ID))
			outcome = outcome || (r.Action == "resource.stop" && strings.Contains(r.Reason, task.ID) && r.Outcome == audit.OutcomeSuccess)
			return nil
		})
		return err == nil && recovered && intent && outcome
	}) {
		t.Fatalf("after the outage: audit.recovered counting refused noise %v, intent %v, outcome %v (%v)", recovered, intent, outcome, err)
	}
	outage := int(headSeq(t, d) - outageStart)
	t.Logf("outage: %d records, the noise share %d of a spool of %d", outage, cfg.Audit.SpoolNoiseLimit, cfg.Audit.SpoolLimit)
	if limit := cfg.Audit.SpoolNoiseLimit + 50 + 20; outage > limit {
		t.Errorf("%d records from the outage on, want at most %d (the noise share, a window of 50 sources, the action and the log's own)", outage, limit)
	}
	head, err := audit.ReadHeadFile(cfg.StateDir + "/" + audit.HeadFile)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pgstore.VerifyDSN(context.Background(), pg.DSN, audit.VerifyOptions{Heads: []audit.Head{head.Head}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestDaemonStartIsNeverLost: a daemon that starts while PostgreSQL is down
// records daemon.start. After a clean stop it continues after its local
// head in the spool at once; the very first start (no head file: the head
// is unknown) keeps the start and records it when the database answers.
func TestDaemonStartIsNeverLost(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	cfg, _ := cibConfig(t, "primitives")
	cfg.Audit = AuditConfig{DSN: pg.DSN, Migrate: true}
	starts := func() int {
		recs, err := pgstore.ExportDSN(ctx, pg.DSN, audit.Filter{Action: audit.ActionDaemonStart}, audit.FormatJSONL, io.Discard, slog.New(slog.DiscardHandler))
		if err != nil {
			return -1
		}
		return recs.Records
	}
	pg.Stop(t, "fast")
	d, stop := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{})
	pg.Start(t)
	testutil.Eventually(t, time.Minute, func() bool { return starts() == 1 }, "the first start is recorded once the database answers")
	stop()
	if h, err := audit.ReadHeadFile(cfg.StateDir + "/" + audit.HeadFile); err != nil || !h.Clean {
		t.Fatalf("head file after a clean stop: %+v %v", h, err)
	}

	pg.Stop(t, "fast")
	d, stop = runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{})
	testutil.Eventually(t, 30*time.Second, func() bool {
		spool, err := audit.OpenJournalReadOnly(cfg.StateDir + "/" + audit.SpoolFile)
		if err != nil {
			return false
		}
		defer spool.Close()
		recs, err := spool.Query(ctx, audit.Filter{Action: audit.ActionDaemonStart})
		return err == nil && len(recs) == 1
	}, "daemon.start is spooled with the database down")
	pg.Start(t)
	testutil.Eventually(t, time.Minute, func() bool { return !d.Audit.Degraded() }, "the spool is replayed")
	stop()
	if n := starts(); n != 2 {
		t.Fatalf("%d daemon.start records, want 2", n)
	}
}
