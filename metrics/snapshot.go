package metrics

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"mgmtd/model"
)

// Pacemaker's fail count that means INFINITY.
const infinityFailCount = 1000000

// Snapshot adds the metrics of one snapshot to e, as of now (for ages).
// Every series carries the cluster's name in the label cluster, so that
// one Prometheus can scrape the mgmtd of several clusters.
func Snapshot(e *Exposition, s *model.Snapshot, now time.Time) {
	cl := s.Cluster.Name
	clusterMetrics(e, s, cl)
	nodeMetrics(e, s, cl)
	resourceMetrics(e, s, cl)
	constraintMetrics(e, s, cl)
	fencingMetrics(e, s, cl)
	corosyncMetrics(e, s, cl)
	virtMetrics(e, s, cl)
	drbdMetrics(e, s, cl)
	sourceMetrics(e, s, cl, now)
}

func b2s(b bool) string { return strconv.FormatBool(b) }

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func clusterMetrics(e *Exposition, s *model.Snapshot, cl string) {
	c := s.Cluster
	e.Family("mgmtd_cluster_info", Gauge, "The cluster as mgmtd sees it; value is always 1").
		Add(1, "cluster", cl, "view", s.View, "dc", c.DC, "stack", c.Stack, "pacemaker_version", c.PacemakerVersion, "corosync_version", c.CorosyncVersion)
	e.Family("mgmtd_snapshot_generation", Gauge, "Generation of the served snapshot; it changes only with the content").
		Add(float64(s.Generation), "cluster", cl)
	if !s.Time.IsZero() {
		e.Family("mgmtd_snapshot_timestamp_seconds", Gauge, "When the served snapshot was built (Unix time)").
			Add(unixSeconds(s.Time), "cluster", cl)
	}
	e.Family("mgmtd_cluster_quorate", Gauge, "Whether the partition of mgmtd's view has quorum, as Pacemaker reports it (1) or not (0)").
		Bool(c.Quorate, "cluster", cl)
	e.Family("mgmtd_cluster_nodes_configured", Gauge, "Nodes configured in the cluster").
		Add(float64(c.NodesConfigured), "cluster", cl)
	e.Family("mgmtd_cluster_resources_configured", Gauge, "Resource instances configured in the cluster").
		Add(float64(c.ResourcesConfigured), "cluster", cl)
	e.Family("ha_cluster_pacemaker_stonith_enabled", Gauge, "Whether or not stonith is enabled in the cluster").
		Bool(c.StonithEnabled, "cluster", cl)
	e.Family("ha_cluster_pacemaker_maintenance_mode_enabled", Gauge, "Whether or not the cluster is in maintenance mode").
		Bool(c.MaintenanceMode, "cluster", cl)
	if !c.LastChange.IsZero() {
		// ha_cluster_exporter types this timestamp as a counter; it is a
		// gauge (docs/metrics.md).
		e.Family("ha_cluster_pacemaker_config_last_change", Gauge, "The timestamp of the last change of the cluster configuration (Unix time, seconds)").
			Add(float64(c.LastChange.Unix()), "cluster", cl)
	}
}

func nodeMetrics(e *Exposition, s *model.Snapshot, cl string) {
	nodes := e.Family("ha_cluster_pacemaker_nodes", Gauge, "The status of each node in the cluster; 1 means the node is in that status, 0 otherwise")
	state := e.Family("mgmtd_node_state", Gauge, "The one state that summarises a node (unclean, offline, pending, shutdown, maintenance, standby, online); 1 for the current state")
	running := e.Family("mgmtd_node_resources_running", Gauge, "Resource instances running on the node")
	attrs := e.Family("ha_cluster_pacemaker_node_attributes", Gauge, "Metadata attributes of each node; value is always 1")
	states := []model.NodeState{model.NodeOnline, model.NodeStandby, model.NodeMaintenance, model.NodePending, model.NodeOffline, model.NodeUnclean, model.NodeShutdown}
	for _, n := range s.Nodes {
		typ := string(n.Type)
		for _, st := range []struct {
			name string
			on   bool
		}{
			{"online", n.Online}, {"standby", n.Standby}, {"standby_onfail", n.StandbyOnFail}, {"maintenance", n.Maintenance},
			{"pending", n.Pending}, {"unclean", n.Unclean}, {"shutdown", n.Shutdown}, {"dc", n.DC},
		} {
			nodes.Bool(st.on, "cluster", cl, "node", n.Name, "type", typ, "status", st.name)
		}
		for _, st := range states {
			state.Bool(n.State == st, "cluster", cl, "node", n.Name, "type", typ, "state", string(st))
		}
		running.Add(float64(n.ResourcesRunning), "cluster", cl, "node", n.Name)
		for _, k := range sortedKeys(n.Attributes) {
			attrs.Add(1, "cluster", cl, "node", n.Name, "name", k, "value", n.Attributes[k])
		}
	}
}

