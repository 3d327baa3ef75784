package cim

import (
	"strconv"
	"strings"

	mdl "mgmtd/model"

	"mgmtd/wbem"
)

// drbdPrefix starts the InstanceID of an MGMTD_DRBDResource.
const drbdPrefix = "MGMTD:DRBD:"

// DRBDPath returns the instance path of a DRBD resource.
func DRBDPath(name string) *wbem.InstancePath {
	return instanceIDPath(ModelNamespace, ClassDRBDResource, drbdPrefix+name)
}

// drbdViews returns one view per DRBD resource, in the snapshot's order:
// of the views the snapshot has of a resource (one per reporting node,
// plus Pacemaker's when no DRBD source reports it), the one of mgmtd's
// own node, else the first a DRBD source reports, else Pacemaker's.
func drbdViews(s *mdl.Snapshot) []*mdl.DRBDResource {
	var order []string
	best := map[string]*mdl.DRBDResource{}
	rank := func(r *mdl.DRBDResource) int {
		switch {
		case r.Node != "" && r.Node == s.View:
			return 2
		case r.Node != "":
			return 1
		}
		return 0
	}
	for i := range s.DRBD {
		r := &s.DRBD[i]
		b, ok := best[r.Name]
		if !ok {
			order = append(order, r.Name)
		}
		if !ok || rank(r) > rank(b) {
			best[r.Name] = r
		}
	}
	out := make([]*mdl.DRBDResource, len(order))
	for i, n := range order {
		out[i] = best[n]
	}
	return out
}

// drbdView returns the view of the resource a path names, or nil.
func drbdView(x *snapIndex, path *wbem.InstancePath) *mdl.DRBDResource {
	name, ok := strings.CutPrefix(keyValue(path, "InstanceID"), drbdPrefix)
	if !ok {
		return nil
	}
	for _, r := range drbdViews(x.s) {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// redundancyStatus maps a view to CIM_RedundancySet.RedundancyStatus:
// 2 Fully Redundant when every replica is UpToDate and connected, 3
// Degraded Redundancy when not but more than one is UpToDate, 4 Redundancy
// Lost with one UpToDate replica, 5 Overall Failure with none; 0 Unknown
// without a DRBD source's view.
func redundancyStatus(r *mdl.DRBDResource) uint64 {
	if r.Node == "" {
		return 0
	}
	if ok, _ := r.InSync(); ok {
		return 2
	}
	up := 0
	for _, x := range r.Replicas {
		if x.UpToDate() {
			up++
		}
	}
	switch {
	case up > 1:
		return 3
	case up == 1:
		return 4
	}
	return 5
}

func (p *ModelProvider) drbdInst(r *mdl.DRBDResource) *wbem.Instance {
	inSync, why := r.InSync()
	var oos uint64
	for _, c := range r.Connections {
		for _, v := range c.Volumes {
			oos += v.OutOfSyncKiB
		}
	}
	devs := make([]string, 0, len(r.Volumes))
	for _, v := range r.Volumes {
		devs = append(devs, v.Device)
	}
	var fences []string
	for _, f := range r.Fencing {
		fences = append(fences, f.Constraint)
	}
	b := p.newInst(ClassDRBDResource, 24).s("InstanceID", drbdPrefix+r.Name).s("Caption", "DRBD resource "+r.Name).s("ElementName", r.Name).
		u("RedundancyStatus", redundancyStatus(r)).ua("TypeOfSet", 2).u("MinNumberNeeded", 1).u("MaxNumberSupported", 32).
		s("PrimaryNode", r.Primary()).b("InSync", inSync).s("SyncDescription", why).b("SplitBrain", r.SplitBrain).
		so("ReportingNode", r.Node).s("Role", r.Role).so("Suspended", r.Suspended).b("Quorum", r.Quorum)
	if r.MayPromote != nil {
		b.b("MayPromote", *r.MayPromote)
	}
	if r.PromotionScore != nil {
		b.s("PromotionScore", strconv.Itoa(*r.PromotionScore))
	}
	b.a("Devices", devs...).u("OutOfSyncKiB", oos).so("ManagingResource", r.Clone)
	if len(fences) > 0 {
		b.a("FencingConstraints", fences...)
	}
	return b.in
}

// drbdRoleValue maps a DRBD role to MGMTD_DRBDReplica.Role.
func drbdRoleValue(role string) uint64 {
	switch role {
	case mdl.DRBDPrimary:
		return 2
	case "Secondary":
		return 3
	}
	return 0
}

// drbdReplicas yields an MGMTD_DRBDReplica per replica of every DRBD
// resource on a node that is a computer system of the model.
func (p *ModelProvider) drbdReplicas(x *snapIndex, y func(*wbem.Instance) bool) {
	for _, r := range drbdViews(x.s) {
		for _, rep := range r.Replicas {
			if x.sys[rep.Node] == nil {
				continue
			}
			b := p.newInst(ClassDRBDReplica, 12).ref("Collection", DRBDPath(r.Name)).ref("Member", SystemPath(rep.Node)).
				u("Role", drbdRoleValue(rep.Role)).s("DiskState", rep.Disk).b("UpToDate", rep.UpToDate()).b("Connected", rep.Connected).
				b("Syncing", rep.Syncing)
			if rep.SyncPercent != nil {
				b.s("SyncPercent", strconv.FormatFloat(*rep.SyncPercent, 'g', -1, 64))
			}
			b.u("OutOfSyncKiB", rep.OutOfSyncKiB).so("PacemakerRole", string(rep.InstanceRole)).so("PromotionScore", rep.PromotionScore).b("Local", rep.Local)
			if !y(b.in) {
				return
			}
		}
	}
}
