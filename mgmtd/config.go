// Package mgmtd is the wiring of the daemon: configuration, building the
// model store, the sources and the front-ends as run units (package
// internal/unit), the adapters between packages (the auth policy as the
// executor's authorizer, the audit log as its recorder, the CIM hooks),
// starting the units and stopping them in a written order (Daemon.Run),
// and the offline rehearsal of actions on a CIB file. The command line is
// package cli. mgmtd imports every other package of the daemon and is
// imported only by cli and tests.
package mgmtd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"mgmtd/auth"
	"mgmtd/model"
	"mgmtd/notify"
	"mgmtd/source/virt"
)

// Config is the daemon's configuration file (YAML). Every field has a
// default; an empty file is a valid configuration for a cluster node.
type Config struct {
	// Cluster names the cluster when Pacemaker does not (no cluster-name).
	Cluster string `json:"cluster,omitempty"`
	// View is the name of the node mgmtd runs on; default: the host name.
	View string `json:"view,omitempty"`
	// Listen is the REST and web page address; default 127.0.0.1:8443.
	Listen string `json:"listen,omitempty"`
	// StateDir keeps mgmtd's state (certificate, tokens, journal).
	StateDir string `json:"state_dir,omitempty"`
	// Socket is the local socket of the command line and of Pacemaker's
	// alert agent (which runs as hacluster, so the socket's directory
	// must let it in); default STATE_DIR/mgmtd.sock.
	Socket string `json:"socket,omitempty"`

	// HealthAttribute, when set, is the transient node attribute mgmtd
	// keeps at 1 while every source is fresh (0 otherwise, deleted when it
	// stops), for a Pacemaker-managed address that follows the healthy
	// mgmtd (README, "Every node"). Live clusters only.
	HealthAttribute string `json:"health_attribute,omitempty"`

	Pacemaker PacemakerConfig `json:"pacemaker,omitzero"`
	// Virt lists the libvirt hypervisor hosts; none means no virt source.
	Virt     VirtConfig     `json:"virt,omitzero"`
	Corosync CorosyncConfig `json:"corosync,omitzero"`
	// DRBD configures the DRBD source (off by default).
	DRBD DRBDConfig `json:"drbd,omitzero"`
	// ISCSI configures the iSCSI target source: tgtd's own view (off by
	// default).
	ISCSI ISCSIConfig `json:"iscsi,omitzero"`

	// Services is the service catalog: operator-facing names for sets of
	// resources, with an address and how it moves when not derivable.
	Services []ServiceConfig `json:"services,omitempty"`
	// VMMappings link VirtualDomain resources to libvirt domains.
	VMMappings []model.VMMapping `json:"vm_mappings,omitempty"`
	// EventBuffer is how many events are kept for resuming streams.
	EventBuffer int `json:"event_buffer,omitempty"`
	// ConflictGrace is how long sources must disagree (a VM on a host
	// Pacemaker does not place it on) before it is a conflict; default
	// 10s, negative for none.
	ConflictGrace time.Duration `json:"conflict_grace,omitempty"`
	// Audit configures the audit log (PostgreSQL, or the local journal),
	// including the spool and the part of it noise may use
	// (spool_limit, spool_noise_limit; docs/audit.md, "Configuration").
	Audit AuditConfig `json:"audit,omitzero"`
	// History configures the event history (PostgreSQL, by default the
	// audit log's, or the embedded store STATE_DIR/history.db).
	History HistoryConfig `json:"history,omitzero"`
	// Actions configures cluster changes.
	Actions ActionsConfig `json:"actions,omitzero"`
	// CIM configures the WBEM (CIM-XML) server; empty Addr disables it.
	CIM CIMConfig `json:"cim,omitzero"`
	// SNMP configures the AgentX subagent; empty AgentX disables it.
	SNMP SNMPConfig `json:"snmp,omitzero"`
	// Notify configures the notification routes (webhook, smtp, syslog);
	// changes between two starts are audited (notify.routes.changed).
	Notify notify.Config `json:"notify,omitzero"`
	// Hub pushes this cluster to a fleet hub (mutual TLS, outbound only);
	// off without hub.url.
	Hub HubConfig `json:"hub,omitzero"`
	// HubServer configures `mgmtd hub`, a fleet hub process.
	HubServer HubServerConfig `json:"hub_server,omitzero"`
	// PlainHTTP serves REST without TLS; allowed only on a loopback
	// address.
	PlainHTTP bool `json:"plain_http,omitempty"`
	// Auth configures TLS, OIDC, PAM, bindings and, under limits, the
	// lockouts, the budget of requests without credentials and how refused
	// requests are summarised (auth.LimitConfig; docs/auth.md, "Brute
	// force, secrets, audit").
	Auth auth.Config `json:"auth,omitzero"`
}

