package pacemaker

import (
	"fmt"
	"sort"
	"strings"

	"mgmtd/source/pacemaker/crmmon"
)

// Compare lists, field by field, where two crm_mon results disagree in
// what mgmtd reads from them (Build's inputs): the summary, each node's
// state, each resource instance's role, nodes and flags, the clones' and
// groups' flags, node attributes, fail counts and failed operations. The
// fencing history is left out (the CIB does not hold it). Each line names
// the item and gives both answers, a first (native) then b (crm_mon);
// nil means they agree.
func Compare(a, b *crmmon.Result) []string {
	var out []string
	diffMaps := func(what string, ma, mb map[string]string) {
		keys := map[string]bool{}
		for k := range ma {
			keys[k] = true
		}
		for k := range mb {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			va, oka := ma[k]
			vb, okb := mb[k]
			switch {
			case !oka:
				out = append(out, fmt.Sprintf("%s %s: native has none, crm_mon %s", what, k, vb))
			case !okb:
				out = append(out, fmt.Sprintf("%s %s: native %s, crm_mon has none", what, k, va))
			case va != vb:
				out = append(out, fmt.Sprintf("%s %s: native %s, crm_mon %s", what, k, va, vb))
			}
		}
	}
	diffMaps("summary", summaryFields(a), summaryFields(b))
	diffMaps("node", nodeFields(a), nodeFields(b))
	diffMaps("resource", resourceFields(a), resourceFields(b))
	diffMaps("node attribute", attrFields(a), attrFields(b))
	diffMaps("fail count", failCountFields(a), failCountFields(b))
	diffMaps("failure", failureFields(a), failureFields(b))
	return out
}

func summaryFields(r *crmmon.Result) map[string]string {
	s := r.Summary
	if s == nil {
		s = &crmmon.Summary{}
	}
	m := map[string]string{
		"stack":                s.Stack.Type,
		"dc":                   s.CurrentDC.Present + " " + s.CurrentDC.Name,
		"nodes_configured":     fmt.Sprint(s.NodesConfigured.Number),
		"resources_configured": fmt.Sprint(s.ResourcesConfigured.Number),
		"stonith-enabled":      s.ClusterOptions.StonithEnabled,
		"symmetric-cluster":    s.ClusterOptions.SymmetricCluster,
		"no-quorum-policy":     s.ClusterOptions.NoQuorumPolicy,
		"maintenance-mode":     s.ClusterOptions.MaintenanceMode,
		"last_change":          crmmon.Time(s.LastChange.Time).String(),
	}
	if crmmon.Bool(s.CurrentDC.Present) {
		m["dc version"] = s.CurrentDC.Version
		m["quorum"] = s.CurrentDC.WithQuorum
	}
	return m
}

func nodeFields(r *crmmon.Result) map[string]string {
	m := map[string]string{}
	for _, n := range r.Nodes {
		m[n.Name] = fmt.Sprintf("id=%s type=%s online=%s standby=%s standby_onfail=%s maintenance=%s pending=%s unclean=%s shutdown=%s is_dc=%s resources_running=%d container=%s",
			n.ID, n.Type, n.Online, n.Standby, n.StandbyOnFail, n.Maintenance, n.Pending, n.Unclean, n.Shutdown, n.IsDC, n.ResourcesRunning, n.IDAsResource)
	}
	return m
}

func primitiveLine(p crmmon.Primitive) string {
	var nodes []string
	for _, n := range p.Nodes {
		nodes = append(nodes, n.Name)
	}
	sort.Strings(nodes)
	active := p.Active
	if len(p.Nodes) == 0 {
		active = "-" // Build reads active only for an instance on a node
	}
	return fmt.Sprintf("agent=%s role=%s nodes=[%s] active=%s managed=%s failed=%s blocked=%s orphaned=%s pending=%s",
		p.Agent, p.Role, strings.Join(nodes, ","), active, p.Managed, p.Failed, p.Blocked, p.Orphaned, p.Pending)
}

// resourceFields keys instances by their place (clone, group, id) and, for
// the anonymous instances that share an id, by their rank among equal
// ids after sorting by content, so that the order crm_mon happens to list
// them in does not matter.
func resourceFields(r *crmmon.Result) map[string]string {
	m := map[string]string{}
	addList := func(prefix string, ps []crmmon.Primitive) {
		byID := map[string][]string{}
		for _, p := range ps {
			byID[p.ID] = append(byID[p.ID], primitiveLine(p))
		}
		for id, lines := range byID {
			sort.Strings(lines)
			for i, l := range lines {
				k := prefix + id
				if len(lines) > 1 {
					k += fmt.Sprintf("#%d", i)
				}
				m[k] = l
			}
		}
	}
	addList("", r.Resources.Primitives)
	for _, g := range r.Resources.Groups {
		m["group "+g.ID] = "managed=" + g.Managed
		addList("group "+g.ID+" > ", g.Primitives)
	}
	for _, c := range r.Resources.Clones {
		m["clone "+c.ID] = fmt.Sprintf("multi_state=%s unique=%s managed=%s failed=%s", c.MultiState, c.Unique, c.Managed, c.Failed)
		addList("clone "+c.ID+" > ", c.Primitives)
		for _, g := range c.Groups {
			m["clone "+c.ID+" > group "+g.ID] = "managed=" + g.Managed
			addList("clone "+c.ID+" > group "+g.ID+" > ", g.Primitives)
		}
	}
	for _, b := range r.Resources.Bundles {
		m["bundle "+b.ID] = fmt.Sprintf("type=%s managed=%s failed=%s", b.Type, b.Managed, b.Failed)
		for _, rep := range b.Replicas {
			addList("bundle "+b.ID+" > replica "+rep.ID+" > ", rep.Primitives)
		}
	}
	return m
}

func attrFields(r *crmmon.Result) map[string]string {
	m := map[string]string{}
	for _, n := range r.NodeAttributes {
		for _, a := range n.Attributes {
			m[n.Name+" "+a.Name] = a.Value
		}
	}
	return m
}

func failCountFields(r *crmmon.Result) map[string]string {
	m := map[string]string{}
	for _, h := range r.NodeHistory {
		for _, x := range h.Resources {
			if fc := crmmon.Int(x.FailCount); fc > 0 {
				m[h.Name+" "+x.ID] = fmt.Sprint(fc)
			}
		}
	}
	return m
}

func failureFields(r *crmmon.Result) map[string]string {
	m := map[string]string{}
	for _, f := range r.Failures {
		key := f.OpKey
		if key == "" {
			key = f.ID
		}
		m[f.Node+" "+key] = fmt.Sprintf("rc=%s (%s) status=%s reason=%q call=%s time=%s interval=%s task=%s",
			f.ExitCode, f.ExitStatus, f.Status, f.ExitReason, f.Call, crmmon.Time(f.LastRCChange).UTC().Format("2006-01-02T15:04:05Z"), f.Interval, f.Task)
	}
	return m
}
