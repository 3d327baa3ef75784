package pacemaker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"mgmtd/model"
)

// liveTools makes a tool directory in which Pacemaker's real cibadmin
// and crm_mon work on cibFile through CIB_file, as they would on a live
// cluster (the source runs in live mode: version checks, status reads),
// and stonith_admin prints the fencing history captured on the lab.
func liveTools(t *testing.T, cibFile string) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range []string{"cibadmin", "crm_mon"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v (install pacemaker-cli-utils: scripts/deps.d/pacemaker.sh)", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := filepath.Abs("testdata/stonith_admin-history.xml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stonith_admin"), []byte("#!/bin/sh\nexec cat "+hist+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CIB_file", cibFile)
	return dir
}

// TestStatusReadsFollowTheCIB: after the first full read, a change to the
// status section is read with `cibadmin --scope status` and applied to
// the configuration already held, re-parsing only the node state that
// changed, and the answer is the one a full read of the same CIB gives; a
// configuration change (epoch moved) makes the next read a full one.
func TestStatusReadsFollowTheCIB(t *testing.T) {
	requireTool(t, "crm_simulate")
	requireTool(t, "crm_attribute")
	cibFile := filepath.Join(t.TempDir(), "cib.xml")
	copyFile(t, "testdata/failed/cib.xml", cibFile)
	toolDir := liveTools(t, cibFile)
	opts := Options{ToolDir: toolDir, Status: StatusNative, Interval: time.Hour, VersionInterval: time.Hour, Timeout: time.Minute}
	ctx := context.Background()
	src := New(opts, model.NewStore(model.StoreOptions{}), quiet())

	// full answers what a fresh source's full read of the file gives now.
	full := func() *model.PacemakerPart {
		p, err := New(opts, nil, quiet()).Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func() (*model.PacemakerPart, bool) {
		_, tag, err := src.version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		part, err := src.loadStatus(ctx, tag)
		if err == errFullRead {
			if part, err = src.Load(ctx); err != nil {
				t.Fatal(err)
			}
			return part, true
		}
		if err != nil {
			t.Fatal(err)
		}
		return part, false
	}
	same := func(step string, got *model.PacemakerPart) {
		t.Helper()
		if want := full(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the status read's part differs from a full read's:\n got %+v\nwant %+v", step, got, want)
		}
	}

	if _, wasFull := read(); !wasFull {
		t.Fatal("the first read was not a full one")
	}
	// delta returns the node states parsed and reused since the last call.
	var last model.SourceCheck
	delta := func() (parsed, reused int64) {
		c := src.Check()
		parsed, reused = c.NodeStatesParsed-last.NodeStatesParsed, c.NodeStatesReused-last.NodeStatesReused
		last = *c
		return parsed, reused
	}
	if p, r := delta(); p != 3 || r != 0 {
		t.Errorf("first read: %d node states parsed, %d reused; want 3 and 0", p, r)
	}

	// A monitor fails on node2: only node2's node_state changes.
	out := filepath.Join(t.TempDir(), "next.xml")
	if b, err := exec.Command("crm_simulate", "-x", cibFile, "--op-inject", "svc-thresh_monitor_10000@node2=7", "--save-output", out).CombinedOutput(); err != nil {
		t.Fatalf("crm_simulate: %v\n%s", err, b)
	}
	copyFile(t, out, cibFile)
	part, wasFull := read()
	if wasFull {
		t.Fatal("a status change caused a full read")
	}
	same("monitor failure", part)
	if p, r := delta(); src.Check().StatusReads != 1 || p != 1 || r != 2 {
		t.Errorf("check %+v: want one status read that parsed node2 and reused node1 and node3", src.Check())
	}
	found := false
	for _, f := range part.Failures {
		found = found || (f.Resource == "svc-thresh" && f.Node == "node2")
	}
	if !found {
		t.Errorf("the injected failure is not in the part: %+v", part.Failures)
	}

	// Nothing changed: everything is reused.
	part, _ = read()
	same("unchanged", part)
	if p, r := delta(); p != 0 || r != 3 {
		t.Errorf("unchanged: %d node states parsed, %d reused; want every one reused", p, r)
	}

	// Standby changes the configuration (nodes): a full read.
	if b, err := exec.Command("crm_attribute", "--node", "node3", "--name", "standby", "--update", "on").CombinedOutput(); err != nil {
		t.Fatalf("crm_attribute: %v\n%s", err, b)
	}
	part, wasFull = read()
	if !wasFull {
		t.Fatal("a configuration change did not cause a full read")
	}
	same("standby", part)
	standby := false
	for _, n := range part.Nodes {
		standby = standby || (n.Name == "node3" && n.Standby)
	}
	if !standby {
		t.Error("node3's standby is not in the part")
	}
	if c := src.Check(); c.FullReads != 2 {
		t.Errorf("check %+v: want two full reads", c)
	}
	// The full read parsed the configuration and reused the node states
	// (standby is in the configuration's nodes section).
	if p, r := delta(); p != 0 || r != 3 {
		t.Errorf("standby: the full read parsed %d node states and reused %d; want every one reused", p, r)
	}
}
