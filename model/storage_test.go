package model_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"mgmtd/internal/fixture"
	"mgmtd/model"
)

// The storage stack end to end: the Pacemaker side captured with
// Pacemaker's tools (source/pacemaker/testdata/drbd*/, tools/fixtures/drbd.sh),
// node1's DRBD view parsed from events2 output written from drbdsetup(8)
// and drbd-utils' code (source/drbd/events/testdata/README.md: no DRBD
// runs here).

func pacemakerPart(t *testing.T, name string) *model.PacemakerPart {
	t.Helper()
	return fixture.Pacemaker(t, filepath.Join("..", "source", "pacemaker", "testdata", name))
}

// drbdPart is node1's view after the first n lines of an events2 file (all
// when n is 0), plus extra lines.
func drbdPart(t *testing.T, file string, n int, extra ...string) *model.DRBDPart {
	t.Helper()
	return fixture.DRBD(t, "node1", filepath.Join("..", "source", "drbd", "events", "testdata", file), n, extra...)
}

func snap(t *testing.T, fixture string, d *model.DRBDPart) *model.Snapshot {
	t.Helper()
	st := model.NewStore(model.StoreOptions{View: "node1"})
	rs := []model.Report{{Source: "pacemaker", Pacemaker: pacemakerPart(t, fixture)}}
	if d != nil {
		rs = append(rs, model.Report{Source: "drbd", DRBD: d})
	}
	return st.ReportAll(rs...)
}

const iqn = "iqn.2026-11.com.example:storage.r0"

