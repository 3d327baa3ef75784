package wbem

import (
	"context"
	"sync"
	"time"
)

// slots bound the operations processed at once, in all and per caller.
// A request takes a slot only once its caller is authenticated and its
// body is read, so slow clients wait without holding one; a request that
// finds no free slot waits for one in a bounded queue, for a bounded
// time, then is refused (503).
type slots struct {
	max, perCaller, maxQueued int
	wait                      time.Duration

	mu      sync.Mutex
	inUse   int
	byOwner map[string]int
	queued  int
	changed chan struct{} // closed and replaced when a slot is released
}

func newSlots(max, perCaller, maxQueued int, wait time.Duration) *slots {
	return &slots{max: max, perCaller: perCaller, maxQueued: maxQueued, wait: wait,
		byOwner: map[string]int{}, changed: make(chan struct{})}
}

// acquire takes a slot for owner, waiting while the queue has room, at
// most s.wait and while ctx lasts. It reports whether it got one; the
// caller then calls release(owner).
func (s *slots) acquire(ctx context.Context, owner string) bool {
	var timeout <-chan time.Time
	s.mu.Lock()
	for {
		if s.inUse < s.max && s.byOwner[owner] < s.perCaller {
			s.inUse++
			s.byOwner[owner]++
			s.mu.Unlock()
			return true
		}
		if timeout == nil {
			if s.queued >= s.maxQueued {
				s.mu.Unlock()
				return false
			}
			s.queued++
			defer func() {
				s.mu.Lock()
				s.queued--
				s.mu.Unlock()
			}()
			t := time.NewTimer(s.wait)
			defer t.Stop()
			timeout = t.C
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			return false
		case <-ctx.Done():
			return false
		}
		s.mu.Lock()
	}
}

func (s *slots) release(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse--
	if s.byOwner[owner]--; s.byOwner[owner] <= 0 {
		delete(s.byOwner, owner)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// waiting returns the number of queued requests (for tests).
func (s *slots) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued
}
