package cim_test

import (
	"path/filepath"
	"testing"

	"mgmtd/cim"
	"mgmtd/internal/fixture"
	"mgmtd/model"
	"mgmtd/wbem/wbemtest"
)

// storageStore holds the drbd-fenced fixture (captured with Pacemaker's
// tools: r0's promotable clone, node1 Promoted, DRBD's fence constraint
// against node2) with node1's DRBD view after the first n lines of an
// events2 input (written from drbdsetup(8) and drbd-utils' code: no DRBD
// runs here, source/drbd/events/testdata/README.md).
func storageStore(t testing.TB, file string, n int) *model.Store {
	t.Helper()
	store := model.NewStore(model.StoreOptions{View: "node1", Cluster: "storage"})
	store.ReportAll(model.Report{Source: "pacemaker", Pacemaker: fixture.Pacemaker(t, filepath.Join("..", "source", "pacemaker", "testdata", "drbd-fenced"))},
		model.Report{Source: "drbd", DRBD: fixture.DRBD(t, "node1", filepath.Join("..", "source", "drbd", "events", "testdata", file), n)})
	return store
}

// TestDRBDWbemcli enumerates MGMTD_DRBDResource (a CIM_RedundancySet) and
// its MGMTD_DRBDReplica members with the real sblim-wbemcli, in the middle
// of a resync from node1 (Primary) to node2.
func TestDRBDWbemcli(t *testing.T) {
	st := storageStore(t, "events2-failover.txt", 17)
	env := newModelEnv(t, func(o *cim.ModelOptions) { o.Store, o.Events = st, st.Events() })
	base := "http://" + mUser + ":" + mPass + "@" + env.hostport + "/"
	r0 := base + `root/cimv2:MGMTD_DRBDResource.InstanceID="MGMTD:DRBD:r0"`
	node1 := base + `root/cimv2:MGMTD_ComputerSystem.CreationClassName="MGMTD_ComputerSystem",Name="node1"`
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"ecn", []string{"ecn", base + "root/cimv2:CIM_Collection"}, 0, []string{"/root/cimv2:CIM_SystemSpecificCollection\n", "/root/cimv2:CIM_RedundancySet\n", "/root/cimv2:MGMTD_DRBDResource\n"}},
		{"ein", []string{"ein", base + "root/cimv2:CIM_RedundancySet"}, 0, []string{`/root/cimv2:MGMTD_DRBDResource.InstanceID="MGMTD:DRBD:r0"` + "\n"}},
		{"ei", []string{"ei", base + "root/cimv2:MGMTD_DRBDResource"}, 0, []string{
			`MGMTD_DRBDResource.InstanceID="MGMTD:DRBD:r0" InstanceID="MGMTD:DRBD:r0",Caption="DRBD resource r0",ElementName="r0",`,
			`RedundancyStatus=4,TypeOfSet=2,MinNumberNeeded=1,MaxNumberSupported=32,`,
			`PrimaryNode="node1",InSync=FALSE,SyncDescription="not in sync: node2 is Inconsistent, resync 45.2% done, about 12 s left",SplitBrain=FALSE,`,
			`ReportingNode="node1",Role="Primary",Quorum=TRUE,MayPromote=FALSE,PromotionScore=10103,Devices="/dev/drbd0",OutOfSyncKiB=36100,ManagingResource="ms_drbd_r0",FencingConstraints="drbd-fence-by-handler-r0-ms_drbd_r0"`}},
		{"gi", []string{"gi", r0, "RedundancyStatus,PrimaryNode"}, 0, []string{`InstanceID="MGMTD:DRBD:r0" RedundancyStatus=4,PrimaryNode="node1"` + "\n"}},
		{"ain", []string{"ain", "-ac", "MGMTD_DRBDReplica", r0}, 0, []string{`Name="node1"` + "\n", `Name="node2"` + "\n"}},
		{"ai from node", []string{"ai", "-ac", "MGMTD_DRBDReplica", node1}, 0, []string{`MGMTD_DRBDResource.InstanceID="MGMTD:DRBD:r0" `, `RedundancyStatus=4,`}},
		{"ri", []string{"ri", "-arc", "MGMTD_DRBDReplica", r0}, 0, []string{
			`Name="node1",Role=2,DiskState="UpToDate",UpToDate=TRUE,Connected=TRUE,Syncing=FALSE,OutOfSyncKiB=0,PacemakerRole="Promoted",PromotionScore="10000",Local=TRUE`,
			`Name="node2",Role=3,DiskState="Inconsistent",UpToDate=FALSE,Connected=TRUE,Syncing=TRUE,SyncPercent=45.2,OutOfSyncKiB=36100,PacemakerRole="Unpromoted",`}},
		{"not found", []string{"gi", base + `root/cimv2:MGMTD_DRBDResource.InstanceID="MGMTD:DRBD:r9"`}, 16, []string{"(6) CIM_ERR_NOT_FOUND"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wbemtest.CheckWbemcli(t, tc.code, tc.want, tc.args...) })
	}
}
