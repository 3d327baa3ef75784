package model

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kinds of replicated-storage objects in identities, events and where's
// chains.
const (
	KindDRBD   Kind = "drbd"         // a DRBD resource
	KindTarget Kind = "iscsi-target" // an iSCSI target (by IQN)
	KindLUN    Kind = "lun"          // a logical unit of a target
	// KindInitiator is an iSCSI initiator (by IQN) logged into a target.
	KindInitiator Kind = "iscsi-initiator"
	KindDevice    Kind = "device" // a block device (/dev/drbd0)
)

// DRBD disk states and roles the model reasons about.
const (
	DRBDUpToDate = "UpToDate"
	DRBDPrimary  = "Primary"
	DRBDSplit    = "split-brain"
)

// DRBDResource is a DRBD resource as one node's drbdsetup sees it: its own
// role and volumes, and its connections to the peers with what it knows
// of them. The Pacemaker links (Primitive, Clone, Replicas, Fencing) are
// filled in when the snapshot is built.
type DRBDResource struct {
	Name string `json:"name"`
	// Node is the node whose view this is (the node the DRBD source runs
	// on).
	Node string `json:"node"`
	// Role is the local role: Primary, Secondary or Unknown.
	Role string `json:"role"`
	// Suspended is empty, or why I/O is suspended (user, no-data,
	// fencing, quorum).
	Suspended string `json:"suspended,omitempty"`
	// Quorum is false when any volume lost quorum.
	Quorum bool `json:"quorum"`
	// MayPromote and PromotionScore are DRBD 9's promotion hints; nil when
	// drbdsetup did not give them (the status --json fallback, 8.4).
	MayPromote     *bool `json:"may_promote,omitempty"`
	PromotionScore *int  `json:"promotion_score,omitempty"`
	// SplitBrain is set while a connection of this resource is in a
	// split brain DRBD reported (its split-brain helper was called).
	SplitBrain  bool             `json:"split_brain"`
	Volumes     []DRBDVolume     `json:"volumes"`
	Connections []DRBDConnection `json:"connections"`

	// Primitive is the ocf:linbit:drbd resource whose drbd_resource is
	// this resource, and Clone its promotable clone.
	Primitive string `json:"primitive,omitempty"`
	Clone     string `json:"clone,omitempty"`
	// Replicas is one entry per node that holds a replica, merged from
	// this view, its connections and Pacemaker.
	Replicas []DRBDReplica `json:"replicas"`
	// Fencing lists the constraints DRBD's fence-peer handler placed for
	// this resource.
	Fencing []DRBDFence `json:"fencing,omitempty"`
}

// Key identifies a DRBD resource view: resource and node.
func (r DRBDResource) Key() string { return r.Name + "@" + r.Node }

// DRBDVolume is one volume (device) of a DRBD resource.
type DRBDVolume struct {
	Volume int `json:"volume"`
	Minor  int `json:"minor"`
	// Device is /dev/drbd<minor>.
	Device string `json:"device"`
	// BackingDisk is the lower-level disk; "none" for a diskless volume,
	// empty when unknown.
	BackingDisk string `json:"backing_disk,omitempty"`
	// Disk is the local disk state (UpToDate, Inconsistent, Outdated,
	// Diskless, ...).
	Disk    string `json:"disk"`
	Client  bool   `json:"client,omitempty"` // intentionally diskless
	Quorum  string `json:"quorum,omitempty"` // yes, no, or empty (unknown)
	SizeKiB uint64 `json:"size_kib"`
}

// DRBDConnection is the connection to one peer.
type DRBDConnection struct {
	// Peer is the peer's name in DRBD's configuration (conn-name), which
	// the model takes to be its cluster node name.
	Peer       string `json:"peer"`
	PeerNodeID int    `json:"peer_node_id"`
	// State is the connection state: Connected, Connecting, StandAlone,
	// NetworkFailure, ...
	State string `json:"state"`
	// PeerRole is the peer's role as this node last knew it.
	PeerRole       string           `json:"peer_role"`
	SplitBrain     bool             `json:"split_brain"`
	SplitBrainTime time.Time        `json:"split_brain_time,omitzero"`
	Paths          []string         `json:"paths,omitempty"` // "local -> peer", established ones marked
	Volumes        []DRBDPeerVolume `json:"volumes"`
}

