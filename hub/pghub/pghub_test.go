package pghub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"mgmtd/audit/pgstore/pgtest"
	"mgmtd/hub"
	"mgmtd/hub/pghub"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// The shared development PostgreSQL (scripts/deps.d/postgres.sh starts
// it); each test gets a throwaway database.
var adminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var runID string

func TestMain(m *testing.M) {
	if v := os.Getenv("MGMTD_TEST_PG_DSN"); v != "" {
		adminDSN = v
	}
	b := make([]byte, 4)
	rand.Read(b)
	runID = fmt.Sprintf("hub%d_%s", os.Getpid(), hex.EncodeToString(b))
	os.Exit(m.Run())
}

func newDB(t testing.TB) string {
	t.Helper()
	_, dsn := pgtest.NewDB(t, adminDSN, "mgmtd_"+runID)
	return dsn("")
}

func open(t testing.TB, dsn string) *pghub.Store {
	t.Helper()
	s, err := pghub.Open(pghub.Options{DSN: dsn, Migrate: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func events(cluster string, seqs ...uint64) []model.Event {
	var out []model.Event
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for _, q := range seqs {
		out = append(out, model.Event{Seq: q, Time: t0, Published: t0.Add(time.Duration(q) * time.Millisecond), Type: model.EventResourceStarted,
			Severity: model.SeverityInfo, Object: model.ID{Cluster: cluster, Kind: model.KindResource, Name: fmt.Sprintf("r%d", q)}, Node: "n1", Message: "started"})
	}
	return out
}

// TestIngestIdempotent: a push sent again stores nothing new, the reply
// names the highest sequence of (cluster, instance), and two clusters
// with the same instance name do not collide.
func TestIngestIdempotent(t *testing.T) {
	s := open(t, newDB(t))
	ctx := context.Background()
	now := time.Now()
	snap := &model.Snapshot{Generation: 3, View: "n1", Cluster: model.Cluster{Name: "c1", DC: "n1"},
		Nodes: []model.Node{{Name: "n1", Online: true, State: model.NodeState("online")}}}
	p := &hub.Push{Cluster: "c1", Instance: "n1", URL: "https://c1:8443", Snapshot: snap, Events: events("c1", 1, 2, 3)}
	r, err := s.Ingest(ctx, p, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stored != 3 || r.LastSeq != 3 || r.MaxID == 0 {
		t.Fatalf("first ingest: %+v", r)
	}
	r, err = s.Ingest(ctx, p, now)
	if err != nil || r.Stored != 0 || r.LastSeq != 3 {
		t.Fatalf("again: %+v %v", r, err)
	}
	r, err = s.Ingest(ctx, &hub.Push{Cluster: "c2", Instance: "n1", Events: events("c2", 1, 2)}, now)
	if err != nil || r.Stored != 2 || r.LastSeq != 2 {
		t.Fatalf("c2: %+v %v", r, err)
	}
	evs, err := s.EventsAfter(ctx, 0, 100)
	if err != nil || len(evs) != 5 {
		t.Fatalf("events: %d %v", len(evs), err)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("ids not ascending: %d after %d", evs[i].ID, evs[i-1].ID)
		}
	}
	rec, ok, err := s.Cluster(ctx, "c1")
	if err != nil || !ok || rec.Snapshot == nil || rec.Snapshot.Generation != 3 || rec.URL != "https://c1:8443" {
		t.Fatalf("cluster c1: %+v %v %v", rec, ok, err)
	}
	var objs int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM hub.object WHERE cluster = 'c1'").Scan(&objs); err != nil || objs != 1 {
		t.Fatalf("objects of c1: %d %v", objs, err)
	}
}

// TestListenAcrossProcesses: a store hears the other store's ingests
// (LISTEN/NOTIFY), not its own.
func TestListenAcrossProcesses(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := a.LastID(ctx); err != nil { // migrate before listening
		t.Fatal(err)
	}
	var mu sync.Mutex
	heardA, heardB := []string{}, []string{}
	readyA, readyB := make(chan struct{}), make(chan struct{})
	go a.Listen(ctx, func() { close(readyA) }, func(c hub.Change) { mu.Lock(); heardA = append(heardA, c.Cluster); mu.Unlock() })
	go b.Listen(ctx, func() { close(readyB) }, func(c hub.Change) { mu.Lock(); heardB = append(heardB, c.Cluster); mu.Unlock() })
	<-readyA
	<-readyB
	if _, err := a.Ingest(ctx, &hub.Push{Cluster: "c1", Instance: "n1", Events: events("c1", 1)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(heardB) == 1 }, "b hears a's ingest")
	mu.Lock()
	defer mu.Unlock()
	if heardB[0] != "c1" || len(heardA) != 0 {
		t.Fatalf("a heard %v, b heard %v", heardA, heardB)
	}
}

// TestFleetWhere: where and impact across clusters name the clusters that
// know the name - by resource, by a VM's interface address in any
// spelling, by host - and none for an unknown name.
func TestFleetWhere(t *testing.T) {
	s := open(t, newDB(t))
	h := hub.New(hub.Options{Store: s})
	ctx := context.Background()
	if err := h.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range []string{"c1", "c2", "c3"} {
		sn := &model.Snapshot{Generation: 1, View: "outside", Cluster: model.Cluster{Name: c},
			Nodes:     []model.Node{{Name: "n1", Type: model.NodeMember, Online: true}},
			Resources: []model.Resource{{ID: "db-" + c, Kind: model.KindPrimitive}, {ID: "shared", Kind: model.KindPrimitive}},
			Instances: []model.Instance{{Resource: "db-" + c, Primitive: "db-" + c, Node: "n1", Role: "Started", Active: true},
				{Resource: "shared", Primitive: "shared", Node: "n1", Role: "Started", Active: true}},
			Hosts: []model.Host{{Name: fmt.Sprintf("hv%d", i+1), Reachable: true}},
			VMs:   []model.VM{{Name: "vm-" + c, Host: fmt.Sprintf("hv%d", i+1), State: model.VMRunning, NICs: []model.VMNIC{{MAC: fmt.Sprintf("52:54:00:00:00:0%d", i+1)}}}}}
		if _, err := h.Ingest(ctx, &hub.Push{Cluster: c, Instance: "outside", Snapshot: sn}); err != nil {
			t.Fatal(err)
		}
	}
	clusters := func(ws []hub.ClusterWhere) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Cluster)
		}
		return out
	}
	for q, want := range map[string][]string{
		"db-c2": {"c2"}, "shared": {"c1", "c2", "c3"}, "52-54-00-00-00-03": {"c3"}, "hv1": {"c1"}, "n1": {"c1", "c2", "c3"}, "nothing": nil,
	} {
		if got := clusters(h.Where(q, nil)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("where %s: %v, want %v", q, got, want)
		}
	}
	if got := h.Where("db-c1", func(c string) bool { return c != "c1" }); len(got) != 0 {
		t.Errorf("where db-c1 outside the caller's clusters: %v", got)
	}
	if imp := h.Impact("hv2", nil); len(imp) != 1 || imp[0].Cluster != "c2" || len(imp[0].Answer.VMs) != 1 {
		t.Errorf("impact hv2: %+v", imp)
	}
}
