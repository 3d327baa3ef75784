package model

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// SeverityOK is the severity of a status with nothing wrong. Status
// problems are warnings or critical, ranked as monitoring-plugins rank
// them: OK < WARNING < CRITICAL.
const SeverityOK Severity = "ok"

func (s Severity) rank() int {
	switch s {
	case SeverityCritical:
		return 2
	case SeverityWarning:
		return 1
	}
	return 0
}

// Worse returns the worse of s and o.
func (s Severity) Worse(o Severity) Severity {
	if o.rank() > s.rank() {
		return o
	}
	if s == "" {
		return SeverityOK
	}
	return s
}

// Problem kinds, in the order StatusReport lists them within a severity.
const (
	ProblemNoQuorum     = "no-quorum"
	ProblemNodeUnclean  = "node-unclean"
	ProblemNodeOffline  = "node-offline"
	ProblemFailed       = "resource-failed"
	ProblemBlocked      = "resource-blocked"
	ProblemFailedAction = "failed-action"
	ProblemStale        = "source-stale"
	ProblemMaintenance  = "maintenance"
	ProblemStandby      = "node-standby"
	ProblemUnmanaged    = "resource-unmanaged"
	ProblemStopped      = "resource-stopped"
	ProblemConstraint   = "leftover-constraint"
	ProblemConflict     = "conflict"
	// Replicated storage (a DRBD source's view).
	ProblemSplitBrain  = "drbd-split-brain"
	ProblemReplication = "drbd-not-in-sync"
	ProblemDRBDFence   = "drbd-fence-constraint"
)

// StatusProblem is one thing wrong with the cluster, for people first: what
// crm_mon scatters over its output, in one list, worst first.
type StatusProblem struct {
	Severity Severity `json:"severity"`
	Kind     string   `json:"kind"`
	// Object is what the problem is about: a node, resource, source or
	// constraint (Kind "constraint" is not an object kind of the model;
	// its Name is the constraint id).
	ObjectKind string `json:"object_kind"`
	Object     string `json:"object"`
	Text       string `json:"text"`
	// Resource is the resource concerned, when there is one (a failed
	// action's, a leftover constraint's): actions such as cleanup and
	// clear act on it.
	Resource string `json:"resource,omitempty"`
}

// StatusInstance is where one instance of a primitive is, and how.
type StatusInstance struct {
	Resource string `json:"resource"`
	Node     string `json:"node,omitempty"`
	// State is what to print: the role, or FAILED, with blocked and
	// unmanaged added; a failed or blocked instance never reads Started.
	State    string   `json:"state"`
	Severity Severity `json:"severity"`
}

// StatusItem is one resource of the tree: a group, clone or bundle with
// its children, or a primitive with its instances.
type StatusItem struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Agent    string   `json:"agent,omitempty"`
	State    string   `json:"state"`
	Severity Severity `json:"severity"`
	// Notes are flags crm_mon prints in brackets: disabled, unmanaged,
	// blocked, failed, guest node name.
	Notes     []string         `json:"notes,omitempty"`
	Instances []StatusInstance `json:"instances,omitempty"`
	Children  []StatusItem     `json:"children,omitempty"`
}

// StatusCounts are the counters of the status view (and the perfdata of
// `mgmtd status --check`).
type StatusCounts struct {
	Nodes            int `json:"nodes"`
	NodesOnline      int `json:"nodes_online"`
	NodesStandby     int `json:"nodes_standby"`
	NodesOffline     int `json:"nodes_offline"`
	Resources        int `json:"resources"` // configured primitives
	InstancesActive  int `json:"instances_active"`
	ResourcesFailed  int `json:"resources_failed"`
	ResourcesBlocked int `json:"resources_blocked"`
	Unmanaged        int `json:"resources_unmanaged"`
	Stopped          int `json:"resources_stopped"`
	FailedActions    int `json:"failed_actions"`
	Constraints      int `json:"leftover_constraints"`
	Problems         int `json:"problems"`
}

// StatusReport is the cluster at a glance: the worst severity, what is
// wrong (worst first), the nodes, the resource tree and the counters.
type StatusReport struct {
	Cluster    Cluster         `json:"cluster"`
	Generation uint64          `json:"generation"`
	Stale      bool            `json:"stale"`
	Severity   Severity        `json:"severity"`
	Problems   []StatusProblem `json:"problems"`
	Nodes      []Node          `json:"nodes"`
	Tree       []StatusItem    `json:"tree"`
	Counts     StatusCounts    `json:"counts"`
	Failures   []Failure       `json:"failures"`
	Sources    []SourceStatus  `json:"sources"`
}

