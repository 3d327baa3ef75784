package auth

import (
	"errors"
	"testing"
	"time"
)

func TestLimiterUserLockout(t *testing.T) {
	clock := newClock()
	l := NewLimiter(LimitConfig{UserMaxFailures: 3, SourceMaxFailures: 100, SourceBurst: 100, Window: time.Minute, Lockout: 5 * time.Minute}, clock.Now)
	for i := range 3 {
		if err := l.Allow("alice", "10.0.0."+string(rune('1'+i))); err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
		l.Failure("alice", "10.0.0."+string(rune('1'+i)))
	}
	// Locked from every source, even before checking the password.
	if err := l.Allow("alice", "10.0.0.9"); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("after 3 failures: %v, want ErrLockedOut", err)
	}
	if err := l.Allow("bob", "10.0.0.1"); err != nil {
		t.Fatalf("other user refused: %v", err)
	}
	// A success during the lock does not lift it.
	l.Success("alice", "10.0.0.9")
	clock.Advance(4 * time.Minute)
	if err := l.Allow("alice", "10.0.0.9"); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("after 4 min: %v, want still locked", err)
	}
	clock.Advance(time.Minute)
	if err := l.Allow("alice", "10.0.0.9"); err != nil {
		t.Fatalf("after lockout: %v", err)
	}
	// Failures spread over more than the window do not add up.
	for range 5 {
		l.Failure("carol", "")
		clock.Advance(40 * time.Second)
		l.Success("carol", "") // a success resets the count
	}
	for range 2 {
		l.Failure("dave", "")
		clock.Advance(2 * time.Minute)
	}
	l.Failure("dave", "")
	if err := l.Allow("dave", ""); err != nil {
		t.Fatalf("failures outside the window locked the user: %v", err)
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
