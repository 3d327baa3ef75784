package pacemaker

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mgmtd/model"
)

var pengine = filepath.Join("transition", "testdata", "pengine")

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestExplain runs crm_simulate on private copies of scheduler inputs
// saved by crm_simulate --save-input from captured CIBs: the failed
// cluster's input recovers the resource whose monitor timed out; the live
// cluster's restarts what changed definition, and gives scores on
// request. The saved inputs are left as they were.
func TestExplain(t *testing.T) {
	src := New(Options{PEngineDir: pengine, LogFile: "-"}, nil, quiet())
	before := sum(t, filepath.Join(pengine, "pe-input-2.bz2"))
	ex, err := src.Explain(context.Background(), "pe-input-2.bz2", false)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Input.Series != 2 || ex.Input.Kind != "input" || len(ex.Scores) != 0 {
		t.Fatalf("input %+v, %d scores", ex.Input, len(ex.Scores))
	}
	want := model.SimAction{Action: "recover", Resource: "svc-timeout", Node: "node3", Dest: "node3"}
	if len(ex.Actions) != 1 || ex.Actions[0] != want {
		t.Fatalf("actions %+v, want %+v", ex.Actions, want)
	}
	if sum(t, filepath.Join(pengine, "pe-input-2.bz2")) != before {
		t.Fatal("the saved input changed")
	}
	ex, err = src.Explain(context.Background(), "pe-input-1.bz2", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Actions) == 0 || len(ex.Scores) == 0 {
		t.Fatalf("live input: %d actions, %d scores", len(ex.Actions), len(ex.Scores))
	}
	for _, bad := range []string{"../cib.xml", "pe-input-1.bz2/..", "cib.xml"} {
		if _, err := src.Explain(context.Background(), bad, false); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Explain(%q): %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := src.Explain(context.Background(), "pe-input-99.bz2", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing input: %v", err)
	}
}

// TestTransitionLinks: after a refresh from the live cluster's CIB, a
// resource event on a node carries the transition of the resource's
// newest operation there; the log names its input.
func TestTransitionLinks(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "pacemaker.log")
	// svc-a's newest operation on vm ran in transition 0 of the capture
	// (its transition-key 10:0:0:...); the log line says which input.
	line := "Nov 22 03:56:07 vm pacemaker-schedulerd[99] (pcmk__log_transition_summary) notice: Calculated transition 0, saving inputs in /var/lib/pacemaker/pengine/pe-input-1.bz2\n"
	if err := os.WriteFile(log, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{})
	src := New(Options{CIBFile: filepath.Join("testdata", "live", "cibadmin-query.xml"), PEngineDir: pengine, LogFile: log}, st, quiet())
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := model.Event{Type: model.EventResourceStarted, Object: model.ID{Kind: model.KindResource, Name: "svc-a"}, Node: "vm"}
	src.Link(&e)
	if e.Transition == nil || e.Transition.Number != 0 || e.Transition.Input != "pe-input-1.bz2" || e.Transition.InputBy != "log" {
		t.Fatalf("svc-a linked to %+v", e.Transition)
	}
	other := model.Event{Type: model.EventNodeJoined, Object: model.ID{Kind: model.KindNode, Name: "vm"}, Node: "vm"}
	if src.Link(&other); other.Transition != nil {
		t.Fatalf("a node event linked to %+v", other.Transition)
	}
	ins, err := src.Transitions(context.Background())
	if err != nil || len(ins) != 2 {
		t.Fatalf("inputs %+v, %v", ins, err)
	}
	for _, in := range ins {
		if (in.Name == "pe-input-1.bz2") != (in.Transition == 0) || in.Time.IsZero() || in.Time.After(time.Now()) {
			t.Fatalf("input %+v", in)
		}
	}
}

// TestTransitionLinkByTime: without a log, an event links to the newest
// input saved shortly before its operation's result, and to none when the
// newest such input is older than the window (this node was not the DC).
func TestTransitionLinkByTime(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"pe-input-1.bz2", "pe-input-2.bz2"} {
		b, err := os.ReadFile(filepath.Join(pengine, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// svc-a's start finished at 1795319767 (last-rc-change in the capture).
	done := time.Unix(1795319767, 0)
	os.Chtimes(filepath.Join(dir, "pe-input-1.bz2"), done.Add(-time.Hour), done.Add(-time.Hour))
	os.Chtimes(filepath.Join(dir, "pe-input-2.bz2"), done.Add(-2*time.Second), done.Add(-2*time.Second))
	src := New(Options{CIBFile: filepath.Join("testdata", "live", "cibadmin-query.xml"), PEngineDir: dir, LogFile: "-"}, model.NewStore(model.StoreOptions{}), quiet())
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := model.Event{Object: model.ID{Kind: model.KindResource, Name: "svc-a"}, Node: "vm"}
	if src.Link(&e); e.Transition == nil || e.Transition.Input != "pe-input-2.bz2" || e.Transition.InputBy != "time" {
		t.Fatalf("linked to %+v, want pe-input-2.bz2 by time", e.Transition)
	}
	os.Chtimes(filepath.Join(dir, "pe-input-2.bz2"), done.Add(-time.Hour), done.Add(-time.Hour))
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Transition = nil
	if src.Link(&e); e.Transition == nil || e.Transition.Number != 0 || e.Transition.Input != "" {
		t.Fatalf("linked to %+v, want transition 0 without an input", e.Transition)
	}
}
