// Package snmp is mgmtd's SNMP front-end: an AgentX subagent (RFC 2741)
// of a master agent such as net-snmp's snmpd. It serves
// MGMTD-CLUSTER-MIB (mibs/MGMTD-CLUSTER-MIB.txt, under enterprises.32473)
// and the standard VM-MIB (RFC 7666, mib-2.236) from the current cluster
// snapshot, and turns model events into SNMP notifications.
//
// A Server rebuilds a sorted, immutable OID table whenever the snapshot
// generation changes (and periodically, for ages) and swaps it in
// atomically, so requests are answered without locks and never by running
// a cluster tool. The protocol machinery lives in package snmp/agentx.
//
// snmp imports model (and snmp/agentx); it never imports sources or other
// front-ends. The wiring passes in the consumer-side interfaces
// Snapshotter and EventLog.
package snmp
