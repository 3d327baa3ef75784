package hub

import (
	"testing"

	"mgmtd/model"
)

// TestSpoolBoundedOrder: a spool kept at a bound by dropping its oldest
// event for every new one holds the newest events in order, and its
// backing array stays within three times the bound.
func TestSpoolBoundedOrder(t *testing.T) {
	var s spool
	const bound = 3000
	for i := uint64(1); i <= 20_000; i++ {
		if n := s.len() - bound + 1; n > 0 {
			s.drop(n)
		}
		s.push(model.Event{Seq: i})
	}
	items := s.items()
	if len(items) != bound || items[0].Seq != 20_000-bound+1 || items[bound-1].Seq != 20_000 {
		t.Fatalf("spool holds %d events, %d..%d", len(items), items[0].Seq, items[len(items)-1].Seq)
	}
	for i := 1; i < len(items); i++ {
		if items[i].Seq != items[i-1].Seq+1 {
			t.Fatalf("out of order at %d: %d after %d", i, items[i].Seq, items[i-1].Seq)
		}
	}
	if cap(s.buf) > 3*bound {
		t.Errorf("backing array of %d for a bound of %d", cap(s.buf), bound)
	}
	s.drop(s.len())
	if s.len() != 0 || len(s.items()) != 0 {
		t.Fatalf("emptied spool holds %d", s.len())
	}
}
