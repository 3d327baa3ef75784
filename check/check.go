// Package check is mgmtd's health check of a cluster's configuration, in
// the spirit of crm_verify, `crm cluster health` and SUSE Trento's checks:
// crm_verify's own findings, fencing disabled or without a device or never
// tried, a no-quorum-policy unsafe for the node count, resources without a
// monitor operation, constraints pointing at nothing, location
// constraints left behind by moves and bans, DRBD without fencing, and
// Corosync with a single link or a short token. Every finding has a
// severity, an explanation and the command that fixes it.
//
// Run judges an Input (the CIB, crm_verify's messages, corosync's cmap);
// Gather collects one with the cluster's tools through toolexec. It
// imports the CIB parser and toolexec, nothing else of mgmtd.
package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"mgmtd/source/pacemaker/cib"
)

// Severity orders findings: critical (the cluster cannot protect data or
// will not recover), warning (it will misbehave in some failure), info
// (worth a look).
type Severity string

// The severities, most severe first.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case Critical:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// The checks' stable names (Finding.Check).
const (
	CheckVerify          = "crm-verify"
	CheckFencingDisabled = "fencing-disabled"
	CheckFencingDevice   = "fencing-no-device"
	CheckFencingUntested = "fencing-untested"
	CheckNoQuorumPolicy  = "no-quorum-policy"
	CheckNoMonitor       = "no-monitor"
	CheckDangling        = "constraint-dangling"
	CheckMoveLeftover    = "move-leftover"
	CheckDRBDFencing     = "drbd-fencing"
	CheckSingleLink      = "corosync-single-link"
	CheckToken           = "corosync-token"
)

// Finding is one problem of the configuration.
type Finding struct {
	// Check is the stable name of the check that found it.
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Object is what it is about (a resource, constraint or node id), if
	// anything in particular.
	Object      string `json:"object,omitempty"`
	Summary     string `json:"summary"`
	Explanation string `json:"explanation"`
	// Fix is the command (or commands, one a line) that fixes it.
	Fix string `json:"fix"`
}

// Report is the outcome of a check.
type Report struct {
	// Findings, most severe first, then by check and object.
	Findings []Finding `json:"findings"`
	// Counts per severity.
	Counts map[Severity]int `json:"counts"`
	// Skipped names the checks that could not run, with why (corosync not
	// reachable, no fencing history).
	Skipped map[string]string `json:"skipped,omitempty"`
	Time    time.Time         `json:"time"`
}

// Input is what the checks judge.
type Input struct {
	// CIB is the cluster's CIB (cibadmin --query), required.
	CIB *cib.CIB
	// Verify are crm_verify's messages; nil when it did not run.
	Verify []VerifyMessage
	// VerifyRan says crm_verify ran (an empty Verify then means clean).
	VerifyRan bool
	// Cmap is corosync-cmapctl's keys and values; nil without Corosync.
	Cmap map[string]string
	// FencingSucceeded says whether the fencing history shows a
	// successful fencing action; nil when the history is not known.
	FencingSucceeded *bool
	// Skipped are checks that could not run, with why (from Gather).
	Skipped map[string]string
}

// MinToken is the shortest effective Corosync token (runtime.config.totem.token)
// that does not count as too short.
const MinToken = 3000 * time.Millisecond