// IsLeftoverConstraint reports whether c is one of the constraints
// crm_resource --move and --ban create (cli-prefer-*, cli-ban-*), which
// stay until cleared.
func IsLeftoverConstraint(c Constraint) bool {
	return c.Type == ConstraintLocation && (strings.HasPrefix(c.ID, "cli-prefer-") || strings.HasPrefix(c.ID, "cli-ban-"))
}

// Status computes the status view of the snapshot.
func (s *Snapshot) Status() StatusReport {
	r := StatusReport{Cluster: s.Cluster, Generation: s.Generation, Stale: s.Stale(), Problems: []StatusProblem{},
		Nodes: s.Nodes, Failures: s.Failures, Sources: s.Sources, Tree: []StatusItem{}}
	if r.Nodes == nil {
		r.Nodes = []Node{}
	}
	if r.Failures == nil {
		r.Failures = []Failure{}
	}
	add := func(sev Severity, kind, okind, obj, rsc, format string, args ...any) {
		r.Problems = append(r.Problems, StatusProblem{Severity: sev, Kind: kind, ObjectKind: okind, Object: obj, Resource: rsc, Text: fmt.Sprintf(format, args...)})
	}
	c := &r.Counts
	if len(s.Nodes) > 0 && !s.Cluster.Quorate {
		if s.Cluster.ExpectedVotes > 0 {
			add(SeverityCritical, ProblemNoQuorum, string(KindCluster), s.Cluster.Name, "", "this partition has no quorum (%d of %d votes)", s.Cluster.TotalVotes, s.Cluster.ExpectedVotes)
		} else {
			// Votes come from Corosync; a CIB file has none.
			add(SeverityCritical, ProblemNoQuorum, string(KindCluster), s.Cluster.Name, "", "this partition has no quorum")
		}
	}
	if s.Cluster.MaintenanceMode {
		add(SeverityWarning, ProblemMaintenance, string(KindCluster), s.Cluster.Name, "", "the cluster is in maintenance mode: Pacemaker starts, stops and moves nothing")
	}
	for _, n := range s.Nodes {
		c.Nodes++
		switch {
		case n.Unclean:
			c.NodesOffline++
			add(SeverityCritical, ProblemNodeUnclean, string(KindNode), n.Name, "", "node %s is UNCLEAN: its resources are stranded until it is fenced", n.Name)
		case !n.Online:
			c.NodesOffline++
			add(SeverityCritical, ProblemNodeOffline, string(KindNode), n.Name, "", "node %s is %s", n.Name, n.State)
		default:
			c.NodesOnline++
			if n.Standby {
				c.NodesStandby++
				add(SeverityWarning, ProblemStandby, string(KindNode), n.Name, "", "node %s is in standby: nothing runs there", n.Name)
			}
			if n.Maintenance {
				add(SeverityWarning, ProblemMaintenance, string(KindNode), n.Name, "", "node %s is in maintenance: Pacemaker leaves its resources alone", n.Name)
			}
		}
	}
	for _, res := range s.Resources {
		if res.Kind == KindPrimitive {
			c.Resources++
		}
	}
	for _, in := range s.Instances {
		if in.Active {
			c.InstancesActive++
		}
	}
	// Resource problems, once per primitive (a clone's instances share
	// one line).
	type rscFlags struct{ failed, blocked, unmanaged []string }
	flags := map[string]*rscFlags{}
	var order []string
	for _, in := range s.Instances {
		if !in.Failed && !in.Blocked && in.Managed {
			continue
		}
		f := flags[in.Resource]
		if f == nil {
			f = &rscFlags{}
			flags[in.Resource] = f
			order = append(order, in.Resource)
		}
		on := in.Node
		if on == "" {
			on = "(no node)"
		}
		if in.Failed {
			f.failed = append(f.failed, on)
		}
		if in.Blocked {
			f.blocked = append(f.blocked, on)
		}
		if !in.Managed {
			f.unmanaged = append(f.unmanaged, on)
		}
	}
	for _, name := range order {
		f := flags[name]
		if len(f.failed) > 0 {
			c.ResourcesFailed++
			add(SeverityCritical, ProblemFailed, string(KindResource), name, name, "%s FAILED on %s", name, strings.Join(f.failed, ", "))
		}
		if len(f.blocked) > 0 {
			c.ResourcesBlocked++
			add(SeverityCritical, ProblemBlocked, string(KindResource), name, name, "%s is blocked on %s: Pacemaker cannot stop or recover it (it needs fencing or a cleanup)", name, strings.Join(f.blocked, ", "))
		}
		if len(f.unmanaged) > 0 && !s.Cluster.MaintenanceMode {
			c.Unmanaged++
			add(SeverityWarning, ProblemUnmanaged, string(KindResource), name, name, "%s is unmanaged on %s: Pacemaker neither starts, stops nor recovers it", name, strings.Join(f.unmanaged, ", "))
		}
	}
	for _, f := range s.Failures {
		c.FailedActions++
		what := f.RCText
		if f.ExitReason != "" {
			what += ": " + f.ExitReason
		}
		if what == "" {
			what = fmt.Sprintf("rc=%d", f.RC)
		}
		when := ""
		if !f.Time.IsZero() {
			when = " at " + f.Time.UTC().Format("2006-01-02 15:04:05Z")
		}
		add(SeverityWarning, ProblemFailedAction, string(KindResource), f.Resource, baseID(f.Resource),
			"failed action: %s %s on %s%s (%s); cleanup forgets it", f.Resource, opName(f), f.Node, when, what)
	}
	// Tops that should run but run nowhere.
	for _, res := range s.Resources {
		if res.Parent != "" || res.Disabled || res.TargetRole == string(RoleStopped) {
			continue
		}
		active := false
		for _, in := range s.InstancesOf(res.ID) {
			if in.Active || in.Failed { // a failed one is reported as failed
				active = true
				break
			}
		}
		if !active && len(s.Nodes) > 0 {
			c.Stopped++
			add(SeverityWarning, ProblemStopped, string(KindResource), res.ID, res.ID, "%s runs nowhere although it is not disabled", res.ID)
		}
	}
	for _, st := range s.Sources {
		if st.State != SourceOK {
			add(SeverityWarning, ProblemStale, string(KindSource), st.Name, "", "source %s is %s: %s; its part of the picture may be out of date", st.Name, st.State, orText(st.LastError, "no recent answer"))
		}
	}
	for _, con := range s.Constraints {
		if !IsLeftoverConstraint(con) {
			continue
		}
		c.Constraints++
		what := "pins " + con.Resource + " to " + con.Node
		if strings.HasPrefix(con.ID, "cli-ban-") {
			what = "bans " + con.Resource + " from " + con.Node
		}
		add(SeverityWarning, ProblemConstraint, "constraint", con.ID, con.Resource,
			"constraint %s (left by a move or ban) %s until it is cleared", con.ID, what)
	}
	for _, cf := range s.Conflicts {
		k, n := cf.Object()
		add(SeverityWarning, ProblemConflict, string(k), n, cf.Resource, "sources disagree (%s): %s", cf.Type, cf.Detail)
	}
	for _, d := range s.DRBD {
		if d.Node == "" {
			continue // Pacemaker's view alone cannot tell
		}
		switch ok, why := d.InSync(); {
		case d.SplitBrain:
			for _, cn := range d.Connections {
				if cn.SplitBrain {
					add(SeverityCritical, ProblemSplitBrain, string(KindDRBD), d.Name, d.Clone,
						"DRBD %s: split brain between %s and %s; replication stays stopped until an operator discards one side's changes", d.Name, d.Node, cn.Peer)
				}
			}
		case !ok:
			add(SeverityWarning, ProblemReplication, string(KindDRBD), d.Name, d.Clone, "DRBD %s (seen from %s) is %s", d.Name, d.Node, why)
		}
	}
	seenFence := map[string]bool{}
	for _, d := range s.DRBD {
		for _, f := range d.Fencing {
			if !seenFence[f.Constraint] {
				seenFence[f.Constraint] = true
				add(SeverityWarning, ProblemDRBDFence, "constraint", f.Constraint, d.Clone, "constraint %s: %s", f.Constraint, f.Text)
			}
		}
	}
	kindOrder := []string{ProblemNoQuorum, ProblemNodeUnclean, ProblemNodeOffline, ProblemFailed, ProblemBlocked,
		ProblemSplitBrain, ProblemFailedAction, ProblemReplication, ProblemStale, ProblemMaintenance, ProblemStandby, ProblemUnmanaged,
		ProblemStopped, ProblemConstraint, ProblemDRBDFence, ProblemConflict}
	sort.SliceStable(r.Problems, func(i, j int) bool {
		a, b := r.Problems[i], r.Problems[j]
		if a.Severity != b.Severity {
			return a.Severity.rank() > b.Severity.rank()
		}
		return slices.Index(kindOrder, a.Kind) < slices.Index(kindOrder, b.Kind)
	})
	r.Severity = SeverityOK
	for _, p := range r.Problems {
		r.Severity = r.Severity.Worse(p.Severity)
	}
	c.Problems = len(r.Problems)
	for _, res := range s.Resources {
		if res.Parent == "" {
			r.Tree = append(r.Tree, s.statusItem(res))
		}
	}
	return r
}