func chainText(c model.StorageChain) string {
	var parts []string
	for _, h := range c.Chain {
		s := string(h.Kind) + ":" + h.Name
		if h.State != "" {
			s += "(" + h.State + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " -> ")
}

func TestWhereStorage(t *testing.T) {
	s := snap(t, "drbd", drbdPart(t, "events2-full.txt", 0))
	if len(s.ISCSITargets) != 1 {
		t.Fatalf("targets %+v", s.ISCSITargets)
	}
	tg := s.ISCSITargets[0]
	if tg.IQN != iqn || tg.Address != "192.0.2.50" || tg.Node != "node1" || tg.Implementation != "lio-t" ||
		len(tg.Portals) != 1 || tg.Portals[0] != "192.0.2.50:3260" || len(tg.LUNs) != 2 {
		t.Fatalf("target %+v", tg)
	}
	ans := s.Where(iqn)
	if len(ans.Matches) != 1 || ans.Matches[0].Kind != model.KindTarget || len(ans.Storage) != 2 {
		t.Fatalf("where %s: %+v", iqn, ans)
	}
	want := []string{
		"iscsi-target:" + iqn + "(running) -> lun:1(running) -> device:/dev/drbd0 -> drbd:r0(Primary on node1) -> node:node1(online)",
		"iscsi-target:" + iqn + "(running) -> lun:2(running) -> device:/srv/iscsi/lun2.img -> drbd:r0(Primary on node1) -> node:node1(online)",
	}
	for i, c := range ans.Storage {
		if got := chainText(c); got != want[i] {
			t.Errorf("chain %d:\n got %s\nwant %s", i, got, want[i])
		}
		if !c.InSync || c.Sync != "in sync: node1 and node2 are UpToDate" || c.Primary != "node1" || c.DRBD != "r0" || c.Address != "192.0.2.50" {
			t.Errorf("chain %d: %+v", i, c)
		}
	}
	// LUN 1 is found by its device's minor; LUN 2 (a file on fs_iscsi,
	// /dev/drbd1, which node1's view does not have) by the group's
	// colocation with the Promoted role.
	if l := ans.Storage[0].Chain[2].Note; l != "device /dev/drbd0" {
		t.Errorf("LUN 1 link %q", l)
	}
	if l := ans.Storage[1].Chain[2].Note; l != "runs with ms_drbd_r0 (col-iscsi-with-drbd-promoted)" {
		t.Errorf("LUN 2 link %q", l)
	}
	for q, n := range map[string]int{iqn + "/1": 1, "lun_r0_2": 1, "r0": 2, "/dev/drbd0": 1, "tgt_r0": 2, "/dev/drbd/by-res/r0/0": 1} {
		if got := len(s.Where(q).Storage); got != n {
			t.Errorf("where %s: %d chains, want %d", q, got, n)
		}
	}
	// The derived service of the group carries the target, and where
	// answers it with the target's chains.
	sv, ok := s.Service("g_iscsi")
	if !ok || sv.Address != "192.0.2.50" || len(sv.Targets) != 1 || sv.Targets[0] != iqn || len(s.Where("g_iscsi").Storage) != 2 || len(s.Where("192.0.2.50").Storage) != 2 {
		t.Errorf("service %+v", sv)
	}
	// r1 is used by no target: DRBD -> its Primary (none).
	r1 := s.Where("r1")
	if len(r1.Storage) != 1 || r1.Storage[0].Primary != "" || !r1.Storage[0].InSync || r1.Storage[0].Chain[0].State != "no Primary" {
		t.Errorf("where r1: %+v", r1.Storage)
	}
	// The DRBD view is linked to its clone, replicas and scores.
	v := s.DRBDOf("r0")
	if len(v) != 1 || v[0].Clone != "ms_drbd_r0" || v[0].Primitive != "drbd_r0" || len(v[0].Replicas) != 2 {
		t.Fatalf("r0 views %+v", v)
	}
	rep := v[0].Replicas
	if rep[0].Node != "node1" || rep[0].Role != "Primary" || rep[0].InstanceRole != model.RolePromoted || rep[0].PromotionScore != "10000" ||
		rep[1].Node != "node2" || rep[1].Role != "Secondary" || rep[1].InstanceRole != model.RoleUnpromoted || !rep[1].UpToDate() {
		t.Errorf("replicas %+v", rep)
	}
}

// DRBD's host names may be fully qualified where Pacemaker's are not:
// the replicas are still one per node.
func TestDRBDHostNames(t *testing.T) {
	d := drbdPart(t, "events2-full.txt", 0)
	d.Node = "node1.example.org"
	for i := range d.Resources {
		d.Resources[i].Node = d.Node
		for j := range d.Resources[i].Connections {
			d.Resources[i].Connections[j].Peer = "node2.example.org"
		}
	}
	s := snap(t, "drbd", d)
	v := s.DRBDOf("r0")[0]
	if len(v.Replicas) != 2 || v.Replicas[0].Node != "node1" || v.Replicas[1].Node != "node2" || v.Replicas[1].InstanceRole != model.RoleUnpromoted {
		t.Fatalf("replicas %+v", v.Replicas)
	}
	if a := s.Impact("node2"); len(a.Replication) != 2 || !strings.Contains(a.Replication[0].Message, "loses its only UpToDate peer") {
		t.Fatalf("impact %+v", a.Replication)
	}
}

func TestImpactStorage(t *testing.T) {
	s := snap(t, "drbd", drbdPart(t, "events2-full.txt", 0))
	a := s.Impact("node2")
	if !a.StandbySafe || len(a.Replication) != 2 ||
		a.Replication[0].Message != "r0 loses its only UpToDate peer; the Primary on node1 continues without redundancy" {
		t.Fatalf("impact node2: %+v", a.Replication)
	}
	a = s.Impact("node1")
	if !a.StandbySafe || a.Replication[0].Message != "r0 loses its Primary on node1; node2 (UpToDate) can take over, and will run without redundancy" {
		t.Fatalf("impact node1: %+v", a.Replication)
	}

	// The link broke (events2-failover.txt up to the writes while
	// disconnected) and DRBD fenced node2: a standby of node1 is not safe.
	s = snap(t, "drbd-fenced", drbdPart(t, "events2-failover.txt", 12))
	a = s.Impact("node1")
	if a.StandbySafe || len(a.Unsafe) != 1 ||
		a.Unsafe[0] != "r0: the Primary on node1 has no UpToDate peer to take over (node2 is DUnknown and not connected, 65880 KiB out of sync)" {
		t.Fatalf("impact node1 fenced: safe=%v %q", a.StandbySafe, a.Unsafe)
	}
	w := s.Where(iqn)
	if w.Storage[0].InSync || w.Storage[0].Sync != "not in sync: node2 is DUnknown and not connected, 65880 KiB out of sync" {
		t.Fatalf("sync %q", w.Storage[0].Sync)
	}
	st := s.Status()
	var kinds []string
	for _, p := range st.Problems {
		kinds = append(kinds, p.Kind+" "+p.Object)
	}
	if strings.Join(kinds, "\n") != "drbd-not-in-sync r0\ndrbd-fence-constraint drbd-fence-by-handler-r0-ms_drbd_r0" {
		t.Errorf("status problems %q", kinds)
	}
	v := s.DRBDOf("r0")[0]
	if len(v.Fencing) != 1 || v.Fencing[0].Constraint != "drbd-fence-by-handler-r0-ms_drbd_r0" ||
		!strings.Contains(v.Fencing[0].Text, "fence-peer handler") || !strings.Contains(v.Fencing[0].Text, "#uname ne node1") {
		t.Fatalf("fencing %+v", v.Fencing)
	}

	// Mid-resync: still not safe, and where says how far it got.
	s = snap(t, "drbd-fenced", drbdPart(t, "events2-failover.txt", 17))
	if a := s.Impact("node1"); a.StandbySafe {
		t.Fatal("standby called safe during the resync")
	}
	if got := s.Where("r0").Storage[0].Sync; got != "not in sync: node2 is Inconsistent, resync 45.2% done, about 12 s left" {
		t.Fatalf("sync %q", got)
	}
	// Resynced: safe again.
	s = snap(t, "drbd-fenced", drbdPart(t, "events2-failover.txt", 0))
	if a := s.Impact("node1"); !a.StandbySafe {
		t.Fatalf("not safe after the resync: %q", a.Unsafe)
	}
}

// Without a DRBD source, Pacemaker's view: the Primary from the Promoted
// instance, the sync unknown, take-over judged by the promotion scores.
func TestStoragePacemakerOnly(t *testing.T) {
	s := snap(t, "drbd", nil)
	w := s.Where(iqn)
	if len(w.Storage) != 2 || w.Storage[0].Primary != "node1" || w.Storage[0].InSync ||
		w.Storage[0].Sync != "unknown: no DRBD source reports r0; promotion scores: node1 10000, node2 10000" {
		t.Fatalf("where: %+v", w.Storage)
	}
	if a := s.Impact("node1"); !a.StandbySafe {
		t.Fatalf("unsafe: %q", a.Unsafe)
	}
	s = snap(t, "drbd-fenced", nil)
	a := s.Impact("node1")
	if a.StandbySafe || len(a.Unsafe) != 1 || !strings.Contains(a.Unsafe[0], "node2 has promotion score none") {
		t.Fatalf("fenced: safe=%v %q", a.StandbySafe, a.Unsafe)
	}
}

// The replication events, from successive pictures of node1's DRBD view.
func TestDRBDEvents(t *testing.T) {
	st := model.NewStore(model.StoreOptions{View: "node1"})
	st.Report(model.Report{Source: "pacemaker", Pacemaker: pacemakerPart(t, "drbd")})
	step := func(d *model.DRBDPart) []string {
		last := st.Events().Last()
		st.Report(model.Report{Source: "drbd", DRBD: d})
		evs, _ := st.Events().Since(last)
		var out []string
		for _, e := range evs {
			if strings.HasPrefix(string(e.Type), "drbd.") {
				out = append(out, fmt.Sprintf("%s %s %s>%s baseline=%v", e.Type, e.Object.Name, e.From, e.To, e.Baseline))
			}
		}
		return out
	}
	for i, tc := range []struct {
		lines int
		extra []string
		want  []string
	}{
		{6, nil, nil},
		{9, nil, []string{"drbd.connection.lost r0 Connected>NetworkFailure baseline=false"}},
		{15, nil, []string{"drbd.sync.started r0 Off>WFBitMapS baseline=false"}},
		{17, nil, nil},
		{0, nil, []string{"drbd.sync.finished r0 SyncSource>Established baseline=false"}},
		{0, []string{"change resource name:r0 may_promote:yes promotion_score:10103\n"}, []string{"drbd.may-promote r0 false>true baseline=false"}},
	} {
		if got := step(drbdPart(t, "events2-failover.txt", tc.lines, tc.extra...)); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("step %d: got %q, want %q", i, got, tc.want)
		}
	}
	// A split brain, seen in a source's first picture: announced, as
	// baseline.
	st2 := model.NewStore(model.StoreOptions{View: "node1"})
	st2.Report(model.Report{Source: "drbd", DRBD: drbdPart(t, "events2-split-brain.txt", 0)})
	evs, _ := st2.Events().Since(0)
	found := false
	for _, e := range evs {
		if e.Type == model.EventDRBDSplitBrain {
			found = e.Baseline && e.Severity == model.SeverityCritical && strings.Contains(e.Message, "split brain between node1 and node2")
		}
	}
	if !found {
		t.Fatalf("no split brain event: %+v", evs)
	}
	if p := st2.Snapshot().Status().Problems; len(p) == 0 || p[0].Kind != model.ProblemSplitBrain || p[0].Severity != model.SeverityCritical {
		t.Fatalf("status problems %+v", p)
	}
	if w := st2.Snapshot().Where("r0"); len(w.Storage) != 1 || w.Storage[0].Chain[0].State != "split-brain" || w.Storage[0].InSync {
		t.Fatalf("where r0 in split brain: %+v", w.Storage)
	}
}

