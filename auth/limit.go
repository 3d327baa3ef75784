package auth

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// LimitConfig sets the brute-force protection and how refused requests
// are summarised. Zero fields take the defaults of [DefaultLimitConfig].
//
// Failed logins are counted per user (a Basic user name or an API token
// id) *and source address*: failures lock a user out from the source they
// came from, never from everywhere, so nobody can lock the owner out by
// failing on purpose. Failures of one user from all sources together are
// bounded by a ceiling that slows (never locks) attempts from sources
// that have not recently succeeded for that user.
type LimitConfig struct {
	// UserMaxFailures failures of one user from one source within Window
	// lock that user out from that source for Lockout (even with the right
	// password).
	UserMaxFailures int `json:"user_max_failures,omitempty"`
	// UserCeiling failures of one user from all sources together within
	// Window slow that user's attempts from sources that are not known
	// good (see KnownSourceTTL): for Lockout after the ceiling is reached,
	// they get one attempt per UserCeilingInterval between them. Known-good
	// sources are not slowed.
	UserCeiling int `json:"user_ceiling,omitempty"`
	// UserCeilingInterval is the pace of attempts from unknown sources for
	// a user above the ceiling.
	UserCeilingInterval time.Duration `json:"user_ceiling_interval,omitempty"`
	// KnownSourceTTL is how long a source stays known good for a user
	// after a successful login of that user from it.
	KnownSourceTTL time.Duration `json:"known_source_ttl,omitempty"`
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
	// AnonymousBurst requests without any credential from one source are
	// answered 401 back to back; after that one per AnonymousInterval, and
	// the rest 429. (A browser's first request carries no credential; the
	// 401 asks for one.) They never lock anyone out.
	AnonymousBurst int `json:"anonymous_burst,omitempty"`
	// AnonymousInterval refills one anonymous request of a source.
	AnonymousInterval time.Duration `json:"anonymous_interval,omitempty"`
	// SummaryWindow is the period over which requests without a
	// credential and refusals by the limiter are counted per source and
	// recorded as one summary (see [EventAuthSummary]).
	SummaryWindow time.Duration `json:"summary_window,omitempty"`
	// SummarySources bounds the sources summarised one by one per window;
	// the requests of further sources go into one summary for all of them
	// (source "*").
	SummarySources int `json:"summary_sources,omitempty"`
	// FailureRecords bounds the failures with a credential recorded one
	// by one per SummaryWindow over all sources; beyond it they are
	// counted into the summaries as well.
	FailureRecords int `json:"failure_records,omitempty"`
}

// DefaultLimitConfig returns the defaults: 5 failures of a user from one
// source within 15 minutes lock that user out from that source for 15
// minutes; 20 failures of a user from all sources slow attempts from
// unknown sources to one per 30 s for 15 minutes (a source is known for a
// user for 7 days after a success); 20 failures from one source lock the
// source for 15 minutes, and it may fail 5 times in a row, then once per
// 2 s; 60 anonymous requests per source in a row, then one per second;
// summaries per minute, of at most 100 sources, with at most 100
// failures recorded one by one per minute.
func DefaultLimitConfig() LimitConfig {
	return LimitConfig{
		UserMaxFailures:     5,
		UserCeiling:         20,
		UserCeilingInterval: 30 * time.Second,
		KnownSourceTTL:      7 * 24 * time.Hour,
		SourceMaxFailures:   20,
		Window:              15 * time.Minute,
		Lockout:             15 * time.Minute,
		SourceBurst:         5,
		SourceInterval:      2 * time.Second,
		AnonymousBurst:      60,
		AnonymousInterval:   time.Second,
		SummaryWindow:       time.Minute,
		SummarySources:      100,
		FailureRecords:      100,
	}
}

// Validate reports the first negative field, naming its key.
func (c LimitConfig) Validate() error {
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"user_max_failures", int64(c.UserMaxFailures)}, {"user_ceiling", int64(c.UserCeiling)},
		{"user_ceiling_interval", int64(c.UserCeilingInterval)}, {"known_source_ttl", int64(c.KnownSourceTTL)},
		{"source_max_failures", int64(c.SourceMaxFailures)}, {"window", int64(c.Window)}, {"lockout", int64(c.Lockout)},
		{"source_burst", int64(c.SourceBurst)}, {"source_interval", int64(c.SourceInterval)},
		{"anonymous_burst", int64(c.AnonymousBurst)}, {"anonymous_interval", int64(c.AnonymousInterval)},
		{"summary_window", int64(c.SummaryWindow)}, {"summary_sources", int64(c.SummarySources)},
		{"failure_records", int64(c.FailureRecords)},
	} {
		if f.v < 0 {
			return fmt.Errorf("limits.%s: negative", f.key)
		}
	}
	return nil
}

