package corosync

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mgmtd/model"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSingleNode reads the outputs captured from a live single-node
// corosync (testdata/single-node/COMMANDS.txt).
func TestSingleNode(t *testing.T) {
	cmap, err := ParseCmap(read(t, "single-node/cmapctl.txt"))
	if err != nil {
		t.Fatal(err)
	}
	stats, err := ParseCmap(read(t, "single-node/cmapctl-stats.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range stats {
		cmap[k] = v
	}
	for _, f := range []string{"single-node/quorumtool-s.txt", "single-node/quorumtool-s-p.txt"} {
		q, err := ParseQuorum(read(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !q.Quorate || q.ExpectedVotes != 1 || q.TotalVotes != 1 || q.Quorum != 1 || q.NodeID != 1 {
			t.Fatalf("%s: %+v", f, q)
		}
		if len(q.Members) != 1 || q.Members[0].Name != "vm" || !q.Members[0].Local || q.Members[0].Votes != 1 {
			t.Fatalf("%s: members %+v", f, q.Members)
		}
		m := Membership(cmap, q)
		if m.ClusterName == "" || len(m.Members) != 1 {
			t.Fatalf("membership %+v", m)
		}
		mem := m.Members[0]
		if mem.Name != "vm" || mem.Status != "joined" || !mem.Local || len(mem.Addrs) == 0 {
			t.Fatalf("member %+v", mem)
		}
		if len(mem.Links) == 0 || !mem.Links[0].Connected || !mem.Links[0].Enabled {
			t.Fatalf("links %+v", mem.Links)
		}
	}
}

// TestNotRunning: the captured outputs of the tools with no corosync are
// errors, not an empty membership.
func TestNotRunning(t *testing.T) {
	if _, err := ParseCmap(read(t, "not-running/cmapctl.txt")); err == nil {
		t.Error("cmapctl output of a stopped corosync parsed")
	}
	if _, err := ParseQuorum(read(t, "not-running/quorumtool-s.txt")); err == nil {
		t.Error("quorumtool output of a stopped corosync parsed")
	}
}

func TestCmapErrors(t *testing.T) {
	for _, in := range []string{"garbage line", "a.b (u8 = 1", "\n\n"} {
		if _, err := ParseCmap([]byte(in)); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
	m, err := ParseCmap([]byte("totem.cluster_name (str) = lab\nempty (str) =\n"))
	if err != nil || m["totem.cluster_name"].Value != "lab" || m["empty"].Type != "str" {
		t.Fatalf("%v %v", m, err)
	}
}

// TestTwoNodeLinksDown builds a two-node view with one link down from cmap
// keys in the captured key format.
func TestTwoNodeLinksDown(t *testing.T) {
	cm := strings.Join([]string{
		"nodelist.node.0.name (str) = a", "nodelist.node.0.nodeid (u32) = 1", "nodelist.node.0.ring0_addr (str) = 10.0.0.1",
		"nodelist.node.1.name (str) = b", "nodelist.node.1.nodeid (u32) = 2", "nodelist.node.1.ring0_addr (str) = 10.0.0.2",
		"runtime.votequorum.this_node_id (u32) = 1", "runtime.members.1.status (str) = joined",
		"stats.knet.node2.link0.connected (u8) = 0", "stats.knet.node2.link0.enabled (u8) = 1",
		"stats.knet.node2.link0.down_count (u32) = 3", "stats.knet.node2.link1.connected (u8) = 1",
	}, "\n")
	cmap, err := ParseCmap([]byte(cm))
	if err != nil {
		t.Fatal(err)
	}
	m := Membership(cmap, nil)
	if len(m.Members) != 2 || m.Members[1].Name != "b" || len(m.Members[1].Links) != 2 {
		t.Fatalf("%+v", m)
	}
	l0 := m.Members[1].Links[0]
	if l0.Connected || !l0.Enabled || l0.DownCount != 3 || !m.Members[1].Links[1].Connected {
		t.Fatalf("links %+v", m.Members[1].Links)
	}
}

// TestSourceFakeTools runs the source on scripts that print the captured
// outputs, including quorumtool's exit status 2 for "not quorate".
func TestSourceFakeTools(t *testing.T) {
	dir := t.TempDir()
	abs, _ := filepath.Abs("testdata/single-node")
	for name, body := range map[string]string{
		"corosync-cmapctl":    "cat " + abs + "/cmapctl.txt",
		"corosync-quorumtool": "cat " + abs + "/quorumtool-s-p.txt; exit 2",
		"corosync":            "cat " + abs + "/corosync-v.txt",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	st := model.NewStore(model.StoreOptions{})
	src := New(Options{ToolDir: dir}, st, slog.New(slog.DiscardHandler))
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	sn := st.Snapshot()
	if sn.Membership.TotalVotes != 1 || sn.Cluster.CorosyncVersion == "" || len(sn.Membership.Members) != 1 {
		t.Fatalf("%+v %q", sn.Membership, sn.Cluster.CorosyncVersion)
	}
	// A missing tool is an error and marks the source.
	src.tools.Dir = t.TempDir()
	if err := src.Refresh(context.Background()); err == nil {
		t.Fatal("missing tools did not fail")
	}
	if s, _ := st.Snapshot().Source(Name); s.State != model.SourceStale {
		t.Fatalf("state %s", s.State)
	}
}

func FuzzParseCmap(f *testing.F) {
	f.Add(read(f, "single-node/cmapctl.txt"))
	f.Add(read(f, "single-node/cmapctl-stats.txt"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseCmap(data)
		if err == nil {
			_ = Membership(m, nil)
		}
	})
}

func FuzzParseQuorum(f *testing.F) {
	f.Add(read(f, "single-node/quorumtool-s.txt"))
	f.Add(read(f, "single-node/quorumtool-s-p.txt"))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ParseQuorum(data)
		if err == nil && q == nil {
			t.Fatal("nil without error")
		}
	})
}
