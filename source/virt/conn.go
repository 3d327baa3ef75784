package virt

import (
	"context"
	"time"

	"mgmtd/model"
)

// hostInfo is what libvirt says about a host.
type hostInfo struct {
	LibVersion uint64 // major*1000000 + minor*1000 + release
	Hypervisor string // virConnectGetType: QEMU, Test, Xen ...
	CPUs       int
	MemoryKiB  uint64
}

// domainInfo is what libvirt says about one domain.
type domainInfo struct {
	Name       string
	UUID       string
	State      int32 // virDomainState
	Reason     int32 // the state's reason code
	VCPUs      int
	MemoryKiB  uint64
	Persistent bool
	Autostart  bool
	CPUTime    time.Duration
	// MaxVCPUs and MaxMemoryKiB are the domain's limits (0: unknown).
	MaxVCPUs     int
	MaxMemoryKiB uint64
	CPUs         []model.VMCPU // per vCPU; empty when not running
	Disks        []model.VMDisk
	NICs         []model.VMNIC
}

// lifecycleEvent is one libvirt domain lifecycle event.
type lifecycleEvent struct {
	Domain string
	Event  int32 // virDomainEventType
	Detail int32
}

// connector opens connections to hosts. The production connector is
// go-libvirt; unit tests use an in-memory fake.
type connector interface {
	connect(ctx context.Context, h HostConfig) (conn, error)
}

// conn is one open connection to a host's libvirtd: exactly what the
// source needs of libvirt. Every method honours ctx; implementations bound
// each call by their own call timeout too.
type conn interface {
	hostInfo(ctx context.Context) (hostInfo, error)
	// domains lists all domains, active and inactive. A domain that
	// vanishes while it is being read is left out, not an error.
	// full is false for a re-read after a lifecycle event: then device
	// lists and per-device counters may come from the previous read.
	domains(ctx context.Context, full bool) ([]domainInfo, error)
	// ping is the heartbeat: one cheap round trip.
	ping(ctx context.Context) error
	// events delivers lifecycle events; it is closed when the connection
	// ends. Events may be dropped when the reader is slow: they only
	// trigger a refresh.
	events() <-chan lifecycleEvent
	// done is closed when the connection is lost or closed.
	done() <-chan struct{}
	// migrate live-migrates the named domain to the host whose libvirt URI
	// (as seen from this host's daemon) is destURI.
	migrate(ctx context.Context, domain, destURI string) error
	// close ends the connection and waits for its goroutines.
	close() error
}

// formatLibVersion renders libvirt's version number as "9.0.0".
func formatLibVersion(v uint64) string {
	if v == 0 {
		return ""
	}
	return itoa(v/1000000) + "." + itoa(v/1000%1000) + "." + itoa(v%1000)
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
