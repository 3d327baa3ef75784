package model

import (
	"path"
	"sort"
	"strconv"
	"strings"
)

// ISCSITarget is an iSCSI target Pacemaker runs (ocf:heartbeat:iSCSITarget)
// with the logical units it exports (ocf:heartbeat:iSCSILogicalUnit), as
// their parameters say.
type ISCSITarget struct {
	IQN string `json:"iqn"`
	// Resource is the iSCSITarget primitive, Top the resource that holds
	// it (its group).
	Resource string `json:"resource"`
	Top      string `json:"top"`
	// Implementation is the agent's implementation parameter (lio-t,
	// tgt, iet, lio), empty when left to the agent.
	Implementation string `json:"implementation,omitempty"`
	// Portals are the agent's portals (address:port), empty for its
	// default (every address).
	Portals []string `json:"portals,omitempty"`
	// Address is the address that reaches the target: the service
	// address of the resources it runs with (IPaddr2 in its group).
	Address string        `json:"address,omitempty"`
	Method  AddressMethod `json:"method,omitempty"`
	// Node is where the target runs ("" when stopped), Host the physical
	// machine.
	Node string     `json:"node,omitempty"`
	Host string     `json:"host,omitempty"`
	LUNs []ISCSILUN `json:"luns"`
	// Unmanaged marks a target only an iSCSI source sees: tgtd (or
	// another target daemon) exports it and no iSCSITarget primitive has
	// its IQN. Resource and Top are empty, Node is where it is live, and
	// LUNs are its live logical units (Resource empty).
	Unmanaged bool `json:"unmanaged,omitempty"`
	// Live is the target daemon's own view of the target, one per node
	// whose iSCSI source exports it; empty when no source sees it (no
	// source, or the target is not running there).
	Live []ISCSILiveTarget `json:"live,omitempty"`
}

// ISCSIPart is an iSCSI source's picture: the targets the target daemon
// of its node exports, as the daemon itself says (tgtadm for tgtd).
type ISCSIPart struct {
	// Node is the node the source runs on.
	Node string
	// Implementation is the daemon read (tgt).
	Implementation string
	Targets        []ISCSILiveTarget
}

// ISCSILiveTarget is a target as its daemon exports it on one node.
type ISCSILiveTarget struct {
	IQN  string `json:"iqn"`
	Node string `json:"node"`
	// Implementation is the daemon (tgt); TID its target id.
	Implementation string `json:"implementation"`
	TID            int    `json:"tid"`
	// State is the daemon's state of the target (tgt: ready, offline).
	State    string         `json:"state"`
	Sessions []ISCSISession `json:"sessions"`
	// LUNs are the logical units with a backing store (tgt's LUN 0, the
	// controller every target has, is left out).
	LUNs []ISCSILiveLUN `json:"luns"`
	// ACL is the initiator addresses and names allowed; Accounts the
	// CHAP users bound (an outgoing one with " (outgoing)").
	ACL      []string `json:"acl"`
	Accounts []string `json:"accounts"`
}

// ISCSISession is an initiator logged into a target (tgt: an I_T nexus).
type ISCSISession struct {
	Initiator string `json:"initiator"`
	Alias     string `json:"alias,omitempty"`
	// Addresses are the initiator's addresses, one per connection.
	Addresses []string `json:"addresses"`
}

// ISCSILiveLUN is a logical unit as the daemon exports it.
type ISCSILiveLUN struct {
	LUN  int    `json:"lun"`
	Type string `json:"type"`
	// Path is the backing store (a device or file), BackingType how it
	// is accessed (tgt: rdwr, aio, ...).
	Path        string `json:"path"`
	BackingType string `json:"backing_type,omitempty"`
	// SizeMB is the size in megabytes (10^6 bytes) as the daemon says.
	SizeMB   uint64 `json:"size_mb"`
	Online   bool   `json:"online"`
	Readonly bool   `json:"readonly"`
}

