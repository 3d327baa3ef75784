package boltstore_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"mgmtd/history/boltstore"
	"mgmtd/history/historytest"
)

var (
	benchOnce  sync.Once
	benchStore *boltstore.Store
)

// filled is a store holding historytest.BenchEvents records, built once
// per test binary.
func filled(b *testing.B) *boltstore.Store {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mgmtd-history-bench-")
		if err != nil {
			b.Fatal(err)
		}
		s, err := boltstore.Open(filepath.Join(dir, boltstore.FileName))
		if err != nil {
			b.Fatal(err)
		}
		historytest.Fill(b, s, 10_000)
		benchStore = s
	})
	if benchStore == nil {
		b.Fatal("filling the store failed")
	}
	return benchStore
}

// BenchmarkLast24h: "the last 24 hours of object X" from 1,000,000 stored
// events: a resource with ~33 events that day, and a hot one with 3,333
// (the first page of 1,000).
func BenchmarkLast24h(b *testing.B) {
	s := filled(b)
	b.Run("object", func(b *testing.B) { historytest.BenchLast24h(b, s, "res-42") })
	b.Run("hot", func(b *testing.B) { historytest.BenchLast24h(b, s, "web") })
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchStore != nil {
		p := benchStore.Path()
		benchStore.Close()
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}
