package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSummaries: requests without credentials and refusals by the limiter
// are counted per source and window, one summary each; sources beyond
// SummarySources share one summary ("*"); failures with a credential are
// recorded one by one up to FailureRecords per window, then summarised;
// a window ends by the clock on the next event, or by FlushSummaries.
func TestSummaries(t *testing.T) {
	f := newFixture(t, LimitConfig{AnonymousBurst: 3, SummaryWindow: time.Minute, SummarySources: 2, FailureRecords: 4,
		SourceBurst: 1000, SourceMaxFailures: 1000, UserMaxFailures: 1000, UserCeiling: 1000})
	h := f.s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func(r *http.Request) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	codes := map[int]int{}
	for i := range 10 {
		codes[do(req("GET", withRemote("192.0.2.1:1")))]++
		do(req("GET", withRemote(fmt.Sprintf("192.0.2.%d:1", 2+i)))) // 10 more sources, one request each
	}
	if codes[401] != 3 || codes[429] != 7 {
		t.Fatalf("one source's anonymous requests: %v, want 3 401 and 7 429", codes)
	}
	for range 6 {
		do(req("GET", withBasic("alice", "wrong"), withRemote("198.51.100.1:1")))
	}
	if got := f.kinds(); got[EventAuthFailure] != 4 || got[EventAuthSummary] != 0 {
		t.Fatalf("before the window ends: %v, want 4 failures recorded and nothing summarised yet", got)
	}
	f.clock.Advance(time.Minute)
	do(req("GET", withRemote("192.0.2.1:1"))) // ends the window
	sums := f.summaries()
	if len(sums) != 3 || sums["192.0.2.2"] == nil || sums["192.0.2.2"].Count != 1 {
		t.Fatalf("summaries %+v, want 3 (192.0.2.1, 192.0.2.2 and *)", sums)
	}
	if s := sums["192.0.2.1"]; s == nil || s.Count != 10 || s.Kinds[kindNoCredentials] != 3 || s.Kinds[kindRateLimited] != 7 {
		t.Errorf("192.0.2.1: %+v", s)
	}
	// 192.0.2.2 took the second place; 9 further sources and the 2
	// failures beyond the budget share "*".
	if s := sums[summaryAllSources]; s == nil || s.Count != 11 || s.Sources != 10 || s.Kinds[kindFailed] != 2 ||
		len(s.Claimed) != 1 || strings.Contains(s.Claimed[0], "alice") {
		t.Errorf("*: %+v", s)
	}
	f.s.FlushSummaries()
	if s := f.summaries()["192.0.2.1"]; s == nil || s.Count != 1 {
		t.Errorf("the next window: %+v", s)
	}
}

func (f *fixture) kinds() map[EventKind]int {
	out := map[EventKind]int{}
	for _, ev := range f.events.all() {
		out[ev.Kind]++
	}
	return out
}

// summaries returns the latest summary of each source.
func (f *fixture) summaries() map[string]*Summary {
	out := map[string]*Summary{}
	for _, ev := range f.events.all() {
		if ev.Kind == EventAuthSummary {
			out[ev.Source] = ev.Summary
		}
	}
	return out
}