// PacemakerConfig configures the Pacemaker source.
type PacemakerConfig struct {
	CIBFile string `json:"cib_file,omitempty"`
	// Interval is the full refresh's safety net (default 5m); the CIB's
	// version is checked every VersionInterval (default 5s) and the alert
	// agent (mgmtd alert install) pushes changes at once.
	Interval        time.Duration `json:"interval,omitempty"`
	VersionInterval time.Duration `json:"version_interval,omitempty"`
	Timeout         time.Duration `json:"timeout,omitempty"`
	ToolDir         string        `json:"tool_dir,omitempty"`
	ReadConfigFiles *bool         `json:"read_config_files,omitempty"`
	// Watch keeps one `crm_mon -E` running that hears every resource and
	// fencing operation anywhere in the cluster the moment Pacemaker
	// records it (default true on a live cluster; never with cib_file).
	// While it runs, the version check slows to every 30 s.
	Watch *bool `json:"watch,omitempty"`
	// PEngineDir is where the DC saves its scheduler inputs (default
	// /var/lib/pacemaker/pengine); LogFile is Pacemaker's log, whose
	// "Calculated transition" lines link a transition to its input
	// (default /var/log/pacemaker/pacemaker.log, "-" for none).
	PEngineDir string `json:"pengine_dir,omitempty"`
	LogFile    string `json:"log_file,omitempty"`
	// MaxOutput bounds what crm_mon or cibadmin may print, in bytes
	// (default 64 MiB: a 1,000-node, 10,000-resource cluster prints 8 MB
	// of status and a 14 MB CIB). A tool printing more is killed and the
	// source goes stale, rather than the daemon growing without bound.
	MaxOutput int64 `json:"max_output,omitempty"`
	// Status chooses how the cluster status is computed: "native" (the
	// CIB from cibadmin, unpacked in Go: milliseconds where crm_mon takes
	// seconds), "crm_mon" (crm_mon every refresh), or "both" (the
	// default: native, cross-checked with crm_mon every
	// CrossCheckInterval, default 10m, and after every configuration
	// change; a disagreement is logged, counted and shown in the source
	// status, and crm_mon's answer is used for that refresh).
	Status             string        `json:"status,omitempty"`
	CrossCheckInterval time.Duration `json:"cross_check_interval,omitempty"`
}