// Run runs every check on in.
func Run(in Input, now time.Time) Report {
	r := Report{Counts: map[Severity]int{Critical: 0, Warning: 0, Info: 0}, Skipped: map[string]string{}, Time: now}
	for k, v := range in.Skipped {
		r.Skipped[k] = v
	}
	add := func(f Finding) { r.Findings = append(r.Findings, f) }
	c := in.CIB

	if in.VerifyRan {
		for _, m := range in.Verify {
			sev := Warning
			if m.Level == "error" {
				sev = Critical
			}
			add(Finding{Check: CheckVerify, Severity: sev, Summary: "crm_verify: " + m.Text,
				Explanation: "Pacemaker's own configuration check reports this; the scheduler acts on it.",
				Fix:         "crm_verify --live-check -V   # see the full report, then correct the configuration it names"})
		}
	} else if r.Skipped[CheckVerify] == "" {
		r.Skipped[CheckVerify] = "crm_verify did not run"
	}

	members := memberNodes(c)
	prims := primitives(c)
	var fenceDevices []string
	for _, p := range prims {
		if p.Class == "stonith" {
			fenceDevices = append(fenceDevices, p.ID)
		}
	}
	stonith := true
	if v, ok := c.Property("stonith-enabled"); ok && !isTrue(v) {
		stonith = false
		add(Finding{Check: CheckFencingDisabled, Severity: Critical, Summary: "fencing is disabled (stonith-enabled=" + v + ")",
			Explanation: "Without fencing, a node that stops answering is assumed to be down: its resources start elsewhere while it may still run them (shared data corrupted, addresses duplicated), and a failed stop blocks recovery.",
			Fix:         "configure a fence device for every node, test it (stonith_admin --reboot NODE), then:\ncrm_attribute --type crm_config --name stonith-enabled --update true"})
	}
	if stonith && len(fenceDevices) == 0 {
		add(Finding{Check: CheckFencingDevice, Severity: Critical, Summary: "fencing is enabled but no fence device is configured",
			Explanation: "Pacemaker refuses to start resources it cannot protect by fencing, and a node that fails cannot be fenced: its resources stay stopped.",
			Fix:         "cibadmin --create --scope resources --xml-text '<primitive id=\"fence-NODE\" class=\"stonith\" type=\"fence_AGENT\">...</primitive>'   # one per node, with the agent's parameters (stonith_admin --metadata --agent fence_AGENT)"})
	}
	if stonith && len(fenceDevices) > 0 {
		switch {
		case in.FencingSucceeded == nil:
			r.Skipped[CheckFencingUntested] = "no fencing history"
		case !*in.FencingSucceeded:
			add(Finding{Check: CheckFencingUntested, Severity: Warning, Summary: "fencing has never succeeded in this cluster's history",
				Explanation: "A fence device that was never tried may fail when it is needed (credentials, network, agent parameters); recovery then waits for it.",
				Fix:         "stonith_admin --reboot NODE   # in a maintenance window, for each node; stonith_admin --history '*' shows the outcome"})
		}
	}

	if v, ok := c.Property("no-quorum-policy"); ok && v == "ignore" {
		n := len(members)
		switch {
		case n >= 3:
			add(Finding{Check: CheckNoQuorumPolicy, Severity: Critical, Object: "no-quorum-policy",
				Summary:     fmt.Sprintf("no-quorum-policy=ignore with %d nodes", n),
				Explanation: "A partition without quorum keeps running and starts the other partition's resources: both sides run them. With three or more nodes the majority can decide.",
				Fix:         "crm_attribute --type crm_config --name no-quorum-policy --update stop"})
		case n == 2:
			add(Finding{Check: CheckNoQuorumPolicy, Severity: Warning, Object: "no-quorum-policy",
				Summary:     "no-quorum-policy=ignore in a two-node cluster",
				Explanation: "Corosync's two_node mode keeps quorum for the surviving node safely (with wait_for_all); ignoring quorum instead lets both nodes run everything after a split when fencing fails.",
				Fix:         "set quorum { two_node: 1 } in corosync.conf on both nodes, then:\ncrm_attribute --type crm_config --name no-quorum-policy --update stop"})
		}
	}

	for _, p := range prims {
		if p.Template != "" || hasMonitor(p) {
			continue
		}
		add(Finding{Check: CheckNoMonitor, Severity: Warning, Object: p.ID,
			Summary:     fmt.Sprintf("resource %s (%s) has no recurring monitor operation", p.ID, p.Agent()),
			Explanation: "Pacemaker only notices that a resource failed when a monitor runs; without one a crashed service stays down and is shown as started.",
			Fix: fmt.Sprintf("cibadmin --modify --xml-text '<primitive id=\"%s\"><operations><op id=\"%s-monitor-30s\" name=\"monitor\" interval=\"30s\" timeout=\"20s\"/></operations></primitive>'",
				p.ID, p.ID)})
	}

	ids := map[string]bool{}
	for _, id := range resourceIDs(c) {
		ids[id] = true
	}
	nodes := map[string]bool{}
	for _, n := range c.Configuration.Nodes {
		nodes[n.Uname] = true
	}
	dangling := func(kind, id string, refs []string, node string) {
		var missing []string
		for _, ref := range refs {
			if ref != "" && !ids[ref] {
				missing = append(missing, "resource "+ref)
			}
		}
		if node != "" && !nodes[node] {
			missing = append(missing, "node "+node)
		}
		if len(missing) == 0 {
			return
		}
		add(Finding{Check: CheckDangling, Severity: Warning, Object: id,
			Summary:     fmt.Sprintf("%s %s refers to %s, which does not exist", kind, id, strings.Join(missing, " and ")),
			Explanation: "A constraint on something that was deleted or misspelled does nothing today, and applies unexpectedly when something of that name appears.",
			Fix:         fmt.Sprintf("cibadmin --delete --xml-text '<%s id=\"%s\"/>'", kind, id)})
	}
	cons := c.Configuration.Constraints
	for _, l := range cons.Locations {
		dangling("rsc_location", l.ID, append([]string{l.Rsc}, setIDs(l.Sets)...), l.Node)
	}
	for _, co := range cons.Colocations {
		dangling("rsc_colocation", co.ID, append([]string{co.Rsc, co.WithRsc}, setIDs(co.Sets)...), "")
	}
	for _, o := range cons.Orders {
		dangling("rsc_order", o.ID, append([]string{o.First, o.Then}, setIDs(o.Sets)...), "")
	}
	for _, t := range cons.Tickets {
		dangling("rsc_ticket", t.ID, []string{t.Rsc}, "")
	}

	for _, l := range cons.Locations {
		var what string
		switch {
		case strings.HasPrefix(l.ID, "cli-prefer-"):
			what = "a move (crm_resource --move)"
		case strings.HasPrefix(l.ID, "cli-ban-"):
			what = "a ban (crm_resource --ban)"
		default:
			continue
		}
		fix := "crm_resource --clear --resource " + l.Rsc
		if strings.HasPrefix(l.ID, "cli-ban-") && l.Node != "" {
			fix += " --node " + l.Node
		}
		add(Finding{Check: CheckMoveLeftover, Severity: Warning, Object: l.ID,
			Summary:     fmt.Sprintf("%s pins %s (left behind by %s)", l.ID, l.Rsc, what),
			Explanation: "Moves and bans without a lifetime stay in the configuration: the resource will not fail back, or cannot run on that node, long after the reason is gone.",
			Fix:         fix})
	}

	for _, p := range prims {
		if p.Class != "ocf" || p.Provider != "linbit" || p.Type != "drbd" {
			continue
		}
		if stonith && len(fenceDevices) > 0 {
			add(Finding{Check: CheckDRBDFencing, Severity: Info, Object: p.ID,
				Summary:     fmt.Sprintf("DRBD resource %s: check DRBD's own fencing policy", p.ID),
				Explanation: "DRBD needs fencing in its own configuration too (fencing resource-and-stonith and the crm-fence-peer handlers), or a replication link failure lets both sides become primary. The CIB cannot show it.",
				Fix:         "drbdadm dump " + drbdResource(p) + "   # expect: fencing resource-and-stonith; fence-peer \"/usr/lib/drbd/crm-fence-peer.9.sh\"; unfence-peer \"/usr/lib/drbd/crm-unfence-peer.9.sh\""})
			continue
		}
		add(Finding{Check: CheckDRBDFencing, Severity: Critical, Object: p.ID,
			Summary:     fmt.Sprintf("DRBD resource %s runs without fencing", p.ID),
			Explanation: "Without a fence device Pacemaker cannot stop a disconnected DRBD primary; DRBD's resource-and-stonith policy relies on it. After a split both sides can be primary and the data diverges.",
			Fix:         "configure and test fence devices, crm_attribute --type crm_config --name stonith-enabled --update true, and in DRBD: net { fencing resource-and-stonith; } handlers { fence-peer \"/usr/lib/drbd/crm-fence-peer.9.sh\"; unfence-peer \"/usr/lib/drbd/crm-unfence-peer.9.sh\"; }"})
	}

	if in.Cmap == nil {
		for _, k := range []string{CheckSingleLink, CheckToken} {
			if r.Skipped[k] == "" {
				r.Skipped[k] = "corosync not read"
			}
		}
	} else {
		for _, n := range cmapNodes(in.Cmap) {
			if in.Cmap["nodelist.node."+n+".ring1_addr"] != "" {
				continue
			}
			name := in.Cmap["nodelist.node."+n+".name"]
			if name == "" {
				name = in.Cmap["nodelist.node."+n+".ring0_addr"]
			}
			add(Finding{Check: CheckSingleLink, Severity: Warning, Object: name,
				Summary:     fmt.Sprintf("node %s has a single Corosync link", name),
				Explanation: "With one link, a switch port, cable or NIC failure splits the cluster and a node is fenced; knet uses a second link (ring1_addr) at once.",
				Fix:         "add ring1_addr (an address on a second network) to every node in corosync.conf on every node, then: corosync-cfgtool -R"})
		}
		if v, ok := in.Cmap["runtime.config.totem.token"]; ok {
			ms, err := strconv.ParseUint(v, 10, 32)
			if err == nil && time.Duration(ms)*time.Millisecond < MinToken {
				add(Finding{Check: CheckToken, Severity: Warning, Object: "totem.token",
					Summary:     fmt.Sprintf("Corosync's token timeout is %d ms (below %d ms)", ms, MinToken.Milliseconds()),
					Explanation: "A token that short counts a busy node, a live migration or a short network hiccup as a node failure and fences it.",
					Fix:         "set totem { token: 5000 } in corosync.conf on every node, then: corosync-cfgtool -R"})
			}
		} else {
			r.Skipped[CheckToken] = "corosync has no runtime.config.totem.token"
		}
	}

	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		if d := a.Severity.rank() - b.Severity.rank(); d != 0 {
			return d
		}
		if a.Check != b.Check {
			return strings.Compare(a.Check, b.Check)
		}
		return strings.Compare(a.Object, b.Object)
	})
	for _, f := range r.Findings {
		r.Counts[f.Severity]++
	}
	if len(r.Skipped) == 0 {
		r.Skipped = nil
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	return r
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "yes", "y", "on", "1":
		return true
	}
	return false
}