// DRBDPeerVolume is the replication of one volume to the peer.
type DRBDPeerVolume struct {
	Volume int `json:"volume"`
	// Replication is the replication state: Established, Off,
	// SyncSource, SyncTarget, PausedSyncS, Ahead, ...
	Replication string `json:"replication"`
	// PeerDisk is the peer's disk state as this node knows it.
	PeerDisk     string `json:"peer_disk"`
	OutOfSyncKiB uint64 `json:"out_of_sync_kib"`
	// SyncPercent and SyncETA (seconds) are set while a resync runs and
	// drbdsetup estimates them.
	SyncPercent *float64 `json:"sync_percent,omitempty"`
	SyncETA     *int64   `json:"sync_eta_s,omitempty"`
}

// DRBDReplica is what the model knows of one node's replica of a DRBD
// resource.
type DRBDReplica struct {
	Node string `json:"node"`
	// Role is DRBD's role there (Primary, Secondary, Unknown).
	Role string `json:"role"`
	// Disk is the replica's worst disk state over its volumes, as the
	// viewing node knows it (DUnknown for a peer it cannot reach).
	Disk string `json:"disk"`
	// Connected is whether the viewing node replicates to it (itself:
	// always).
	Connected bool `json:"connected"`
	// Syncing, with SyncPercent and SyncETA, describe a resync to or from
	// it.
	Syncing     bool     `json:"syncing,omitempty"`
	SyncPercent *float64 `json:"sync_percent,omitempty"`
	SyncETA     *int64   `json:"sync_eta_s,omitempty"`
	// OutOfSyncKiB is what the viewing node still has to send it.
	OutOfSyncKiB uint64 `json:"out_of_sync_kib,omitempty"`
	// Instance is the Pacemaker instance of the drbd clone there, and
	// InstanceRole its role (Promoted = DRBD Primary).
	Instance     string `json:"instance,omitempty"`
	InstanceRole Role   `json:"instance_role,omitempty"`
	// PromotionScore is the master-<primitive> node attribute the drbd
	// agent sets there ("" when none).
	PromotionScore string `json:"promotion_score,omitempty"`
	// Local is the replica of the node whose view this is.
	Local bool `json:"local,omitempty"`
}

// UpToDate reports whether the replica holds current data.
func (r DRBDReplica) UpToDate() bool { return r.Disk == DRBDUpToDate }

// DRBDFence is a constraint DRBD's fence-peer handler (crm-fence-peer.9.sh)
// placed: while a peer's data is not known to be UpToDate, it forbids the
// Promoted role everywhere but on the nodes with good data; the
// after-resync-target handler removes it.
type DRBDFence struct {
	Constraint string `json:"constraint"`
	Text       string `json:"text"`
}

// DRBDPart is what a DRBD source reports: the local node's resources.
type DRBDPart struct {
	// Node is the node the source runs on.
	Node      string
	Resources []DRBDResource
}

// DRBDFencePrefix starts the id of the location constraint DRBD's
// fence-peer handler puts in the CIB.
const DRBDFencePrefix = "drbd-fence-by-handler-"

