package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"mgmtd/model"
)

// Exit statuses of `mgmtd status` beyond every command's 0, 1 and 2.
const (
	exitStatusWarning  = 3 // something is wrong
	exitStatusCritical = 4 // something is critical: failed, blocked, unclean, no quorum
)

// statusExit maps the worst problem to status's exit code.
func statusExit(st model.StatusReport) error {
	switch st.Severity {
	case model.SeverityCritical:
		return exitCode(exitStatusCritical)
	case model.SeverityWarning:
		return exitCode(exitStatusWarning)
	}
	return nil
}

var severityLabel = map[model.Severity]string{model.SeverityCritical: "CRITICAL", model.SeverityWarning: "WARNING", model.SeverityOK: "OK"}

// printStatus writes the status view: the cluster line, what is wrong
// (worst first), the nodes, the resource tree, the counters.
func printStatus(w io.Writer, r model.StatusReport) {
	c := r.Cluster
	q := "quorate"
	if !c.Quorate {
		q = "NO QUORUM"
	}
	if c.ExpectedVotes > 0 {
		q += fmt.Sprintf(" (%d/%d votes)", c.TotalVotes, c.ExpectedVotes)
	}
	stale := ""
	if r.Stale {
		stale = ", STALE"
	}
	fmt.Fprintf(w, "cluster %s: %s, DC %s, generation %d%s: %s\n", c.Name, q, dash(c.DC), r.Generation, stale, severityLabel[r.Severity])
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "\nwhat is wrong:")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %-8s\t%s\n", severityLabel[p.Severity], p.Text)
		}
	}
	fmt.Fprintln(w, "\nNODE\tTYPE\tSTATE\tRESOURCES\t")
	for _, n := range r.Nodes {
		notes := []string{}
		if n.DC {
			notes = append(notes, "DC")
		}
		if n.Container != "" {
			notes = append(notes, "in "+n.Container)
		}
		state := string(n.State)
		if n.Unclean || !n.Online {
			state = strings.ToUpper(state)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", n.Name, n.Type, state, n.ResourcesRunning, strings.Join(notes, ", "))
	}
	fmt.Fprintln(w, "\nresources:")
	for _, it := range r.Tree {
		printItem(w, it, 1)
	}
	k := r.Counts
	fmt.Fprintf(w, "\n%d nodes (%d online, %d standby, %d offline or unclean), %d resources configured, %d instances active, "+
		"%d failed, %d blocked, %d unmanaged, %d stopped, %d failed actions, %d leftover constraints\n",
		k.Nodes, k.NodesOnline, k.NodesStandby, k.NodesOffline, k.Resources, k.InstancesActive,
		k.ResourcesFailed, k.ResourcesBlocked, k.Unmanaged, k.Stopped, k.FailedActions, k.Constraints)
}

// printItem writes one resource of the tree and its children, indented.
func printItem(w io.Writer, it model.StatusItem, depth int) {
	ind := strings.Repeat("  ", depth)
	what := it.Kind
	if it.Agent != "" {
		what = it.Agent
	}
	mark := ""
	switch it.Severity {
	case model.SeverityCritical:
		mark = "!! "
	case model.SeverityWarning:
		mark = "!  "
	}
	notes := ""
	if len(it.Notes) > 0 {
		notes = " [" + strings.Join(it.Notes, ", ") + "]"
	}
	state := it.State
	if len(it.Children) == 0 && len(it.Instances) > 1 {
		state = instanceSummary(it.Instances)
	}
	fmt.Fprintf(w, "%s%s%s (%s)%s:\t%s\n", ind, mark, it.ID, what, notes, state)
	for _, ch := range it.Children {
		printItem(w, ch, depth+1)
	}
}

