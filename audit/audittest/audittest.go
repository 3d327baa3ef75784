// Package audittest holds the conformance suite every [audit.Store]
// implementation must pass (the local journal and audit/pgstore), in the
// style of a driver test kit, plus helpers that build valid chains.
package audittest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/audit"
)

// Event returns a valid event number i with varied content: unicode,
// separators that would confuse a naive encoding, empty and nil states.
func Event(i int, t time.Time) audit.Event {
	e := audit.Event{
		Actor:      fmt.Sprintf("https://idp.example/|user-%d", i%7),
		AuthMethod: []string{"oidc", "pam", "token", "cert"}[i%4],
		Roles:      [][]string{{"admin", "auditor"}, {}, {"operator"}}[i%3],
		Action:     []string{"resource.move", "auth.login", "authz.denied", "node.standby"}[i%4],
		Time:       t.UTC().Truncate(time.Microsecond),
		Channel:    []audit.Channel{audit.ChannelREST, audit.ChannelCIM, audit.ChannelUI, audit.ChannelCLI, audit.ChannelSNMP}[i%5],
		Source:     fmt.Sprintf("192.0.2.%d:%d", i%250, 40000+i%1000),
		RequestID:  fmt.Sprintf("req-%d", i),
		ObjectType: "resource",
		ObjectID:   fmt.Sprintf("web-ip-%d\x1f|,;=", i%3),
		Outcome:    []audit.Outcome{audit.OutcomeSuccess, audit.OutcomeFailure, audit.OutcomeDenied, audit.OutcomeError}[i%4],
		Reason:     []string{"", "Grüße: ünïcödé ✓", "line\nbreak \"quoted\""}[i%3],
	}
	switch i % 3 {
	case 0:
		e.Before = json.RawMessage(`{"node":"app1","z":1,"a":[true,null,"<&>"]}`)
		e.After = json.RawMessage(`{"node":"app2","\u00e9":"\u2713"}`)
	case 1:
		e.After = json.RawMessage(`"x"`)
	}
	return e
}

// Chain returns n valid records continuing h, event i at base plus i
// minutes, roles sorted as the writer stores them.
func Chain(h audit.Head, n int, base time.Time) []audit.Record {
	out := make([]audit.Record, n)
	prev, seq := h.Hash, h.Seq
	for i := range out {
		seq++
		e := Event(int(seq), base.Add(time.Duration(i)*time.Minute))
		slices.Sort(e.Roles)
		r := audit.Record{Event: e, Instance: h.Instance, Seq: seq, PrevHash: prev}
		r.Hash = r.ComputeHash()
		prev = r.Hash
		out[i] = r
	}
	return out
}

// HeadOf returns the head after recs.
func HeadOf(recs []audit.Record) audit.Head {
	r := recs[len(recs)-1]
	return audit.Head{Instance: r.Instance, Seq: r.Seq, Hash: r.Hash}
}

// Diff describes the first difference between two record lists, or
// returns "" when they are equal. Nil and empty roles are equal, and times
// are compared as instants.
func Diff(want, got []audit.Record) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := normalized(want[i]), normalized(got[i])
		if !reflect.DeepEqual(w, g) {
			return fmt.Sprintf("record %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	return ""
}

// CheckVerify checks the outcome of a verification: with want empty it
// must have passed; otherwise it must have failed with
// [audit.ErrTampered] and a problem that mentions want.
func CheckVerify(t testing.TB, rep *audit.VerifyReport, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("verify failed: %v", err)
		}
		return
	}
	if !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("verify = %v, want ErrTampered mentioning %q", err, want)
	}
	if !strings.Contains(strings.Join(rep.Problems, "\n"), want) {
		t.Fatalf("problems %q do not mention %q", rep.Problems, want)
	}
}

func normalized(r audit.Record) audit.Record {
	if len(r.Roles) == 0 {
		r.Roles = nil
	}
	if len(r.Before) == 0 {
		r.Before = nil
	}
	if len(r.After) == 0 {
		r.After = nil
	}
	r.Time = time.UnixMicro(r.Time.UnixMicro()).UTC()
	return r
}

// Opener opens the store under test. fresh is true for the first open of a
// test; reopen (fresh false) must open the same storage again after the
// previous store was closed, or return nil if the store cannot be reopened.
type Opener func(t *testing.T, fresh bool) audit.Store

