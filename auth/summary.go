package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Summary is what an [EventAuthSummary] counts: the refused requests of
// one source (or of all sources beyond LimitConfig.SummarySources, source
// "*") in one summary window.
type Summary struct {
	// Count is the number of requests summarised.
	Count int `json:"count"`
	// Kinds counts them by kind: "no_credentials" (no credential at all),
	// "rate_limited" and "locked_out" (refused by the limiter before any
	// check), "failed" (a credential that failed, beyond the window's
	// budget of failures recorded one by one).
	Kinds map[string]int `json:"kinds"`
	// First and Last are the times of the first and the last of them.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Requests holds up to summaryRequests distinct "METHOD /path" of
	// them (each cut to summaryRequestLen bytes); RequestsOmitted counts
	// the requests whose path is not among them.
	Requests        []string `json:"requests"`
	RequestsOmitted int      `json:"requests_omitted,omitempty"`
	// Claimed holds up to summaryRequests distinct fingerprints
	// ([ClaimedFingerprint]) of the user names or token ids the requests
	// claimed, never the names themselves.
	Claimed []string `json:"claimed,omitempty"`
	// Sources is, for the summary of source "*", how many distinct
	// sources it covers (at least).
	Sources int `json:"sources,omitempty"`
}

const (
	summaryRequests   = 8
	summaryRequestLen = 256
	summaryAllSources = "*"
)

// Summary kinds.
const (
	kindNoCredentials = "no_credentials"
	kindRateLimited   = "rate_limited"
	kindLockedOut     = "locked_out"
	kindFailed        = "failed"
)

// ClaimedFingerprint is how a user name or token id that a refused
// request claimed is recorded: "claimed#" and 12 hex digits of its
// SHA-256. People type passwords into the user field, so the claim itself
// is never recorded, but repeated guesses can still be correlated.
func ClaimedFingerprint(name string) string { return "claimed#" + hashSecret(name)[:12] }

// summarizer counts the noise of unauthenticated callers - requests
// without credentials and refusals by the limiter - per source and
// window, and hands one [EventAuthSummary] per source and window to the
// Recorder (and one log line), instead of one per request. It also keeps
// the budget of failures recorded one by one per window.
type summarizer struct {
	window     time.Duration
	maxSources int
	budget     int // failures recorded one by one per window
	now        func() time.Time
	rec        Recorder
	log        *slog.Logger

	mu      sync.Mutex
	start   time.Time // of the current window; zero when nothing is counted
	used    int       // failures recorded one by one in the window
	sources map[string]*Summary
	others  map[string]struct{} // sources counted into "*"
	timer   *time.Timer
}

func newSummarizer(cfg LimitConfig, now func() time.Time, rec Recorder, log *slog.Logger) *summarizer {
	return &summarizer{window: cfg.SummaryWindow, maxSources: cfg.SummarySources, budget: cfg.FailureRecords,
		now: now, rec: rec, log: log, sources: map[string]*Summary{}, others: map[string]struct{}{}}
}

// noise reports whether err is summarised rather than recorded one by
// one, and its kind.
func noise(err error) (string, bool) {
	switch {
	case errors.Is(err, ErrLockedOut):
		return kindLockedOut, true
	case errors.Is(err, ErrRateLimited):
		return kindRateLimited, true
	case errors.Is(err, ErrNoCredentials):
		return kindNoCredentials, true
	}
	return "", false
}

// individual reports whether a failure with a credential may still be
// recorded one by one in this window (and counts it).
func (s *summarizer) individual() bool {
	s.mu.Lock()
	out := s.rollLocked(s.now())
	ok := s.used < s.budget
	if ok {
		s.used++
	}
	s.mu.Unlock()
	s.emit(out)
	return ok
}

// add counts one refused request of ev.Source. It reports whether it is
// the first of its source in the window (the one worth a log line).
func (s *summarizer) add(ev AuthEvent, kind string) bool {
	s.mu.Lock()
	out := s.rollLocked(s.now())
	first := s.addLocked(ev, kind)
	s.mu.Unlock()
	s.emit(out)
	return first
}

