package metrics_test

import (
	"sort"
	"strings"
	"testing"

	"mgmtd/internal/fixture"
	"mgmtd/metrics"
	"mgmtd/model"
)

// storageSnapshot is the model of the drbd-fenced fixture (captured with
// Pacemaker's tools) with node1's DRBD view after the first n lines of an
// events2 file (all when n is 0). The events2 inputs were written from
// drbdsetup(8) and drbd-utils' code: no DRBD runs here
// (source/drbd/events/testdata/README.md).
func storageSnapshot(t testing.TB, file string, n int) *model.Snapshot {
	t.Helper()
	store := model.NewStore(model.StoreOptions{View: "node1", Cluster: "storage"})
	return store.ReportAll(model.Report{Source: "pacemaker", Pacemaker: fixture.Pacemaker(t, "../source/pacemaker/testdata/drbd-fenced")},
		model.Report{Source: "drbd", DRBD: fixture.DRBD(t, "node1", "../source/drbd/events/testdata/"+file, n)})
}

// ser renders a series as the exposition does: labels sorted by name.
func ser(name string, pairs ...string) string {
	type kv struct{ k, v string }
	var kvs []kv
	for i := 0; i+1 < len(pairs); i += 2 {
		kvs = append(kvs, kv{pairs[i], pairs[i+1]})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
	var b strings.Builder
	b.WriteString(name + "{")
	for i, x := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x.k + `="` + x.v + `"`)
	}
	return b.String() + "}"
}