// mergeLive adds the iSCSI sources' parts to the targets derived from
// the configuration: each live target to the target of the same IQN (its
// Live), and a live target no iSCSITarget manages as an Unmanaged target.
// parts are in a fixed order (by source name).
func mergeLive(s *Snapshot, targets []ISCSITarget, parts []*ISCSIPart) []ISCSITarget {
	byIQN := map[string]int{}
	for i, t := range targets {
		byIQN[t.IQN] = i
	}
	for _, p := range parts {
		for _, lt := range p.Targets {
			i, ok := byIQN[lt.IQN]
			if !ok {
				t := ISCSITarget{IQN: lt.IQN, Implementation: lt.Implementation, Node: lt.Node, Unmanaged: true, LUNs: []ISCSILUN{}}
				if t.Node != "" {
					t.Host = s.PhysicalNode(t.Node)
					if h, ok := s.hostOfNode(t.Host); ok {
						t.Host = h.Name
					}
				}
				for _, l := range lt.LUNs {
					ml := ISCSILUN{LUN: l.LUN, Path: l.Path, Node: lt.Node}
					if name, vol, ok := s.drbdDevice(l.Path); ok {
						ml.DRBD, ml.Volume, ml.Link = name, vol, "device "+l.Path
					}
					t.LUNs = append(t.LUNs, ml)
				}
				i = len(targets)
				byIQN[lt.IQN] = i
				targets = append(targets, t)
			}
			targets[i].Live = append(targets[i].Live, lt)
		}
	}
	sort.SliceStable(targets, func(i, j int) bool { return targets[i].IQN < targets[j].IQN })
	return targets
}

// iscsiConflicts adds an "iscsi-placement" conflict where a target
// daemon and Pacemaker disagree on where a managed target runs: a node's
// daemon exports it where Pacemaker does not run its iSCSITarget, or
// Pacemaker runs it on a node whose daemon the iSCSI source watches and
// that does not export it.
func iscsiConflicts(s *Snapshot, parts []*ISCSIPart) {
	watched := map[string]bool{}
	for _, p := range parts {
		watched[p.Node] = true
	}
	for _, t := range s.ISCSITargets {
		if t.Unmanaged || t.Resource == "" {
			continue
		}
		where := "nowhere"
		if t.Node != "" {
			where = "on " + t.Node
		}
		exported := false
		for _, lt := range t.Live {
			if lt.Node == t.Node {
				exported = true
				continue
			}
			s.Conflicts = append(s.Conflicts, Conflict{Type: "iscsi-placement", Target: t.IQN, Resource: t.Resource, Hosts: []string{lt.Node},
				Detail: lt.Implementation + " on " + lt.Node + " exports " + t.IQN + ", but Pacemaker runs " + t.Resource + " " + where})
		}
		if t.Node != "" && watched[t.Node] && !exported {
			s.Conflicts = append(s.Conflicts, Conflict{Type: "iscsi-placement", Target: t.IQN, Resource: t.Resource, Hosts: []string{t.Node},
				Detail: "Pacemaker runs " + t.Resource + " on " + t.Node + ", but the target daemon there does not export " + t.IQN})
		}
	}
	sort.Slice(s.Conflicts, func(i, j int) bool { return s.Conflicts[i].Key() < s.Conflicts[j].Key() })
}

// Logins returns the targets initiator (an IQN) is logged into, with the
// sessions, as the iSCSI sources see them.
func (s *Snapshot) Logins(initiator string) []ISCSILogin {
	var out []ISCSILogin
	for _, t := range s.ISCSITargets {
		for _, lt := range t.Live {
			for _, se := range lt.Sessions {
				if se.Initiator == initiator {
					out = append(out, ISCSILogin{Target: t.IQN, Node: lt.Node, Session: se})
				}
			}
		}
	}
	return out
}

// ISCSILogin is an initiator's session with a target on a node.
type ISCSILogin struct {
	Target  string       `json:"target"`
	Node    string       `json:"node"`
	Session ISCSISession `json:"session"`
}

// ISCSILUN is a logical unit of a target and the device behind it.
type ISCSILUN struct {
	LUN      int    `json:"lun"`
	Resource string `json:"resource"`
	// Path is the agent's path parameter: the block device or file
	// exported.
	Path string `json:"path"`
	// DRBD and Volume are the DRBD resource and volume behind Path, when
	// it is a DRBD device (by minor or by-res name), a file on a
	// Filesystem on one, or the LUN runs with a drbd clone's Promoted
	// role (then Volume is -1: the colocation does not say); Link says
	// which.
	DRBD   string `json:"drbd,omitempty"`
	Volume int    `json:"volume"`
	Link   string `json:"link,omitempty"`
	Node   string `json:"node,omitempty"`
}

func agentType(agent string) string { return agent[strings.LastIndexByte(agent, ':')+1:] }

