// Package mibs holds mgmtd's SMIv2 MIB modules as files and embeds them,
// so that the command line can write them out (`mgmtd mibs DIR`) and tests
// can lint them. The
// modules are validated with smilint and net-snmp's parser in this
// package's tests. It imports nothing of mgmtd.
package mibs

import "embed"

// Files holds every MIB module of this directory, named <MODULE>.txt.
//
//go:embed *.txt
var Files embed.FS

// ClusterMIB is the file name of MGMTD-CLUSTER-MIB, the module served
// under enterprises.32473 (RFC 5612's documentation number).
const ClusterMIB = "MGMTD-CLUSTER-MIB.txt"
