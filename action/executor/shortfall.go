package executor

import (
	"slices"
	"strings"

	"mgmtd/action"
	"mgmtd/model"
)

// intentReason is the intent record's reason: the prediction, and for a
// forced action what the prediction said it would not reach.
func intentReason(t *action.Task) string {
	r := "predicted: " + predictionText(t.Prediction)
	if t.Shortfall != "" {
		r += "; forced although it would not reach its goal: " + t.Shortfall
	}
	return r
}

// placement is where the primitives of a resource run: primitive -> nodes.
type placement map[string][]string

// predicted applies the simulation's actions (all of them: the
// scenario's and those planned anyway) to where the primitives of id run
// now.
func predicted(sn *model.Snapshot, sim *model.Simulation, id string) placement {
	pl := placement{}
	prims := primitives(sn, id)
	for _, pr := range prims {
		pl[pr] = nil
		for _, in := range sn.InstancesOf(pr) {
			if in.Active && in.Node != "" && in.Primitive == pr && !slices.Contains(pl[pr], in.Node) {
				pl[pr] = append(pl[pr], in.Node)
			}
		}
	}
	acts := append(slices.Clone(sim.Planned), sim.Actions...)
	for _, a := range acts {
		pr := model.PrimitiveOf(a.Resource)
		if _, ok := pl[pr]; !ok || a.Blocked {
			continue
		}
		switch a.Action {
		case "stop":
			pl[pr] = slices.DeleteFunc(pl[pr], func(n string) bool { return n == a.Source || n == a.Node })
		case "move", "migrate", "recover":
			if a.Source != "" {
				pl[pr] = slices.DeleteFunc(pl[pr], func(n string) bool { return n == a.Source })
			}
			fallthrough
		case "start", "promote", "demote", "restart":
			if a.Dest != "" && !slices.Contains(pl[pr], a.Dest) {
				pl[pr] = append(pl[pr], a.Dest)
			}
		}
	}
	return pl
}

// nodes are the nodes where any primitive runs.
func (pl placement) nodes() []string {
	var out []string
	for _, ns := range pl {
		for _, n := range ns {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// shortfall says what Pacemaker's prediction shows the request would not
// reach, or "" when it would (or the executor cannot tell: actions whose
// result the scheduler does not predict, such as cleanup or clear).
func shortfall(req action.Request, p *plan, sn *model.Snapshot, sim *model.Simulation) string {
	if sim == nil || p.migrate != nil {
		return ""
	}
	name := p.object.Name
	where := func(ns []string) string {
		if len(ns) == 0 {
			return "no node"
		}
		return strings.Join(ns, ", ")
	}
	switch req.Op {
	case action.ResourceMove:
		if req.Node == "" {
			return ""
		}
		if ns := predicted(sn, sim, name).nodes(); !slices.Contains(ns, req.Node) {
			return "Pacemaker would not place " + name + " on " + req.Node + " (it would run on " + where(ns) + "); the move would only leave a cli-prefer constraint"
		}
	case action.ResourceStart:
		if ns := predicted(sn, sim, name).nodes(); len(ns) == 0 {
			return "Pacemaker would start " + name + " nowhere"
		}
	case action.ResourceStop:
		if ns := predicted(sn, sim, name).nodes(); len(ns) > 0 {
			return name + " would still run on " + where(ns)
		}
	case action.ResourceBan:
		from := req.Node
		if from == "" {
			if act := activeNodes(sn, name); len(act) == 1 {
				from = act[0]
			}
		}
		if ns := predicted(sn, sim, name).nodes(); from != "" && slices.Contains(ns, from) {
			return name + " would still run on " + from + "; the ban would only leave a cli-ban constraint"
		}
	case action.NodeStandby:
		var stay []string
		for _, in := range sn.InstancesOn(name) {
			if !in.Active || !in.Managed || slices.Contains(stay, in.Resource) {
				continue
			}
			if slices.Contains(predicted(sn, sim, in.Primitive)[in.Primitive], name) {
				stay = append(stay, in.Resource)
			}
		}
		if len(stay) > 0 {
			return "the standby would not drain " + name + ": " + strings.Join(stay, ", ") + " would stay active there"
		}
	}
	return ""
}
