package boltstore_test

import (
	"path/filepath"
	"testing"

	"mgmtd/history"
	"mgmtd/history/boltstore"
	"mgmtd/history/historytest"
)

func TestConformance(t *testing.T) {
	historytest.Run(t, historytest.Harness{
		Open: func(t *testing.T) history.Store {
			s, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.FileName))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		Reopen: func(t *testing.T, s history.Store) history.Store {
			path := s.(*boltstore.Store).Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := boltstore.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s2.Close() })
			return s2
		},
	})
}

// TestLocked: a second daemon on the same state directory fails to open
// the store instead of waiting for it.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), boltstore.FileName)
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := boltstore.Open(path); err == nil {
		s2.Close()
		t.Fatal("a second open of a held store succeeded")
	}
}