// parents returns the group and the clone (or bundle) a primitive belongs
// to, if any.
func parents(s *model.Snapshot, prim string) (group, clone string) {
	r, ok := s.Resource(prim)
	for depth := 0; ok && r.Parent != "" && depth < 8; depth++ {
		p, found := s.Resource(r.Parent)
		if !found {
			break
		}
		switch p.Kind {
		case model.KindGroup:
			if group == "" {
				group = p.ID
			}
		case model.KindClone, model.KindPromotable, model.KindBundle:
			if clone == "" {
				clone = p.ID
			}
		}
		r = p
	}
	return group, clone
}

func resourceMetrics(e *Exposition, s *model.Snapshot, cl string) {
	rs := e.Family("ha_cluster_pacemaker_resources", Gauge, "The status of each resource instance in the cluster, stopped ones included (node=\"\"); 1 means the instance is in that status, 0 otherwise")
	// ha_cluster_exporter's name, ha_cluster_pacemaker_fail_count, ends
	// in _count, which is reserved for histograms and summaries; the
	// shipped recording rule (monitoring/rules/mgmtd-compat.rules.yml)
	// provides it under that name.
	fails := e.Family("mgmtd_resource_failcount", Gauge, "The fail count per node and resource id, as crm_failcount shows it (+Inf for INFINITY)")
	thresholds := e.Family("ha_cluster_pacemaker_migration_threshold", Gauge, "The migration-threshold of a resource (meta attribute) per node it has an instance on")
	// The stopped instances of an anonymous clone are alike (no node, the
	// same id): one series stands for them.
	seen := map[string]bool{}
	for _, in := range s.Instances {
		if k := in.Node + "\x00" + in.Resource; seen[k] {
			continue
		} else {
			seen[k] = true
		}
		group, clone := parents(s, in.Primitive)
		orphaned := in.Orphaned
		for _, st := range []struct {
			name string
			on   bool
		}{{"active", in.Active}, {"orphaned", orphaned}, {"blocked", in.Blocked}, {"failed", in.Failed}} {
			rs.Bool(st.on, "cluster", cl, "node", in.Node, "resource", in.Resource, "role", strings.ToLower(string(in.Role.Normal())),
				"managed", b2s(in.Managed), "status", st.name, "agent", in.Agent, "group", group, "clone", clone)
		}
		if in.Node == "" {
			continue
		}
		fc := float64(in.FailCount)
		if in.FailCount >= infinityFailCount {
			fc = math.Inf(1)
		}
		fails.Add(fc, "cluster", cl, "node", in.Node, "resource", in.Resource)
		if r, ok := s.Resource(in.Primitive); ok {
			if v, ok := score(r.Meta["migration-threshold"]); ok {
				thresholds.Add(v, "cluster", cl, "node", in.Node, "resource", in.Resource)
			}
		}
	}
	failed := e.Family("mgmtd_resource_failed", Gauge, "Whether Pacemaker marks the configured resource failed")
	managed := e.Family("mgmtd_resource_managed", Gauge, "Whether Pacemaker manages the configured resource")
	active := e.Family("mgmtd_resource_active_instances", Gauge, "Active instances of the configured resource (0: stopped everywhere)")
	counts := map[string]int{}
	for _, in := range s.Instances {
		if in.Active {
			counts[in.Primitive]++
			if in.Top != "" && in.Top != in.Primitive {
				counts[in.Top]++
			}
		}
	}
	for _, r := range s.Resources {
		lbl := []string{"cluster", cl, "resource", r.ID, "kind", string(r.Kind)}
		failed.Bool(r.Failed, lbl...)
		managed.Bool(r.Managed, lbl...)
		active.Add(float64(counts[r.ID]), lbl...)
	}
	records := e.Family("mgmtd_resource_failures", Gauge, "Failed operations Pacemaker records per resource and node (cleared by a cleanup)")
	last := e.Family("mgmtd_resource_last_failure_timestamp_seconds", Gauge, "When the newest recorded failure of the resource on the node happened (Unix time)")
	type key struct{ rsc, node string }
	n := map[key]int{}
	newest := map[key]time.Time{}
	var order []key
	for _, f := range s.Failures {
		k := key{model.PrimitiveOf(f.Resource), f.Node}
		if _, ok := n[k]; !ok {
			order = append(order, k)
		}
		n[k]++
		if f.Time.After(newest[k]) {
			newest[k] = f.Time
		}
	}
	for _, k := range order {
		records.Add(float64(n[k]), "cluster", cl, "resource", k.rsc, "node", k.node)
		if t := newest[k]; !t.IsZero() {
			last.Add(unixSeconds(t), "cluster", cl, "resource", k.rsc, "node", k.node)
		}
	}
}

