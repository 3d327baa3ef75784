package cim

import (
	"testing"

	mdl "mgmtd/model"
)

// RedundancyStatus follows the replicas: all UpToDate and connected is
// Fully Redundant, more than one UpToDate Degraded, one Lost, none
// Overall Failure, and a resource only Pacemaker knows Unknown.
func TestRedundancyStatus(t *testing.T) {
	rep := func(node, disk string, connected bool) mdl.DRBDReplica {
		return mdl.DRBDReplica{Node: node, Role: "Secondary", Disk: disk, Connected: connected}
	}
	tests := []struct {
		node string
		reps []mdl.DRBDReplica
		want uint64
	}{
		{"node1", []mdl.DRBDReplica{rep("node1", "UpToDate", true), rep("node2", "UpToDate", true)}, 2},
		{"node1", []mdl.DRBDReplica{rep("node1", "UpToDate", true), rep("node2", "UpToDate", true), rep("node3", "Outdated", false)}, 3},
		{"node1", []mdl.DRBDReplica{rep("node1", "UpToDate", true), rep("node2", "Inconsistent", true)}, 4},
		{"node1", []mdl.DRBDReplica{rep("node1", "Inconsistent", true), rep("node2", "DUnknown", false)}, 5},
		{"", []mdl.DRBDReplica{rep("node1", "UpToDate", true), rep("node2", "UpToDate", true)}, 0},
	}
	for i, tc := range tests {
		r := &mdl.DRBDResource{Name: "r0", Node: tc.node, Replicas: tc.reps}
		if got := redundancyStatus(r); got != tc.want {
			ok, why := r.InSync()
			t.Errorf("%d: %d, want %d (%v %s)", i, got, tc.want, ok, why)
		}
	}
}