// RunStore runs the conformance suite against stores from open.
func RunStore(t *testing.T, open Opener) {
	ctx := context.Background()
	base := time.Date(2026, 1, 31, 23, 58, 0, 123456000, time.UTC) // crosses a month boundary

	t.Run("EmptyHead", func(t *testing.T) {
		s := open(t, true)
		defer s.Close()
		h, err := s.Head(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if h != (audit.Head{Instance: "n1"}) {
			t.Fatalf("head of empty store = %+v", h)
		}
	})

	t.Run("AppendScanRoundTrip", func(t *testing.T) {
		s := open(t, true)
		defer s.Close()
		recs := Chain(audit.Head{Instance: "n1"}, 7, base)
		recs = append(recs, Chain(HeadOf(recs), 2, time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC))...)
		recs = append(recs, Chain(HeadOf(recs), 2, time.Date(2199, 12, 31, 23, 59, 59, 999999000, time.UTC))...)
		if err := s.Append(ctx, recs[:3]); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, recs[3:]); err != nil {
			t.Fatal(err)
		}
		h, err := s.Head(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if want := HeadOf(recs); h != want {
			t.Fatalf("head = %d, want %d", h.Seq, want.Seq)
		}
		got := scanAll(t, s, "n1", 0)
		if d := Diff(recs, got); d != "" {
			t.Fatalf("scan differs (-want +got):\n%s", d)
		}
		for i := range got {
			if got[i].ComputeHash() != got[i].Hash {
				t.Fatalf("record %d: hash no longer matches content after the round trip", got[i].Seq)
			}
		}
		if got := scanAll(t, s, "n1", 5); len(got) != len(recs)-4 || got[0].Seq != 5 {
			t.Fatalf("scan from 5: %d records starting at %d", len(got), got[0].Seq)
		}
		if rep, err := audit.Verify(ctx, s, audit.VerifyOptions{}); err != nil {
			t.Fatalf("verify: %v %+v", err, rep)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		s := open(t, true)
		defer s.Close()
		recs := Chain(audit.Head{Instance: "n1"}, 4, base)
		if err := s.Append(ctx, recs[:2]); err != nil {
			t.Fatal(err)
		}
		bad := map[string][]audit.Record{
			"repeat":       recs[1:3],
			"gap":          recs[3:],
			"wrong prev":   {withPrev(recs[2], [32]byte{1})},
			"broken batch": {recs[2], recs[3], recs[3]},
			"restart":      recs[:1],
		}
		for name, b := range bad {
			if err := s.Append(ctx, b); !errors.Is(err, audit.ErrConflict) {
				t.Errorf("%s: append = %v, want ErrConflict", name, err)
			}
		}
		if got := scanAll(t, s, "", 0); len(got) != 2 {
			t.Fatalf("after refused appends: %d records, want 2", len(got))
		}
	})

	t.Run("ConcurrentWritersOneWins", func(t *testing.T) {
		s := open(t, true)
		defer s.Close()
		a := Chain(audit.Head{Instance: "n1"}, 3, base)
		b := Chain(audit.Head{Instance: "n1"}, 3, base.Add(time.Hour))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, batch := range [][]audit.Record{a, b} {
			wg.Go(func() { errs[i] = s.Append(ctx, batch) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("both or neither of two forks stored: %v / %v", errs[0], errs[1])
		}
		if rep, err := audit.Verify(ctx, s, audit.VerifyOptions{}); err != nil {
			t.Fatalf("verify: %v %+v", err, rep)
		}
	})

	t.Run("InstancesAndQuery", func(t *testing.T) {
		s := open(t, true)
		defer s.Close()
		n1 := Chain(audit.Head{Instance: "n1"}, 30, base)
		n2 := Chain(audit.Head{Instance: "n2"}, 25, base.Add(30*time.Second))
		for _, c := range [][]audit.Record{n1[:10], n2[:20], n1[10:], n2[20:]} {
			if err := s.Append(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		all := append(slices.Clone(n1), n2...)
		if d := Diff(all, scanAll(t, s, "", 0)); d != "" {
			t.Fatalf("scan all (instance, seq order) differs:\n%s", d)
		}
		byPos := slices.Clone(all)
		slices.SortFunc(byPos, func(a, b audit.Record) int { return audit.ComparePosition(a.Position(), b.Position()) })
		tests := []struct {
			name string
			f    audit.Filter
		}{
			{"all", audit.Filter{}},
			{"instance", audit.Filter{Instance: "n2"}},
			{"actor", audit.Filter{Actor: "https://idp.example/|user-3"}},
			{"action", audit.Filter{Action: "authz.denied"}},
			{"object", audit.Filter{ObjectType: "resource", ObjectID: "web-ip-1\x1f|,;="}},
			{"outcome", audit.Filter{Outcome: audit.OutcomeDenied}},
			{"time range", audit.Filter{Since: base.Add(5 * time.Minute), Until: base.Add(12 * time.Minute)}},
			{"combined", audit.Filter{Instance: "n1", Outcome: audit.OutcomeSuccess, Since: base.Add(3 * time.Minute)}},
			{"nothing", audit.Filter{Actor: "nobody"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var want []audit.Record
				for i := range byPos {
					if tc.f.Match(&byPos[i]) {
						want = append(want, byPos[i])
					}
				}
				newest := slices.Clone(want)
				slices.Reverse(newest)
				for _, c := range []struct {
					newest bool
					limit  int
				}{{false, 0}, {false, 1}, {false, 7}, {true, 0}, {true, 1}, {true, 7}} {
					limit, want := c.limit, want
					if c.newest {
						want = newest
					}
					f := tc.f
					f.Limit, f.Newest = limit, c.newest
					var got []audit.Record
					for page := 0; page < 100; page++ {
						recs, err := s.Query(ctx, f)
						if err != nil {
							t.Fatal(err)
						}
						got = append(got, recs...)
						if len(recs) < max(limit, 1) || limit == 0 {
							break
						}
						f.Cursor = audit.CursorAfter(&recs[len(recs)-1])
					}
					if d := Diff(want, got); d != "" {
						t.Fatalf("limit %d, newest first %t: query differs (-want +got):\n%s", limit, c.newest, d)
					}
				}
			})
		}
		if _, err := s.Query(ctx, audit.Filter{Cursor: "garbage"}); !errors.Is(err, audit.ErrInvalid) {
			t.Fatalf("bad cursor: %v, want ErrInvalid", err)
		}
	})

	t.Run("Anchors", func(t *testing.T) {
		s := open(t, true)
		defer s.Close()
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		recs := Chain(audit.Head{Instance: "n1"}, 5, base)
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		a := audit.SignAnchor(key, "n1", 5, recs[4].Hash, base.Add(time.Hour))
		if err := s.AppendAnchor(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.Anchors(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual([]audit.Anchor{a}, got) {
			t.Fatalf("anchors differ:\n got %+v\nwant %+v", got, a)
		}
		if err := got[0].Check([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}); err != nil {
			t.Fatal(err)
		}
		if other, _ := s.Anchors(ctx, "n2"); len(other) != 0 {
			t.Fatalf("anchors of n2: %v", other)
		}
		rep, err := audit.Verify(ctx, s, audit.VerifyOptions{})
		if err != nil || rep.Chains[0].Anchors != 1 {
			t.Fatalf("verify with anchor: %v %+v", err, rep)
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		s := open(t, true)
		recs := Chain(audit.Head{Instance: "n1"}, 4, base)
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, false)
		if s == nil {
			return
		}
		defer s.Close()
		h, err := s.Head(ctx, "n1")
		if err != nil || h != HeadOf(recs) {
			t.Fatalf("head after reopen = %+v, %v", h, err)
		}
		more := Chain(h, 2, base.Add(time.Hour))
		if err := s.Append(ctx, more); err != nil {
			t.Fatal(err)
		}
		if d := Diff(append(recs, more...), scanAll(t, s, "n1", 0)); d != "" {
			t.Fatalf("after reopen:\n%s", d)
		}
	})
}

func withPrev(r audit.Record, prev [32]byte) audit.Record {
	r.PrevHash = prev
	r.Hash = r.ComputeHash()
	return r
}

func scanAll(t *testing.T, s audit.Store, instance string, from uint64) []audit.Record {
	t.Helper()
	var out []audit.Record
	if err := s.Scan(context.Background(), instance, from, func(r *audit.Record) error {
		out = append(out, *r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
