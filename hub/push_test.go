package hub_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/hub"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// recorder is the hub's side of the protocol as far as a sender sees it:
// it keeps what it was sent, answers the last sequence, and can refuse
// (the hub unreachable). The real hub is tested in mgmtd's TestHubFleet.
type recorder struct {
	mu    sync.Mutex
	seqs  map[uint64]bool
	last  uint64
	snaps int
	lost  uint64
	down  atomic.Bool
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	zr, err := gzip.NewReader(req.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var p hub.Push
	if err := json.NewDecoder(zr).Decode(&p); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	if err := p.Validate(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	r.mu.Lock()
	for _, e := range p.Events {
		r.seqs[e.Seq] = true
		r.last = max(r.last, e.Seq)
	}
	if p.Snapshot != nil {
		r.snaps++
	}
	r.lost = p.Lost
	reply := hub.PushReply{LastSeq: r.last, Stored: len(p.Events)}
	r.mu.Unlock()
	json.NewEncoder(w).Encode(reply)
}

func newStore() *model.Store {
	st := model.NewStore(model.StoreOptions{Cluster: "c1", View: "outside", EventBuffer: 100_000})
	st.Report(model.Report{Source: "pacemaker", Pacemaker: &model.PacemakerPart{Cluster: model.Cluster{Name: "c1"},
		Nodes: []model.Node{{Name: "n1", Type: model.NodeMember, Online: true, State: "online"}}}})
	return st
}

func publish(st *model.Store, n int) {
	for range n {
		st.Events().Publish(model.Event{Type: model.EventTask, Severity: model.SeverityInfo, Object: model.ID{Cluster: "c1", Kind: model.KindNode, Name: "n1"}, Message: "x"})
	}
}

// TestPusherSpoolsAndResumes: while the hub refuses, events wait in the
// spool; past its bound the oldest are dropped and counted; when the hub
// answers again the rest arrive, each once.
func TestPusherSpoolsAndResumes(t *testing.T) {
	rec := &recorder{seqs: map[uint64]bool{}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	st := newStore()
	p, err := hub.NewPusher(hub.PusherOptions{URL: srv.URL, Snapshots: st, Events: st.Events(), Spool: 50,
		SnapshotInterval: 100 * time.Millisecond, Heartbeat: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	publish(st, 10)
	testutil.Eventually(t, 10*time.Second, func() bool { return p.Status().Acked == st.Events().Last() }, "the first events acknowledged")
	rec.down.Store(true)
	testutil.Eventually(t, 10*time.Second, func() bool { return !p.Status().Connected }, "the pusher sees the hub down")
	before := st.Events().Last()
	publish(st, 80) // 30 more than the spool holds
	testutil.Eventually(t, 10*time.Second, func() bool { return p.Status().Lost == 30 }, "30 events dropped: %+v", p.Status())
	if s := p.Status(); s.Spooled != 50 {
		t.Fatalf("spooled %d, want the bound 50", s.Spooled)
	}
	rec.down.Store(false)
	testutil.Eventually(t, 10*time.Second, func() bool { return p.Status().Acked == st.Events().Last() && p.Status().Spooled == 0 }, "the spool drained")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for q := uint64(1); q <= st.Events().Last(); q++ {
		dropped := q > before && q <= before+30
		if rec.seqs[q] == dropped {
			t.Errorf("event %d: at the hub %v, dropped %v", q, rec.seqs[q], dropped)
		}
	}
	if rec.lost != 30 || rec.snaps < 2 {
		t.Errorf("the hub heard lost=%d after %d snapshots", rec.lost, rec.snaps)
	}
}

// TestPusherElection: a view that is a cluster node but not the DC does
// not push; the DC's does.
func TestPusherElection(t *testing.T) {
	rec := &recorder{seqs: map[uint64]bool{}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	for _, tc := range []struct {
		view string
		push bool
	}{{"n1", true}, {"n2", false}} {
		st := model.NewStore(model.StoreOptions{Cluster: "c1", View: tc.view})
		st.Report(model.Report{Source: "pacemaker", Pacemaker: &model.PacemakerPart{Cluster: model.Cluster{Name: "c1", DC: "n1"},
			Nodes: []model.Node{{Name: "n1", Type: model.NodeMember, Online: true, DC: true}, {Name: "n2", Type: model.NodeMember, Online: true}}}})
		p, err := hub.NewPusher(hub.PusherOptions{URL: srv.URL, Snapshots: st, Events: st.Events(), Heartbeat: 50 * time.Millisecond, SnapshotInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		p.Run(ctx)
		cancel()
		if s := p.Status(); s.Sender != tc.push || (s.Sent > 0) != tc.push {
			t.Errorf("view %s: %+v, want push %v", tc.view, s, tc.push)
		}
	}
}

// FuzzPush: whatever a sender posts, decoding and validation return an
// error or a push whose events ascend and belong to its cluster.
func FuzzPush(f *testing.F) {
	f.Add([]byte(`{"cluster":"c1","instance":"n1","events":[{"seq":1,"published":"2026-12-05T10:00:00Z","type":"node.joined","object":{"cluster":"c1","kind":"node","name":"n1"}}]}`))
	f.Add([]byte(`{"cluster":"c1","instance":"n1","snapshot":{"cluster":{"name":"c2"}}}`))
	f.Add([]byte(`{"cluster":"c 1","instance":""}`))
	f.Add([]byte(`{"cluster":"c1","instance":"n1","events":[{"seq":2,"published":"2026-12-05T10:00:00Z"},{"seq":2,"published":"2026-12-05T10:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p hub.Push
		if err := json.Unmarshal(b, &p); err != nil {
			return
		}
		err := p.Validate()
		if err != nil {
			if !errors.Is(err, hub.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		var prev uint64
		for _, e := range p.Events {
			if e.Seq <= prev || (e.Object.Cluster != "" && e.Object.Cluster != p.Cluster) {
				t.Fatalf("valid push with event %+v after %d", e, prev)
			}
			prev = e.Seq
		}
		if p.Cluster == "" || p.Instance == "" || len(p.Events) > hub.MaxPushEvents {
			t.Fatalf("valid push %+v", p)
		}
	})
}