// score reads a Pacemaker score: an integer, or [+-]INFINITY.
func score(v string) (float64, bool) {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "":
		return 0, false
	case "INFINITY", "+INFINITY":
		return math.Inf(1), true
	case "-INFINITY":
		return math.Inf(-1), true
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false
	}
	return float64(n), true
}

func constraintMetrics(e *Exposition, s *model.Snapshot, cl string) {
	loc := e.Family("ha_cluster_pacemaker_location_constraints", Gauge, "Resource location constraints. The value indicates the score.")
	count := e.Family("mgmtd_constraints", Gauge, "Constraints configured, by type")
	byType := map[model.ConstraintType]int{}
	for _, c := range s.Constraints {
		byType[c.Type]++
		if c.Type != model.ConstraintLocation {
			continue
		}
		if v, ok := score(c.Score); ok {
			loc.Add(v, "cluster", cl, "constraint", c.ID, "node", c.Node, "resource", c.Resource, "role", strings.ToLower(c.Role))
		}
	}
	for _, t := range []model.ConstraintType{model.ConstraintLocation, model.ConstraintColocation, model.ConstraintOrder, model.ConstraintTicket} {
		count.Add(float64(byType[t]), "cluster", cl, "type", string(t))
	}
}

func fencingMetrics(e *Exposition, s *model.Snapshot, cl string) {
	hist := e.Family("mgmtd_fencing_history_events", Gauge, "Entries of Pacemaker's fencing history, by target, action and status")
	last := e.Family("mgmtd_fencing_last_timestamp_seconds", Gauge, "When the newest completed fencing operation of the target with that status ended (Unix time)")
	type key struct{ target, action, status string }
	n := map[key]int{}
	var order []key
	type tk struct{ target, status string }
	newest := map[tk]time.Time{}
	var torder []tk
	for _, f := range s.Fencing {
		k := key{f.Target, f.Action, f.Status}
		if _, ok := n[k]; !ok {
			order = append(order, k)
		}
		n[k]++
		if !f.Completed.IsZero() {
			t := tk{f.Target, f.Status}
			if _, ok := newest[t]; !ok {
				torder = append(torder, t)
			}
			if f.Completed.After(newest[t]) {
				newest[t] = f.Completed
			}
		}
	}
	for _, k := range order {
		hist.Add(float64(n[k]), "cluster", cl, "target", k.target, "action", k.action, "status", k.status)
	}
	for _, t := range torder {
		last.Add(unixSeconds(newest[t]), "cluster", cl, "target", t.target, "status", t.status)
	}
}