// ActionsConfig configures the executor of actions.
type ActionsConfig struct {
	// UseCIBUser runs the tools as the caller's CIB user (CIB_user), so
	// that Pacemaker's ACLs apply as well.
	UseCIBUser bool `json:"use_cib_user,omitempty"`
	// Timeout bounds one action until the cluster settles (default 5m).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// SNMPConfig configures the AgentX subagent.
type SNMPConfig struct {
	// AgentX is the master agent's socket: unix:PATH or tcp:HOST:PORT.
	AgentX string `json:"agentx,omitempty"`
	// Notify says which mgmtd sends the cluster-wide notifications: "dc"
	// (the default, for mgmtd on every node: only the one on the DC) or
	// "all" (this one always: a single mgmtd watching the cluster).
	Notify string `json:"notify,omitempty"`
}

// VirtConfig configures the libvirt source.
type VirtConfig struct {
	Hosts             []VirtHost    `json:"hosts,omitempty"`
	RefreshInterval   time.Duration `json:"refresh_interval,omitempty"`
	HeartbeatInterval time.Duration `json:"heartbeat_interval,omitempty"`
	HeartbeatTimeout  time.Duration `json:"heartbeat_timeout,omitempty"`
	CallTimeout       time.Duration `json:"call_timeout,omitempty"`
	SSHCommand        string        `json:"ssh_command,omitempty"`
}

// VirtHost is one hypervisor: its name (the Pacemaker node name, never
// libvirt's hostname), its libvirt URI, and optionally the cluster node
// it is when the names differ.
type VirtHost struct {
	Name       string `json:"name"`
	URI        string `json:"uri"`
	Node       string `json:"node,omitempty"`
	MigrateURI string `json:"migrate_uri,omitempty"`
}

func (v VirtConfig) options() virt.Options {
	o := virt.Options{RefreshInterval: v.RefreshInterval, HeartbeatInterval: v.HeartbeatInterval,
		HeartbeatTimeout: v.HeartbeatTimeout, CallTimeout: v.CallTimeout, SSHCommand: v.SSHCommand}
	for _, h := range v.Hosts {
		o.Hosts = append(o.Hosts, virt.HostConfig{Name: h.Name, URI: h.URI, Node: h.Node, MigrateURI: h.MigrateURI})
	}
	return o
}

// CorosyncConfig configures the Corosync source.
type CorosyncConfig struct {
	// Enabled defaults to true on a live cluster and false with a CIB file.
	Enabled  *bool         `json:"enabled,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
	ToolDir  string        `json:"tool_dir,omitempty"`
}

// DRBDConfig configures the DRBD source: one long-lived `drbdsetup
// events2 --full --timestamps --poll` on this node (source/drbd). Off by
// default; it needs drbd-utils (for DRBD 9, or DRBD 8.4: then `drbdsetup
// events2 all --timestamps --statistics`) and the right to run drbdsetup
// (root, or CAP_NET_ADMIN and CAP_SYS_ADMIN for its netlink socket).
type DRBDConfig struct {
	Enabled bool `json:"enabled,omitempty"`
	// RefreshInterval is how often drbdsetup is asked for fresh
	// statistics ("n" on its standard input; DRBD 8.4: one `drbdsetup
	// events2 all --now`, which also checks the stream); default 10s.
	RefreshInterval time.Duration `json:"refresh_interval,omitempty"`
	// CheckInterval is how often `drbdsetup status --json` checks the
	// event stream (DRBD 9); default 60s.
	CheckInterval time.Duration `json:"check_interval,omitempty"`
	// Timeout bounds drbdsetup's initial dump and a status run; default
	// 10s.
	Timeout time.Duration `json:"timeout,omitempty"`
	ToolDir string        `json:"tool_dir,omitempty"`
}

// ISCSIConfig configures the iSCSI target source: `tgtadm --lld iscsi
// --mode target --op show` every interval on this node (source/iscsi),
// tgtd's own view of its targets, LUNs and logged-in initiators, merged
// with what Pacemaker's iSCSITarget/iSCSILogicalUnit resources say. Off
// by default; tgtadm must reach tgtd's control socket (root). LIO has no
// such source (its view is in configfs, which needs its kernel modules).
type ISCSIConfig struct {
	Enabled bool `json:"enabled,omitempty"`
	// Interval is the polling interval; default 10s.
	Interval time.Duration `json:"interval,omitempty"`
	// Timeout bounds one tgtadm run; default 10s.
	Timeout time.Duration `json:"timeout,omitempty"`
	// ControlPort is tgtadm's -C (a tgtd started with -C N); 0 is tgtd's
	// default.
	ControlPort int    `json:"control_port,omitempty"`
	ToolDir     string `json:"tool_dir,omitempty"`
}

// ServiceConfig is one entry of the service catalog.
type ServiceConfig struct {
	Name      string   `json:"name,omitempty"`
	Resources []string `json:"resources,omitempty"`
	Address   string   `json:"address,omitempty"`
	Method    string   `json:"method,omitempty"`
}

// LoadConfig reads a configuration file (YAML); a missing path means
// defaults. Keys are those of the json tags; durations are written as Go
// durations ("5s", "15m") under keys ending in interval, timeout, window, retention,
// lockout or ttl. Unknown keys are errors.
func LoadConfig(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := decodeConfig(b, c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.defaults()
	return c, c.Validate()
}

func decodeConfig(b []byte, c *Config) error {
	var raw any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		return nil
	}
	raw, err := durations(raw, "")
	if err != nil {
		return err
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(c)
}

var durationKey = regexp.MustCompile(`(interval|timeout|window|lockout|ttl|grace|retention)$`)

// durations turns duration strings into nanoseconds under duration keys.
func durations(v any, key string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			y, err := durations(x, k)
			if err != nil {
				return nil, err
			}
			t[k] = y
		}
	case []any:
		for i, x := range t {
			y, err := durations(x, key)
			if err != nil {
				return nil, err
			}
			t[i] = y
		}
	case string:
		if durationKey.MatchString(key) {
			d, err := time.ParseDuration(t)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", key, err)
			}
			return int64(d), nil
		}
	}
	return v, nil
}

