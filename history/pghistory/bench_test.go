package pghistory_test

import (
	"context"
	"sync"
	"testing"

	"mgmtd/history/historytest"
	"mgmtd/history/pghistory"
)

var (
	benchOnce  sync.Once
	benchStore *pghistory.Store
)

func filled(b *testing.B) *pghistory.Store {
	benchOnce.Do(func() {
		s := open(b, newDB(b, adminDSN))
		historytest.Fill(b, s, 5_000)
		if _, err := s.Pool().Exec(context.Background(), "ANALYZE history.event"); err != nil {
			b.Fatal(err)
		}
		benchStore = s
	})
	if benchStore == nil {
		b.Fatal("filling the store failed")
	}
	return benchStore
}

// BenchmarkLast24h: "the last 24 hours of object X" from 1,000,000 stored
// events (see the embedded store's benchmark).
func BenchmarkLast24h(b *testing.B) {
	s := filled(b)
	b.Run("object", func(b *testing.B) { historytest.BenchLast24h(b, s, "res-42") })
	b.Run("hot", func(b *testing.B) { historytest.BenchLast24h(b, s, "web") })
}