func corosyncMetrics(e *Exposition, s *model.Snapshot, cl string) {
	m := s.Membership
	if len(m.Members) == 0 && m.ExpectedVotes == 0 {
		return // no Corosync source
	}
	e.Family("ha_cluster_corosync_quorate", Gauge, "Whether or not the cluster is quorate").Bool(m.Quorate, "cluster", cl)
	qv := e.Family("ha_cluster_corosync_quorum_votes", Gauge, "Cluster quorum votes; one line per type")
	qv.Add(float64(m.ExpectedVotes), "cluster", cl, "type", "expected_votes")
	qv.Add(float64(m.TotalVotes), "cluster", cl, "type", "total_votes")
	qv.Add(float64(m.Quorum), "cluster", cl, "type", "quorum")
	votes := e.Family("ha_cluster_corosync_member_votes", Gauge, "How many votes each member node has contributed with to the current quorum")
	member := e.Family("mgmtd_corosync_member_joined", Gauge, "Whether the Corosync member has joined (1) or left (0)")
	conn := e.Family("mgmtd_corosync_link_connected", Gauge, "Whether the local node's knet link to the member is connected")
	enabled := e.Family("mgmtd_corosync_link_enabled", Gauge, "Whether the local node's knet link to the member is enabled")
	downs := e.Family("mgmtd_corosync_link_down_total", Counter, "Times the knet link to the member went down, as knet counts them")
	lat := e.Family("mgmtd_corosync_link_latency_seconds", Gauge, "Average latency of the knet link to the member")
	// Per link number: healthy when every enabled link of that number to
	// every other member is connected (ha_cluster_exporter's rings).
	type ring struct{ healthy, seen bool }
	rings := map[int]*ring{}
	var ringOrder []int
	var local model.Member
	for _, mb := range m.Members {
		id := strconv.FormatUint(uint64(mb.NodeID), 10)
		if mb.Local {
			local = mb
		}
		votes.Add(float64(mb.Votes), "cluster", cl, "node_id", id, "node", mb.Name, "local", b2s(mb.Local))
		member.Bool(mb.Status == "joined" || mb.Status == "member", "cluster", cl, "node_id", id, "node", mb.Name)
		for _, l := range mb.Links {
			ln := strconv.Itoa(l.Link)
			lbl := []string{"cluster", cl, "node_id", id, "node", mb.Name, "link", ln}
			conn.Bool(l.Connected, lbl...)
			enabled.Bool(l.Enabled, lbl...)
			downs.Add(float64(l.DownCount), lbl...)
			lat.Add(float64(l.LatencyAvg)/1e6, lbl...)
			if mb.Local {
				continue // the link to oneself says nothing
			}
			r := rings[l.Link]
			if r == nil {
				r = &ring{healthy: true}
				rings[l.Link] = r
				ringOrder = append(ringOrder, l.Link)
			}
			r.seen = true
			if l.Enabled && !l.Connected {
				r.healthy = false
			}
		}
	}
	if len(ringOrder) == 0 {
		return
	}
	rs := e.Family("ha_cluster_corosync_rings", Gauge, "The status of each Corosync ring (knet link number); 1 means healthy, 0 means faulty.")
	errs := 0
	for _, n := range ringOrder {
		addr := ""
		if n < len(local.Addrs) {
			addr = local.Addrs[n]
		}
		rs.Bool(rings[n].healthy, "cluster", cl, "ring_id", m.RingID, "node_id", strconv.FormatUint(uint64(m.LocalNodeID), 10), "number", strconv.Itoa(n), "address", addr)
		if !rings[n].healthy {
			errs++
		}
	}
	e.Family("ha_cluster_corosync_ring_errors", Gauge, "The total number of faulty corosync rings").Add(float64(errs), "cluster", cl)
}

func virtMetrics(e *Exposition, s *model.Snapshot, cl string) {
	reach := e.Family("mgmtd_host_reachable", Gauge, "Whether mgmtd reaches the hypervisor host's libvirt")
	cpus := e.Family("mgmtd_host_cpus", Gauge, "CPUs of the hypervisor host")
	mem := e.Family("mgmtd_host_memory_bytes", Gauge, "Memory of the hypervisor host in bytes")
	for _, h := range s.Hosts {
		reach.Bool(h.Reachable, "cluster", cl, "host", h.Name)
		if h.Reachable {
			cpus.Add(float64(h.CPUs), "cluster", cl, "host", h.Name)
			mem.Add(float64(h.MemoryKiB)*1024, "cluster", cl, "host", h.Name)
		}
	}
	info := e.Family("mgmtd_vm_info", Gauge, "A libvirt domain on a host, its state and the resource that manages it; value is always 1")
	running := e.Family("mgmtd_vm_active", Gauge, "Whether the VM occupies its host (running, blocked, paused, shutting down, suspended)")
	vcpus := e.Family("mgmtd_vm_vcpus", Gauge, "Virtual CPUs of the VM")
	vmem := e.Family("mgmtd_vm_memory_bytes", Gauge, "Current memory of the VM in bytes")
	cpu := e.Family("mgmtd_vm_cpu_seconds_total", Counter, "CPU time the VM used")
	rd := e.Family("mgmtd_vm_disk_read_bytes_total", Counter, "Bytes the VM read from the disk")
	wr := e.Family("mgmtd_vm_disk_written_bytes_total", Counter, "Bytes the VM wrote to the disk")
	rx := e.Family("mgmtd_vm_network_receive_bytes_total", Counter, "Bytes the VM received on the interface")
	tx := e.Family("mgmtd_vm_network_transmit_bytes_total", Counter, "Bytes the VM sent on the interface")
	for _, v := range s.VMs {
		lbl := []string{"cluster", cl, "vm", v.Name, "host", v.Host}
		info.Add(1, append(lbl, "state", string(v.State), "resource", v.Resource, "uuid", v.UUID)...)
		running.Bool(v.State.Active(), lbl...)
		if v.State == model.VMUnknown {
			continue
		}
		vcpus.Add(float64(v.VCPUs), lbl...)
		vmem.Add(float64(v.MemoryKiB)*1024, lbl...)
		if v.State.Active() {
			cpu.Add(v.CPUTime.Seconds(), lbl...)
		}
		for _, d := range v.Disks {
			if d.ReadBytes >= 0 {
				rd.Add(float64(d.ReadBytes), append(lbl, "device", d.Target)...)
			}
			if d.WriteBytes >= 0 {
				wr.Add(float64(d.WriteBytes), append(lbl, "device", d.Target)...)
			}
		}
		for _, n := range v.NICs {
			dev := n.Target
			if dev == "" {
				dev = n.MAC
			}
			if n.RxBytes >= 0 {
				rx.Add(float64(n.RxBytes), append(lbl, "device", dev)...)
			}
			if n.TxBytes >= 0 {
				tx.Add(float64(n.TxBytes), append(lbl, "device", dev)...)
			}
		}
	}
	conflicts := e.Family("mgmtd_conflicts", Gauge, "Disagreements between sources an operator must see (a VM where Pacemaker does not place it, DRBD Primary where Pacemaker did not promote it), by type")
	byType := map[string]int{}
	for _, c := range s.Conflicts {
		byType[c.Type]++
	}
	for _, t := range []string{"misplaced", "duplicate", "ambiguous", "drbd-role", "iscsi-placement"} {
		conflicts.Add(float64(byType[t]), "cluster", cl, "type", t)
	}
}

