// Package model is mgmtd's single picture of a cluster: an immutable
// Snapshot merged from the parts the sources report (Pacemaker, Corosync,
// libvirt, the service catalog), its indexes, the diff of two snapshots into
// typed Events, and the two questions operators ask: Where and Impact.
//
// model is the leaf of the dependency graph: it imports only the standard
// library, and every other package of mgmtd may import it. Sources produce
// parts and hand them to a Store; front-ends read Store.Snapshot and never
// lock. A published Snapshot is never modified.
package model

import (
	"strconv"
	"strings"
	"time"
)

// Kind names the kind of an object in a stable identity.
type Kind string

// Object kinds used in identities and events.
const (
	KindCluster  Kind = "cluster"
	KindNode     Kind = "node"
	KindResource Kind = "resource"
	KindInstance Kind = "instance"
	KindHost     Kind = "host"
	KindVM       Kind = "vm"
	KindService  Kind = "service"
	KindSource   Kind = "source"
	KindFencing  Kind = "fencing"
	KindTask     Kind = "task"
)

// ID is the stable identity of an object: cluster + kind + name. It
// survives daemon restarts and failovers because it is derived only from
// names the cluster configuration gives, never from positions or node
// placement.
type ID struct {
	Cluster string `json:"cluster"`
	Kind    Kind   `json:"kind"`
	Name    string `json:"name"`
}

// String renders the identity as cluster/kind/name.
func (id ID) String() string { return id.Cluster + "/" + string(id.Kind) + "/" + id.Name }

// Cluster holds the cluster-wide facts.
type Cluster struct {
	Name                string    `json:"name"`
	Stack               string    `json:"stack,omitempty"`
	PacemakerVersion    string    `json:"pacemaker_version,omitempty"`
	CorosyncVersion     string    `json:"corosync_version,omitempty"`
	DC                  string    `json:"dc,omitempty"`
	Quorate             bool      `json:"quorate"`
	ExpectedVotes       int       `json:"expected_votes"`
	TotalVotes          int       `json:"total_votes"`
	NoQuorumPolicy      string    `json:"no_quorum_policy,omitempty"`
	StonithEnabled      bool      `json:"stonith_enabled"`
	SymmetricCluster    bool      `json:"symmetric_cluster"`
	MaintenanceMode     bool      `json:"maintenance_mode"`
	CIBEpoch            string    `json:"cib_epoch,omitempty"` // admin_epoch:epoch:num_updates
	LastChange          time.Time `json:"last_change,omitzero"`
	NodesConfigured     int       `json:"nodes_configured"`
	ResourcesConfigured int       `json:"resources_configured"`
}

// NodeType is how a node takes part in the cluster.
type NodeType string

// Node types.
const (
	NodeMember NodeType = "member" // a full cluster node running corosync
	NodeRemote NodeType = "remote" // a bare-metal Pacemaker Remote node
	NodeGuest  NodeType = "guest"  // a guest node or bundle replica, hosted by a container resource
)

// NodeState is the one state that summarises a node, in precedence order:
// unclean, offline, pending, shutdown, maintenance, standby, online.
type NodeState string

// Node states.
const (
	NodeOnline      NodeState = "online"
	NodeStandby     NodeState = "standby"
	NodeMaintenance NodeState = "maintenance"
	NodePending     NodeState = "pending"
	NodeOffline     NodeState = "offline"
	NodeUnclean     NodeState = "unclean"
	NodeShutdown    NodeState = "shutdown"
)

// Node is a cluster node of any type.
type Node struct {
	Name             string            `json:"name"`
	ID               string            `json:"id"`
	Type             NodeType          `json:"type"`
	State            NodeState         `json:"state"`
	Online           bool              `json:"online"`
	Standby          bool              `json:"standby"`
	StandbyOnFail    bool              `json:"standby_onfail,omitempty"`
	Maintenance      bool              `json:"maintenance"`
	Pending          bool              `json:"pending,omitempty"`
	Unclean          bool              `json:"unclean"`
	Shutdown         bool              `json:"shutdown,omitempty"`
	DC               bool              `json:"dc"`
	ResourcesRunning int               `json:"resources_running"`
	Votes            int               `json:"votes,omitempty"`
	Container        string            `json:"container,omitempty"` // for guest nodes: the resource that hosts them
	Attributes       map[string]string `json:"attributes,omitempty"`
}

