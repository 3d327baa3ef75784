package model_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mgmtd/model"
	"mgmtd/source/iscsi"
	"mgmtd/source/iscsi/tgtadm"
)

// iscsiPart is node1's tgtd as captured from a real tgtd
// (source/iscsi/tgtadm/testdata/target-show.txt, tools/fixtures/tgt.sh),
// with the first target renamed to rename (when set): the capture's
// targets are not the Pacemaker fixture's.
func iscsiPart(t *testing.T, rename string) *model.ISCSIPart {
	t.Helper()
	return iscsi.Part("node1", capturedTargets(t, rename))
}

// capturedTargets parses the real tgtadm capture, with the first target
// renamed to rename (when set).
func capturedTargets(t *testing.T, rename string) []tgtadm.Target {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "source", "iscsi", "tgtadm", "testdata", "target-show.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tgtadm.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if rename != "" {
		ts[0].Name = rename
	}
	return ts
}

const (
	host1 = "iqn.2026-12.org.example.client:host1"
	host2 = "iqn.2026-12.org.example.client:host2"
)

func TestISCSILiveMerge(t *testing.T) {
	st := model.NewStore(model.StoreOptions{View: "node1"})
	s := st.ReportAll(
		model.Report{Source: "pacemaker", Pacemaker: pacemakerPart(t, "drbd")},
		model.Report{Source: "drbd", DRBD: drbdPart(t, "events2-full.txt", 0)},
		model.Report{Source: "iscsi", ISCSI: iscsiPart(t, iqn)},
	)
	if len(s.ISCSITargets) != 3 {
		t.Fatalf("targets %+v", s.ISCSITargets)
	}
	managed, ok := s.Target(iqn)
	if !ok || managed.Unmanaged || managed.Resource != "tgt_r0" || len(managed.Live) != 1 {
		t.Fatalf("managed target %+v", managed)
	}
	if lt := managed.Live[0]; lt.Node != "node1" || lt.State != "ready" || len(lt.Sessions) != 2 || len(lt.LUNs) != 1 || lt.LUNs[0].LUN != 1 {
		t.Errorf("live view %+v", lt)
	}
	// Pacemaker's LUNs stay as configured; the live view is beside them.
	if len(managed.LUNs) != 2 || managed.LUNs[0].Path != "/dev/drbd0" {
		t.Errorf("LUNs %+v", managed.LUNs)
	}
	for _, name := range []string{"iqn.2026-12.org.example.demo:archive", "iqn.2026-12.org.example.demo:spare"} {
		u, ok := s.Target(name)
		if !ok || !u.Unmanaged || u.Resource != "" || u.Node != "node1" || len(u.Live) != 1 {
			t.Errorf("unmanaged %s: %+v", name, u)
		}
	}
	if u, _ := s.Target("iqn.2026-12.org.example.demo:archive"); len(u.LUNs) != 2 || u.LUNs[1].Path != "/tmp/mgmtd-tgt-fixture/archive2.img" {
		t.Errorf("unmanaged LUNs %+v", u.LUNs)
	}

	// Where an initiator is logged in.
	w := s.Where(host1)
	if len(w.Matches) != 1 || w.Matches[0].Kind != model.KindInitiator ||
		w.Matches[0].Note != "iSCSI initiator logged into "+iqn+" on node1 from 127.0.0.1" {
		t.Errorf("where host1 matches %+v", w.Matches)
	}
	if len(w.Storage) != 2 || w.Storage[0].DRBD != "r0" {
		t.Fatalf("where host1 storage %+v", w.Storage)
	}
	if got := chainText(w.Storage[0]); !strings.HasPrefix(got, "iscsi-target:"+iqn+"(running) -> lun:1(running) -> device:/dev/drbd0 -> drbd:r0") {
		t.Errorf("chain %s", got)
	}
	if n := w.Storage[0].Chain[0].Note; !strings.Contains(n, "tgt on node1: ready, 2 session(s) ("+host1+", "+host2+")") {
		t.Errorf("target note %q", n)
	}
	if n := w.Storage[0].Chain[1].Note; !strings.Contains(n, "live on node1: /tmp/mgmtd-tgt-fixture/store.img, 67 MB") {
		t.Errorf("LUN note %q", n)
	}
	w = s.Where(host2)
	var notes []string
	for _, m := range w.Matches {
		notes = append(notes, m.Note)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], iqn) || !strings.Contains(notes[1], "demo:archive") || len(w.Storage) != 4 {
		t.Errorf("where host2: %q, %d chains", notes, len(w.Storage))
	}
	if w := s.Where("iqn.2026-12.org.example.demo:archive/2"); len(w.Matches) != 1 || w.Matches[0].Note != "iSCSI logical unit not managed by Pacemaker" {
		t.Errorf("unmanaged LUN: %+v", w.Matches)
	}
	if w := s.Where("iqn.2026-12.org.example.client:nobody"); len(w.Matches) != 0 {
		t.Errorf("unknown initiator: %+v", w.Matches)
	}

	// The live view changes the snapshot (its generation); the same part
	// again does not.
	g := s.Generation
	s = st.Report(model.Report{Source: "iscsi", ISCSI: iscsiPart(t, iqn)})
	if s.Generation != g {
		t.Errorf("same part, generation %d -> %d", g, s.Generation)
	}
	s = st.Report(model.Report{Source: "iscsi", ISCSI: &model.ISCSIPart{Node: "node1", Implementation: "tgt"}})
	if s.Generation == g || len(s.ISCSITargets) != 1 || len(s.ISCSITargets[0].Live) != 0 || len(s.Logins(host1)) != 0 {
		t.Errorf("after tgtd lost its targets: gen %d, %+v", s.Generation, s.ISCSITargets)
	}
}