func (c *Config) defaults() {
	if c.View == "" {
		c.View, _ = os.Hostname()
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	switch {
	case c.ConflictGrace == 0:
		c.ConflictGrace = 10 * time.Second
	case c.ConflictGrace < 0:
		c.ConflictGrace = 0
	}
	if c.StateDir == "" {
		c.StateDir = "/var/lib/mgmtd"
	}
	if c.Corosync.Enabled == nil {
		on := c.Pacemaker.CIBFile == ""
		c.Corosync.Enabled = &on
	}
	if c.Pacemaker.Watch == nil {
		on := true
		c.Pacemaker.Watch = &on
	}
	if c.Pacemaker.ReadConfigFiles == nil {
		on := true
		c.Pacemaker.ReadConfigFiles = &on
	}
}

var validMethods = map[string]bool{"": true, "ip-takeover": true, "clusterip": true, "dns": true, "route": true, "unknown": true}

// Validate checks the configuration and names the offending key.
// attributeName is what health_attribute may be: a plain node attribute
// name, safe in a CIB rule and on attrd_updater's command line.
var attributeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config key listen: %q is not host:port: %w", c.Listen, err)
	}
	if a := c.HealthAttribute; a != "" && !attributeName.MatchString(a) {
		return fmt.Errorf("config key health_attribute: %q: use letters, digits, '-', '_' and '.', at most 64", a)
	}
	if c.Pacemaker.Interval < 0 || (c.Pacemaker.Interval > 0 && c.Pacemaker.Interval < 100*time.Millisecond) {
		return fmt.Errorf("config key pacemaker.interval: %s is below 100ms", c.Pacemaker.Interval)
	}
	if c.Pacemaker.VersionInterval < 0 || (c.Pacemaker.VersionInterval > 0 && c.Pacemaker.VersionInterval < 100*time.Millisecond) {
		return fmt.Errorf("config key pacemaker.version_interval: %s is below 100ms", c.Pacemaker.VersionInterval)
	}
	switch c.Pacemaker.Status {
	case "", "native", "crm_mon", "both":
	default:
		return fmt.Errorf("config key pacemaker.status: %q; give native, crm_mon or both", c.Pacemaker.Status)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"drbd.refresh_interval", c.DRBD.RefreshInterval}, {"drbd.check_interval", c.DRBD.CheckInterval}, {"drbd.timeout", c.DRBD.Timeout},
		{"iscsi.interval", c.ISCSI.Interval}, {"iscsi.timeout", c.ISCSI.Timeout}} {
		if d.v < 0 || (d.v > 0 && d.v < 100*time.Millisecond) {
			return fmt.Errorf("config key %s: %s is below 100ms", d.key, d.v)
		}
	}
	if c.ISCSI.ControlPort < 0 || c.ISCSI.ControlPort > 65535 {
		return fmt.Errorf("config key iscsi.control_port: %d is outside 0..65535", c.ISCSI.ControlPort)
	}
	if c.Pacemaker.CrossCheckInterval < 0 || (c.Pacemaker.CrossCheckInterval > 0 && c.Pacemaker.CrossCheckInterval < time.Second) {
		return fmt.Errorf("config key pacemaker.cross_check_interval: %s is below 1s", c.Pacemaker.CrossCheckInterval)
	}
	if c.Pacemaker.Timeout < 0 {
		return fmt.Errorf("config key pacemaker.timeout: negative")
	}
	if c.Pacemaker.MaxOutput < 0 || (c.Pacemaker.MaxOutput > 0 && c.Pacemaker.MaxOutput < 1<<20) {
		return fmt.Errorf("config key pacemaker.max_output: %d bytes; give at least 1 MiB (0: the default, 64 MiB)", c.Pacemaker.MaxOutput)
	}
	if f := c.Pacemaker.CIBFile; f != "" {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("config key pacemaker.cib_file (--cib): %s: file not found", f)
		} else if err != nil {
			return fmt.Errorf("config key pacemaker.cib_file (--cib): %w", err)
		}
	}
	if err := c.History.validate(); err != nil {
		return err
	}
	if c.EventBuffer < 0 || c.EventBuffer > 1_000_000 {
		return fmt.Errorf("config key event_buffer: %d is outside 0..1000000", c.EventBuffer)
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		if s.Name == "" {
			return fmt.Errorf("config key services[%d].name: empty", i)
		}
		if seen[s.Name] {
			return fmt.Errorf("config key services[%d].name: %q given twice", i, s.Name)
		}
		seen[s.Name] = true
		if len(s.Resources) == 0 {
			return fmt.Errorf("config key services[%d].resources: empty", i)
		}
		if !validMethods[s.Method] {
			return fmt.Errorf("config key services[%d].method: %q is not one of ip-takeover, clusterip, dns, route, unknown", i, s.Method)
		}
	}
	if len(c.Virt.Hosts) > 0 {
		if err := c.Virt.options().Validate(); err != nil {
			return fmt.Errorf("config key %w", err)
		}
	}
	if err := c.Audit.validate(); err != nil {
		return err
	}
	if err := c.Auth.Validate(); err != nil {
		return fmt.Errorf("config key auth: %w", err)
	}
	if c.PlainHTTP {
		if err := auth.CheckPlainHTTP(c.Listen); err != nil {
			return fmt.Errorf("config key plain_http: %w", err)
		}
	}
	if n := c.SNMP.Notify; n != "" && n != "dc" && n != "all" {
		return fmt.Errorf("config key snmp.notify: %q is not dc or all", n)
	}
	for i, m := range c.VMMappings {
		if m.Resource == "" || m.Domain == "" {
			return fmt.Errorf("config key vm_mappings[%d]: resource and domain are both required", i)
		}
	}
	if err := c.Notify.Validate(); err != nil {
		return fmt.Errorf("config key %w", err)
	}
	if err := c.Hub.validate(); err != nil {
		return err
	}
	if err := c.HubServer.validate(); err != nil {
		return err
	}
	return c.CIM.Indications.validate()
}

// servicesPart converts the catalog for the model.
func (c *Config) servicesPart() *model.ServicesPart {
	p := &model.ServicesPart{}
	for _, s := range c.Services {
		p.Services = append(p.Services, model.Service{Name: s.Name, Resources: s.Resources, Address: s.Address, Method: model.AddressMethod(s.Method)})
	}
	return p
}