func opName(f Failure) string {
	if f.Interval != "" && f.Interval != "0" && f.Interval != "0ms" {
		return f.Op + " (every " + f.Interval + ")"
	}
	return f.Op
}

// baseID cuts a clone instance suffix (db:1 -> db).
func baseID(rsc string) string {
	if i := strings.LastIndexByte(rsc, ':'); i > 0 {
		return rsc[:i]
	}
	return rsc
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// instanceState is what an instance reads: FAILED, the role, and the
// flags; never "Started" for a failed or blocked one.
func instanceState(in Instance) (string, Severity) {
	state, sev := string(in.Role.Normal()), SeverityOK
	if !in.Active {
		state, sev = "Stopped", SeverityWarning
	}
	if in.Failed {
		state, sev = "FAILED "+string(in.Role.Normal()), SeverityCritical
	}
	var flags []string
	if in.Blocked {
		flags, sev = append(flags, "blocked"), SeverityCritical
	}
	if !in.Managed {
		flags, sev = append(flags, "unmanaged"), sev.Worse(SeverityWarning)
	}
	if in.Pending != "" {
		flags = append(flags, "pending "+in.Pending)
	}
	if len(flags) > 0 {
		state += " (" + strings.Join(flags, ", ") + ")"
	}
	return state, sev
}

func (s *Snapshot) statusItem(res Resource) StatusItem {
	it := StatusItem{ID: res.ID, Kind: string(res.Kind), Agent: res.Agent, Severity: SeverityOK}
	if res.Disabled || res.TargetRole == string(RoleStopped) {
		it.Notes = append(it.Notes, "disabled")
	}
	if !res.Managed {
		it.Notes = append(it.Notes, "unmanaged")
	}
	if res.GuestNode != "" {
		it.Notes = append(it.Notes, "guest node "+res.GuestNode)
	}
	for _, ch := range res.Children {
		if child, ok := s.Resource(ch); ok {
			ci := s.statusItem(child)
			it.Children = append(it.Children, ci)
			it.Severity = it.Severity.Worse(ci.Severity)
		}
	}
	if res.Kind == KindPrimitive {
		for _, in := range s.InstancesOf(res.ID) {
			if in.Primitive != res.ID {
				continue
			}
			st, sev := instanceState(in)
			if n, ok := s.Node(in.Node); ok && in.Active && (n.Unclean || !n.Online) {
				// crm_mon still lists what ran there: say it is stranded.
				st, sev = st+" (node "+strings.ToUpper(string(n.State))+")", SeverityCritical
			}
			if !in.Active && !in.Failed && (res.Parent != "" || res.Disabled) {
				sev = SeverityOK // a clone's spare instance, or disabled on purpose
			}
			it.Instances = append(it.Instances, StatusInstance{Resource: in.Resource, Node: in.Node, State: st, Severity: sev})
			it.Severity = it.Severity.Worse(sev)
		}
	}
	// The item's own state: a summary of its instances.
	active, total, failed, blocked := 0, 0, 0, 0
	roles := map[string][]string{}
	var roleOrder []string
	var walk func(StatusItem)
	walk = func(x StatusItem) {
		for _, in := range x.Instances {
			total++
			if strings.HasPrefix(in.State, "FAILED") {
				failed++
			}
			if strings.Contains(in.State, "blocked") {
				blocked++
			}
			if in.Node != "" && !strings.HasPrefix(in.State, "Stopped") {
				active++
				role := in.State
				if _, ok := roles[role]; !ok {
					roleOrder = append(roleOrder, role)
				}
				if !slices.Contains(roles[role], in.Node) {
					roles[role] = append(roles[role], in.Node)
				}
			}
		}
		for _, ch := range x.Children {
			walk(ch)
		}
	}
	walk(it)
	var parts []string
	for _, role := range roleOrder {
		parts = append(parts, role+" on "+strings.Join(roles[role], ", "))
	}
	switch {
	case failed > 0:
		it.Notes = append(it.Notes, "failed")
	case blocked > 0:
		it.Notes = append(it.Notes, "blocked")
	}
	switch {
	case active == 0:
		it.State = "Stopped"
		if !slices.Contains(it.Notes, "disabled") && res.Parent == "" {
			it.Severity = it.Severity.Worse(SeverityWarning)
		}
	default:
		it.State = strings.Join(parts, "; ")
	}
	if failed > 0 || blocked > 0 {
		it.Severity = SeverityCritical
	}
	return it
}
