package model

import (
	"strconv"
	"strings"
)

// StorageChain is where's answer for replicated storage: an iSCSI target
// and one of its LUNs, the device behind it, the DRBD resource that
// replicates it, its Primary, the node and the host - and whether the
// replicas are in sync.
type StorageChain struct {
	// Target is the IQN and TargetResource its iSCSITarget primitive;
	// empty for a DRBD resource no target uses.
	Target         string `json:"target,omitempty"`
	TargetResource string `json:"target_resource,omitempty"`
	// LUN is the logical unit's number (nil for a target without LUNs
	// or a bare DRBD resource), LUNResource its iSCSILogicalUnit.
	LUN         *int   `json:"lun,omitempty"`
	LUNResource string `json:"lun_resource,omitempty"`
	// Path is what the LUN exports (a device or a file).
	Path string `json:"path,omitempty"`
	// DRBD and Volume name the DRBD resource behind it ("" when none is
	// known; Volume -1 when only a colocation links them).
	DRBD   string `json:"drbd,omitempty"`
	Volume int    `json:"volume"`
	// Primary is the node where the DRBD resource is Primary (Promoted),
	// Host the physical machine.
	Primary string `json:"primary,omitempty"`
	Host    string `json:"host,omitempty"`
	// Address is the address that reaches the target.
	Address string `json:"address,omitempty"`
	// InSync says whether every replica is UpToDate and connected; Sync
	// says so in words ("not in sync: node2 is Outdated and not
	// connected").
	InSync bool   `json:"in_sync"`
	Sync   string `json:"sync"`
	Chain  []Hop  `json:"chain"`
}

// drbdView returns the best view of a DRBD resource: the one reported by
// its Primary's node, else any node's, else Pacemaker's alone.
func (s *Snapshot) drbdView(name string) (DRBDResource, bool) {
	views := s.DRBDOf(name)
	if len(views) == 0 {
		return DRBDResource{}, false
	}
	best := views[0]
	for _, v := range views {
		if v.Node != "" && v.Role == DRBDPrimary {
			return v, true
		}
		if best.Node == "" && v.Node != "" {
			best = v
		}
	}
	return best, true
}

