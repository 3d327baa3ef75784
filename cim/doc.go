// Package cim is mgmtd's cluster provider for the WBEM server of package
// wbem: it serves the model snapshot as MGMTD_* classes derived from the
// DMTF CIM 2.41 schema, turns method calls into actions and model events
// into indications.
package cim