// TestDRBDValues checks the DRBD series against the model: drbd-reactor's
// names, labels and enum layout, bytes from KiB, the resync's progress,
// a lost connection and a split brain.
func TestDRBDValues(t *testing.T) {
	syncing := storageSnapshot(t, "events2-failover.txt", 17)
	text := render(t, syncing, metrics.Internals{})
	promtoolCheck(t, text)
	v := syncing.DRBDOf("r0")
	if len(v) != 1 || v[0].Node != "node1" || len(v[0].Connections) != 1 {
		t.Fatalf("model: %+v", v)
	}
	pv := v[0].Connections[0].Volumes[0]
	if pv.Replication != "SyncSource" || pv.OutOfSyncKiB != 36100 {
		t.Fatalf("model peer volume %+v", pv)
	}
	// pser is a series of node1's connection to node2.
	pser := func(name string, kv ...string) string {
		return ser(name, append(kv, "conn_name", "node2", "name", "r0", "node", "node1", "peer_node_id", "1")...)
	}
	want := map[string]float64{
		ser("drbd_resource_resources", "cluster", "storage", "node", "node1"):                                                                           1,
		ser("drbd_resource_role", "cluster", "storage", "drbd_resource_role", "Primary", "name", "r0", "node", "node1"):                                 1,
		ser("drbd_resource_role", "cluster", "storage", "drbd_resource_role", "Secondary", "name", "r0", "node", "node1"):                               0,
		ser("drbd_resource_maypromote", "cluster", "storage", "name", "r0", "node", "node1"):                                                            0,
		ser("drbd_resource_promotionscore", "cluster", "storage", "name", "r0", "node", "node1"):                                                        10103,
		ser("drbd_resource_suspended", "cluster", "storage", "name", "r0", "node", "node1"):                                                             0,
		ser("mgmtd_drbd_resource_split_brain", "cluster", "storage", "name", "r0", "node", "node1"):                                                     0,
		pser("drbd_connection_state", "cluster", "storage", "drbd_connection_state", "Connected"):                                                       1,
		pser("drbd_connection_state", "cluster", "storage", "drbd_connection_state", "NetworkFailure"):                                                  0,
		pser("mgmtd_drbd_connection_peer_role", "cluster", "storage", "role", "Secondary"):                                                              1,
		pser("drbd_peerdevice_outofsync_bytes", "cluster", "storage", "volume", "0"):                                                                    36100 * 1024,
		pser("mgmtd_drbd_peerdevice_replication_state", "cluster", "storage", "replication", "SyncSource", "volume", "0"):                               1,
		pser("mgmtd_drbd_peerdevice_replication_state", "cluster", "storage", "replication", "Established", "volume", "0"):                              0,
		pser("mgmtd_drbd_peerdevice_peer_disk_state", "cluster", "storage", "peer_disk", "Inconsistent", "volume", "0"):                                 1,
		pser("mgmtd_drbd_peerdevice_sync_done_ratio", "cluster", "storage", "volume", "0"):                                                              0.452,
		pser("mgmtd_drbd_peerdevice_sync_eta_seconds", "cluster", "storage", "volume", "0"):                                                             12,
		ser("drbd_device_state", "cluster", "storage", "drbd_device_state", "UpToDate", "minor", "0", "name", "r0", "node", "node1", "volume", "0"):     1,
		ser("drbd_device_state", "cluster", "storage", "drbd_device_state", "Inconsistent", "minor", "0", "name", "r0", "node", "node1", "volume", "0"): 0,
		ser("drbd_device_size_bytes", "cluster", "storage", "minor", "0", "name", "r0", "node", "node1", "volume", "0"):                                 1048576 * 1024,
		ser("drbd_device_quorum", "cluster", "storage", "minor", "0", "name", "r0", "node", "node1", "volume", "0"):                                     1,
		ser("drbd_device_client", "cluster", "storage", "minor", "0", "name", "r0", "node", "node1", "volume", "0"):                                     0,
		ser("drbd_device_unintentionaldiskless", "cluster", "storage", "minor", "0", "name", "r0", "node", "node1", "volume", "0"):                      0,
	}
	for series, w := range want {
		if got, ok := sample(t, text, series); !ok || got != w {
			t.Errorf("%s = %v %v, want %v", series, got, ok, w)
		}
	}
	// Exactly one state of each enum is 1.
	for _, fam := range []string{"drbd_resource_role{", "drbd_connection_state{", "drbd_device_state{", "mgmtd_drbd_peerdevice_replication_state{", "mgmtd_drbd_peerdevice_peer_disk_state{"} {
		ones := 0
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, fam) && strings.HasSuffix(l, " 1") {
				ones++
			}
		}
		if ones != 1 {
			t.Errorf("%s: %d states are 1", fam, ones)
		}
	}

	// After the resync: no progress series; in sync.
	done := render(t, storageSnapshot(t, "events2-failover.txt", 18), metrics.Internals{})
	if strings.Contains(done, "mgmtd_drbd_peerdevice_sync_done_ratio{") {
		t.Error("resync progress after the resync")
	}
	if got, _ := sample(t, done, pser("drbd_peerdevice_outofsync_bytes", "cluster", "storage", "volume", "0")); got != 0 {
		t.Errorf("out of sync after the resync = %v", got)
	}
	// The connection lost: NetworkFailure, then Connecting.
	lost := render(t, storageSnapshot(t, "events2-failover.txt", 9), metrics.Internals{})
	if got, _ := sample(t, lost, pser("drbd_connection_state", "cluster", "storage", "drbd_connection_state", "NetworkFailure")); got != 1 {
		t.Errorf("connection lost: NetworkFailure = %v\n%s", got, lost)
	}
	if got, _ := sample(t, lost, pser("mgmtd_drbd_peerdevice_peer_disk_state", "cluster", "storage", "peer_disk", "DUnknown", "volume", "0")); got != 1 {
		t.Errorf("connection lost: peer disk DUnknown = %v", got)
	}
	// A split brain DRBD reported.
	sb := storageSnapshot(t, "events2-split-brain.txt", 0)
	if !sb.DRBDOf("r0")[0].SplitBrain {
		t.Fatal("the split-brain input has no split brain in the model")
	}
	sbText := render(t, sb, metrics.Internals{})
	if got, _ := sample(t, sbText, ser("mgmtd_drbd_resource_split_brain", "cluster", "storage", "name", "r0", "node", "node1")); got != 1 {
		t.Errorf("split brain = %v", got)
	}
	if got, _ := sample(t, sbText, pser("mgmtd_drbd_connection_split_brain", "cluster", "storage")); got != 1 {
		t.Errorf("connection split brain = %v", got)
	}
	if got, _ := sample(t, sbText, pser("drbd_connection_state", "cluster", "storage", "drbd_connection_state", "StandAlone")); got != 1 {
		t.Errorf("split brain: StandAlone = %v", got)
	}
	// Without a DRBD source (Pacemaker's view alone) there is no DRBD
	// state and no series.
	bare := storageSnapshot(t, "events2-failover.txt", 0)
	bare.DRBD = []model.DRBDResource{{Name: "r0", Role: "Unknown"}}
	if text := render(t, bare, metrics.Internals{}); strings.Contains(text, "\ndrbd_") || strings.Contains(text, "mgmtd_drbd_") {
		t.Error("DRBD series from a Pacemaker-only view")
	}
}

// A state the list does not know (a newer DRBD's) still has its 1.
func TestDRBDUnknownState(t *testing.T) {
	s := storageSnapshot(t, "events2-failover.txt", 0)
	s.DRBD[0].Connections[0].State = "Frobnicating"
	text := render(t, s, metrics.Internals{})
	if got, ok := sample(t, text, ser("drbd_connection_state", "cluster", "storage", "conn_name", "node2", "drbd_connection_state", "Frobnicating", "name", "r0", "node", "node1", "peer_node_id", "1")); !ok || got != 1 {
		t.Errorf("unknown state = %v %v", got, ok)
	}
}
