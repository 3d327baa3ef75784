// Package virt is mgmtd's virtualization source: it keeps one libvirt
// connection per configured hypervisor host, reads the host and its domains,
// and reports them to the model as one model.VirtPart covering all hosts.
//
// It sits between libvirt and the model: it imports mgmtd/model only, and
// only the wiring package (mgmtd) imports it. Front-ends never do.
//
// libvirt is reached through the pure-Go RPC client
// github.com/digitalocean/go-libvirt, hidden behind the small internal
// interfaces connector and conn so that unit tests use an in-memory fake
// and integration tests a real libvirtd. go-libvirt has neither a libvirt
// keepalive nor per-call timeouts, so this package adds both: every RPC runs
// under a deadline (a missed deadline closes the connection, because the
// RPC stream can no longer be trusted), and an application-level heartbeat
// (virConnectGetLibVersion) detects a dead peer that keeps its socket open.
//
// A host's identity is the name in the configuration, never the hostname
// libvirt reports. An unreachable host stays in the model with
// Reachable=false and its error, and the domains last seen on it are kept
// with state "unknown": a lost host does not mean stopped VMs.
package virt
