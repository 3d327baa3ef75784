package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestLimiterLockoutPerSource: failures lock a user out from the source
// they came from, not from everywhere; Retry-After is the real remaining
// lock time.
func TestLimiterLockoutPerSource(t *testing.T) {
	clock := newClock()
	l := NewLimiter(LimitConfig{UserMaxFailures: 3, UserCeiling: 100, SourceMaxFailures: 100, SourceBurst: 100,
		Window: time.Minute, Lockout: 5 * time.Minute}, clock.Now)
	for i := range 3 {
		if err := l.Allow("alice", "10.0.0.66"); err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
		l.Failure("alice", "10.0.0.66")
	}
	err := l.Allow("alice", "10.0.0.66")
	if !errors.Is(err, ErrLockedOut) {
		t.Fatalf("after 3 failures: %v, want ErrLockedOut", err)
	}
	if d, ok := RetryAfter(err); !ok || d != 5*time.Minute {
		t.Fatalf("retry after %v %v, want 5m", d, ok)
	}
	// The owner elsewhere is not locked out by someone else's failures.
	if err := l.Allow("alice", "10.0.0.1"); err != nil {
		t.Fatalf("alice from another source: %v", err)
	}
	if err := l.Allow("bob", "10.0.0.66"); err != nil {
		t.Fatalf("other user from the failing source: %v", err)
	}
	// A success from the locked source does not lift the lock.
	l.Success("alice", "10.0.0.66")
	clock.Advance(4 * time.Minute)
	if d, _ := RetryAfter(l.Allow("alice", "10.0.0.66")); d != time.Minute {
		t.Fatalf("after 4 min: retry after %v, want 1m", d)
	}
	clock.Advance(time.Minute)
	if err := l.Allow("alice", "10.0.0.66"); err != nil {
		t.Fatalf("after lockout: %v", err)
	}
	// Failures spread over more than the window do not add up.
	for range 5 {
		l.Failure("carol", "10.0.0.2")
		clock.Advance(40 * time.Second)
		l.Success("carol", "10.0.0.2") // a success resets the count
	}
	for range 2 {
		l.Failure("dave", "10.0.0.2")
		clock.Advance(2 * time.Minute)
	}
	l.Failure("dave", "10.0.0.2")
	if err := l.Allow("dave", "10.0.0.2"); err != nil {
		t.Fatalf("failures outside the window locked the user: %v", err)
	}
}

// TestLimiterCeilingSlowsButNeverLocksKnownSource: failures of one user
// (or token id) from many sources reach the ceiling; from then on sources
// that never succeeded for the user get one attempt per interval between
// them, while the owner's known-good source is never slowed or locked.
func TestLimiterCeilingSlowsButNeverLocksKnownSource(t *testing.T) {
	clock := newClock()
	l := NewLimiter(LimitConfig{UserMaxFailures: 5, UserCeiling: 10, UserCeilingInterval: 30 * time.Second,
		SourceMaxFailures: 100, SourceBurst: 100, Window: 15 * time.Minute, Lockout: 15 * time.Minute}, clock.Now)
	for _, user := range []string{"user:alice", "token:0123456789abcdef"} {
		l.Success(user, "10.1.1.1") // the owner's usual source
		for i := range 40 {
			src := fmt.Sprintf("203.0.113.%d", i)
			if l.Allow(user, src) == nil {
				l.Failure(user, src)
			}
		}
		err := l.Allow(user, "198.51.100.1")
		if !errors.Is(err, ErrRateLimited) {
			t.Fatalf("%s: unknown source above the ceiling: %v, want ErrRateLimited", user, err)
		}
		if d, _ := RetryAfter(err); d <= 0 || d > 30*time.Second {
			t.Errorf("%s: retry after %v, want (0, 30s]", user, d)
		}
		for range 20 {
			if err := l.Allow(user, "10.1.1.1"); err != nil {
				t.Fatalf("%s: owner's known source refused: %v", user, err)
			}
			l.Success(user, "10.1.1.1")
		}
		// Slowed, not locked: one attempt per interval gets through.
		clock.Advance(30 * time.Second)
		if err := l.Allow(user, "198.51.100.1"); err != nil {
			t.Fatalf("%s: unknown source after the interval: %v", user, err)
		}
		if err := l.Allow(user, "198.51.100.2"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("%s: second unknown source in the same interval: %v", user, err)
		}
		clock.Advance(16 * time.Minute)
	}
}

func TestLimiterSourceRateAndLockout(t *testing.T) {
	clock := newClock()
	l := NewLimiter(LimitConfig{UserMaxFailures: 100, SourceMaxFailures: 6, SourceBurst: 3, SourceInterval: 2 * time.Second,
		Window: time.Minute, Lockout: 10 * time.Minute}, clock.Now)
	src := "192.0.2.7"
	for i := range 3 {
		if err := l.Allow("u"+string(rune('a'+i)), src); err != nil {
			t.Fatalf("burst attempt %d: %v", i+1, err)
		}
		l.Failure("u"+string(rune('a'+i)), src)
	}
	// Burst used up: rate limited, whatever the user name.
	if err := l.Allow("someone", src); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after burst: %v, want ErrRateLimited", err)
	}
	if err := l.Allow("someone", "192.0.2.8"); err != nil {
		t.Fatalf("other source limited: %v", err)
	}
	// One credit back per interval.
	clock.Advance(2 * time.Second)
	if err := l.Allow("someone", src); err != nil {
		t.Fatalf("after one interval: %v", err)
	}
	l.Failure("someone", src)
	if err := l.Allow("someone", src); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("credit not used: %v", err)
	}
	// Two more failures (6 in the window) lock the source out.
	clock.Advance(4 * time.Second)
	l.Failure("x", src)
	l.Failure("y", src)
	if err := l.Allow("someone", src); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("after 6 failures: %v, want ErrLockedOut", err)
	}
	if err := l.Allow("", ""); err != nil {
		t.Fatalf("local socket limited: %v", err)
	}
	clock.Advance(10 * time.Minute)
	if err := l.Allow("someone", src); err != nil {
		t.Fatalf("after lockout: %v", err)
	}
}

func BenchmarkLimiter(b *testing.B) {
	l := NewLimiter(LimitConfig{}, nil)
	for i := 0; b.Loop(); i++ {
		_ = l.Allow("user", "10.0.0.1")
		if i%10 == 0 {
			l.Failure("user", "10.0.0.1")
		}
	}
}