// whereStorage adds the storage answers for name: an IQN, "IQN/LUN", an
// iSCSITarget or iSCSILogicalUnit resource, a DRBD resource or a DRBD
// device (/dev/drbd0, /dev/drbd/by-res/r0/0).
func (s *Snapshot) whereStorage(name string, ans *WhereAnswer) {
	// A service's targets, by its name or its address: how its clients'
	// storage is reached.
	for _, sv := range s.Services {
		if sv.Name != name && sv.Address != name {
			continue
		}
		for _, iqn := range sv.Targets {
			if t, ok := s.Target(iqn); ok {
				for i := range t.LUNs {
					ans.Storage = append(ans.Storage, s.storageChain(t, &t.LUNs[i]))
				}
			}
		}
	}
	// An initiator: the targets it is logged into, as the target
	// daemons say.
	seen := map[string]bool{}
	for _, lg := range s.Logins(name) {
		note := "iSCSI initiator logged into " + lg.Target + " on " + lg.Node
		if len(lg.Session.Addresses) > 0 {
			note += " from " + strings.Join(lg.Session.Addresses, ", ")
		}
		ans.Matches = append(ans.Matches, Match{Kind: KindInitiator, Name: name, Note: note})
		if seen[lg.Target] {
			continue
		}
		seen[lg.Target] = true
		if t, ok := s.Target(lg.Target); ok {
			if len(t.LUNs) == 0 {
				ans.Storage = append(ans.Storage, s.storageChain(t, nil))
			}
			for i := range t.LUNs {
				ans.Storage = append(ans.Storage, s.storageChain(t, &t.LUNs[i]))
			}
		}
	}
	for _, t := range s.ISCSITargets {
		switch {
		case t.IQN == name || (t.Resource != "" && t.Resource == name):
			ans.Matches = append(ans.Matches, Match{Kind: KindTarget, Name: t.IQN, Note: targetNote(t)})
			if len(t.LUNs) == 0 {
				ans.Storage = append(ans.Storage, s.storageChain(t, nil))
			}
			for i := range t.LUNs {
				ans.Storage = append(ans.Storage, s.storageChain(t, &t.LUNs[i]))
			}
		default:
			for i, l := range t.LUNs {
				if (l.Resource != "" && name == l.Resource) || name == t.IQN+"/"+strconv.Itoa(l.LUN) {
					note := "iSCSI logical unit " + l.Resource
					if l.Resource == "" {
						note = "iSCSI logical unit not managed by Pacemaker"
					}
					ans.Matches = append(ans.Matches, Match{Kind: KindLUN, Name: t.IQN + "/" + strconv.Itoa(l.LUN), Note: note})
					ans.Storage = append(ans.Storage, s.storageChain(t, &t.LUNs[i]))
				}
			}
		}
	}
	drbd := ""
	vol := 0
	if _, ok := s.drbdView(name); ok {
		drbd = name
	} else if n, v, ok := s.drbdDevice(name); ok && strings.HasPrefix(name, "/dev/") {
		drbd, vol = n, v
	}
	if drbd == "" {
		return
	}
	ans.Matches = append(ans.Matches, Match{Kind: KindDRBD, Name: drbd, Note: "DRBD resource"})
	used := false
	for _, t := range s.ISCSITargets {
		for i, l := range t.LUNs {
			if l.DRBD == drbd && (drbd == name || l.Volume == vol) {
				ans.Storage = append(ans.Storage, s.storageChain(t, &t.LUNs[i]))
				used = true
			}
		}
	}
	if !used {
		ans.Storage = append(ans.Storage, s.drbdChain(StorageChain{DRBD: drbd, Volume: vol}, nil))
	}
}

// targetNote describes a target: its primitive, or that none manages
// it, and what its daemon says (state and sessions per node).
func targetNote(t ISCSITarget) string {
	note := "iSCSI target " + t.Resource
	if t.Unmanaged {
		note = "iSCSI target not managed by Pacemaker"
	}
	for _, lt := range t.Live {
		ini := make([]string, 0, len(lt.Sessions))
		for _, se := range lt.Sessions {
			ini = append(ini, se.Initiator)
		}
		note += "; " + lt.Implementation + " on " + lt.Node + ": " + lt.State + ", " + strconv.Itoa(len(lt.Sessions)) + " session(s)"
		if len(ini) > 0 {
			note += " (" + strings.Join(ini, ", ") + ")"
		}
	}
	return note
}

// liveLUN describes what the daemons say of LUN n of t ("" when no
// daemon exports it).
func liveLUN(t ISCSITarget, n int) string {
	var parts []string
	for _, lt := range t.Live {
		for _, l := range lt.LUNs {
			if l.LUN != n {
				continue
			}
			d := "live on " + lt.Node + ": " + l.Path + ", " + strconv.FormatUint(l.SizeMB, 10) + " MB"
			if !l.Online {
				d += ", offline"
			}
			if l.Readonly {
				d += ", read-only"
			}
			parts = append(parts, d)
		}
	}
	return strings.Join(parts, "; ")
}

