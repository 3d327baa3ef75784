package model

import "slices"

// Visible decides whether the caller may see an object of a kind by name.
type Visible func(kind Kind, name string) bool

// Restrict returns a copy of the snapshot holding only what visible
// allows, for callers whose roles are scoped to some nodes, resources, VMs
// or services. A resource is visible when it or an ancestor is, or when it
// has an instance on a visible node; an instance when its resource or its
// node is; a VM when it, its host node or its resource is; failures,
// constraints and fencing follow their resource or node; DRBD resources
// their drbd primitive, iSCSI targets their iSCSITarget. Cluster facts
// that say how fresh and how healthy the picture is stay (name, quorate,
// versions, policies, maintenance mode) and so does the source status;
// what would describe the rest of the cluster goes: the DC unless it is a
// visible node, the vote counts, and the totals, which count only what is
// visible.
func (s *Snapshot) Restrict(visible Visible) *Snapshot {
	out := &Snapshot{Generation: s.Generation, Time: s.Time, View: s.View, Cluster: s.Cluster, Sources: s.Sources}
	nodeOK := map[string]bool{}
	for _, n := range s.Nodes {
		if visible(KindNode, n.Name) {
			nodeOK[n.Name] = true
			out.Nodes = append(out.Nodes, n)
		}
	}
	rscOK := map[string]bool{}
	for _, r := range s.Resources {
		for id := r.ID; id != ""; {
			if visible(KindResource, id) {
				rscOK[r.ID] = true
				break
			}
			p, ok := s.Resource(id)
			if !ok {
				break
			}
			id = p.Parent
		}
	}
	for _, sv := range s.Services {
		if visible(KindService, sv.Name) {
			for _, id := range sv.Resources {
				for _, d := range s.descendants(id) {
					rscOK[d] = true
				}
			}
		}
	}
	for _, in := range s.Instances {
		if rscOK[in.Primitive] || rscOK[in.Resource] || (in.Node != "" && nodeOK[in.Node]) {
			out.Instances = append(out.Instances, in)
			rscOK[in.Primitive] = true
		}
	}
	for _, r := range s.Resources {
		if rscOK[r.ID] {
			out.Resources = append(out.Resources, r)
		}
	}
	for _, f := range s.Failures {
		if rscOK[PrimitiveOf(f.Resource)] || nodeOK[f.Node] {
			out.Failures = append(out.Failures, f)
		}
	}
	for _, c := range s.Constraints {
		if rscOK[c.Resource] || rscOK[c.With] {
			out.Constraints = append(out.Constraints, c)
		}
	}
	for _, f := range s.Fencing {
		if nodeOK[f.Target] {
			out.Fencing = append(out.Fencing, f)
		}
	}
	out.Membership = s.Membership
	out.Membership.Members = nil
	for _, m := range s.Membership.Members {
		if nodeOK[m.Name] {
			out.Membership.Members = append(out.Membership.Members, m)
		}
	}
	for _, h := range s.Hosts {
		if nodeOK[h.Name] || nodeOK[h.Node] || visible(KindHost, h.Name) {
			out.Hosts = append(out.Hosts, h)
		}
	}
	for _, v := range s.VMs {
		if visible(KindVM, v.Name) || nodeOK[v.Host] || (v.Resource != "" && rscOK[v.Resource]) {
			out.VMs = append(out.VMs, v)
		}
	}
	for _, sv := range s.Services {
		if visible(KindService, sv.Name) || slices.ContainsFunc(sv.Resources, func(id string) bool { return rscOK[id] }) {
			out.Services = append(out.Services, sv)
		}
	}
	for _, c := range s.Conflicts {
		if visible(KindVM, c.VM) || rscOK[c.Resource] {
			out.Conflicts = append(out.Conflicts, c)
		}
	}
	// Replicated storage follows the resources that manage it: a DRBD
	// resource its drbd primitive (or its name, as a DRBD object), a
	// target its iSCSITarget.
	for _, d := range s.DRBD {
		if (d.Primitive != "" && rscOK[d.Primitive]) || visible(KindDRBD, d.Name) {
			out.DRBD = append(out.DRBD, d)
		}
	}
	for _, t := range s.ISCSITargets {
		if rscOK[t.Resource] || visible(KindTarget, t.IQN) {
			out.ISCSITargets = append(out.ISCSITargets, t)
		}
	}
	if !nodeOK[out.Cluster.DC] {
		out.Cluster.DC = ""
	}
	out.Cluster.ExpectedVotes, out.Cluster.TotalVotes = 0, 0
	out.Membership.ExpectedVotes, out.Membership.TotalVotes, out.Membership.Quorum = 0, 0, 0
	out.Cluster.NodesConfigured, out.Cluster.ResourcesConfigured = len(out.Nodes), len(out.Resources)
	out.buildIndex()
	return out
}

// RestrictSimulation keeps the predicted actions on what s holds: actions
// on a resource of s, and actions on a node of s (fencing, shutdown). Use
// it on a restricted snapshot for a scoped caller, so that a prediction
// names nothing outside the caller's scope.
func (s *Snapshot) RestrictSimulation(sim Simulation) Simulation {
	out := sim
	keep := func(as []SimAction) []SimAction {
		var kept []SimAction
		for _, a := range as {
			_, rsc := s.Resource(PrimitiveOf(a.Resource))
			if !rsc {
				_, rsc = s.Resource(a.Resource)
			}
			_, node := s.Node(a.Resource)
			if rsc || node {
				kept = append(kept, a)
			}
		}
		return kept
	}
	out.Actions = keep(sim.Actions)
	out.Planned = keep(sim.Planned)
	return out
}