// iscsiTargets derives the targets from the configuration.
func iscsiTargets(s *Snapshot) []ISCSITarget {
	var out []ISCSITarget
	byIQN := map[string]int{}
	for _, r := range s.Resources {
		if r.Kind != KindPrimitive || agentType(r.Agent) != "iSCSITarget" || r.Params["iqn"] == "" {
			continue
		}
		t := ISCSITarget{IQN: r.Params["iqn"], Resource: r.ID, Top: s.top(r.ID), Implementation: r.Params["implementation"], LUNs: []ISCSILUN{}}
		t.Portals = strings.Fields(r.Params["portals"])
		t.Address, t.Method = addressOf(s, []string{t.Top})
		for _, in := range s.InstancesOf(r.ID) {
			if in.Active && in.Node != "" {
				t.Node, t.Host = in.Node, in.Host
			}
		}
		byIQN[t.IQN] = len(out)
		out = append(out, t)
	}
	for _, r := range s.Resources {
		if r.Kind != KindPrimitive || agentType(r.Agent) != "iSCSILogicalUnit" {
			continue
		}
		i, ok := byIQN[r.Params["target_iqn"]]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(r.Params["lun"])
		if err != nil {
			continue
		}
		l := ISCSILUN{LUN: n, Resource: r.ID, Path: r.Params["path"]}
		for _, in := range s.InstancesOf(r.ID) {
			if in.Active && in.Node != "" {
				l.Node = in.Node
			}
		}
		l.DRBD, l.Volume, l.Link = s.drbdBehind(r.ID, l.Path)
		out[i].LUNs = append(out[i].LUNs, l)
	}
	for i := range out {
		sort.Slice(out[i].LUNs, func(a, b int) bool { return out[i].LUNs[a].LUN < out[i].LUNs[b].LUN })
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IQN < out[j].IQN })
	return out
}

// serviceTargets lists each service's iSCSI targets.
func serviceTargets(s *Snapshot) {
	for i := range s.Services {
		sv := &s.Services[i]
		in := map[string]bool{}
		for _, id := range sv.Resources {
			for _, d := range s.descendants(id) {
				in[d] = true
			}
		}
		for _, t := range s.ISCSITargets {
			if in[t.Resource] {
				sv.Targets = append(sv.Targets, t.IQN)
			}
		}
	}
}

// drbdBehind finds the DRBD resource and volume behind a device or file
// path used by resource rsc.
func (s *Snapshot) drbdBehind(rsc, p string) (name string, vol int, how string) {
	if name, vol, ok := s.drbdDevice(p); ok {
		return name, vol, "device " + p
	}
	// A file on a Filesystem of the same group.
	if top := s.top(rsc); top != rsc {
		for _, id := range s.descendants(top) {
			r, ok := s.Resource(id)
			if !ok || agentType(r.Agent) != "Filesystem" || r.Params["directory"] == "" {
				continue
			}
			dir := path.Clean(r.Params["directory"])
			if strings.HasPrefix(path.Clean(p), dir+"/") {
				if name, vol, ok := s.drbdDevice(r.Params["device"]); ok {
					return name, vol, "file on " + r.ID + " (" + r.Params["device"] + ")"
				}
			}
		}
	}
	// Colocated with a drbd clone's Promoted role.
	for _, anc := range s.ancestors(rsc) {
		for _, c := range s.Constraints {
			if c.Type != ConstraintColocation || c.Resource != anc {
				continue
			}
			for _, d := range s.DRBD {
				if d.Clone != "" && d.Clone == c.With {
					return d.Name, -1, "runs with " + c.With + " (" + c.ID + ")"
				}
			}
		}
	}
	return "", 0, ""
}

// ancestors returns id and the resources containing it.
func (s *Snapshot) ancestors(id string) []string {
	out := []string{id}
	for range maxChain {
		r, ok := s.Resource(id)
		if !ok || r.Parent == "" {
			break
		}
		id = r.Parent
		out = append(out, id)
	}
	return out
}

// drbdDevice resolves a DRBD device path: /dev/drbdN (by minor, from a
// DRBD view), /dev/drbd/by-res/NAME[/VOL] and /dev/drbd/by-disk/... is not
// resolvable without the node's udev links.
func (s *Snapshot) drbdDevice(p string) (string, int, bool) {
	p = path.Clean(p)
	if rest, ok := strings.CutPrefix(p, "/dev/drbd/by-res/"); ok {
		name, v, _ := strings.Cut(rest, "/")
		vol := 0
		if v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", 0, false
			}
			vol = n
		}
		return name, vol, name != ""
	}
	if rest, ok := strings.CutPrefix(p, "/dev/drbd"); ok {
		minor, err := strconv.Atoi(rest)
		if err != nil {
			return "", 0, false
		}
		if r, v, ok := s.DRBDByMinor(minor); ok {
			return r.Name, v.Volume, true
		}
	}
	return "", 0, false
}

// Target returns the iSCSI target with the given IQN.
func (s *Snapshot) Target(iqn string) (ISCSITarget, bool) {
	for _, t := range s.ISCSITargets {
		if t.IQN == iqn {
			return t, true
		}
	}
	return ISCSITarget{}, false
}