// instanceSummary lists a clone's instances by state, as crm_mon does:
// "Promoted: hv1; Unpromoted: hv2 hv3; Stopped: 3".
func instanceSummary(ins []model.StatusInstance) string {
	nodes := map[string][]string{}
	var order []string
	stopped := 0
	for _, in := range ins {
		if in.Node == "" {
			stopped++
			continue
		}
		if _, ok := nodes[in.State]; !ok {
			order = append(order, in.State)
		}
		nodes[in.State] = append(nodes[in.State], in.Node)
	}
	var parts []string
	for _, st := range order {
		parts = append(parts, st+": "+strings.Join(nodes[st], " "))
	}
	if stopped > 0 {
		parts = append(parts, fmt.Sprintf("Stopped: %d", stopped))
	}
	return strings.Join(parts, "; ")
}

// Monitoring-plugins exit codes.
const (
	checkOK       = 0
	checkWarning  = 1
	checkCritical = 2
	checkUnknown  = 3
)

// runCheck is `mgmtd status --check`: one status line with perfdata,
// then every problem on its own line, and the monitoring-plugins exit
// code; anything that keeps it from knowing is UNKNOWN (3), usage errors
// included.
func runCheck(ctx context.Context, s *streams, f *daemonFlags, cib string, pos []string) error {
	unknown := func(format string, args ...any) error {
		fmt.Fprintf(s.out, "MGMTD UNKNOWN - "+format+"\n", args...)
		return exitCode(checkUnknown)
	}
	if len(pos) > 0 {
		return unknown("status --check takes no arguments")
	}
	if cib != "" && f.server != "" {
		return unknown("give --cib FILE or --server URL, not both")
	}
	if cib == "" {
		f.defaultServer()
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var res any
	var err error
	if cib != "" {
		res, err = offline(ctx, "status", "", cib)
	} else {
		res, err = online(ctx, "status", "", f)
	}
	if err != nil {
		return unknown("%s", oneLine(err.Error()))
	}
	st := res.(model.StatusReport)
	code, label := checkOK, "OK"
	switch st.Severity {
	case model.SeverityCritical:
		code, label = checkCritical, "CRITICAL"
	case model.SeverityWarning:
		code, label = checkWarning, "WARNING"
	}
	summary := fmt.Sprintf("cluster %s: %d/%d nodes online, %d instances active", st.Cluster.Name, st.Counts.NodesOnline, st.Counts.Nodes, st.Counts.InstancesActive)
	if len(st.Problems) > 0 {
		summary = st.Problems[0].Text
		if n := len(st.Problems) - 1; n > 0 {
			summary += fmt.Sprintf(" (and %d more)", n)
		}
	}
	k := st.Counts
	perf := fmt.Sprintf("nodes=%d;;;0 nodes_online=%d;;;0;%d nodes_offline=%d;;0;0;%d nodes_standby=%d;;;0;%d resources=%d;;;0 instances_active=%d;;;0 "+
		"resources_failed=%d;;0;0 resources_blocked=%d;;0;0 resources_unmanaged=%d;0;;0 resources_stopped=%d;0;;0 failed_actions=%d;0;;0 leftover_constraints=%d;0;;0 quorate=%d;;1:;0;1",
		k.Nodes, k.NodesOnline, k.Nodes, k.NodesOffline, k.Nodes, k.NodesStandby, k.Nodes, k.Resources, k.InstancesActive,
		k.ResourcesFailed, k.ResourcesBlocked, k.Unmanaged, k.Stopped, k.FailedActions, k.Constraints, boolInt(st.Cluster.Quorate))
	fmt.Fprintf(s.out, "MGMTD %s - %s | %s\n", label, oneLine(summary), perf)
	for _, p := range st.Problems {
		fmt.Fprintf(s.out, "%s: %s\n", severityLabel[p.Severity], oneLine(p.Text))
	}
	if code == checkOK {
		return nil
	}
	return exitCode(code)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// oneLine keeps a text to one line without the perfdata separator.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "|", "/")
	return strings.Join(strings.Fields(s), " ")
}
