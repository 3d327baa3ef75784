// Package agentx implements the subagent side of the AgentX protocol
// (RFC 2741) as far as mgmtd needs it: the PDU codec (both byte orders,
// OID prefix compression, every varbind type), a read-only OID table with
// O(log n) GetNext, and a Client that connects to a master agent such as
// net-snmp's snmpd, opens one session, registers subtrees, answers
// Get/GetNext/GetBulk from the current table, refuses every SET with
// notWritable, sends Notify PDUs and reconnects with backoff.
//
// The package depends only on the standard library; package snmp builds the
// tables from the cluster model.
package agentx
