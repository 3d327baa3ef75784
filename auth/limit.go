package auth

import (
	"fmt"
	"sync"
	"time"
)

// LimitConfig sets the brute-force protection. Zero fields take the
// defaults of [DefaultLimitConfig].
type LimitConfig struct {
	// UserMaxFailures failures for one user name within Window lock that
	// user out for Lockout (even with the right password).
	UserMaxFailures int `json:"user_max_failures,omitempty"`
	// SourceMaxFailures failures from one source address within Window
	// lock that source out for Lockout.
	SourceMaxFailures int `json:"source_max_failures,omitempty"`
	// Window over which failures are counted.
	Window time.Duration `json:"window,omitempty"`
	// Lockout is how long a lock lasts.
	Lockout time.Duration `json:"lockout,omitempty"`
	// SourceBurst failures from one source are allowed back to back;
	// after that one more per SourceInterval (a token bucket), before any
	// lockout applies.
	SourceBurst int `json:"source_burst,omitempty"`
	// SourceInterval refills one failure credit of a source.
	SourceInterval time.Duration `json:"source_interval,omitempty"`
}

// DefaultLimitConfig returns the defaults: 5 failures per user or 20 per
// source within 15 minutes lock for 15 minutes; a source may fail 5 times
// in a row, then once per 2 seconds.
func DefaultLimitConfig() LimitConfig {
	return LimitConfig{
		UserMaxFailures:   5,
		SourceMaxFailures: 20,
		Window:            15 * time.Minute,
		Lockout:           15 * time.Minute,
		SourceBurst:       5,
		SourceInterval:    2 * time.Second,
	}
}

func (c LimitConfig) withDefaults() LimitConfig {
	d := DefaultLimitConfig()
	if c.UserMaxFailures <= 0 {
		c.UserMaxFailures = d.UserMaxFailures
	}
	if c.SourceMaxFailures <= 0 {
		c.SourceMaxFailures = d.SourceMaxFailures
	}
	if c.Window <= 0 {
		c.Window = d.Window
	}
	if c.Lockout <= 0 {
		c.Lockout = d.Lockout
	}
	if c.SourceBurst <= 0 {
		c.SourceBurst = d.SourceBurst
	}
	if c.SourceInterval <= 0 {
		c.SourceInterval = d.SourceInterval
	}
	return c
}

// maxTracked bounds the limiter's memory; beyond it expired entries are
// swept and, if still full, new keys are not tracked (existing locks stay).
const maxTracked = 100000

// Limiter rate-limits and locks out failed logins per user and per
// source. It is safe for concurrent use. Keys are user names (or "token:"
// + id) and source addresses; they are kept in memory only.
type Limiter struct {
	cfg LimitConfig
	now func() time.Time

	mu      sync.Mutex
	users   map[string]*failures
	sources map[string]*failures
}

type failures struct {
	count       int       // failures since windowStart
	windowStart time.Time // start of the counting window
	lockedUntil time.Time
	credits     float64 // token bucket (sources only)
	refilled    time.Time
}

// NewLimiter returns a Limiter; now is the clock (nil for time.Now).
func NewLimiter(cfg LimitConfig, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{cfg: cfg.withDefaults(), now: now, users: map[string]*failures{}, sources: map[string]*failures{}}
}

// Allow reports whether a login attempt for user from source may be
// checked at all. It returns an error wrapping [ErrLockedOut] or
// [ErrRateLimited] if not. user may be empty when it is not known before
// the check (OIDC); source may be empty for the local socket, which is
// never limited.
func (l *Limiter) Allow(user, source string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if f := l.users[user]; user != "" && f != nil && now.Before(f.lockedUntil) {
		return fmt.Errorf("user: %w (for %s)", ErrLockedOut, f.lockedUntil.Sub(now).Round(time.Second))
	}
	if source == "" {
		return nil
	}
	f := l.sources[source]
	if f == nil {
		return nil
	}
	if now.Before(f.lockedUntil) {
		return fmt.Errorf("source %s: %w (for %s)", source, ErrLockedOut, f.lockedUntil.Sub(now).Round(time.Second))
	}
	l.refill(f, now)
	if f.credits < 1 {
		return fmt.Errorf("source %s: %w", source, ErrRateLimited)
	}
	return nil
}

// Failure records a failed attempt for user from source.
func (l *Limiter) Failure(user, source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if user != "" {
		if f := l.entry(l.users, user, now); f != nil {
			l.count(f, now, l.cfg.UserMaxFailures)
		}
	}
	if source != "" {
		if f := l.entry(l.sources, source, now); f != nil {
			l.refill(f, now)
			if f.credits >= 1 {
				f.credits--
			}
			l.count(f, now, l.cfg.SourceMaxFailures)
		}
	}
}

// Success forgets the failures of user (not of the source: a source that
// guesses many users is still limited).
func (l *Limiter) Success(user, _ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.users[user]; f != nil && !l.now().Before(f.lockedUntil) {
		delete(l.users, user)
	}
}

func (l *Limiter) entry(m map[string]*failures, key string, now time.Time) *failures {
	if f := m[key]; f != nil {
		return f
	}
	if len(m) >= maxTracked {
		l.sweep(m, now)
		if len(m) >= maxTracked {
			return nil
		}
	}
	f := &failures{windowStart: now, credits: float64(l.cfg.SourceBurst), refilled: now}
	m[key] = f
	return f
}

func (l *Limiter) count(f *failures, now time.Time, max int) {
	if now.Sub(f.windowStart) > l.cfg.Window {
		f.count, f.windowStart = 0, now
	}
	f.count++
	if f.count >= max {
		f.lockedUntil = now.Add(l.cfg.Lockout)
		f.count, f.windowStart = 0, now
	}
}

func (l *Limiter) refill(f *failures, now time.Time) {
	if d := now.Sub(f.refilled); d > 0 {
		f.credits += float64(d) / float64(l.cfg.SourceInterval)
		f.credits = min(f.credits, float64(l.cfg.SourceBurst))
		f.refilled = now
	}
}

func (l *Limiter) sweep(m map[string]*failures, now time.Time) {
	for k, f := range m {
		if !now.Before(f.lockedUntil) && now.Sub(f.windowStart) > l.cfg.Window {
			delete(m, k)
		}
	}
}