// TestDRBDRoleConflict: DRBD's role on a node that is not what Pacemaker
// has there (Promoted is Primary) is a conflict, announced as one, on the
// DRBD resource; agreement is none.
func TestDRBDRoleConflict(t *testing.T) {
	if s := snap(t, "drbd", drbdPart(t, "events2-full.txt", 0)); len(s.Conflicts) != 0 {
		t.Fatalf("Pacemaker and DRBD agree, yet conflicts %+v", s.Conflicts)
	}
	pm := pacemakerPart(t, "drbd")
	d := drbdPart(t, "events2-full.txt", 0)
	for i := range d.Resources {
		if d.Resources[i].Name == "r0" {
			d.Resources[i].Role = "Secondary" // demoted behind Pacemaker's back
		}
	}
	st := model.NewStore(model.StoreOptions{View: "node1"})
	s := st.ReportAll(model.Report{Source: "pacemaker", Pacemaker: pm}, model.Report{Source: "drbd", DRBD: d})
	if len(s.Conflicts) != 1 || s.Conflicts[0].Type != "drbd-role" || s.Conflicts[0].DRBD != "r0" ||
		!strings.Contains(s.Conflicts[0].Detail, "Promoted on node1, where DRBD r0 is Secondary") {
		t.Fatalf("conflicts %+v", s.Conflicts)
	}
	found := false
	for _, p := range s.Status().Problems {
		found = found || (p.ObjectKind == string(model.KindDRBD) && p.Object == "r0" && strings.Contains(p.Text, "drbd-role"))
	}
	if !found {
		t.Errorf("no status problem for the conflict: %+v", s.Status().Problems)
	}
	evs, _ := st.Events().Since(0)
	announced := false
	for _, e := range evs {
		announced = announced || (e.Type == model.EventConflict && e.Object.Kind == model.KindDRBD && e.Object.Name == "r0")
	}
	if !announced {
		t.Errorf("the conflict was not announced on r0: %+v", evs)
	}
	// DRBD agrees again: resolved.
	s = st.ReportAll(model.Report{Source: "drbd", DRBD: drbdPart(t, "events2-full.txt", 0)})
	if len(s.Conflicts) != 0 {
		t.Fatalf("conflicts after agreement %+v", s.Conflicts)
	}
}
