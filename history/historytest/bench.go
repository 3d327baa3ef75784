package historytest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"mgmtd/history"
	"mgmtd/model"
)

// BenchEvents is how many records the benchmarks store.
const BenchEvents = 1_000_000

// BenchSpan is the time the benchmark records span: 30 days, one record
// about every 2.6 s.
const BenchSpan = 30 * 24 * time.Hour

// Fill stores BenchEvents records for the benchmarks, in batches of
// batch: 1,000 resources in turn ("res-0" ... "res-999"), every tenth
// record about the hot resource "web", each on one of 5 nodes.
func Fill(b testing.TB, s history.Store, batch int) {
	step := BenchSpan / BenchEvents
	recs := make([]history.Record, 0, batch)
	for i := range BenchEvents {
		name := fmt.Sprintf("res-%d", i%1000)
		if i%10 == 0 {
			name = "web"
		}
		e := model.Event{Seq: uint64(i + 1), Generation: uint64(i/4 + 1), Type: model.EventResourceMoved, Severity: model.SeverityWarning,
			Object: model.ID{Cluster: "bench", Kind: model.KindResource, Name: name}, Node: fmt.Sprintf("node%d", i%5+1),
			From: "node1", To: "node2", Published: Base.Add(time.Duration(i) * step), Message: "resource " + name + " moved from node1 to node2"}
		e.Time = e.Published.Add(-200 * time.Millisecond)
		recs = append(recs, history.Record{Instance: "node1", Event: e})
		if len(recs) == batch {
			if err := s.Append(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if len(recs) > 0 {
		if err := s.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchLast24h measures "the last 24 hours of object X" (the first page,
// at most history.MaxLimit records, newest first) on a store that Fill
// filled.
func BenchLast24h(b *testing.B, s history.Store, object string) {
	until := Base.Add(BenchSpan)
	q := history.Query{Object: object, Since: until.Add(-24 * time.Hour), Until: until, Limit: history.MaxLimit, Desc: true}
	p, err := s.Query(context.Background(), q)
	if err != nil || len(p.Records) == 0 {
		b.Fatalf("query: %d records, %v", len(p.Records), err)
	}
	b.ReportMetric(float64(len(p.Records)), "records/op")
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Query(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}