// storageChain builds the chain of a target and one of its LUNs.
func (s *Snapshot) storageChain(t ISCSITarget, l *ISCSILUN) StorageChain {
	c := StorageChain{Target: t.IQN, TargetResource: t.Resource, Address: t.Address}
	state := "stopped"
	if t.Node != "" {
		state = "running"
	}
	note := targetNote(t)
	if len(t.Portals) > 0 {
		note += ", portals " + strings.Join(t.Portals, " ")
	}
	if t.Address != "" {
		note += ", reached at " + t.Address
	}
	hops := []Hop{{Kind: KindTarget, Name: t.IQN, State: state, On: t.Node, Note: note}}
	if l == nil {
		c.Chain = append(hops, s.nodeHops(t.Node)...)
		c.Sync = "the target exports no LUN"
		return c
	}
	n := l.LUN
	c.LUN, c.LUNResource, c.Path = &n, l.Resource, l.Path
	lstate := "stopped"
	if l.Node != "" {
		lstate = "running"
	}
	lnote := "logical unit " + l.Resource
	if l.Resource == "" {
		lnote = "logical unit not managed by Pacemaker"
	}
	if live := liveLUN(t, l.LUN); live != "" {
		lnote += "; " + live
	}
	hops = append(hops, Hop{Kind: KindLUN, Name: strconv.Itoa(l.LUN), State: lstate, On: l.Node, Note: lnote})
	dev := Hop{Kind: KindDevice, Name: l.Path}
	if l.DRBD == "" {
		dev.Note = "not on a DRBD resource mgmtd knows"
		c.Chain = append(append(hops, dev), s.nodeHops(l.Node)...)
		c.Sync = "not replicated by DRBD as far as mgmtd knows"
		return c
	}
	dev.Note = l.Link
	c.DRBD, c.Volume = l.DRBD, l.Volume
	return s.drbdChain(c, append(hops, dev))
}

// drbdChain completes a chain with the DRBD resource, its Primary, the
// node and the host, and the sync verdict.
func (s *Snapshot) drbdChain(c StorageChain, hops []Hop) StorageChain {
	v, ok := s.drbdView(c.DRBD)
	if !ok {
		c.Chain = append(hops, Hop{Kind: KindDRBD, Name: c.DRBD, Note: "DRBD resource not reported and not managed by Pacemaker"})
		c.Sync = "unknown: no DRBD source reports " + c.DRBD
		return c
	}
	c.Primary = v.Primary()
	c.InSync, c.Sync = v.InSync()
	state := "no Primary"
	if c.Primary != "" {
		state = "Primary on " + c.Primary
	}
	if v.SplitBrain {
		state = DRBDSplit
	}
	note := "volume " + strconv.Itoa(c.Volume)
	if c.Volume < 0 {
		note = "volume not known"
	}
	if v.Clone != "" {
		note += ", managed by " + v.Clone
	}
	note += "; " + c.Sync
	hops = append(hops, Hop{Kind: KindDRBD, Name: c.DRBD, State: state, On: c.Primary, Note: note})
	c.Chain = append(hops, s.nodeHops(c.Primary)...)
	c.Host = s.PhysicalNode(c.Primary)
	if h, ok := s.hostOfNode(c.Host); ok {
		c.Host = h.Name
	}
	return c
}

// nodeHops returns the node hop and, when libvirt knows it, the host hop.
func (s *Snapshot) nodeHops(node string) []Hop {
	if node == "" {
		return nil
	}
	n, ok := s.Node(node)
	if !ok {
		return []Hop{{Kind: KindNode, Name: node, Note: "unknown node"}}
	}
	hops := []Hop{{Kind: KindNode, Name: n.Name, State: string(n.State), Note: string(n.Type)}}
	if h, ok := s.hostOfNode(s.PhysicalNode(n.Name)); ok {
		st := "reachable"
		if !h.Reachable {
			st = "unreachable"
		}
		hops = append(hops, Hop{Kind: KindHost, Name: h.Name, State: st, Note: "hypervisor"})
	}
	return hops
}

// ReplicationLoss is what the loss of a node takes from one DRBD resource.
type ReplicationLoss struct {
	DRBD string `json:"drbd"`
	// Primary is the Primary's node before the loss.
	Primary string `json:"primary,omitempty"`
	// Left are the replicas that remain UpToDate and connected.
	Left    []string `json:"left"`
	Message string   `json:"message"`
}

