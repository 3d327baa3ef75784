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