func sourceMetrics(e *Exposition, s *model.Snapshot, cl string, now time.Time) {
	up := e.Family("mgmtd_source_up", Gauge, "Whether the source's last refresh succeeded (1) or its picture is stale or missing (0)")
	state := e.Family("mgmtd_source_state", Gauge, "The source's state (ok, stale, error); 1 for the current state")
	age := e.Family("mgmtd_source_age_seconds", Gauge, "Age of the source's served picture: seconds since its last successful refresh")
	succ := e.Family("mgmtd_source_last_success_timestamp_seconds", Gauge, "When the source's last successful refresh ended (Unix time)")
	att := e.Family("mgmtd_source_last_attempt_timestamp_seconds", Gauge, "When the source last tried to refresh (Unix time)")
	errT := e.Family("mgmtd_source_last_error_timestamp_seconds", Gauge, "When the source's last refresh error happened (Unix time)")
	checks := e.Family("mgmtd_source_crosschecks_total", Counter, "Refreshes whose own answer was compared with the reference tool's (Pacemaker: native unpacking against crm_mon)")
	disagree := e.Family("mgmtd_source_crosscheck_disagreements_total", Counter, "Cross-checks where the answers differed (the reference tool's answer was used)")
	fallbacks := e.Family("mgmtd_source_crosscheck_fallbacks_total", Counter, "Refreshes the source's own computation declined, answered by the reference tool alone")
	reads := e.Family("mgmtd_source_reads_total", Counter, "Refreshes by what they read (Pacemaker: the whole CIB, or only its status section applied to the configuration already held)")
	states := e.Family("mgmtd_source_node_states_total", Counter, "node_state elements of status-only reads, by whether they were parsed again (their bytes changed) or reused")
	for _, st := range s.Sources {
		lbl := []string{"cluster", cl, "source", st.Name}
		up.Bool(st.State == model.SourceOK, lbl...)
		for _, x := range []model.SourceState{model.SourceOK, model.SourceStale, model.SourceError} {
			state.Bool(st.State == x, append(lbl, "state", string(x))...)
		}
		if !st.LastSuccess.IsZero() {
			age.Add(max(0, now.Sub(st.LastSuccess).Seconds()), lbl...)
			succ.Add(unixSeconds(st.LastSuccess), lbl...)
		}
		if !st.LastAttempt.IsZero() {
			att.Add(unixSeconds(st.LastAttempt), lbl...)
		}
		if !st.ErrorTime.IsZero() {
			errT.Add(unixSeconds(st.ErrorTime), lbl...)
		}
		if c := st.Check; c != nil {
			checks.Add(float64(c.Checks), append(lbl, "mode", c.Mode)...)
			disagree.Add(float64(c.Disagreements), append(lbl, "mode", c.Mode)...)
			fallbacks.Add(float64(c.Fallbacks), append(lbl, "mode", c.Mode)...)
			if c.Mode != "crm_mon" {
				reads.Add(float64(c.FullReads), append(lbl, "read", "full")...)
				reads.Add(float64(c.StatusReads), append(lbl, "read", "status")...)
				states.Add(float64(c.NodeStatesParsed), append(lbl, "node_state", "parsed")...)
				states.Add(float64(c.NodeStatesReused), append(lbl, "node_state", "reused")...)
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
