package pghub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/hub"
	"mgmtd/model"
)

// benchClusters is how many simulated clusters the benchmarks run
// (MGMTD_HUB_BENCH_CLUSTERS; default 20, the scale is 500).
func benchClusters(b *testing.B) int {
	n := 20
	if v := os.Getenv("MGMTD_HUB_BENCH_CLUSTERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("MGMTD_HUB_BENCH_CLUSTERS=%q", v)
		}
	}
	return n
}

// simSnapshot is a generated cluster of 16 nodes and 100 primitives, each
// started on one node (the size); gen moves one resource.
func simSnapshot(cluster string, gen uint64) *model.Snapshot {
	s := &model.Snapshot{Generation: gen, Time: time.Now(), View: "n01", Cluster: model.Cluster{Name: cluster, DC: "n01", Quorate: true, NodesConfigured: 16, ResourcesConfigured: 100},
		Sources: []model.SourceStatus{{Name: "pacemaker", State: model.SourceOK, LastSuccess: time.Now()}}}
	for i := range 16 {
		s.Nodes = append(s.Nodes, model.Node{Name: fmt.Sprintf("n%02d", i+1), Type: model.NodeMember, State: "online", Online: true})
	}
	for i := range 100 {
		id := fmt.Sprintf("rsc%03d", i)
		node := s.Nodes[(i+int(gen))%16].Name
		s.Resources = append(s.Resources, model.Resource{ID: id, Kind: "primitive", Agent: "ocf:heartbeat:Dummy", Managed: true})
		s.Instances = append(s.Instances, model.Instance{Resource: id, Primitive: id, Top: id, Node: node, Role: "Started", Active: true, Managed: true})
	}
	return model.Reindexed(s)
}

// simEvents are n events of a failover, sequences from seq.
func simEvents(cluster string, seq uint64, n int) []model.Event {
	out := make([]model.Event, n)
	now := time.Now()
	for i := range out {
		out[i] = model.Event{Seq: seq + uint64(i), Time: now, Published: now, Type: model.EventResourceMoved, Severity: model.SeverityWarning,
			Object: model.ID{Cluster: cluster, Kind: model.KindResource, Name: fmt.Sprintf("rsc%03d", i%100)}, Node: "n02", From: "n01", To: "n02", Message: "moved"}
	}
	return out
}

// BenchmarkFleetIngest: the simulated clusters push at once (each push a
// full picture and 5 events, what a changing cluster sends per snapshot
// interval) through one hub process into PostgreSQL. Reports pushes and
// events per second.
//
//	MGMTD_HUB_BENCH_CLUSTERS=20 go test ./hub/pghub -run '^$' -bench FleetIngest -benchtime 400x
func BenchmarkFleetIngest(b *testing.B) {
	n := benchClusters(b)
	s := open(b, newDB(b))
	h := hub.New(hub.Options{Store: s})
	ctx := context.Background()
	if err := h.Load(ctx); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	seqs := make([]atomic.Uint64, n)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range n {
		wg.Go(func() {
			name := fmt.Sprintf("sim%04d", c)
			for next.Add(1) <= int64(b.N) {
				seq := seqs[c].Add(5) - 4
				p := &hub.Push{Cluster: name, Instance: "n01", Snapshot: simSnapshot(name, seq), Events: simEvents(name, seq, 5), Sent: time.Now()}
				if _, err := h.Ingest(ctx, p); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el, "pushes/s")
	b.ReportMetric(float64(b.N*5)/el, "events/s")
	// For sizing: a picture's JSON, and what an event costs on disk
	// (table, TOAST and indexes).
	js, _ := json.Marshal(simSnapshot("sim0000", 1))
	b.ReportMetric(float64(len(js)), "snapshot-bytes")
	var size, rows int64
	if err := s.Pool().QueryRow(ctx, "SELECT pg_total_relation_size('hub.event'), (SELECT count(*) FROM hub.event)").Scan(&size, &rows); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/float64(rows), "disk-bytes/event")
}

// BenchmarkFleetWhere: where across the fleet (every cluster's picture in
// memory) for a resource every cluster has. Reports p99.
//
//	MGMTD_HUB_BENCH_CLUSTERS=20 go test ./hub/pghub -run '^$' -bench FleetWhere -benchtime 200x
func BenchmarkFleetWhere(b *testing.B) {
	n := benchClusters(b)
	s := open(b, newDB(b))
	h := hub.New(hub.Options{Store: s})
	ctx := context.Background()
	if err := h.Load(ctx); err != nil {
		b.Fatal(err)
	}
	for c := range n {
		name := fmt.Sprintf("sim%04d", c)
		if _, err := h.Ingest(ctx, &hub.Push{Cluster: name, Instance: "n01", Snapshot: simSnapshot(name, 1), Sent: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		ans := h.Where(fmt.Sprintf("rsc%03d", i%100), nil)
		lat = append(lat, time.Since(t0))
		if len(ans) != n {
			b.Fatalf("where answered %d clusters of %d", len(ans), n)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
