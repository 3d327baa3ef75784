// Package historytest is the conformance suite every history.Store passes
// (the embedded store and PostgreSQL), in the style of go-cloud's
// drivertest: the same records, the same questions, the same answers.
// It is imported by tests only.
package historytest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mgmtd/history"
	"mgmtd/model"
)

// Harness opens stores for the suite.
type Harness struct {
	// Open returns an empty store.
	Open func(t *testing.T) history.Store
	// Reopen closes s and opens the same store again (a restart).
	Reopen func(t *testing.T, s history.Store) history.Store
}

// Base is the publication time of the first generated record.
var Base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Records generates n records of instance for cluster, one a minute from
// Base, cycling through objects, kinds, types and severities, with
// failure data on the failures.
func Records(cluster, instance string, first uint64, n int) []history.Record {
	objs := []struct {
		kind model.Kind
		name string
	}{{model.KindResource, "web"}, {model.KindResource, "db"}, {model.KindNode, "node1"}, {model.KindVM, "vm1"}, {model.KindCluster, cluster}}
	var out []history.Record
	for i := range n {
		o := objs[i%len(objs)]
		e := model.Event{Seq: first + uint64(i), Generation: uint64(i/3 + 1), Object: model.ID{Cluster: cluster, Kind: o.kind, Name: o.name},
			Published: Base.Add(time.Duration(i) * time.Minute)}
		e.Time = e.Published.Add(-150 * time.Millisecond)
		switch o.kind {
		case model.KindResource:
			if i%2 == 0 {
				e.Type, e.Severity, e.Node = model.EventResourceFailed, model.SeverityCritical, "node1"
				e.Data = map[string]any{"resource": o.name, "node": "node1", "op": "monitor", "rc": float64(7)}
			} else {
				e.Type, e.Severity, e.Node, e.From, e.To = model.EventResourceMoved, model.SeverityWarning, "node2", "node1", "node2"
			}
		case model.KindNode:
			e.Type, e.Severity, e.Node = model.EventNodeLeft, model.SeverityWarning, o.name
		case model.KindVM:
			e.Type, e.Severity, e.Node = model.EventVMState, model.SeverityInfo, "hv1"
		default:
			e.Type, e.Severity = model.EventQuorumLost, model.SeverityCritical
		}
		e.Message = fmt.Sprintf("event %d about %s", e.Seq, o.name)
		out = append(out, history.Record{Instance: instance, Event: e})
	}
	return out
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	t.Run("AppendQueryPage", func(t *testing.T) {
		s := h.Open(t)
		recs := Records("c1", "n1", 1, 50)
		if err := s.Append(ctx, recs[:30]); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, recs[20:]); err != nil { // overlaps: resent batch
			t.Fatalf("append again: %v", err)
		}
		for _, desc := range []bool{false, true} {
			got := all(t, s, history.Query{Limit: 7, Desc: desc})
			want := slices.Clone(recs)
			if desc {
				slices.Reverse(want)
			}
			if d := cmp.Diff(seqs(want), seqs(got)); d != "" {
				t.Fatalf("desc=%v: pages (-want +got):\n%s", desc, d)
			}
		}
		got := all(t, s, history.Query{})
		if d := cmp.Diff(recs[7], got[7], timeEq); d != "" {
			t.Fatalf("record round trip (-want +got):\n%s", d)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		s := h.Open(t)
		recs := append(Records("c1", "n1", 1, 100), Records("c2", "n2", 1, 20)...)
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		since, until := Base.Add(10*time.Minute), Base.Add(60*time.Minute)
		cases := []history.Query{
			{Object: "web"},
			{Object: "node1"}, // the node's own events and events that happened on it
			{Object: "web", Since: since, Until: until},
			{Object: "web", Since: since, Until: until, Desc: true, Limit: 3},
			{Since: since, Until: until},
			{Kinds: []model.Kind{model.KindVM, model.KindNode}},
			{Types: []string{"resource."}},
			{Types: []string{string(model.EventQuorumLost)}, Severities: []model.Severity{model.SeverityCritical}},
			{Severities: []model.Severity{model.SeverityWarning}, Object: "db"},
			{Cluster: "c2"},
			{Instance: "n2", Object: "web"},
			{Object: "nothing"},
		}
		for i, q := range cases {
			want := expect(recs, q)
			got := all(t, s, q)
			if len(want) == 0 && q.Object != "nothing" {
				t.Fatalf("case %d selects nothing: a useless case", i)
			}
			if d := cmp.Diff(seqInst(want), seqInst(got)); d != "" {
				t.Errorf("case %d %+v (-want +got):\n%s", i, q, d)
			}
		}
	})
	t.Run("AfterSeq", func(t *testing.T) {
		s := h.Open(t)
		recs := append(Records("c1", "n1", 1, 40), Records("c1", "n2", 1, 40)...)
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if got := all(t, s, history.Query{Instance: "n2", BySeq: true, Limit: 9}); len(got) != 40 || got[0].Seq != 1 || got[0].Instance != "n2" {
			t.Fatalf("n2 by sequence from the start: %d records", len(got))
		}
		got := all(t, s, history.Query{Instance: "n1", AfterSeq: 25, Limit: 4})
		if d := cmp.Diff(seqs(recs[25:40]), seqs(got)); d != "" {
			t.Fatalf("after seq 25 (-want +got):\n%s", d)
		}
		for _, in := range got {
			if in.Instance != "n1" {
				t.Fatalf("record of %s", in.Instance)
			}
		}
		if _, err := s.Query(ctx, history.Query{AfterSeq: 3}); err == nil {
			t.Fatal("after_seq without an instance accepted")
		}
		n, err := s.LastSeq(ctx, "n2")
		if err != nil || n != 40 {
			t.Fatalf("LastSeq(n2) = %d, %v", n, err)
		}
		if n, err := s.LastSeq(ctx, "n9"); err != nil || n != 0 {
			t.Fatalf("LastSeq(n9) = %d, %v", n, err)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		s := h.Open(t)
		if _, err := s.Query(ctx, history.Query{Cursor: "!!"}); err == nil {
			t.Fatal("bad cursor accepted")
		}
		bad := Records("c1", "n1", 1, 1)
		bad[0].Seq = 0
		if err := s.Append(ctx, bad); err == nil {
			t.Fatal("record without a sequence accepted")
		}
		if _, err := s.Query(ctx, history.Query{Since: Base, Until: Base}); err == nil {
			t.Fatal("empty time range accepted")
		}
	})
	t.Run("Purge", func(t *testing.T) {
		s := h.Open(t)
		// Three days, one record an hour.
		var recs []history.Record
		for i, r := range Records("c1", "n1", 1, 72) {
			r.Published = Base.Add(time.Duration(i) * time.Hour)
			recs = append(recs, r)
		}
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		cut := Base.Add(48 * time.Hour)
		if _, err := s.Purge(ctx, cut); err != nil {
			t.Fatal(err)
		}
		got := all(t, s, history.Query{})
		if len(got) == 0 || got[len(got)-1].Seq != 72 {
			t.Fatalf("purge lost records it must keep: %v", seqs(got))
		}
		for _, r := range got {
			if r.Published.Before(cut.Add(-24 * time.Hour)) {
				t.Fatalf("record %d of %s survived a purge before %s", r.Seq, r.Published, cut)
			}
		}
		if got := all(t, s, history.Query{Object: "web", Until: cut.Add(-24 * time.Hour)}); len(got) != 0 {
			t.Fatalf("object index still finds purged records: %v", seqs(got))
		}
	})
	if h.Reopen != nil {
		t.Run("Reopen", func(t *testing.T) {
			s := h.Open(t)
			recs := Records("c1", "n1", 1, 25)
			if err := s.Append(ctx, recs); err != nil {
				t.Fatal(err)
			}
			s = h.Reopen(t, s)
			if d := cmp.Diff(seqs(recs), seqs(all(t, s, history.Query{}))); d != "" {
				t.Fatalf("after reopen (-want +got):\n%s", d)
			}
			if n, err := s.LastSeq(ctx, "n1"); err != nil || n != 25 {
				t.Fatalf("LastSeq after reopen = %d, %v", n, err)
			}
		})
	}
}

var timeEq = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// all pages through q.
func all(t *testing.T, s history.Store, q history.Query) []history.Record {
	t.Helper()
	var out []history.Record
	for range 10_000 {
		p, err := s.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		if q.Limit > 0 && len(p.Records) > q.Limit {
			t.Fatalf("page of %d records, limit %d", len(p.Records), q.Limit)
		}
		out = append(out, p.Records...)
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
	}
	t.Fatal("pages never end")
	return nil
}

// expect answers q from the records in memory.
func expect(recs []history.Record, q history.Query) []history.Record {
	var out []history.Record
	for i := range recs {
		if q.Match(&recs[i]) {
			out = append(out, recs[i])
		}
	}
	slices.SortFunc(out, func(a, b history.Record) int { return history.Of(&a).Compare(history.Of(&b)) })
	if q.Desc {
		slices.Reverse(out)
	}
	return out
}

func seqs(rs []history.Record) []uint64 {
	out := []uint64{}
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func seqInst(rs []history.Record) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s/%d", r.Instance, r.Seq))
	}
	return out
}