// ResourceKind is the kind of a Pacemaker resource.
type ResourceKind string

// Resource kinds.
const (
	KindPrimitive  ResourceKind = "primitive"
	KindGroup      ResourceKind = "group"
	KindClone      ResourceKind = "clone"
	KindPromotable ResourceKind = "promotable"
	KindBundle     ResourceKind = "bundle"
)

// Resource is a configured resource of any kind.
type Resource struct {
	ID         string            `json:"id"`
	Kind       ResourceKind      `json:"kind"`
	Agent      string            `json:"agent,omitempty"` // class:provider:type or class:type
	Parent     string            `json:"parent,omitempty"`
	Children   []string          `json:"children,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
	Params     map[string]string `json:"params,omitempty"` // only the parameters that matter for location
	TargetRole string            `json:"target_role,omitempty"`
	Managed    bool              `json:"managed"`
	Blocked    bool              `json:"blocked"`
	Failed     bool              `json:"failed"`
	Orphaned   bool              `json:"orphaned,omitempty"`
	Disabled   bool              `json:"disabled,omitempty"`
	Unique     bool              `json:"unique,omitempty"` // globally-unique clone
	Replicas   int               `json:"replicas,omitempty"`
	// GuestNode is the node name this resource provides (VirtualDomain with
	// meta remote-node, or a bundle replica's implicit remote connection).
	GuestNode string `json:"guest_node,omitempty"`
	// Domain is the libvirt domain name of a VirtualDomain resource when the
	// source could read it from the config file.
	Domain string `json:"domain,omitempty"`
	// Address is the IP address (or DNS name, or route destination) this
	// resource provides, and Method how that address follows it.
	Address string        `json:"address,omitempty"`
	Method  AddressMethod `json:"method,omitempty"`
}

// AddressMethod says how a service address follows the service.
type AddressMethod string

// Address methods.
const (
	MethodIPTakeover AddressMethod = "ip-takeover" // IPaddr2: gratuitous ARP
	MethodClusterIP  AddressMethod = "clusterip"   // IPaddr2 clone with clusterip_hash
	MethodDNS        AddressMethod = "dns"         // dnsupdate
	MethodRoute      AddressMethod = "route"       // Route
	MethodUnknown    AddressMethod = "unknown"
)

// Role is an instance role as crm_mon prints it.
type Role string

// Roles, including the pre-2.1 names crm_mon may print.
const (
	RoleStarted    Role = "Started"
	RoleStopped    Role = "Stopped"
	RolePromoted   Role = "Promoted"
	RoleUnpromoted Role = "Unpromoted"
	RoleMaster     Role = "Master"
	RoleSlave      Role = "Slave"
	RoleStarting   Role = "Starting"
	RoleStopping   Role = "Stopping"
	RolePromoting  Role = "Promoting"
	RoleDemoting   Role = "Demoting"
	RoleMigrating  Role = "Migrating"
	RoleUnknown    Role = "Unknown"
)

// Normal maps the pre-2.1 role names to their current ones.
func (r Role) Normal() Role {
	switch r {
	case RoleMaster:
		return RolePromoted
	case RoleSlave:
		return RoleUnpromoted
	}
	return r
}

// Active reports whether the role means the instance is (becoming) active.
func (r Role) Active() bool {
	switch r.Normal() {
	case RoleStopped, RoleUnknown, "":
		return false
	}
	return true
}

// Instance is one resource instance on one node, or a stopped instance
// with an empty Node. Resource is the id as crm_mon prints it.
type Instance struct {
	Resource  string `json:"resource"`
	Primitive string `json:"primitive"`         // configured primitive id (Resource without :N)
	Top       string `json:"top,omitempty"`     // top-level resource (group, clone, bundle or the primitive)
	Replica   string `json:"replica,omitempty"` // bundle replica id, or clone instance number
	Agent     string `json:"agent,omitempty"`
	Node      string `json:"node"`
	Role      Role   `json:"role"`
	Active    bool   `json:"active"`
	Managed   bool   `json:"managed"`
	Failed    bool   `json:"failed"`
	Blocked   bool   `json:"blocked"`
	Orphaned  bool   `json:"orphaned,omitempty"`
	Pending   string `json:"pending,omitempty"`
	FailCount int    `json:"fail_count"`
	// Host is the physical node after following guest nodes through their
	// containers; empty for a stopped instance or an unresolvable chain.
	Host string `json:"host"`
}

// Failure is a failed operation as Pacemaker records it.
type Failure struct {
	Resource   string    `json:"resource"`
	Node       string    `json:"node"`
	Op         string    `json:"op"`
	Interval   string    `json:"interval,omitempty"`
	RC         int       `json:"rc"`
	RCText     string    `json:"rc_text,omitempty"`
	Status     string    `json:"status,omitempty"`
	ExitReason string    `json:"exit_reason,omitempty"`
	Call       int       `json:"call,omitempty"`
	Time       time.Time `json:"time,omitzero"`
}

// Key identifies the operation that failed: resource, node, operation
// and interval. Pacemaker keeps one failure record per key.
func (f Failure) Key() string {
	return f.Resource + "\x00" + f.Node + "\x00" + f.Op + "\x00" + f.Interval
}

// Occurrence identifies one failure of that operation: its key, call id
// and time. A failure that comes back after it was cleaned up, or that
// happens again, is a new record with a new call id and time.
func (f Failure) Occurrence() string {
	return f.Key() + "\x00" + strconv.Itoa(f.Call) + "\x00" + f.Time.UTC().Format(time.RFC3339Nano)
}

// FenceEvent is one entry of the fencing history.
type FenceEvent struct {
	Target     string    `json:"target"`
	Action     string    `json:"action"`
	Status     string    `json:"status"` // success, failed, pending
	Delegate   string    `json:"delegate,omitempty"`
	Client     string    `json:"client,omitempty"`
	Origin     string    `json:"origin,omitempty"`
	Completed  time.Time `json:"completed,omitzero"`
	ExitReason string    `json:"exit_reason,omitempty"`
}

// Key identifies a fencing event for diffing.
func (f FenceEvent) Key() string {
	return f.Target + "\x00" + f.Action + "\x00" + f.Status + "\x00" + f.Completed.UTC().Format(time.RFC3339Nano)
}

// ConstraintType is location, colocation or order.
type ConstraintType string

// Constraint types.
const (
	ConstraintLocation   ConstraintType = "location"
	ConstraintColocation ConstraintType = "colocation"
	ConstraintOrder      ConstraintType = "order"
	ConstraintTicket     ConstraintType = "ticket"
)

// Constraint is a placement or ordering constraint from the CIB.
type Constraint struct {
	ID         string         `json:"id"`
	Type       ConstraintType `json:"type"`
	Resource   string         `json:"resource"`              // rsc, or first for order
	With       string         `json:"with,omitempty"`        // with-rsc, or then for order
	Node       string         `json:"node,omitempty"`        // location
	Score      string         `json:"score,omitempty"`       // as configured, e.g. INFINITY, -INFINITY, 100
	Role       string         `json:"role,omitempty"`        // rsc-role / role
	WithRole   string         `json:"with_role,omitempty"`   // with-rsc-role
	Action     string         `json:"action,omitempty"`      // first-action
	WithAction string         `json:"with_action,omitempty"` // then-action
	Kind       string         `json:"kind,omitempty"`        // order kind
	Rule       string         `json:"rule,omitempty"`        // a rule's text when the location uses rules
}

// Involves reports whether the constraint names the resource.
func (c Constraint) Involves(rsc string) bool { return c.Resource == rsc || c.With == rsc }

// Membership is Corosync's view: members, votes, links.
type Membership struct {
	ClusterName   string   `json:"cluster_name,omitempty"`
	Transport     string   `json:"transport,omitempty"`
	LocalNodeID   uint32   `json:"local_node_id,omitempty"`
	RingID        string   `json:"ring_id,omitempty"`
	Quorate       bool     `json:"quorate"`
	ExpectedVotes int      `json:"expected_votes"`
	TotalVotes    int      `json:"total_votes"`
	Quorum        int      `json:"quorum"`
	TwoNode       bool     `json:"two_node,omitempty"`
	WaitForAll    bool     `json:"wait_for_all,omitempty"`
	Members       []Member `json:"members"`
}

// Member is a corosync node with its links.
type Member struct {
	NodeID uint32   `json:"node_id"`
	Name   string   `json:"name"`
	Addrs  []string `json:"addrs,omitempty"`
	Status string   `json:"status"` // joined, left
	Votes  int      `json:"votes"`
	Local  bool     `json:"local,omitempty"`
	Links  []Link   `json:"links,omitempty"`
}

// Link is the health of one knet link to one node as the local node sees it.
type Link struct {
	Link       int    `json:"link"`
	Connected  bool   `json:"connected"`
	Enabled    bool   `json:"enabled"`
	DownCount  int    `json:"down_count"`
	LatencyAvg uint32 `json:"latency_avg_us"`
}

// Host is a hypervisor host as the virtualization source sees it. Its Name
// comes from mgmtd's configuration (normally the Pacemaker node name), never
// from libvirt's reported hostname.
type Host struct {
	Name           string `json:"name"`
	URI            string `json:"uri,omitempty"`
	Reachable      bool   `json:"reachable"`
	LibvirtVersion string `json:"libvirt_version,omitempty"`
	Hypervisor     string `json:"hypervisor,omitempty"`
	CPUs           int    `json:"cpus"`
	MemoryKiB      uint64 `json:"memory_kib"`
	Error          string `json:"error,omitempty"`
	Node           string `json:"node,omitempty"` // the cluster node this host is, when it is one
}

// VMState is a libvirt domain state.
type VMState string

// VM states. Unknown means the host is unreachable, not that the VM stopped.
const (
	VMRunning     VMState = "running"
	VMBlocked     VMState = "blocked"
	VMPaused      VMState = "paused"
	VMShutdown    VMState = "shutdown"
	VMShutoff     VMState = "shutoff"
	VMCrashed     VMState = "crashed"
	VMPMSuspended VMState = "pmsuspended"
	VMUnknown     VMState = "unknown"
)

// Active reports whether the VM occupies its host (running, blocked, paused
// or shutting down).
func (s VMState) Active() bool {
	switch s {
	case VMRunning, VMBlocked, VMPaused, VMShutdown, VMPMSuspended:
		return true
	}
	return false
}

// VM is a libvirt domain on a host.
type VM struct {
	Name       string        `json:"name"`
	UUID       string        `json:"uuid"`
	Host       string        `json:"host"`
	State      VMState       `json:"state"`
	Reason     string        `json:"reason,omitempty"`
	VCPUs      int           `json:"vcpus"`
	MemoryKiB  uint64        `json:"memory_kib"`
	Persistent bool          `json:"persistent"`
	Autostart  bool          `json:"autostart"`
	CPUTime    time.Duration `json:"cpu_time_ns"`
	// MaxVCPUs is the most vCPUs the VM can have (vcpu.maximum); 0 when
	// unknown.
	MaxVCPUs int `json:"max_vcpus,omitempty"`
	// MaxMemoryKiB is the VM's maximum memory (libvirt's <memory>); 0
	// when unknown.
	MaxMemoryKiB uint64 `json:"max_memory_kib,omitempty"`
	// CPUs are the VM's virtual CPUs with their CPU time; empty when the
	// VM is not running or libvirt does not say.
	CPUs []VMCPU `json:"cpus,omitempty"`
	// Disks are the VM's block devices, in domain XML order.
	Disks []VMDisk `json:"disks,omitempty"`
	// NICs are the VM's network interfaces, in domain XML order.
	NICs []VMNIC `json:"nics,omitempty"`
	// Resource is the VirtualDomain resource that manages this VM, set by
	// linking; empty for a VM Pacemaker does not manage.
	Resource string `json:"resource,omitempty"`
	Managed  bool   `json:"managed"`
	// GuestNode is the Pacemaker guest node running inside the VM, if any.
	GuestNode string `json:"guest_node,omitempty"`
	// Link explains how Resource was found, or why it was not
	// ("config", "mapping", "name", "unlinked: ambiguous ...").
	Link string `json:"link,omitempty"`
}

// VMCPU is one virtual CPU of a running VM.
type VMCPU struct {
	Index int           `json:"index"`   // vCPU number, from 0
	Time  time.Duration `json:"time_ns"` // CPU time the vCPU used
}

// VMDisk is a block device of a VM. Counters and sizes are -1 when
// libvirt does not report them (for example while the VM is shut off).
type VMDisk struct {
	Target string `json:"target"`           // guest device name: vda, sdb, hdc
	Device string `json:"device,omitempty"` // disk, cdrom, floppy, lun
	Type   string `json:"type,omitempty"`   // source type: file, block, network, volume, dir
	Source string `json:"source,omitempty"` // file or device path, network name, pool/volume
	Format string `json:"format,omitempty"` // image format (driver type): raw, qcow2 ...
	// ReadOnly is set for a <readonly/> disk (CD-ROMs usually are).
	ReadOnly bool `json:"read_only,omitempty"`
	// CapacityBytes is the size the guest sees, AllocationBytes what the
	// host has allocated for it.
	CapacityBytes   int64 `json:"capacity_bytes"`
	AllocationBytes int64 `json:"allocation_bytes"`
	ReadRequests    int64 `json:"read_requests"`
	ReadBytes       int64 `json:"read_bytes"`
	WriteRequests   int64 `json:"write_requests"`
	WriteBytes      int64 `json:"write_bytes"`
}

// VMNIC is a network interface of a VM. Counters are -1 when libvirt does
// not report them (for example while the VM is shut off).
type VMNIC struct {
	Target    string `json:"target,omitempty"` // host-side device: vnet0 (only while running)
	MAC       string `json:"mac,omitempty"`    // lower-case aa:bb:cc:dd:ee:ff
	Type      string `json:"type,omitempty"`   // network, bridge, direct, user ...
	Source    string `json:"source,omitempty"` // libvirt network, bridge or host device
	Model     string `json:"model,omitempty"`  // virtio, e1000 ...; empty: the hypervisor's default
	RxBytes   int64  `json:"rx_bytes"`
	RxPackets int64  `json:"rx_packets"`
	TxBytes   int64  `json:"tx_bytes"`
	TxPackets int64  `json:"tx_packets"`
}

// Key identifies a VM on a host.
func (v VM) Key() string { return v.Host + "/" + v.Name }

// Service is an operator-facing service: a name, the resources that make it
// up and the addresses it is reached by.
type Service struct {
	Name      string        `json:"name"`
	Resources []string      `json:"resources"`
	Address   string        `json:"address,omitempty"`
	Method    AddressMethod `json:"method,omitempty"`
	// Derived is true for services mgmtd derived from the configuration
	// (one per top-level resource that carries an address) rather than read
	// from the service catalog.
	Derived bool `json:"derived,omitempty"`
	// Targets are the IQNs of the iSCSI targets among the service's
	// resources: the service is how clients reach them.
	Targets []string `json:"targets,omitempty"`
}

// SourceState is the health of one source.
type SourceState string

// Source states.
const (
	SourceOK    SourceState = "ok"    // the last refresh succeeded
	SourceStale SourceState = "stale" // the last refresh failed; the last good picture is served
	SourceError SourceState = "error" // no refresh has ever succeeded
)

// SourceStatus is the health of one source, itself part of the model.
type SourceStatus struct {
	Name        string      `json:"name"`
	State       SourceState `json:"state"`
	LastSuccess time.Time   `json:"last_success,omitzero"`
	LastAttempt time.Time   `json:"last_attempt,omitzero"`
	LastError   string      `json:"last_error,omitempty"`
	ErrorTime   time.Time   `json:"last_error_time,omitzero"`
	// Check is how the source's answer is computed and cross-checked
	// (Pacemaker: native unpacking against crm_mon); nil when the source
	// has no such check.
	Check *SourceCheck `json:"check,omitempty"`
}

// SourceCheck describes a source that computes its answer itself and
// compares it with a reference tool now and then (the Pacemaker source's
// native status unpacking against crm_mon).
type SourceCheck struct {
	// Mode is the configured mode (native, crm_mon, both).
	Mode string `json:"mode"`
	// Checks counts the refreshes compared with the reference;
	// Disagreements those where the answers differed (the reference's
	// answer was used); Fallbacks the refreshes the native path declined
	// (a CIB it does not model), answered by the reference alone.
	Checks        int64 `json:"checks"`
	Disagreements int64 `json:"disagreements"`
	Fallbacks     int64 `json:"fallbacks"`
	// LastCheck is when the last comparison ran.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastDisagreement lists what differed the last time, both answers
	// each ("native X, crm_mon Y"), at most a few lines.
	LastDisagreement     []string  `json:"last_disagreement,omitempty"`
	LastDisagreementTime time.Time `json:"last_disagreement_time,omitzero"`
	// LastFallback says why the native path last declined.
	LastFallback string `json:"last_fallback,omitempty"`
	// FullReads counts the refreshes that read the whole CIB;
	// StatusReads those that read only its status section and applied it
	// to the configuration already held (the configuration version had
	// not moved). NodeStatesParsed and NodeStatesReused count, over all
	// reads, the node_state elements parsed again because their bytes
	// changed (or nothing was held) and those kept from the read before.
	FullReads        int64 `json:"full_reads"`
	StatusReads      int64 `json:"status_reads"`
	NodeStatesParsed int64 `json:"node_states_parsed"`
	NodeStatesReused int64 `json:"node_states_reused"`
}

// Age is how old the served picture of this source is at now.
func (s SourceStatus) Age(now time.Time) time.Duration {
	if s.LastSuccess.IsZero() {
		return 0
	}
	return now.Sub(s.LastSuccess)
}

// PacemakerPart is what the Pacemaker source reports: everything it knows,
// complete, as one value.
type PacemakerPart struct {
	Cluster     Cluster
	Nodes       []Node
	Resources   []Resource
	Instances   []Instance
	Failures    []Failure
	Fencing     []FenceEvent
	Constraints []Constraint
}

// CorosyncPart is what the Corosync source reports.
type CorosyncPart struct {
	Membership Membership
	Version    string
}

// VirtPart is what the virtualization source reports for one set of hosts.
type VirtPart struct {
	Hosts []Host
	VMs   []VM
}

// ServicesPart is the configured service catalog.
type ServicesPart struct {
	Services []Service
}

// VMMapping links a libvirt domain to a VirtualDomain resource explicitly.
type VMMapping struct {
	Resource string `json:"resource"`
	Domain   string `json:"domain"`
}

func splitClone(id string) (base, n string) {
	if i := strings.LastIndexByte(id, ':'); i > 0 {
		return id[:i], id[i+1:]
	}
	return id, ""
}

// PrimitiveOf returns the configured primitive id of a crm_mon instance id
// ("rsc:2" -> "rsc").
func PrimitiveOf(id string) string { b, _ := splitClone(id); return b }
