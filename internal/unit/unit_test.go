package unit_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/internal/unit"
)

// trace records what the units did, in order.
type trace struct {
	mu  sync.Mutex
	log []string
}

func (t *trace) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log = append(t.log, s)
}

func (t *trace) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.log)
}

// worker is a unit that runs until cancelled.
func worker(tr *trace, name string) unit.Unit {
	return unit.Unit{Name: name,
		Prepare: func(context.Context) error { tr.add("prepare " + name); return nil },
		Run: func(ctx context.Context) error {
			<-ctx.Done()
			tr.add("ran " + name)
			return nil
		},
		Stop: func(context.Context) error { tr.add("stop " + name); return nil },
	}
}

func TestOrderAndCleanStop(t *testing.T) {
	tr := &trace{}
	var g unit.Group
	g.Add(worker(tr, "a"), worker(tr, "b"), worker(tr, "c"))
	ctx, cancel := context.WithCancel(context.Background())
	err := g.Run(ctx, func() { tr.add("ready"); cancel() })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"prepare a", "prepare b", "prepare c", "ready", "stop c", "ran c", "stop b", "ran b", "stop a", "ran a"}
	if got := tr.get(); !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

// TestFailedUnitStopsTheGroup: the fault of issue 12 - one runner failing
// froze the others silently - cannot happen: the failure stops every unit
// and is returned with the unit's name.
func TestFailedUnitStopsTheGroup(t *testing.T) {
	tr := &trace{}
	var g unit.Group
	boom := errors.New("boom")
	g.Add(worker(tr, "source"), unit.Unit{Name: "cim", Run: func(context.Context) error { return boom }}, worker(tr, "rest"))
	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background(), nil) }()
	select {
	case err := <-done:
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Unit != "cim" || !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the group kept running after a unit failed")
	}
	got := tr.get()
	if !slices.Contains(got, "ran source") || !slices.Contains(got, "ran rest") {
		t.Errorf("not every unit stopped: %q", got)
	}
}

func TestExitWithoutErrorIsAFailure(t *testing.T) {
	var g unit.Group
	g.Add(unit.Unit{Name: "loop", Run: func(context.Context) error { return nil }})
	err := g.Run(context.Background(), nil)
	if !errors.Is(err, unit.ErrExited) || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("err %v", err)
	}
}

// TestPrepareFailureReleasesEarlierUnits: a port taken by the second
// listener releases the first one's port and never announces readiness.
func TestPrepareFailureReleasesEarlierUnits(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var first net.Listener
	listen := func(name, addr string, keep *net.Listener) unit.Unit {
		return unit.Unit{Name: name,
			Prepare: func(context.Context) error {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return err
				}
				if keep != nil {
					*keep = ln
				}
				return nil
			},
			Stop: func(context.Context) error {
				if keep != nil && *keep != nil {
					return (*keep).Close()
				}
				return nil
			},
		}
	}
	var g unit.Group
	g.Add(listen("first", "127.0.0.1:0", &first), listen("second", taken.Addr().String(), nil))
	readied := false
	err = g.Run(context.Background(), func() { readied = true })
	var ue *unit.Error
	if !errors.As(err, &ue) || ue.Unit != "second" || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err %v", err)
	}
	if readied {
		t.Error("ready was announced")
	}
	// The first listener's port is free again.
	ln, err := net.Listen("tcp", first.Addr().String())
	if err != nil {
		t.Fatalf("first listener not released: %v", err)
	}
	ln.Close()
}