func (c LimitConfig) withDefaults() LimitConfig {
	d := DefaultLimitConfig()
	ints := []struct{ v, d *int }{
		{&c.UserMaxFailures, &d.UserMaxFailures}, {&c.UserCeiling, &d.UserCeiling}, {&c.SourceMaxFailures, &d.SourceMaxFailures},
		{&c.SourceBurst, &d.SourceBurst}, {&c.AnonymousBurst, &d.AnonymousBurst}, {&c.SummarySources, &d.SummarySources},
		{&c.FailureRecords, &d.FailureRecords},
	}
	for _, f := range ints {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	durs := []struct{ v, d *time.Duration }{
		{&c.UserCeilingInterval, &d.UserCeilingInterval}, {&c.KnownSourceTTL, &d.KnownSourceTTL}, {&c.Window, &d.Window},
		{&c.Lockout, &d.Lockout}, {&c.SourceInterval, &d.SourceInterval}, {&c.AnonymousInterval, &d.AnonymousInterval},
		{&c.SummaryWindow, &d.SummaryWindow},
	}
	for _, f := range durs {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	return c
}

// LimitError is a refusal by the [Limiter]: it wraps [ErrLockedOut] or
// [ErrRateLimited] and says when an attempt may be made again (the
// Retry-After of the answer).
type LimitError struct {
	// Err is ErrLockedOut or ErrRateLimited.
	Err error
	// Who names what is limited: "user", "source 192.0.2.7", ...
	Who string
	// RetryAfter is the time until the lock ends or the next attempt is
	// allowed.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %v (retry in %s)", e.Who, e.Err, e.RetryAfter.Round(time.Second))
}

// Unwrap returns ErrLockedOut or ErrRateLimited.
func (e *LimitError) Unwrap() error { return e.Err }

// RetryAfter returns how long the caller should wait before trying again
// when err is (or wraps) a refusal by the limiter.
func RetryAfter(err error) (time.Duration, bool) {
	var le *LimitError
	if errors.As(err, &le) {
		return le.RetryAfter, true
	}
	return 0, false
}

// RetryAfterSeconds is [RetryAfter] in whole seconds, rounded up, at
// least 1: the value of a Retry-After header. It is 0 when err is not a
// refusal by the limiter.
func RetryAfterSeconds(err error) int {
	d, ok := RetryAfter(err)
	if !ok {
		return 0
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

// maxTracked bounds each of the limiter's maps; beyond it expired entries
// are swept and, if still full, new keys are not tracked (existing locks
// stay).
const maxTracked = 100000

// Limiter rate-limits and locks out failed logins per (user, source), per
// user over all sources (a ceiling that slows unknown sources) and per
// source, and rate-limits requests without credentials per source. It is
// safe for concurrent use. Users are keys such as "user:alice" or
// "token:<id>"; sources are addresses. Everything is kept in memory only.
type Limiter struct {
	cfg LimitConfig
	now func() time.Time

	mu      sync.Mutex
	pairs   map[string]*failures // user + "\x00" + source
	users   map[string]*failures // all sources of a user: the ceiling
	sources map[string]*failures
	anon    map[string]*failures // requests without credentials (bucket only)
	known   map[string]time.Time // user + "\x00" + source -> last success
}

type failures struct {
	count       int       // failures since windowStart
	windowStart time.Time // start of the counting window
	lockedUntil time.Time // pairs, sources: locked; users: slowed
	credits     float64   // token bucket (sources, slowed users, anonymous)
	refilled    time.Time
}

// NewLimiter returns a Limiter; now is the clock (nil for time.Now).
func NewLimiter(cfg LimitConfig, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{cfg: cfg.withDefaults(), now: now, pairs: map[string]*failures{}, users: map[string]*failures{},
		sources: map[string]*failures{}, anon: map[string]*failures{}, known: map[string]time.Time{}}
}

// Config returns the limiter's configuration with the defaults filled in.
func (l *Limiter) Config() LimitConfig { return l.cfg }

func pairKey(user, source string) string { return user + "\x00" + source }

// Allow reports whether a login attempt for user from source may be
// checked at all. It returns a [*LimitError] if not. user may be empty
// when it is not known before the check (OIDC, sessions); source is empty
// for the local socket, which is never limited. An attempt allowed while
// the user is above its ceiling uses up the interval's one attempt.
func (l *Limiter) Allow(user, source string) error {
	if source == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if user != "" {
		if f := l.pairs[pairKey(user, source)]; f != nil && now.Before(f.lockedUntil) {
			return &LimitError{Err: ErrLockedOut, Who: "user", RetryAfter: f.lockedUntil.Sub(now)}
		}
	}
	if f := l.sources[source]; f != nil {
		if now.Before(f.lockedUntil) {
			return &LimitError{Err: ErrLockedOut, Who: "source " + source, RetryAfter: f.lockedUntil.Sub(now)}
		}
		if wait := l.take(f, now, l.cfg.SourceInterval, l.cfg.SourceBurst, false); wait > 0 {
			return &LimitError{Err: ErrRateLimited, Who: "source " + source, RetryAfter: wait}
		}
	}
	if user == "" {
		return nil
	}
	if u := l.users[user]; u != nil && now.Before(u.lockedUntil) && !l.knownGood(user, source, now) {
		if wait := l.take(u, now, l.cfg.UserCeilingInterval, 1, true); wait > 0 {
			return &LimitError{Err: ErrRateLimited, Who: "user", RetryAfter: min(wait, u.lockedUntil.Sub(now))}
		}
	}
	return nil
}

// Anonymous reports whether a request from source without any credential
// may be answered with a challenge (401); past the source's budget it
// returns a [*LimitError] wrapping ErrRateLimited (429). Such requests
// never count as failures of a user or a source.
func (l *Limiter) Anonymous(source string) error {
	if source == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.entry(l.anon, source, now, float64(l.cfg.AnonymousBurst))
	if f == nil {
		return nil
	}
	if wait := l.take(f, now, l.cfg.AnonymousInterval, l.cfg.AnonymousBurst, true); wait > 0 {
		return &LimitError{Err: ErrRateLimited, Who: "source " + source, RetryAfter: wait}
	}
	return nil
}

// Failure records a failed attempt for user from source.
func (l *Limiter) Failure(user, source string) {
	if source == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if user != "" {
		if f := l.entry(l.pairs, pairKey(user, source), now, 0); f != nil {
			l.count(f, now, l.cfg.UserMaxFailures)
		}
		if u := l.entry(l.users, user, now, 1); u != nil {
			l.count(u, now, l.cfg.UserCeiling)
		}
	}
	if f := l.entry(l.sources, source, now, float64(l.cfg.SourceBurst)); f != nil {
		l.take(f, now, l.cfg.SourceInterval, l.cfg.SourceBurst, true)
		l.count(f, now, l.cfg.SourceMaxFailures)
	}
}

// Success forgets the failures of user from source (unless it is locked
// out there) and makes source known good for user. Neither the user's
// failures from other sources nor the source's failures for other users
// are forgotten: a source that guesses many users is still limited.
func (l *Limiter) Success(user, source string) {
	if user == "" || source == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	key := pairKey(user, source)
	if f := l.pairs[key]; f != nil && !now.Before(f.lockedUntil) {
		delete(l.pairs, key)
	}
	if _, ok := l.known[key]; !ok && len(l.known) >= maxTracked {
		for k, t := range l.known {
			if now.Sub(t) > l.cfg.KnownSourceTTL {
				delete(l.known, k)
			}
		}
		if len(l.known) >= maxTracked {
			return
		}
	}
	l.known[key] = now
}

func (l *Limiter) knownGood(user, source string, now time.Time) bool {
	t, ok := l.known[pairKey(user, source)]
	return ok && now.Sub(t) <= l.cfg.KnownSourceTTL
}

// entry returns m's entry for key, creating it with credits (nil when the
// map is full of live entries).
func (l *Limiter) entry(m map[string]*failures, key string, now time.Time, credits float64) *failures {
	if f := m[key]; f != nil {
		return f
	}
	if len(m) >= maxTracked {
		l.sweep(m, now)
		if len(m) >= maxTracked {
			return nil
		}
	}
	f := &failures{windowStart: now, credits: credits, refilled: now}
	m[key] = f
	return f
}

// count adds a failure in the window; reaching max locks (or, for a user,
// slows) for Lockout.
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

// take refills f's bucket (one credit per interval, at most burst) and,
// if a credit is there, uses it when use is set. It returns 0 when a
// credit was there, else the time until there is one.
func (l *Limiter) take(f *failures, now time.Time, interval time.Duration, burst int, use bool) time.Duration {
	if d := now.Sub(f.refilled); d > 0 {
		f.credits = min(f.credits+float64(d)/float64(interval), float64(burst))
		f.refilled = now
	}
	if f.credits < 1 {
		return time.Duration((1 - f.credits) * float64(interval))
	}
	if use {
		f.credits--
	}
	return 0
}

func (l *Limiter) sweep(m map[string]*failures, now time.Time) {
	for k, f := range m {
		if !now.Before(f.lockedUntil) && now.Sub(f.windowStart) > l.cfg.Window && now.Sub(f.refilled) > l.cfg.Window {
			delete(m, k)
		}
	}
}