// DRBDOf returns the views of a DRBD resource (one per node that reports
// it).
func (s *Snapshot) DRBDOf(name string) []DRBDResource {
	var out []DRBDResource
	for _, r := range s.DRBD {
		if r.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// DRBDByMinor returns the DRBD resource and volume of a minor number.
func (s *Snapshot) DRBDByMinor(minor int) (DRBDResource, DRBDVolume, bool) {
	for _, r := range s.DRBD {
		for _, v := range r.Volumes {
			if v.Minor == minor {
				return r, v, true
			}
		}
	}
	return DRBDResource{}, DRBDVolume{}, false
}

// drbdPrimitives maps a DRBD resource name to the ocf:linbit:drbd
// primitives managing it.
func drbdPrimitives(s *Snapshot) map[string][]Resource {
	out := map[string][]Resource{}
	for _, r := range s.Resources {
		if r.Kind == KindPrimitive && isDRBDAgent(r.Agent) && r.Params["drbd_resource"] != "" {
			out[r.Params["drbd_resource"]] = append(out[r.Params["drbd_resource"]], r)
		}
	}
	return out
}

func isDRBDAgent(agent string) bool { return agent == "ocf:linbit:drbd" }

// linkDRBD fills the Pacemaker links of the DRBD views, and adds a view
// from Pacemaker alone for a drbd clone no DRBD source reports (so that
// where and impact know the replicas and the Primary from the clone's
// instances and promotion scores).
func linkDRBD(s *Snapshot) {
	prims := drbdPrimitives(s)
	reported := map[string]bool{}
	for _, r := range s.DRBD {
		reported[r.Name] = true
	}
	names := make([]string, 0, len(prims))
	for n := range prims {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !reported[n] {
			s.DRBD = append(s.DRBD, DRBDResource{Name: n, Role: "Unknown", Quorum: true, Volumes: []DRBDVolume{}, Connections: []DRBDConnection{}})
		}
	}
	for i := range s.DRBD {
		r := &s.DRBD[i]
		if ps := prims[r.Name]; len(ps) > 0 {
			r.Primitive = ps[0].ID
			if p, ok := s.Resource(ps[0].Parent); ok && (p.Kind == KindPromotable || p.Kind == KindClone) {
				r.Clone = p.ID
			}
		}
		r.Replicas = s.replicas(*r)
		r.Fencing = nil
		for _, c := range s.Constraints {
			if !strings.HasPrefix(c.ID, DRBDFencePrefix) {
				continue
			}
			if c.Resource != r.Clone && c.Resource != r.Primitive && !strings.HasPrefix(c.ID, DRBDFencePrefix+r.Name+"-") {
				continue
			}
			r.Fencing = append(r.Fencing, DRBDFence{Constraint: c.ID, Text: fenceText(c, r.Name)})
		}
	}
}

// drbdConflicts adds a "drbd-role" conflict for every node whose DRBD
// source reports a role Pacemaker does not have there: Promoted is
// Primary, a running unpromoted instance Secondary, and a Primary where
// Pacemaker runs no instance of the drbd clone is DRBD used behind
// Pacemaker's back. Like the VM conflicts, one is published only when it
// lasts the grace period (a promotion in flight is not one).
func drbdConflicts(s *Snapshot) {
	for _, r := range s.DRBD {
		if r.Node == "" || r.Primitive == "" || (r.Role != DRBDPrimary && r.Role != "Secondary") {
			continue
		}
		if n, ok := s.Node(r.Node); !ok || !n.Online {
			continue
		}
		var role Role
		for _, in := range s.InstancesOf(r.Primitive) {
			if in.Node == r.Node && in.Active {
				role = in.Role.Normal()
			}
		}
		var detail string
		switch {
		case role == "" && r.Role == DRBDPrimary:
			detail = "DRBD " + r.Name + " is Primary on " + r.Node + ", where Pacemaker runs no instance of " + r.Primitive
		case role == RolePromoted && r.Role != DRBDPrimary:
			detail = "Pacemaker has " + r.Primitive + " Promoted on " + r.Node + ", where DRBD " + r.Name + " is " + r.Role
		case role != "" && role != RolePromoted && r.Role == DRBDPrimary:
			detail = "DRBD " + r.Name + " is Primary on " + r.Node + ", where Pacemaker has " + r.Primitive + " " + string(role)
		default:
			continue
		}
		s.Conflicts = append(s.Conflicts, Conflict{Type: "drbd-role", DRBD: r.Name, Resource: r.Primitive, Hosts: []string{r.Node}, Detail: detail})
	}
	sort.Slice(s.Conflicts, func(i, j int) bool { return s.Conflicts[i].Key() < s.Conflicts[j].Key() })
}

// fenceText says what a drbd-fence-by-handler constraint is.
func fenceText(c Constraint, name string) string {
	t := "DRBD's fence-peer handler placed this constraint when " + name + " lost its peer: it keeps the Promoted role of " + c.Resource +
		" off every node whose data may be outdated"
	if c.Rule != "" {
		t += " (" + c.Rule + ")"
	}
	return t + "; DRBD's after-resync-target handler removes it when the peer is UpToDate again. Removing it by hand risks promoting stale data."
}

// replicas merges what the view, its connections and Pacemaker say of
// each node's replica.
func (s *Snapshot) replicas(r DRBDResource) []DRBDReplica {
	by := map[string]*DRBDReplica{}
	get := func(node string) *DRBDReplica {
		if x, ok := by[node]; ok {
			return x
		}
		x := &DRBDReplica{Node: node, Role: "Unknown", Disk: "DUnknown"}
		by[node] = x
		return x
	}
	if r.Node != "" {
		x := get(s.clusterNode(r.Node))
		x.Local, x.Connected, x.Role = true, true, r.Role
		x.Disk = worstDisk(r.Volumes)
	}
	for _, c := range r.Connections {
		if c.Peer == "" {
			continue
		}
		x := get(s.clusterNode(c.Peer))
		x.Connected = c.State == "Connected"
		x.Role = c.PeerRole
		disks := make([]DRBDVolume, 0, len(c.Volumes))
		for _, v := range c.Volumes {
			disks = append(disks, DRBDVolume{Disk: v.PeerDisk})
			x.OutOfSyncKiB += v.OutOfSyncKiB
			if syncing(v.Replication) {
				x.Syncing = true
				x.SyncPercent, x.SyncETA = v.SyncPercent, v.SyncETA
			}
		}
		if len(disks) > 0 {
			x.Disk = worstDisk(disks)
		}
		if !x.Connected && c.State != "" {
			x.Disk = "DUnknown"
			for _, v := range c.Volumes {
				// DRBD keeps the last known peer disk state (Outdated
				// after fencing); DUnknown is all it says otherwise.
				if v.PeerDisk != "" && v.PeerDisk != "DUnknown" {
					x.Disk = v.PeerDisk
				}
			}
		}
	}
	if r.Primitive != "" {
		for _, in := range s.InstancesOf(r.Primitive) {
			if in.Node == "" {
				continue
			}
			x := get(in.Node)
			x.Instance, x.InstanceRole = in.Resource, in.Role.Normal()
			if r.Node == "" || x.Role == "" || x.Role == "Unknown" {
				// Pacemaker's view only, or a peer DRBD cannot see (not
				// connected: its role is Unknown to DRBD), whose last
				// known role is Pacemaker's: Promoted is Primary.
				switch x.InstanceRole {
				case RolePromoted:
					x.Role = DRBDPrimary
				case RoleUnpromoted, RoleStarted:
					x.Role = "Secondary"
				}
			}
		}
		for _, n := range s.Nodes {
			if v, ok := n.Attributes["master-"+r.Primitive]; ok {
				get(n.Name).PromotionScore = v
			}
		}
	}
	out := make([]DRBDReplica, 0, len(by))
	for _, x := range by {
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// clusterNode maps a host name DRBD uses (its "on" sections, the
// connection names) to the cluster node it is: the same name, or the
// same short name when one side is fully qualified (node2 and
// node2.example.org). Unknown names stay as they are.
func (s *Snapshot) clusterNode(name string) string {
	if _, ok := s.Node(name); ok || len(s.Nodes) == 0 {
		return name
	}
	short := func(n string) string {
		if i := strings.IndexByte(n, '.'); i > 0 {
			return n[:i]
		}
		return n
	}
	found := ""
	for _, n := range s.Nodes {
		if short(n.Name) == short(name) {
			if found != "" {
				return name // ambiguous
			}
			found = n.Name
		}
	}
	if found == "" {
		return name
	}
	return found
}

// diskRank orders disk states from worst to best.
var diskRank = map[string]int{
	"Failed": 0, "Diskless": 1, "DUnknown": 2, "Detaching": 3, "Attaching": 4, "Negotiating": 5,
	"Inconsistent": 6, "Outdated": 7, "Consistent": 8, DRBDUpToDate: 9,
}

func worstDisk(vs []DRBDVolume) string {
	if len(vs) == 0 {
		return "DUnknown"
	}
	w := vs[0].Disk
	for _, v := range vs[1:] {
		if rank(v.Disk) < rank(w) {
			w = v.Disk
		}
	}
	return w
}

func rank(d string) int {
	if r, ok := diskRank[d]; ok {
		return r
	}
	return 2
}

func syncing(repl string) bool {
	switch repl {
	case "SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT", "StartingSyncS", "StartingSyncT",
		"WFBitMapS", "WFBitMapT", "WFSyncUUID":
		return true
	}
	return false
}

// Primary returns the node where the resource is Primary ("" when none
// is), from DRBD's view or, without one, Pacemaker's Promoted instance.
func (r DRBDResource) Primary() string {
	for _, x := range r.Replicas {
		if x.Role == DRBDPrimary {
			return x.Node
		}
	}
	return ""
}

// InSync says whether every replica is UpToDate and connected, and if not,
// why, in words (a view from Pacemaker alone cannot tell: unknown, with
// the promotion scores): "in sync: node1 and node2 are UpToDate", "not in sync:
// node2 is Inconsistent, resync 45.2% done, about 12 s left".
func (r DRBDResource) InSync() (bool, string) {
	if r.Node == "" {
		var sc []string
		for _, x := range r.Replicas {
			p := x.PromotionScore
			if p == "" {
				p = "none"
			}
			sc = append(sc, x.Node+" "+p)
		}
		return false, "unknown: no DRBD source reports " + r.Name + "; promotion scores: " + strings.Join(sc, ", ")
	}
	var good, bad []string
	for _, x := range r.Replicas {
		switch {
		case x.UpToDate() && x.Connected:
			good = append(good, x.Node)
		default:
			bad = append(bad, x.describe())
		}
	}
	if r.SplitBrain {
		bad = append([]string{"split brain: the replicas diverged and DRBD stopped replicating until an operator resolves it"}, bad...)
	}
	if len(bad) == 0 && len(good) > 1 {
		return true, "in sync: " + joinAnd(good) + " are UpToDate"
	}
	if len(bad) == 0 {
		return false, "no peer: only " + joinAnd(good) + " holds the data"
	}
	return false, "not in sync: " + strings.Join(bad, "; ")
}

func (x DRBDReplica) describe() string {
	s := x.Node + " is " + x.Disk
	if !x.Connected {
		s += " and not connected"
	}
	if x.Syncing {
		s += ", resync"
		if x.SyncPercent != nil {
			s += " " + strconv.FormatFloat(*x.SyncPercent, 'f', 1, 64) + "% done"
		} else {
			s += " running"
		}
		if x.SyncETA != nil {
			s += ", about " + strconv.FormatInt(*x.SyncETA, 10) + " s left"
		}
	} else if x.OutOfSyncKiB > 0 {
		s += ", " + strconv.FormatUint(x.OutOfSyncKiB, 10) + " KiB out of sync"
	}
	return s
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return "no node"
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// drbd yields the replication events between two snapshots, per DRBD
// resource view (resource and reporting node): a connection lost, a resync
// started or finished, a split brain, may_promote changed. Views that
// appear (a source's first picture) compare with nothing: their events
// are what is true now (a split brain, a resync under way).
func (d *differ) drbd(a, b *Snapshot) {
	old := map[string]DRBDResource{}
	for _, r := range a.DRBD {
		if r.Node != "" {
			old[r.Key()] = r
		}
	}
	for _, r := range b.DRBD {
		if r.Node == "" {
			continue
		}
		o, had := old[r.Key()]
		name, node := r.Name, r.Node
		set := func(from, to string) func(*Event) {
			return func(e *Event) { e.Node, e.From, e.To, e.Data = node, from, to, r }
		}
		oc := map[string]DRBDConnection{}
		for _, c := range o.Connections {
			oc[c.Peer] = c
		}
		for _, c := range r.Connections {
			p, hadc := oc[c.Peer]
			if had && hadc && p.State == "Connected" && c.State != "Connected" {
				d.add(EventDRBDConnectionLost, SeverityWarning, KindDRBD, name,
					"DRBD "+name+" on "+node+" lost its connection to "+c.Peer+" ("+c.State+"); "+node+" no longer replicates to it",
					set(p.State, c.State))
			}
			if c.SplitBrain && !(hadc && p.SplitBrain) {
				d.add(EventDRBDSplitBrain, SeverityCritical, KindDRBD, name,
					"DRBD "+name+": split brain between "+node+" and "+c.Peer+"; replication stopped ("+c.State+") until an operator discards one side's changes",
					set("", DRBDSplit))
			}
			ov := map[int]DRBDPeerVolume{}
			for _, v := range p.Volumes {
				ov[v.Volume] = v
			}
			for _, v := range c.Volumes {
				pv, hadv := ov[v.Volume]
				was := hadv && syncing(pv.Replication)
				vol := name + " volume " + strconv.Itoa(v.Volume)
				switch {
				case syncing(v.Replication) && !was:
					d.add(EventDRBDSyncStarted, SeverityWarning, KindDRBD, name,
						"DRBD "+vol+": resync between "+node+" and "+c.Peer+" started ("+v.Replication+", "+strconv.FormatUint(v.OutOfSyncKiB, 10)+" KiB out of sync)",
						set(pv.Replication, v.Replication))
				case was && !syncing(v.Replication):
					msg := "DRBD " + vol + ": resync between " + node + " and " + c.Peer + " finished (" + v.Replication + ", peer " + v.PeerDisk + ")"
					sev := SeverityInfo
					if v.Replication != "Established" || v.PeerDisk != DRBDUpToDate {
						msg = "DRBD " + vol + ": resync between " + node + " and " + c.Peer + " ended without completing (" + v.Replication + ", peer " + v.PeerDisk + ")"
						sev = SeverityWarning
					}
					d.add(EventDRBDSyncFinished, sev, KindDRBD, name, msg, set(pv.Replication, v.Replication))
				}
			}
		}
		if had && r.MayPromote != nil && o.MayPromote != nil && *r.MayPromote != *o.MayPromote {
			msg := "DRBD " + name + " on " + node + " may no longer be promoted"
			if *r.MayPromote {
				msg = "DRBD " + name + " on " + node + " may be promoted"
			}
			d.add(EventDRBDMayPromote, SeverityInfo, KindDRBD, name, msg, set(strconv.FormatBool(*o.MayPromote), strconv.FormatBool(*r.MayPromote)))
		}
	}
}
