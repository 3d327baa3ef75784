package snmp

import "mgmtd/snmp/agentx"

// OIDs of MGMTD-CLUSTER-MIB (mibs/MGMTD-CLUSTER-MIB.txt) and of the VM-MIB
// (RFC 7666). The numbers must match the MIB text; the integration test
// walks the served tree and resolves it against the MIB.
var (
	// EnterpriseOID is mgmtdClusterMIB, enterprises.32473 (RFC 5612's
	// documentation number, a placeholder until the project has an IANA
	// Private Enterprise Number).
	EnterpriseOID = agentx.OID{1, 3, 6, 1, 4, 1, 32473}
	// VMMIBOID is vmMIB, mib-2.236 (RFC 7666).
	VMMIBOID = agentx.OID{1, 3, 6, 1, 2, 1, 236}

	notifOID   = EnterpriseOID.Append(0)
	objectsOID = EnterpriseOID.Append(1)
	clusterOID = objectsOID.Append(1)
	notifyObjs = objectsOID.Append(20)
)

// Tables of MGMTD-CLUSTER-MIB: the sub-identifier under mgmtdObjects and
// the number of columns, index columns included.
const (
	tSource     = 2
	tNode       = 3
	tLink       = 4
	tResource   = 5
	tInstance   = 6
	tFail       = 7
	tFence      = 8
	tService    = 9
	tServiceRes = 10
	tVM         = 11
	tDRBD       = 12
)

var tableColumns = map[uint32]uint32{
	tSource: 7, tNode: 10, tLink: 7, tResource: 9, tInstance: 8,
	tFail: 10, tFence: 9, tService: 8, tServiceRes: 2, tVM: 12,
	tDRBD: 16,
}

// indexColumns are the not-accessible index columns of each table, which
// are never instantiated.
var indexColumns = map[uint32]uint32{
	tSource: 1, tNode: 1, tLink: 2, tResource: 1, tInstance: 2,
	tFail: 4, tFence: 3, tService: 1, tServiceRes: 1, tVM: 2,
	tDRBD: 4,
}

// column returns the OID of column col of table t.
func column(t, col uint32) agentx.OID { return objectsOID.Append(t, 1, col) }

// Notification numbers under mgmtdNotifications.
const (
	trapAgentStart    = 1
	trapNodeState     = 2
	trapQuorum        = 3
	trapDC            = 4
	trapResourceState = 5
	trapResourceFail  = 6
	trapFencing       = 7
	trapVMState       = 8
	trapSourceDown    = 9
	trapSourceUp      = 10
	trapDRBD          = 11
)

// Cluster scalars under mgmtdCluster.
const (
	sClusterName = iota + 1
	sClusterStack
	sPacemakerVersion
	sCorosyncVersion
	sQuorate
	sExpectedVotes
	sTotalVotes
	sQuorum
	sDCName
	sMaintenance
	sStonith
	sSymmetric
	sNoQuorumPolicy
	sCIBEpoch
	sClusterLastChange
	sNodesConfigured
	sNodesOnline
	sNodesStandby
	sNodesMaintenance
	sNodesOffline
	sNodesUnclean
	sResourcesConfigured
	sResourcesActive
	sResourcesStopped
	sResourcesFailed
	sResourcesUnmanaged
	sResourcesBlocked
	sLastChange
	sSnapshotStale
	sSnapshotView
	sRowsOmitted
	sVMsConfigured
	sVMsActive
	sNotificationsSent
	sNotificationsDropped
	sNotificationsQueued
)

// Index size limits of the MIB (MgmtdName and the short string indexes).
const (
	maxName  = 48
	maxShort = 16
)