// memberNodes are the configured cluster nodes (not remote or ping nodes).
func memberNodes(c *cib.CIB) []string {
	var out []string
	for _, n := range c.Configuration.Nodes {
		if n.Type == "" || n.Type == "member" || n.Type == "normal" {
			out = append(out, n.Uname)
		}
	}
	return out
}

// primitives are every primitive, also inside groups, clones and bundles.
func primitives(c *cib.CIB) []cib.Primitive {
	r := c.Configuration.Resources
	out := append([]cib.Primitive{}, r.Primitives...)
	for _, g := range r.Groups {
		out = append(out, g.Primitives...)
	}
	for _, cl := range append(append([]cib.Clone{}, r.Clones...), r.Masters...) {
		if cl.Primitive != nil {
			out = append(out, *cl.Primitive)
		}
		if cl.Group != nil {
			out = append(out, cl.Group.Primitives...)
		}
	}
	for _, b := range r.Bundles {
		if b.Primitive != nil {
			out = append(out, *b.Primitive)
		}
	}
	return out
}

// resourceIDs are the ids a constraint may name: every resource of every
// kind (and bundles).
func resourceIDs(c *cib.CIB) []string {
	r := c.Configuration.Resources
	var out []string
	for _, p := range primitives(c) {
		out = append(out, p.ID)
	}
	for _, g := range r.Groups {
		out = append(out, g.ID)
	}
	for _, cl := range append(append([]cib.Clone{}, r.Clones...), r.Masters...) {
		out = append(out, cl.ID)
		if cl.Group != nil {
			out = append(out, cl.Group.ID)
		}
	}
	for _, b := range r.Bundles {
		out = append(out, b.ID)
	}
	return out
}

func setIDs(sets []cib.ResourceSet) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s.IDs()...)
	}
	return out
}

func hasMonitor(p cib.Primitive) bool {
	for _, op := range p.Ops {
		if op.Name == "monitor" && op.Interval != "" && op.Interval != "0" && op.Interval != "0s" {
			return true
		}
	}
	return false
}

func drbdResource(p cib.Primitive) string {
	if v := cib.Values(p.Params)["drbd_resource"]; v != "" {
		return v
	}
	return "RESOURCE"
}

// cmapNodes are the nodelist positions in cmap ("0", "1", ...), sorted.
func cmapNodes(cmap map[string]string) []string {
	seen := map[string]bool{}
	for k := range cmap {
		rest, ok := strings.CutPrefix(k, "nodelist.node.")
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '.'); i > 0 {
			seen[rest[:i]] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return out
}