// impactStorage adds what replication the loss of node takes away, and
// judges whether a planned standby of it keeps the data safe. A replica
// can take over when it is UpToDate and connected as the DRBD view says;
// without a DRBD view (no DRBD source), when the drbd agent gave it a
// promotion score of at least 1000 ("good data locally", the agent's own
// scale), since Pacemaker promotes no replica without one.
func (s *Snapshot) impactStorage(node string, ans *ImpactAnswer) {
	ans.StandbySafe = true
	seen := map[string]bool{}
	for _, r := range s.DRBD {
		if seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		v, _ := s.drbdView(r.Name)
		ok := func(x DRBDReplica) bool {
			if v.Node == "" {
				n, err := strconv.Atoi(x.PromotionScore)
				return err == nil && n >= 1000
			}
			return x.UpToDate() && x.Connected
		}
		var mine *DRBDReplica
		good := []string{} // replicas other than node that can take over
		for i, x := range v.Replicas {
			if x.Node == node {
				mine = &v.Replicas[i]
				continue
			}
			if ok(x) {
				good = append(good, x.Node)
			}
		}
		if mine == nil {
			continue
		}
		primary := v.Primary()
		loss := ReplicationLoss{DRBD: v.Name, Primary: primary, Left: good}
		what, view := "UpToDate", ""
		if v.Node == "" {
			what, view = "promotable", " (Pacemaker's view: no DRBD source reports "+v.Name+")"
		}
		switch {
		case primary == node && len(good) == 0:
			loss.Message = v.Name + " loses its Primary on " + node + " and no other replica is " + what + ": nothing can take over with current data"
			ans.StandbySafe = false
			ans.Unsafe = append(ans.Unsafe, v.Name+": the Primary on "+node+" has no "+what+" peer to take over ("+peersText(v, node)+")"+view)
		case primary == node:
			loss.Message = v.Name + " loses its Primary on " + node + "; " + joinAnd(good) + " (" + what + ") can take over"
			if len(good) == 1 {
				loss.Message += ", and will run without redundancy"
			}
		case primary != "" && ok(*mine) && len(good) == 0:
			loss.Message = v.Name + " loses the only " + what + " replica, on " + node + "; the Primary on " + primary + " loses access to good data"
			ans.StandbySafe = false
			ans.Unsafe = append(ans.Unsafe, v.Name+": "+node+" holds the only "+what+" copy ("+peersText(v, node)+")"+view)
		case primary != "" && ok(*mine) && len(good) == 1 && good[0] == primary:
			loss.Message = v.Name + " loses its only " + what + " peer; the Primary on " + primary + " continues without redundancy"
		case primary != "":
			loss.Message = v.Name + " loses its replica on " + node + " (" + mine.Disk + "); the Primary on " + primary + " continues"
			if rest := without(good, primary); len(rest) > 0 {
				loss.Message += ", replicating to " + joinAnd(rest)
			}
		default:
			loss.Message = v.Name + " loses its replica on " + node + " (" + mine.Disk + "); it has no Primary"
		}
		loss.Message += view
		ans.Replication = append(ans.Replication, loss)
	}
}

func without(xs []string, x string) []string {
	var out []string
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

// peersText describes the replicas other than node ("node2 is Outdated
// and not connected"; from Pacemaker alone, their promotion scores).
func peersText(v DRBDResource, node string) string {
	var parts []string
	for _, x := range v.Replicas {
		if x.Node == node {
			continue
		}
		if v.Node == "" {
			sc := x.PromotionScore
			if sc == "" {
				sc = "none"
			}
			parts = append(parts, x.Node+" has promotion score "+sc)
			continue
		}
		if x.UpToDate() && x.Connected {
			parts = append(parts, x.Node+" is UpToDate")
			continue
		}
		parts = append(parts, x.describe())
	}
	if len(parts) == 0 {
		return "there is no other replica"
	}
	return strings.Join(parts, "; ")
}
