// Package unpack computes from a full CIB (what `cibadmin --query` prints:
// configuration plus the status section with node_state, transient node
// attributes and the lrm_rsc_op operation histories) the cluster status
// that `crm_mon --output-as=xml --inactive --include=all` reports, as the
// crmmon.Result the crm_mon XML parser produces, so the rest of mgmtd's
// refresh is unchanged. It runs nothing; it is a pure function of the
// bytes, fuzzed, and imports only the standard library and crmmon's types.
//
// # Semantics
//
// It follows Pacemaker 2.1.5's scheduler unpacking (lib/pengine/unpack.c,
// complex.c, clone.c, group.c, native.c and the crm_mon XML output in
// pe_output.c) function by function, and is proven against that version's
// crm_mon by the differential test in source/pacemaker (testdata CIBs,
// generated CIBs and random crm_simulate histories):
//
//   - nodes: configured nodes sorted by name (numbers compared as
//     numbers), remote nodes from ocf:pacemaker:remote primitives, guest
//     nodes from the remote-node meta attribute (with the implicit
//     connection resource); online/pending/standby/unclean/shutdown as
//     determine_online_status(_fencing) decides from node_state (in_ccm,
//     crmd, join, expected) and the transient attributes (standby,
//     maintenance, shutdown, terminate), remote and guest nodes from their
//     connection and container resources;
//   - resources: every primitive's role replayed from its history sorted by
//     call id (unpack_rsc_op: expected result from the transition key,
//     remapping of rc codes, pending operations, failures with the
//     operation's on-fail and its defaults, masked probe failures,
//     failure-timeout expiry, migrate_to/migrate_from), anonymous clone
//     instance numbering (find_anonymous_clone, orphan instances beyond
//     clone-max), unique and promotable clones, groups, orphans (history
//     without configuration), blocked/unmanaged/failed/failure-ignored;
//   - failed operations in the order Pacemaker records them, fail counts
//     from the fail-count-* transient attributes;
//   - the summary crm_mon prints (DC, quorum, stack, counts, options).
//
// Not modelled, reported as ErrUnsupported so that the caller asks
// crm_mon instead: bundles, resource templates, rules and id-refs in
// attribute sets, shutdown locks. The fencing history is not in the CIB
// (the fencer keeps it); Result.FenceHistory stays empty.
package unpack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"mgmtd/source/pacemaker/crmmon"
)

// MaxSize bounds the document size Unpack accepts.
const MaxSize = 256 << 20

// Options tunes an unpack.
type Options struct {
	// Now is the scheduler's clock (failure-timeout expiry); zero means
	// time.Now().
	Now time.Time
	// Location renders times (last-rc-change of failures) as crm_mon does
	// in its time zone; nil means time.Local.
	Location *time.Location
}

// Unpack computes crm_mon's view of a CIB document.
func Unpack(data []byte, opts Options) (res *crmmon.Result, err error) {
	if len(data) > MaxSize {
		return nil, &ParseError{Msg: fmt.Sprintf("document of %d bytes exceeds %d", len(data), MaxSize)}
	}
	root, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	return unpackRoot(root, opts)
}