func (s *summarizer) addLocked(ev AuthEvent, kind string) bool {
	if len(s.sources) == 0 {
		// The window's first summary: end the window on time even if
		// nothing else arrives.
		wait := s.window - s.now().Sub(s.start)
		if s.timer == nil {
			s.timer = time.AfterFunc(wait, s.tick)
		} else {
			s.timer.Reset(wait)
		}
	}
	src := ev.Source
	sum := s.sources[src]
	if sum == nil && len(s.sources) >= s.maxSources {
		if len(s.others) < maxTracked {
			s.others[src] = struct{}{}
		}
		src = summaryAllSources
		sum = s.sources[src]
	}
	first := sum == nil
	if first {
		sum = &Summary{Kinds: map[string]int{}, First: ev.Time}
		s.sources[src] = sum
	}
	sum.Count++
	sum.Kinds[kind]++
	sum.Last = ev.Time
	if r := cut(ev.Request, summaryRequestLen); !slices.Contains(sum.Requests, r) {
		if len(sum.Requests) < summaryRequests {
			sum.Requests = append(sum.Requests, r)
		} else {
			sum.RequestsOmitted++
		}
	}
	if ev.ActorName != "" && len(sum.Claimed) < summaryRequests {
		if fp := ClaimedFingerprint(ev.ActorName); !slices.Contains(sum.Claimed, fp) {
			sum.Claimed = append(sum.Claimed, fp)
		}
	}
	return first
}

// cut returns s cut to at most n bytes (the audit log sanitises the rest).
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// tick ends the window when its time has come by the service's clock
// (a test clock that stands still leaves it to flush).
func (s *summarizer) tick() {
	s.mu.Lock()
	out := s.rollLocked(s.now())
	if len(s.sources) > 0 {
		s.timer.Reset(s.window)
	}
	s.mu.Unlock()
	s.emit(out)
}

// rollLocked starts a window if none is open and ends the current one if
// it is over, returning its summaries for emit (after unlocking: the
// Recorder may block).
func (s *summarizer) rollLocked(now time.Time) map[string]*Summary {
	var out map[string]*Summary
	if !s.start.IsZero() && !now.Before(s.start.Add(s.window)) {
		out = s.takeLocked()
	}
	if s.start.IsZero() {
		s.start = now
	}
	return out
}

// takeLocked ends the window and returns its summaries.
func (s *summarizer) takeLocked() map[string]*Summary {
	out := s.sources
	if sum := out[summaryAllSources]; sum != nil {
		sum.Sources = len(s.others)
	}
	s.sources, s.others, s.start, s.used = map[string]*Summary{}, map[string]struct{}{}, time.Time{}, 0
	return out
}

// flush ends the window now and hands its summaries to the Recorder.
func (s *summarizer) flush() {
	s.mu.Lock()
	out := s.takeLocked()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.emit(out)
}

func (s *summarizer) emit(out map[string]*Summary) {
	for _, src := range slices.Sorted(maps.Keys(out)) {
		sum := out[src]
		ev := AuthEvent{Time: sum.Last, Kind: EventAuthSummary, Source: src, Summary: sum,
			Reason: describe(src, sum)}
		s.log.Info("refused requests summarised", "source", src, "count", sum.Count, "kinds", kindsText(sum.Kinds),
			"first", sum.First, "last", sum.Last)
		s.rec.RecordAuth(context.Background(), ev)
	}
}

func kindsText(k map[string]int) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(k)) {
		parts = append(parts, fmt.Sprintf("%d %s", k[name], strings.ReplaceAll(name, "_", " ")))
	}
	return strings.Join(parts, ", ")
}

func describe(src string, sum *Summary) string {
	from := "from " + src
	if src == summaryAllSources {
		from = fmt.Sprintf("from %d further sources", sum.Sources)
	}
	return fmt.Sprintf("%d refused requests %s between %s and %s (%s)", sum.Count, from,
		sum.First.Format(time.RFC3339), sum.Last.Format(time.RFC3339), kindsText(sum.Kinds))
}
