package virt

import (
	"errors"
	"fmt"
	"time"
)

// HostConfig is one hypervisor host to watch.
type HostConfig struct {
	// Name is the host's identity in the model. It should be the Pacemaker
	// node name of the host; it is never taken from libvirt.
	Name string
	// URI is the libvirt URI of the host's daemon, e.g.
	// qemu+ssh://root@hv1/system, qemu+tls://hv1/system, qemu:///system,
	// qemu+unix:///system?socket=/run/libvirt/libvirt-sock or
	// test+unix:///default?socket=/tmp/hv1/libvirt-sock. See ParseURI for
	// the transports and parameters understood.
	URI string
	// Node is the cluster node this host is, when it differs from Name.
	Node string
	// MigrateURI is the URI another host's libvirtd uses to reach this
	// host as a live-migration destination; empty means URI.
	MigrateURI string
}

// Options configures a Source. Zero durations take the defaults below.
type Options struct {
	// Hosts are the hypervisors to watch, one connection each.
	Hosts []HostConfig
	// RefreshInterval is how often every host is re-read in full even
	// without lifecycle events (default 30s).
	RefreshInterval time.Duration
	// HeartbeatInterval is how often an idle connection is probed with
	// virConnectGetLibVersion (default 5s); HeartbeatTimeout is how long
	// the probe may take before the host counts as unreachable (default 5s).
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// CallTimeout bounds every single libvirt call and the connection set-up
	// (default 10s). A call that misses it closes the connection.
	CallTimeout time.Duration
	// BackoffMin and BackoffMax bound the exponential reconnect delay
	// (defaults 500ms and 30s).
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Coalesce is how long the source waits after one host changed for
	// other hosts' changes before it reports, so that a burst of events
	// yields one report (default 10ms).
	Coalesce time.Duration
	// SSHCommand is the ssh client run for +ssh URIs (default "ssh").
	SSHCommand string
	// Parallel bounds the concurrent per-domain calls on one connection
	// (default 8); go-libvirt pipelines them over the one socket.
	Parallel int
}

// Default option values.
const (
	DefaultRefreshInterval   = 30 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultHeartbeatTimeout  = 5 * time.Second
	DefaultCallTimeout       = 10 * time.Second
	DefaultBackoffMin        = 500 * time.Millisecond
	DefaultBackoffMax        = 30 * time.Second
	DefaultCoalesce          = 10 * time.Millisecond
	DefaultParallel          = 8
)

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.RefreshInterval, DefaultRefreshInterval)
	def(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&o.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&o.CallTimeout, DefaultCallTimeout)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.Coalesce, DefaultCoalesce)
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.SSHCommand == "" {
		o.SSHCommand = "ssh"
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	return o
}

// Validate checks the options and names the offending key.
func (o Options) Validate() error {
	seen := map[string]bool{}
	var errs []error
	for i, h := range o.Hosts {
		switch {
		case h.Name == "":
			errs = append(errs, fmt.Errorf("virt.hosts[%d].name: empty", i))
		case seen[h.Name]:
			errs = append(errs, fmt.Errorf("virt.hosts[%d].name: duplicate host %q", i, h.Name))
		}
		seen[h.Name] = true
		if _, err := ParseURI(h.URI); err != nil {
			errs = append(errs, fmt.Errorf("virt.hosts[%d].uri: %w", i, err))
		}
		if h.MigrateURI != "" {
			if _, err := ParseURI(h.MigrateURI); err != nil {
				errs = append(errs, fmt.Errorf("virt.hosts[%d].migrate_uri: %w", i, err))
			}
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"virt.refresh_interval", o.RefreshInterval}, {"virt.heartbeat_interval", o.HeartbeatInterval},
		{"virt.heartbeat_timeout", o.HeartbeatTimeout}, {"virt.call_timeout", o.CallTimeout},
		{"virt.backoff_min", o.BackoffMin}, {"virt.backoff_max", o.BackoffMax}, {"virt.coalesce", o.Coalesce},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: negative duration %s", d.key, d.v))
		}
	}
	return errors.Join(errs...)
}