// unpackRoot computes crm_mon's view of a parsed CIB. It does not change
// the tree, so a tree may be unpacked again (Cache reuses its parts).
func unpackRoot(root *element, opts Options) (*crmmon.Result, error) {
	if root.name != "cib" {
		return nil, &ParseError{Msg: "root element is <" + root.name + ">, not <cib>"}
	}
	conf := root.child("configuration")
	if conf == nil {
		return nil, &ParseError{Msg: "no configuration section"}
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	w := &world{root: root, status: root.child("status"), now: opts.Now.Unix()}
	if w.status == nil {
		w.status = &element{name: "status"}
	}
	w.haveQuorum = isTrue(root.attr("have-quorum"))
	w.dcUUID = root.attr("dc-uuid")
	if err := w.unpackConfig(conf); err != nil {
		return nil, err
	}
	if err := w.unpackNodes(conf.child("nodes")); err != nil {
		return nil, err
	}
	res0 := conf.child("resources")
	if res0 == nil {
		res0 = &element{name: "resources"}
	}
	res0 = w.unpackRemoteNodes(res0)
	if err := w.unpackResources(res0); err != nil {
		return nil, err
	}
	w.unpackStatus()
	return w.result(opts), nil
}

func btoa(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (w *world) nvpairAnywhere(name string) (string, bool) {
	var v string
	found := false
	var walk func(e *element)
	walk = func(e *element) {
		for _, c := range e.children {
			if found {
				return
			}
			if c.name == "nvpair" && c.attr("name") == name {
				v, found = c.attr("value"), true
				return
			}
			walk(c)
		}
	}
	walk(w.root)
	return v, found
}

func (w *world) result(opts Options) *crmmon.Result {
	r := &crmmon.Result{APIVersion: "2.25", Request: "native"}
	r.Status.Code, r.Status.Message = "0", "OK"
	s := &crmmon.Summary{}
	r.Summary = s
	s.Stack.Type = "unknown"
	if v, ok := w.nvpairAnywhere("cluster-infrastructure"); ok {
		s.Stack.Type = v
	}
	s.CurrentDC.Present = btoa(w.dcNode != nil)
	if w.dcNode != nil {
		s.CurrentDC.Name, s.CurrentDC.ID = w.dcNode.uname, w.dcNode.id
		if v, ok := w.nvpairAnywhere("dc-version"); ok {
			s.CurrentDC.Version = v
		}
		s.CurrentDC.WithQuorum = btoa(isTrue(w.root.attr("have-quorum")))
	}
	s.LastChange.Time = w.root.attr("cib-last-written")
	s.LastChange.User = w.root.attr("update-user")
	s.LastChange.Client = w.root.attr("update-client")
	s.LastChange.Origin = w.root.attr("update-origin")
	s.NodesConfigured.Number = len(w.nodes)
	var count func(x *resource)
	count = func(x *resource) {
		if len(x.children) > 0 {
			for _, c := range x.children {
				count(c)
			}
			return
		}
		if x.variant == native && (!x.orphan || x.role > roleStopped) {
			s.ResourcesConfigured.Number++
			if w.disabled(x) {
				s.ResourcesConfigured.Disabled++
			}
			if x.blocked {
				s.ResourcesConfigured.Blocked++
			}
		}
	}
	for _, x := range w.resources {
		count(x)
	}
	co := &s.ClusterOptions
	co.StonithEnabled = btoa(w.stonith)
	co.SymmetricCluster = btoa(w.symmetric)
	co.NoQuorumPolicy = w.noQuorum
	co.MaintenanceMode = btoa(w.maintenance)
	co.StopAllResources = btoa(isTrue(w.props["stop-all-resources"]))

	for _, n := range w.nodes {
		cn := crmmon.Node{
			Name: n.uname, ID: n.id, Online: btoa(n.online), Standby: btoa(n.standby),
			StandbyOnFail: btoa(n.standbyOnFail), Maintenance: btoa(n.maintenance), Pending: btoa(n.pending),
			Unclean: btoa(n.unclean), Shutdown: btoa(n.shutdown), ExpectedUp: btoa(n.expectedUp), IsDC: btoa(n.isDC),
			ResourcesRunning: len(n.running),
		}
		switch n.typ {
		case nodeMember:
			cn.Type = "member"
		case nodeRemote:
			cn.Type = "remote"
		default:
			cn.Type = "ping"
		}
		if n.guest() {
			cn.IDAsResource = n.remoteRsc.container.id
		}
		r.Nodes = append(r.Nodes, cn)
	}
	for _, x := range w.resources {
		if x.orphan && !w.activeAll(x) {
			continue // crm_mon skips inactive orphans (deleted, history left)
		}
		if w.filteredByNode(x) {
			continue
		}
		switch x.variant {
		case native:
			r.Resources.Primitives = append(r.Resources.Primitives, w.primitive(x))
		case group:
			r.Resources.Groups = append(r.Resources.Groups, w.group(x))
		case clone:
			c := crmmon.Clone{ID: x.id, MultiState: btoa(x.promotable), Unique: btoa(x.unique), Managed: btoa(x.managed),
				Disabled: btoa(w.disabled(x)), Failed: btoa(x.failed), TargetRole: x.meta["target-role"]}
			for _, ch := range x.children {
				if w.filteredByNode(ch) {
					continue
				}
				if ch.variant == group {
					c.Groups = append(c.Groups, w.group(ch))
				} else {
					c.Primitives = append(c.Primitives, w.primitive(ch))
				}
			}
			r.Resources.Clones = append(r.Resources.Clones, c)
		}
	}
	w.nodeAttributes(r)
	w.nodeHistory(r)
	for i, op := range w.failed {
		if maskProbeFailure(op) {
			continue
		}
		r.Failures = append(r.Failures, w.failure(op, w.failedNode[i], opts.Location))
	}
	return r
}

// disabled is pe__resource_is_disabled: target-role Stopped (or
// Unpromoted for a promotable clone).
func (w *world) disabled(x *resource) bool {
	tr := x.meta["target-role"]
	switch textRole(tr) {
	case roleStopped:
		return true
	case roleUnpromoted:
		return x.top().promotable
	}
	return false
}

func (w *world) active(x *resource) bool {
	for _, n := range x.running {
		if n.unclean {
			return true
		}
		if !n.online && x.managed {
			continue
		}
		return true
	}
	return false
}

// activeAny is fns->active(rsc, FALSE): some primitive in it is active.
func (w *world) activeAny(x *resource) bool {
	if x.variant == native {
		return w.active(x)
	}
	for _, c := range x.children {
		if w.activeAny(c) {
			return true
		}
	}
	return false
}

// activeAll is fns->active(rsc, TRUE): for a group, some member and all
// members active; for a clone, all instances.
func (w *world) activeAll(x *resource) bool {
	switch x.variant {
	case native:
		return w.active(x)
	case clone:
		for _, c := range x.children {
			if !w.activeAll(c) {
				return false
			}
		}
		return true
	}
	if len(x.children) == 0 {
		return false
	}
	for _, c := range x.children {
		if !w.activeAll(c) {
			return false
		}
	}
	return true
}

// filteredByNode is pcmk__rsc_filtered_by_node with crm_mon's node list
// of every node: an active resource whose own running_on is empty (the
// members are unmanaged on a node that is offline, so they were not added
// to their parents) is not printed.
func (w *world) filteredByNode(x *resource) bool {
	return w.activeAny(x) && len(x.running) == 0
}

func pendingState(task string) string {
	switch task {
	case "start":
		return "Starting"
	case "stop":
		return "Stopping"
	case "migrate_to", "migrate_from":
		return "Migrating"
	case "promote":
		return "Promoting"
	case "demote":
		return "Demoting"
	}
	return ""
}

func (w *world) primitive(x *resource) crmmon.Primitive {
	agent := x.class
	if x.provider != "" {
		agent += ":" + x.provider
	}
	agent += ":" + x.typ
	ro := x.role
	if ro == roleStarted && x.top().promotable {
		ro = roleUnpromoted
	}
	rs := pendingState(x.pendingTask)
	if rs == "" {
		rs = ro.String()
	}
	p := crmmon.Primitive{ID: x.printable(), Agent: agent, Role: rs, TargetRole: x.meta["target-role"],
		Active: btoa(w.active(x)), Orphaned: btoa(x.orphan), Blocked: btoa(x.blocked), Managed: btoa(x.managed),
		Failed: btoa(x.failed), FailureIgnored: btoa(x.failureIgnored), NodesRunningOn: len(x.running)}
	if x.pendingTask == "monitor" {
		p.Pending = "Monitoring"
	}
	for _, n := range x.running {
		p.Nodes = append(p.Nodes, struct {
			Name string `xml:"name,attr"`
			ID   string `xml:"id,attr"`
		}{n.uname, n.id})
	}
	return p
}

func (w *world) group(x *resource) crmmon.Group {
	g := crmmon.Group{ID: x.id, Managed: btoa(x.managed), Disabled: btoa(w.disabled(x))}
	for _, c := range x.children {
		g.Primitives = append(g.Primitives, w.primitive(c))
	}
	return g
}

// hiddenAttr is pe_output.c's FILTER_STR: attributes crm_mon does not list.
func hiddenAttr(name string) bool {
	for _, p := range []string{"fail-count-", "last-failure-", "shutdown", "terminate", "standby", "#"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func (w *world) nodeAttributes(r *crmmon.Result) {
	for _, n := range w.nodes {
		if !n.online {
			continue
		}
		var names []string
		for k := range n.attrs {
			if !hiddenAttr(k) {
				names = append(names, k)
			}
		}
		if len(names) == 0 {
			continue
		}
		sort.Strings(names)
		na := crmmon.NodeAttrs{Name: n.uname}
		for _, k := range names {
			na.Attributes = append(na.Attributes, struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			}{k, n.attrs[k]})
		}
		r.NodeAttributes = append(r.NodeAttributes, na)
	}
}

// listsOperations reports whether crm_mon's node history shows any
// operation of an lrm_resource (pcmk_output.c get_operation_list):
// notifies and probes that found the resource not running are left out,
// and a resource with nothing left is not shown at all - not even its
// fail count (the operations section is on with --include=all).
func listsOperations(lr *element) bool {
	found := false
	lr.each("lrm_rsc_op", func(op *element) {
		task := op.attr("operation")
		probe := task == "monitor" && (op.attr("interval") == "" || op.attr("interval") == "0")
		if task == "notify" || (probe && op.attr("rc-code") == "7") {
			return
		}
		found = true
	})
	return found
}

// nodeHistory lists, per node with a status entry, the resources with a
// fail count (all mgmtd reads of crm_mon's node_history).
func (w *world) nodeHistory(r *crmmon.Result) {
	w.status.each("node_state", func(st *element) {
		n := w.findNodeAny(st.attr("id"), st.attr("uname"))
		if n == nil || !n.online {
			return
		}
		h := crmmon.NodeHistory{Name: n.uname}
		st.child("lrm").child("lrm_resources").each("lrm_resource", func(lr *element) {
			x := w.findResource(lr.attr("id"))
			if x == nil || !listsOperations(lr) {
				return
			}
			fc := failCount(n, x)
			if fc <= 0 {
				return
			}
			e := struct {
				ID                 string `xml:"id,attr"`
				Orphan             string `xml:"orphan,attr"`
				MigrationThreshold string `xml:"migration-threshold,attr"`
				FailCount          string `xml:"fail-count,attr"`
				LastFailure        string `xml:"last-failure,attr"`
			}{ID: x.printable(), Orphan: btoa(x.orphan), FailCount: strconv.Itoa(fc)}
			if fc >= infinity {
				e.FailCount = "INFINITY"
			}
			h.Resources = append(h.Resources, e)
		})
		if len(h.Resources) > 0 {
			r.NodeHistory = append(r.NodeHistory, h)
		}
	})
}

var execStatus = map[int]string{
	execPending: "pending", execDone: "complete", execCancelled: "Cancelled", execTimeout: "Timed Out",
	execNotSupported: "NOT SUPPORTED", execError: "Error", execErrorHard: "Hard error", execErrorFatal: "Fatal error",
	execNotInstalled: "Not installed", execNotConnected: "Internal communication failure", execInvalid: "Cannot execute now",
	execNoFenceDev: "No fence device", execNoSecrets: "CIB secrets unavailable",
}

var ocfText = map[int]string{
	ocfOK: "ok", ocfUnknownError: "error", ocfInvalidParam: "invalid parameter", ocfUnimplemented: "unimplemented feature",
	ocfInsufficientPriv: "insufficient privileges", ocfNotInstalled: "not installed", ocfNotConfigured: "not configured",
	ocfNotRunning: "not running", ocfRunningPromoted: "promoted", ocfFailedPromoted: "promoted (failed)",
	ocfDegraded: "OCF_DEGRADED", ocfDegradedPromoted: "promoted (degraded)",
}

func (w *world) failure(op *element, n *node, loc *time.Location) crmmon.Failure {
	rc := max(atoi(op.attr("rc-code"), 0), 0)
	st := max(atoi(op.attr("op-status"), 0), 0)
	f := crmmon.Failure{Node: n.uname, ExitCode: strconv.Itoa(rc), Call: op.attr("call-id")}
	if k, ok := op.lookup("operation_key"); ok {
		f.OpKey = k
	} else {
		f.ID = op.attr("id")
	}
	f.ExitStatus = ocfText[rc]
	if f.ExitStatus == "" {
		f.ExitStatus = "unknown"
	}
	f.ExitReason = "none"
	if v, ok := op.lookup("exit-reason"); ok {
		f.ExitReason = v
	}
	f.Status = execStatus[st]
	if f.Status == "" {
		f.Status = "UNKNOWN!"
	}
	if t, err := strconv.ParseInt(op.attr("last-rc-change"), 10, 64); err == nil && t > 0 {
		f.LastRCChange = time.Unix(t, 0).In(loc).Format("2006-01-02 15:04:05Z07:00")
		f.Interval = strconv.Itoa(max(atoi(op.attr("interval"), 0), 0))
		f.Task = op.attr("operation")
	}
	return f
}