// TestISCSIPlacementConflict: a target daemon exporting a managed target
// where Pacemaker does not run it, and Pacemaker running it where the
// watched daemon does not export it, are conflicts on the target; a daemon
// that agrees is none.
func TestISCSIPlacementConflict(t *testing.T) {
	ts := capturedTargets(t, iqn) // Pacemaker runs it (tgt_r0) on node1
	conflicts := func(s *model.Snapshot) []string {
		var out []string
		for _, c := range s.Conflicts {
			if k, n := c.Object(); c.Type == "iscsi-placement" && k == model.KindTarget && n == iqn {
				out = append(out, c.Detail)
			}
		}
		return out
	}
	st := model.NewStore(model.StoreOptions{View: "node1"})
	s := st.ReportAll(model.Report{Source: "pacemaker", Pacemaker: pacemakerPart(t, "drbd")},
		model.Report{Source: "iscsi-node2", ISCSI: iscsi.Part("node2", ts)})
	if got := conflicts(s); len(got) != 1 || got[0] != "tgt on node2 exports "+iqn+", but Pacemaker runs tgt_r0 on node1" {
		t.Fatalf("node2 exports the target: %q", got)
	}
	// node1's daemon is watched and does not export it.
	s = st.Report(model.Report{Source: "iscsi-node1", ISCSI: &model.ISCSIPart{Node: "node1", Implementation: "tgt"}})
	if got := conflicts(s); len(got) != 2 || !strings.Contains(strings.Join(got, "\n"), "Pacemaker runs tgt_r0 on node1, but the target daemon there does not export "+iqn) {
		t.Fatalf("node1 does not export it: %q", got)
	}
	// Both agree with Pacemaker: none.
	s = st.ReportAll(model.Report{Source: "iscsi-node1", ISCSI: iscsi.Part("node1", ts)},
		model.Report{Source: "iscsi-node2", ISCSI: &model.ISCSIPart{Node: "node2", Implementation: "tgt"}})
	if got := conflicts(s); len(got) != 0 {
		t.Fatalf("daemons agree with Pacemaker, yet %q", got)
	}
}
