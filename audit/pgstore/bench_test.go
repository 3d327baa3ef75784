package pgstore_test

import (
	"context"
	"flag"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
)

var benchClients = flag.Int("audit-clients", 64, "concurrent clients of BenchmarkWriter")

// BenchmarkWriter compares, in one run, the group-committing Log against a
// naive writer that commits every event in its own transaction, both
// chaining every event and acknowledging only after COMMIT with
// synchronous_commit=on, with -audit-clients concurrent clients (default 64):
//
//	go test -run '^$' -bench Writer -benchtime 30000x ./audit/pgstore/
//
// It reports events/s and the p50/p99 acknowledgement latency of each, and
// the ratio of the two rates (group/naive, on the naive line).
func BenchmarkWriter(b *testing.B) {
	clients := *benchClients
	var group float64 // events/s of the group-commit run, for the ratio
	b.Run("group-commit", func(b *testing.B) {
		db := newTestDB(b, adminDSN)
		st := openWriter(b, db)
		l, err := audit.Open(context.Background(), audit.Options{Instance: "node1", StateDir: b.TempDir(), Primary: st,
			AnchorInterval: -1}, quietLog())
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		group = runWriters(b, clients, func(ctx context.Context, e audit.Event) error {
			_, err := l.Record(ctx, e)
			return err
		})
	})
	b.Run("naive-tx-per-event", func(b *testing.B) {
		db := newTestDB(b, adminDSN)
		st := openWriter(b, db)
		defer st.Close()
		nw := &naiveWriter{pool: st.Pool(), head: audit.Head{Instance: "node1"}}
		if naive := runWriters(b, clients, nw.record); naive > 0 && group > 0 {
			b.ReportMetric(group/naive, "group/naive")
		}
	})
}

// naiveWriter chains each event and INSERTs it in its own (autocommit)
// transaction, one at a time.
type naiveWriter struct {
	mu   sync.Mutex
	pool *pgxpool.Pool
	head audit.Head
}

func (w *naiveWriter) record(ctx context.Context, e audit.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.Time = time.Now().UTC().Truncate(time.Microsecond)
	r := audit.Record{Event: e, Instance: w.head.Instance, Seq: w.head.Seq + 1, PrevHash: w.head.Hash}
	r.Hash = r.ComputeHash()
	if r.Seq == 1 {
		if _, err := w.pool.Exec(ctx, "SELECT audit.ensure_partition(now())"); err != nil {
			return err
		}
	}
	_, err := w.pool.Exec(ctx, `INSERT INTO audit.event (instance, seq, ts, actor, auth_method, roles, channel, source,
		request_id, action, object_type, object_id, outcome, reason, before, after, prev_hash, hash)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15::json,$16::json,$17,$18)`,
		r.Instance, int64(r.Seq), r.Time, r.Actor, r.AuthMethod, append([]string{}, r.Roles...), string(r.Channel), r.Source,
		r.RequestID, r.Action, r.ObjectType, r.ObjectID, string(r.Outcome), r.Reason, nullable(r.Before), nullable(r.After),
		r.PrevHash[:], r.Hash[:])
	if err == nil {
		w.head = audit.Head{Instance: r.Instance, Seq: r.Seq, Hash: r.Hash}
	}
	return err
}

func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// runWriters runs b.N records from clients goroutines, reports the rate
// and latencies, and returns the rate (events/s).
func runWriters(b *testing.B, clients int, record func(context.Context, audit.Event) error) float64 {
	ctx := context.Background()
	events := make([]audit.Event, 256)
	for i := range events {
		events[i] = audittest.Event(i, time.Time{})
		events[i].Time = time.Time{}
	}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := record(ctx, events[i%int64(len(events))]); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return 0
	}
	rate := float64(len(all)) / elapsed.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
	return rate
}
