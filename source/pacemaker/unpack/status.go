package unpack

import (
	"sort"
	"strconv"
	"strings"
)

// Operation execution status (op-status), as in Pacemaker's results.h.
const (
	execPending      = -1
	execDone         = 0
	execCancelled    = 1
	execTimeout      = 2
	execNotSupported = 3
	execError        = 4
	execErrorHard    = 5
	execErrorFatal   = 6
	execNotInstalled = 7
	execNotConnected = 8
	execInvalid      = 9
	execNoFenceDev   = 10
	execNoSecrets    = 11
)

// OCF exit codes.
const (
	ocfOK               = 0
	ocfUnknownError     = 1
	ocfInvalidParam     = 2
	ocfUnimplemented    = 3
	ocfInsufficientPriv = 4
	ocfNotInstalled     = 5
	ocfNotConfigured    = 6
	ocfNotRunning       = 7
	ocfRunningPromoted  = 8
	ocfFailedPromoted   = 9
	ocfDegraded         = 190
	ocfDegradedPromoted = 191
)

type onFail int

// action_fail_response, in the enum's order (cmp_on_fail relies on it).
const (
	failIgnore onFail = iota
	failDemote
	failRecover
	failMigrate
	failBlock
	failStop
	failStandby
	failFence
	failResetRemote
	failRestartContainer
)

// cmpOnFail is cmp_on_fail.
func cmpOnFail(first, second onFail) int {
	switch first {
	case failDemote:
		switch second {
		case failIgnore:
			return 1
		case failDemote:
			return 0
		}
		return -1
	case failResetRemote:
		switch second {
		case failIgnore, failDemote, failRecover:
			return 1
		case failResetRemote:
			return 0
		}
		return -1
	case failRestartContainer:
		switch second {
		case failIgnore, failDemote, failRecover, failResetRemote:
			return 1
		case failRestartContainer:
			return 0
		}
		return -1
	}
	switch second {
	case failDemote:
		if first == failIgnore {
			return -1
		}
		return 1
	case failResetRemote:
		switch first {
		case failIgnore, failDemote, failRecover:
			return -1
		}
		return 1
	case failRestartContainer:
		switch first {
		case failIgnore, failDemote, failRecover, failResetRemote:
			return -1
		}
		return 1
	}
	return int(first) - int(second)
}

func atoi(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

func (w *world) indexLRM() {
	w.lrm = map[string]map[string]*element{}
	w.status.each("node_state", func(st *element) {
		uname := st.attr("uname")
		m := w.lrm[uname]
		if m == nil {
			m = map[string]*element{}
			w.lrm[uname] = m
		}
		st.child("lrm").child("lrm_resources").each("lrm_resource", func(lr *element) {
			if _, ok := m[lr.attr("id")]; !ok {
				m[lr.attr("id")] = lr
			}
		})
	})
}

func (w *world) unpackStatus() {
	w.indexLRM()
	w.status.each("node_state", func(st *element) { w.unpackNodeState(st) })
	for w.unpackNodeHistory(false) {
	}
	w.unpackNodeHistory(w.stonith)
	for _, n := range w.nodes {
		if !n.guestOrRemote() {
			continue
		}
		if n.shutdown && n.remoteRsc != nil {
			n.remoteRsc.setNextRole(roleStopped)
		}
		if !n.unpacked {
			w.remoteOnline(n)
		}
	}
}

func (r *resource) setNextRole(ro role) { r.nextRole = ro }

func (w *world) unpackNodeState(st *element) {
	id, uname := st.attr("id"), st.attr("uname")
	if _, ok := st.lookup("id"); !ok {
		return
	}
	if _, ok := st.lookup("uname"); !ok {
		return
	}
	n := w.findNodeAny(id, uname)
	if n == nil {
		return
	}
	if n.guestOrRemote() {
		n.remoteWasFenced = atoi(st.attr("node_fenced"), 0)
		return
	}
	w.addNodeAttrs(st.child("transient_attributes"), n, true)
	if isTrue(n.attrs["standby"]) {
		n.standby = true
	}
	if isTrue(n.attrs["maintenance"]) {
		n.maintenance = true
	}
	n.unclean = false
	n.unseen = false
	w.determineOnline(st, n)
	if !w.haveQuorum && n.online && w.noQuorum == "suicide" {
		w.fence(n, false)
	}
}

func (w *world) fence(n *node, priorityDelay bool) {
	switch {
	case n.guest():
		rsc := n.remoteRsc.container
		if !rsc.failed && rsc.managed {
			n.remoteRequiresReset = true
			rsc.failed = true
		}
	case n.typ == nodeRemote && n.remoteRsc != nil && n.remoteRsc.container == nil || n.typ == nodeRemote && n.remoteRsc == nil:
		if n.remoteRsc == nil || n.remoteRsc.managed {
			n.remoteRequiresReset = true
		}
		n.unclean = true
	default:
		n.unclean = true
	}
}

// shutdownRequested is pe__shutdown_requested.
func shutdownRequested(n *node) bool {
	v := n.attrs["shutdown"]
	return v != "" && v != "0"
}

func (w *world) determineOnline(st *element, n *node) {
	exp := st.attr("expected")
	n.shutdown = false
	n.expectedUp = false
	if shutdownRequested(n) {
		n.shutdown = true
	} else if strings.EqualFold(exp, "member") {
		n.expectedUp = true
	}
	online := false
	switch {
	case n.typ == nodePing:
		n.unclean = false
	case !w.stonith:
		online = w.onlineNoFencing(st, n)
	default:
		online = w.onlineFencing(st, n)
	}
	if online {
		n.online = true
	}
}

func (w *world) onlineNoFencing(st *element, n *node) bool {
	inCluster := st.attr("in_ccm")
	switch {
	case !isTrue(inCluster):
	case strings.EqualFold(st.attr("crmd"), "online"):
		if strings.EqualFold(st.attr("join"), "member") {
			return true
		}
	case !n.expectedUp:
	default:
		w.fence(n, false)
	}
	return false
}

func (w *world) onlineFencing(st *element, n *node) bool {
	join := st.attr("join")
	inCluster, hasInCluster := st.lookup("in_ccm")
	crmdOnline := strings.EqualFold(st.attr("crmd"), "online")
	exp := st.attr("expected")
	if _, ok := st.lookup("expected"); !ok {
		exp = "down"
	}
	terminate := n.attrs["terminate"]
	doTerminate := isTrue(terminate) || (terminate != "" && terminate[0] != '0' && isDigit(terminate[0]))
	online := isTrue(inCluster)
	switch {
	case n.shutdown:
		online = crmdOnline
	case !hasInCluster:
		w.fence(n, false)
	case strings.EqualFold(join, "banned"):
		w.fence(n, false)
	case !doTerminate && strings.EqualFold(exp, "down"):
		if isTrue(inCluster) || crmdOnline {
			n.standby = true
			n.pending = true
		}
	case doTerminate && strings.EqualFold(join, "down") && !isTrue(inCluster) && !crmdOnline:
		online = false
	case !isTrue(inCluster):
		w.fence(n, true)
	case !crmdOnline:
		w.fence(n, false)
	case doTerminate:
		w.fence(n, false)
	case strings.EqualFold(join, "member"):
	case strings.EqualFold(join, "pending") || strings.EqualFold(join, "down"):
		n.standby = true
		n.pending = true
	default:
		w.fence(n, false)
	}
	return online
}

func (w *world) remoteOnline(n *node) {
	rsc := n.remoteRsc
	if rsc == nil {
		n.online = false
		return
	}
	container := rsc.container
	var host *node
	if container != nil && len(rsc.running) == 1 {
		host = rsc.running[0]
	}
	if rsc.role == roleStarted {
		n.online = true
	}
	if rsc.role == roleStarted && rsc.nextRole == roleStopped {
		n.shutdown = true
	}
	switch {
	case container != nil && container.failed:
		n.online = false
		n.remoteRequiresReset = true
	case rsc.failed:
		n.online = false
	case rsc.role == roleStopped || (container != nil && container.role == roleStopped):
		n.online = false
		n.remoteRequiresReset = false
	case host != nil && !host.online && host.unclean:
		n.online = false
		n.remoteRequiresReset = true
	}
}

func (w *world) unpackNodeHistory(fence bool) bool {
	more := false
	w.status.each("node_state", func(st *element) {
		id, uname := st.attr("id"), st.attr("uname")
		if _, ok := st.lookup("id"); !ok {
			return
		}
		if _, ok := st.lookup("uname"); !ok {
			return
		}
		n := w.findNodeAny(id, uname)
		if n == nil || n.unpacked {
			return
		}
		switch {
		case fence:
		case n.guest():
			rsc := n.remoteRsc
			if rsc == nil || rsc.role != roleStarted || rsc.container.role != roleStarted {
				return
			}
		case n.remote():
			if n.remoteRsc == nil || n.remoteRsc.role != roleStarted {
				return
			}
		case !w.stonith && !n.online:
			return
		}
		if n.guestOrRemote() {
			w.remoteOnline(n)
			w.remoteAttrs(n, st)
		}
		n.unpacked = true
		w.unpackNodeLRM(n, st)
		more = true
	})
	return more
}

func (w *world) remoteAttrs(n *node, st *element) {
	n.remoteMaintenance = atoi(st.attr("node_in_maintenance"), 0)
	rsc := n.remoteRsc
	if !n.remoteRequiresReset {
		n.unclean = false
		n.unseen = false
	}
	w.addNodeAttrs(st.child("transient_attributes"), n, true)
	if shutdownRequested(n) {
		n.shutdown = true
	}
	if isTrue(n.attrs["standby"]) {
		n.standby = true
	}
	if isTrue(n.attrs["maintenance"]) || (rsc != nil && !rsc.managed) {
		n.maintenance = true
	}
}

func (w *world) unpackNodeLRM(n *node, st *element) {
	st.child("lrm").child("lrm_resources").each("lrm_resource", func(lr *element) {
		w.unpackLRMResource(n, lr)
	})
}

// cloneStrip and cloneZero are Pacemaker's clone_strip and clone_zero.
func baseNameEnd(id string) int {
	end := len(id) - 1
	for s := end; s > 0; s-- {
		switch c := id[s]; {
		case isDigit(c):
		case c == ':':
			if s == end {
				return s
			}
			return s - 1
		default:
			return end
		}
	}
	return end
}

func cloneStrip(id string) string {
	if id == "" {
		return id
	}
	return id[:baseNameEnd(id)+1]
}

func cloneZero(id string) string {
	if id == "" {
		return ":0"
	}
	return id[:baseNameEnd(id)+1] + ":0"
}

// findClone is find_rsc(..., pe_find_clone) inside one instance: the
// member (or the instance itself) whose base id is base.
func findInInstance(inst *resource, base string) *resource {
	if inst.variant == native {
		if inst.xmlID == base || inst.id == base {
			return inst
		}
		return nil
	}
	for _, c := range inst.children {
		if r := findInInstance(c, base); r != nil {
			return r
		}
	}
	return nil
}

// location is fns->location(rsc, &list, 2): where the resource is
// running or pending.
func (r *resource) locations() []*node {
	var out []*node
	add := func(n *node) {
		for _, o := range out {
			if o == n {
				return
			}
		}
		out = append(out, n)
	}
	if r.variant == native {
		for _, n := range r.running {
			add(n)
		}
		if r.pendingNode != nil {
			add(r.pendingNode)
		}
		return out
	}
	for _, c := range r.children {
		for _, n := range c.locations() {
			add(n)
		}
	}
	return out
}

func (w *world) universalClone(parent *resource) bool {
	// pe__is_universal_clone: clone-max >= number of nodes and no
	// location constraints; approximated as clone-max >= nodes.
	return parent.cloneMax >= len(w.nodes)
}

func (w *world) findAnonymousClone(n *node, parent *resource, base string) *resource {
	var rsc, inactive *resource
	skipInactive := false
	for _, child := range parent.children {
		if rsc != nil {
			break
		}
		locs := child.locations()
		if len(locs) > 0 {
			if locs[0] == n {
				rsc = findInInstance(child, base)
				if rsc != nil && len(rsc.running) > 0 {
					skipInactive = true
					rsc = nil
				}
			}
		} else if !skipInactive && inactive == nil && !child.blocked {
			inactive = findInInstance(child, base)
			if inactive != nil && inactive.pendingNode != nil && inactive.pendingNode != n {
				inactive = nil
			}
		}
	}
	if rsc == nil && !skipInactive && inactive != nil {
		rsc = inactive
	}
	if rsc != nil && !rsc.needsFencing && (!n.online || n.unclean) && !n.guest() && !w.universalClone(parent) {
		rsc = nil
	}
	if rsc == nil {
		top, err := w.createCloneChild(parent, nil)
		if err != nil || top == nil {
			return nil
		}
		rsc = findInInstance(top, base)
	}
	return rsc
}

func (w *world) unpackFindResource(n *node, id string) (*resource, bool) {
	rsc := w.findResource(id)
	var parent *resource
	if rsc == nil {
		c0 := w.findResource(cloneZero(id))
		if c0 != nil && !c0.unique {
			rsc = c0
			parent = c0.top()
		}
	} else if rsc.variant != native {
		return nil, false
	} else {
		parent = rsc.top()
	}
	if parent != nil && parent.anonClone() {
		rsc = w.findAnonymousClone(n, parent, cloneStrip(id))
	}
	if rsc != nil && id != rsc.id && !strings.EqualFold(id, rsc.cloneName) {
		w.setCloneName(rsc, id)
	}
	return rsc, rsc != nil
}

func (w *world) orphanResource(lr *element, n *node) *resource {
	id := lr.attr("id")
	e := &element{name: "primitive"}
	e.attrs = append(e.attrs, lr.attrs...)
	r, err := w.newResource(e, nil, nil, "")
	if err != nil || r == nil {
		return nil
	}
	r.id, r.xmlID = id, id
	if _, ok := w.byID[id]; !ok {
		w.byID[id] = r
	}
	if r.isRemote {
		rn := w.findNode(id)
		if rn == nil {
			rn = w.createNode(id, id, "remote")
		}
		w.linkRemote(r)
		rn.shutdown = true
	}
	r.orphan = true
	if !w.stopOrphans {
		r.managed = false
	}
	w.resources = append(w.resources, r)
	return r
}

// opLess orders history entries as sort_op_by_callid does.
func opCompare(a, b *element, sameNodeDefault bool) int {
	sameNode := sameNodeDefault
	an, aok := a.lookup("on_node")
	bn, bok := b.lookup("on_node")
	if aok && bok {
		sameNode = strings.EqualFold(an, bn)
	}
	if sameNode && a.attr("id") == b.attr("id") {
		return 0
	}
	ac, bc := atoi(a.attr("call-id"), -1), atoi(b.attr("call-id"), -1)
	switch {
	case ac == -1 && bc == -1:
		return 0
	case sameNode && ac >= 0 && ac < bc:
		return -1
	case sameNode && bc >= 0 && ac > bc:
		return 1
	case ac >= 0 && bc >= 0 && (!sameNode || ac == bc):
		la, lb := int64(atoi(a.attr("last-rc-change"), -1)), int64(atoi(b.attr("last-rc-change"), -1))
		if la >= 0 && la < lb {
			return -1
		}
		if lb >= 0 && la > lb {
			return 1
		}
		return 0
	}
	au, aid, aok2 := decodeMagic(a.attr("transition-magic"))
	bu, bid, bok2 := decodeMagic(b.attr("transition-magic"))
	if !aok2 || !bok2 {
		return 0
	}
	if !strings.EqualFold(au, bu) || aid == bid {
		if bc == -1 {
			return -1
		}
		if ac == -1 {
			return 1
		}
	} else if (aid >= 0 && aid < bid) || bid == -1 {
		return -1
	} else if (bid >= 0 && aid > bid) || aid == -1 {
		return 1
	}
	return 0
}

// decodeMagic reads "op_status:rc;action:transition:target_rc:uuid".
func decodeMagic(m string) (uuid string, transition int, ok bool) {
	_, key, found := strings.Cut(m, ";")
	if !found {
		return "", 0, false
	}
	parts := strings.SplitN(key, ":", 4)
	if len(parts) != 4 {
		return "", 0, false
	}
	t, err := strconv.Atoi(parts[1])
	if err != nil {
		return "", 0, false
	}
	return parts[3], t, true
}

// targetRC is pe__target_rc_from_xml: the expected result in the
// transition key "action:transition:target_rc:uuid".
func targetRC(op *element) int {
	key, ok := op.lookup("transition-key")
	if !ok {
		return -1
	}
	parts := strings.SplitN(key, ":", 4)
	if len(parts) != 4 {
		return -1
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return -1
	}
	return n
}

func (w *world) unpackLRMResource(n *node, lr *element) {
	id, ok := lr.lookup("id")
	if !ok {
		return
	}
	var ops []*element
	for i := len(lr.children) - 1; i >= 0; i-- { // g_list_prepend: reversed
		if lr.children[i].name == "lrm_rsc_op" {
			ops = append(ops, lr.children[i])
		}
	}
	if len(ops) == 0 {
		return
	}
	rsc, found := w.unpackFindResource(n, id)
	if !found {
		rsc = w.orphanResource(lr, n)
		if rsc == nil {
			return
		}
	}
	saved := rsc.role
	rsc.role = roleUnknown
	sort.SliceStable(ops, func(i, j int) bool { return opCompare(ops[i], ops[j], true) < 0 })
	var lastFailure *element
	of := failIgnore
	for _, op := range ops {
		w.unpackRscOp(rsc, n, op, &lastFailure, &of)
	}
	w.processRscState(rsc, n, of)
	if tr := rsc.meta["target-role"]; tr != "" {
		req := textRole(tr)
		if req != roleUnknown && (rsc.nextRole == roleUnknown || req < rsc.nextRole) {
			rsc.nextRole = req
		}
	}
	if saved > rsc.role {
		rsc.role = saved
	}
}

func (w *world) setActive(r *resource) {
	if r.top().promotable {
		r.role = roleUnpromoted
	} else {
		r.role = roleStarted
	}
}

// isProbe is pcmk_xe_is_probe.
func isProbe(op *element) bool {
	return op.attr("operation") == "monitor" && max(atoi(op.attr("interval"), 0), 0) == 0
}

// maskProbeFailure is pcmk_xe_mask_probe_failure.
func maskProbeFailure(op *element) bool {
	if !isProbe(op) {
		return false
	}
	rc := atoi(op.attr("rc-code"), 0)
	st := atoi(op.attr("op-status"), 0)
	return rc == ocfNotInstalled || rc == ocfInvalidParam || st == execNotInstalled
}

func (w *world) recordFailed(op *element, n *node, r *resource) {
	if !n.online {
		return
	}
	key := op.attr("operation_key")
	for i, f := range w.failed {
		if strings.EqualFold(f.attr("operation_key"), key) && strings.EqualFold(w.failedNode[i].uname, n.uname) {
			return
		}
	}
	w.failed = append(w.failed, op)
	w.failedNode = append(w.failedNode, n)
	w.failedRsc = append(w.failedRsc, r)
}

func opKey(op *element) string {
	if k, ok := op.lookup("operation_key"); ok {
		return k
	}
	return op.attr("id")
}

// actionOnFail is the on_fail and fail_role custom_action computes for
// a task (and interval) of a resource.
func (w *world) actionOnFail(r *resource, task string, ivMS int64) (onFail, role) {
	var value string
	found := false
	var opEl *element
	r.el.child("operations").each("op", func(op *element) {
		if opEl != nil {
			return
		}
		if op.attr("name") == task && intervalMS(op.attr("interval")) == ivMS {
			opEl = op
		}
	})
	if opEl != nil {
		if v, ok := opEl.lookup("on-fail"); ok {
			value, found = v, true
		} else {
			m := map[string]string{}
			_ = nvsets(opEl, "meta_attributes", m, false, w)
			if v, ok := m["on-fail"]; ok {
				value, found = v, true
			}
		}
	}
	if !found {
		m := map[string]string{}
		_ = applySets(w.opDefaults, m, false, w)
		if v, ok := m["on-fail"]; ok {
			value, found = v, true
		}
	}
	if task == "stop" && found {
		switch strings.ToLower(value) {
		case "standby", "demote", "stop":
			found, value = false, ""
		}
	} else if task == "demote" && !found {
		r.el.child("operations").each("op", func(op *element) {
			if found {
				return
			}
			of, ok := op.lookup("on-fail")
			if !ok || op.attr("name") != "monitor" || !isTrueOr(op.attr("enabled"), true) {
				return
			}
			if !strings.EqualFold(op.attr("role"), "Promoted") && !strings.EqualFold(op.attr("role"), "Master") {
				return
			}
			if intervalMS(op.attr("interval")) == 0 || strings.EqualFold(of, "demote") {
				return
			}
			value, found = of, true
		})
	} else if found && strings.EqualFold(value, "demote") {
		name, rl := task, ""
		if opEl != nil {
			rl = opEl.attr("role")
		}
		if name != "promote" && (name != "monitor" || (!strings.EqualFold(rl, "Promoted") && !strings.EqualFold(rl, "Master")) || ivMS == 0) {
			found, value = false, ""
		}
	}
	of := failRecover
	fr := roleUnknown
	container := r.container != nil // unpack_operation's container is rsc->container
	set := true
	switch strings.ToLower(value) {
	case "":
		set = false
	case "block":
		of = failBlock
	case "fence":
		of = failFence
		if !w.stonith {
			of, fr = failStop, roleStopped
		}
	case "standby":
		of = failStandby
	case "ignore", "nothing":
		of = failIgnore
	case "migrate":
		of = failMigrate
	case "stop":
		of, fr = failStop, roleStopped
	case "restart":
		of = failRecover
	case "restart-container":
		if container {
			of = failRestartContainer
		} else {
			set = false
		}
	case "demote":
		of = failDemote
	default:
		set = false
	}
	remoteConn := r.isRemote && w.findNode(r.id) != nil && w.findNode(r.id).remote()
	switch {
	case !set && container:
		of = failRestartContainer
	case (!set || !r.managed) && remoteConn && !(task == "monitor" && ivMS == 0) && task != "start":
		if !r.managed {
			of, fr = failStop, roleStopped
		} else {
			if r.reconnect {
				fr = roleStopped
			}
			of = failResetRemote
		}
	case !set && task == "stop":
		if w.stonith {
			of = failFence
		} else {
			of = failBlock
		}
	case !set:
		of = failRecover
	}
	if fr == roleUnknown {
		if task == "promote" {
			fr = roleUnpromoted
		} else {
			fr = roleStarted
		}
	}
	return of, fr
}

func isTrueOr(s string, def bool) bool {
	if s == "" {
		return def
	}
	return isTrue(s)
}

func (w *world) unpackRscOp(r *resource, n *node, op *element, lastFailure **element, of *onFail) {
	task, ok := op.lookup("operation")
	if !ok {
		return
	}
	tr := targetRC(op)
	key := opKey(op)
	rc := atoi(op.attr("rc-code"), 0)
	status := atoi(op.attr("op-status"), execPending-1)
	if _, ok := op.lookup("op-status"); !ok {
		status = -2 // PCMK_EXEC_UNKNOWN
	}
	if status < execPending || status > execNoSecrets {
		return
	}
	intervalMS := int64(max(atoi(op.attr("interval"), 0), 0))
	if task == "notify" || task == "meta-data" {
		return
	}
	parent := r
	if !r.unique {
		parent = r.top()
	}
	_ = parent
	expired := false
	if status != execNotInstalled && w.operationExpired(r, n, rc, op) {
		expired = true
	}
	oldRC, oldTarget := rc, tr
	w.remap(op, r, n, of, tr, &rc, &status)
	maskable := maskProbeFailure(op)
	if expired && maskable && oldRC != oldTarget {
		if r.role <= roleStopped {
			r.role = roleUnknown
		}
		return
	} else if expired && rc != tr {
		if intervalMS == 0 {
			return
		} else if n.online && !n.unclean {
			return
		}
	}
	if maskable {
		w.updateState(r, n, op, task, tr, *lastFailure, of)
		w.recordFailed(op, n, r)
		return
	}
	switch status {
	case execCancelled:
		return
	case execPending:
		switch {
		case task == "start":
			w.setActive(r)
		case task == "promote":
			r.role = rolePromoted
		}
		if r.pendingTask == "" {
			if intervalMS != 0 || task != "monitor" {
				r.pendingTask = task
				r.pendingNode = n
			}
		}
		return
	case execDone:
		w.updateState(r, n, op, task, rc, *lastFailure, of)
		return
	case execNotInstalled:
		fs, _ := w.actionOnFail(r, task, intervalMS)
		if fs == failIgnore {
			*of = failMigrate
		}
		w.opFailure(r, n, rc, op, lastFailure, of, key)
		return
	case execNotConnected:
		if n.guestOrRemote() && n.remoteRsc != nil && n.remoteRsc.managed {
			n.remoteRsc.failed = true
		}
	case execNoFenceDev, execNoSecrets:
		status = execErrorHard
	}
	fs, _ := w.actionOnFail(r, task, intervalMS)
	if fs == failIgnore || (fs == failRestartContainer && task == "stop") {
		w.updateState(r, n, op, task, tr, *lastFailure, of)
		r.failureIgnored = true
		w.recordFailed(op, n, r)
		if fs == failRestartContainer && cmpOnFail(*of, failRecover) <= 0 {
			*of = fs
		}
		return
	}
	w.opFailure(r, n, rc, op, lastFailure, of, key)
}

// effectiveRC is pcmk__effective_rc.
func effectiveRC(rc int) int {
	switch rc {
	case ocfDegraded:
		return ocfOK
	case ocfDegradedPromoted:
		return ocfRunningPromoted
	}
	return rc
}

func (w *world) remap(op *element, r *resource, n *node, of *onFail, tr int, rc, status *int) {
	task := op.attr("operation")
	if task == "monitor" {
		if e := effectiveRC(*rc); e != *rc {
			if !n.shutdown || n.online {
				w.recordFailed(op, n, r)
			}
			*rc = e
		}
	}
	if maskProbeFailure(op) {
		*status = execDone
		*rc = ocfNotRunning
	}
	if *status != execDone && *status != execError {
		return
	}
	*status = execDone
	probe := isProbe(op)
	if probe {
		task = "probe"
	}
	if tr < 0 {
		*status = execError
	} else if tr != *rc {
		*status = execError
	}
	switch *rc {
	case ocfOK:
		if probe && tr == ocfNotRunning {
			*status = execDone
		}
	case ocfNotRunning:
		if probe || tr == *rc || !r.managed {
			*status = execDone
			r.role = roleStopped
			*of = failIgnore
			r.nextRole = roleUnknown
		}
	case ocfRunningPromoted:
		if probe && *rc != tr {
			*status = execDone
		}
		r.role = rolePromoted
	case ocfDegradedPromoted, ocfFailedPromoted:
		r.role = rolePromoted
		*status = execError
	case ocfNotConfigured:
		*status = execErrorFatal
	case ocfUnimplemented:
		if atoi(op.attr("interval"), 0) == 0 {
			w.checkRecoverable(r, n, task)
			*status = execErrorHard
		} else {
			*status = execNotSupported
		}
	case ocfNotInstalled, ocfInvalidParam, ocfInsufficientPriv:
		w.checkRecoverable(r, n, task)
		*status = execErrorHard
	default:
		if *status == execDone {
			*status = execError
		}
	}
}

// canFence is pe_can_fence.
func (w *world) canFence(n *node) bool {
	if n.guest() {
		return true
	}
	if !w.stonith {
		return false
	}
	if w.haveQuorum {
		return true
	}
	if w.noQuorum == "ignore" {
		return true
	}
	// pe_can_fence: without quorum, a node in our membership can still
	// be fenced.
	return n != nil && n.online
}

func (w *world) checkRecoverable(r *resource, n *node, task string) {
	if task != "stop" {
		return
	}
	if w.canFence(n) {
		return
	}
	r.managed = false
	r.blocked = true
}

func (w *world) updateState(r *resource, n *node, op *element, task string, rc int, lastFailure *element, of *onFail) {
	clear := false
	switch {
	case rc == ocfNotInstalled || maskProbeFailure(op):
		r.role = roleStopped
	case rc == ocfNotRunning:
		clear = true
	case task == "monitor":
		if lastFailure != nil && strings.EqualFold(opKey(op), opKey(lastFailure)) {
			clear = true
		}
		if r.role < roleStarted {
			w.setActive(r)
		}
	case task == "start":
		r.role = roleStarted
		clear = true
	case task == "stop":
		r.role = roleStopped
		clear = true
	case task == "promote":
		r.role = rolePromoted
		clear = true
	case task == "demote":
		if *of == failDemote {
			clear = true
		}
		r.role = roleUnpromoted
	case task == "migrate_from":
		r.role = roleStarted
		clear = true
	case task == "migrate_to":
		w.migrateToSuccess(r, n, op)
	default:
		if r.role < roleStarted {
			w.setActive(r)
		}
	}
	if clear {
		switch *of {
		case failStop, failFence, failMigrate, failStandby:
		case failResetRemote:
			if !r.reconnect {
				*of = failIgnore
				r.nextRole = roleUnknown
			}
		default:
			*of = failIgnore
			r.nextRole = roleUnknown
		}
	}
}

func (w *world) opFailure(r *resource, n *node, rc int, op *element, lastFailure **element, of *onFail, key string) {
	task := op.attr("operation")
	*lastFailure = op
	probe := isProbe(op)
	if !(!w.symmetric && rc == ocfNotInstalled) {
		w.recordFailed(op, n, r)
	}
	intervalMS := int64(max(atoi(op.attr("interval"), 0), 0))
	aof, frole := w.actionOnFail(r, task, intervalMS)
	if cmpOnFail(*of, aof) < 0 {
		*of = aof
	}
	switch task {
	case "stop":
	case "migrate_to":
		w.migrateToFailure(r, n, op)
	case "migrate_from":
		w.migrateFromFailure(r, n, op)
	case "promote":
		r.role = rolePromoted
	case "demote":
		switch {
		case aof == failBlock:
			r.role = rolePromoted
			r.nextRole = roleStopped
		case rc == ocfNotRunning:
			r.role = roleStopped
		default:
			r.role = roleUnpromoted
		}
	}
	if probe && rc == ocfNotInstalled {
		r.role = roleStopped
	} else if r.role < roleStarted {
		w.setActive(r)
	}
	if frole != roleStarted && r.nextRole < frole {
		r.nextRole = frole
	}
}

func (w *world) findOp(rscID, task, nodeName, source string, targetRC int) *element {
	lr := w.lrm[nodeName][rscID]
	if lr == nil {
		// node names are matched exactly by Pacemaker's XPath
		return nil
	}
	var found *element
	lr.each("lrm_rsc_op", func(op *element) {
		if found != nil || op.attr("operation") != task {
			return
		}
		if source != "" && task == "migrate_to" && op.attr("migrate_target") != source {
			return
		}
		if source != "" && task == "migrate_from" && op.attr("migrate_source") != source {
			return
		}
		found = op
	})
	if found != nil && targetRC >= 0 {
		if atoi(found.attr("rc-code"), ocfUnknownError) != targetRC || atoi(found.attr("op-status"), execError) != execDone {
			return nil
		}
	}
	return found
}

func (w *world) unknownOnNode(rscID, nodeName string) bool {
	lr := w.lrm[nodeName][rscID]
	return lr == nil || lr.child("lrm_rsc_op") == nil
}

func (w *world) monitorNotRunningAfter(rscID, nodeName string, op *element, sameNode bool) bool {
	m := w.findOp(rscID, "monitor", nodeName, "", ocfNotRunning)
	return m != nil && opCompare(m, op, sameNode) > 0
}

func (w *world) nonMonitorAfter(rscID, nodeName string, xop *element, sameNode bool) bool {
	lr := w.lrm[nodeName][rscID]
	if lr == nil {
		return false
	}
	after := false
	lr.each("lrm_rsc_op", func(op *element) {
		if after || op == xop {
			return
		}
		switch op.attr("operation") {
		case "start", "stop", "migrate_to", "migrate_from":
			if opCompare(op, xop, sameNode) > 0 {
				after = true
			}
		}
	})
	return after
}

func (w *world) newerStateAfterMigrate(rscID, nodeName string, to, from *element) bool {
	xop := to
	if from != nil {
		xop = from
	}
	source, target := xop.attr("migrate_source"), xop.attr("migrate_target")
	same := false
	if strings.EqualFold(nodeName, target) {
		if from != nil {
			xop, same = from, true
		} else {
			xop = to
		}
	} else if strings.EqualFold(nodeName, source) {
		if to != nil {
			xop, same = to, true
		} else {
			xop = from
		}
	}
	return w.nonMonitorAfter(rscID, nodeName, xop, same) || w.monitorNotRunningAfter(rscID, nodeName, xop, same)
}

func (w *world) addRunning(r *resource, n *node) {
	for _, o := range r.running {
		if o.id == n.id {
			return
		}
	}
	r.running = append(r.running, n)
	if r.variant == native {
		n.running = append(n.running, r)
		if n.maintenance {
			r.managed = false
		}
	}
	if !r.managed {
		for p := r.parent; p != nil && n.online; p = p.parent {
			p.running = append(p.running, n)
		}
		return
	}
	if len(r.running) > 1 && r.variant == native {
		switch strings.ToLower(r.meta["multiple-active"]) {
		case "block":
			r.managed = false
			r.blocked = true
			if p := r.parent; p != nil && p.variant == group && strings.EqualFold(p.meta["multiple-active"], "block") {
				for _, c := range p.children {
					c.managed = false
					c.blocked = true
				}
			}
		}
	}
	if r.parent != nil {
		w.addRunning(r.parent, n)
	}
}

func (w *world) migrateToSuccess(r *resource, n *node, op *element) {
	source, target := op.attr("migrate_source"), op.attr("migrate_target")
	if source == "" || target == "" || source != n.uname {
		return
	}
	sourceNewer := w.nonMonitorAfter(r.id, source, op, true)
	from := w.findOp(r.id, "migrate_from", target, source, -1)
	if sourceNewer && from != nil {
		return
	}
	targetNewer := w.newerStateAfterMigrate(r.id, target, op, from)
	if sourceNewer && targetNewer {
		return
	}
	r.role = roleStarted
	tn, sn := w.findNode(target), w.findNode(source)
	fromRC, fromStatus := 0, 0
	if from != nil {
		fromRC = atoi(from.attr("rc-code"), 0)
		fromStatus = atoi(from.attr("op-status"), 0)
	}
	switch {
	case from != nil && fromRC == ocfOK && fromStatus == execDone:
		r.role = roleStopped
	case from != nil && fromStatus != execPending:
		if !targetNewer && tn != nil && tn.online {
			w.addRunning(r, tn)
		} else {
			r.failed = true
		}
	default:
		if !targetNewer && tn != nil && tn.online {
			w.addRunning(r, tn)
			if sn != nil && sn.online {
				r.partialTarget, r.partialSource = tn, sn
			}
		} else if !sourceNewer {
			r.failed = true
		}
	}
}

func (w *world) migrateToFailure(r *resource, n *node, op *element) {
	source, target := op.attr("migrate_source"), op.attr("migrate_target")
	if source == "" || target == "" || source != n.uname {
		return
	}
	r.role = roleStarted
	from := w.findOp(r.id, "migrate_from", target, source, ocfOK)
	if !w.unknownOnNode(r.id, target) && !w.newerStateAfterMigrate(r.id, target, op, from) {
		if tn := w.findNode(target); tn != nil && tn.online {
			w.addRunning(r, tn)
		}
	}
}

func (w *world) migrateFromFailure(r *resource, n *node, op *element) {
	source, target := op.attr("migrate_source"), op.attr("migrate_target")
	if source == "" || target == "" || target != n.uname {
		return
	}
	r.role = roleStarted
	to := w.findOp(r.id, "migrate_to", source, target, ocfOK)
	if !w.unknownOnNode(r.id, source) && !w.newerStateAfterMigrate(r.id, source, to, op) {
		if sn := w.findNode(source); sn != nil && sn.online {
			w.addRunning(r, sn)
		}
	}
}

// failCount is pe_get_failcount with pe_fc_default: the sum of the
// node's fail-count-RSC#op_interval attributes (INFINITY caps it).
func failCount(n *node, r *resource) int {
	ids := []string{r.id}
	if r.cloneName != "" && r.cloneName != r.id {
		ids = append(ids, r.cloneName)
	}
	if !r.unique {
		ids = append(ids, r.xmlID)
	}
	total := 0
	for name, v := range n.attrs {
		rest, ok := strings.CutPrefix(name, "fail-count-")
		if !ok {
			continue
		}
		rid, _, _ := strings.Cut(rest, "#")
		match := false
		for _, id := range ids {
			if rid == id || (!r.unique && cloneStrip(rid) == r.xmlID) {
				match = true
			}
		}
		if match {
			total += score(v)
			if total >= infinity {
				return infinity
			}
		}
	}
	return total
}

func lastFailureTime(n *node, r *resource) int64 {
	var last int64
	for name, v := range n.attrs {
		rest, ok := strings.CutPrefix(name, "last-failure-")
		if !ok {
			continue
		}
		rid, _, _ := strings.Cut(rest, "#")
		if rid == r.id || rid == r.xmlID && !r.unique {
			if t, err := strconv.ParseInt(v, 10, 64); err == nil && t > last {
				last = t
			}
		}
	}
	return last
}

// operationExpired is check_operation_expiry's answer (without the
// scheduling of fail count clearing).
func (w *world) operationExpired(r *resource, n *node, rc int, op *element) bool {
	if r.failureTimeout <= 0 {
		return false
	}
	lr, ok := op.lookup("last-rc-change")
	if !ok {
		return false
	}
	last, err := strconv.ParseInt(lr, 10, 64)
	if err != nil {
		return false
	}
	expired := w.now >= last+r.failureTimeout
	intervalMS := atoi(op.attr("interval"), 0)
	if expired && r.reconnect && w.stonith && intervalMS != 0 && op.attr("operation") == "monitor" {
		if rn := w.findNode(r.id); rn != nil && rn.remoteWasFenced == 0 {
			expired = false
		}
	}
	if expired {
		if failCount(n, r) > 0 {
			lf := lastFailureTime(n, r)
			if lf > 0 && w.now < lf+r.failureTimeout {
				expired = false
			}
		}
	}
	if expired && intervalMS == 0 && op.attr("operation") == "monitor" {
		switch rc {
		case ocfOK, ocfNotRunning, ocfRunningPromoted, ocfDegraded, ocfDegradedPromoted:
			expired = false
		}
	}
	return expired
}

func (w *world) processRscState(r *resource, n *node, of onFail) {
	if r.role != roleUnknown {
		for it := r; it != nil; it = it.parent {
			it.knownOn[n] = true
			if it.unique {
				break
			}
		}
	}
	if r.role > roleStopped && !n.online && !n.maintenance && r.managed {
		shouldFence := false
		if n.guest() {
			r.failed = true
			shouldFence = true
		} else if w.stonith {
			if n.remote() && n.remoteRsc != nil && !n.remoteRsc.failed {
				n.unseen = true
			}
			shouldFence = true
		}
		if shouldFence {
			w.fence(n, false)
		}
	}
	if n.unclean {
		of = failIgnore
	}
	switch of {
	case failDemote:
		r.failed = true
	case failFence:
		w.fence(n, false)
	case failStandby:
		n.standby = true
		n.standbyOnFail = true
	case failBlock:
		r.managed = false
		r.blocked = true
	case failStop:
		r.nextRole = roleStopped
	case failRecover:
		if r.role != roleStopped && r.role != roleUnknown {
			r.failed = true
		}
	case failRestartContainer:
		r.failed = true
	case failResetRemote:
		r.failed = true
		if w.stonith && r.isRemote {
			if tn := w.findNode(r.id); tn != nil && tn.remote() && tn.remoteWasFenced == 0 {
				w.fence(tn, false)
			}
		}
		if r.reconnect {
			r.nextRole = roleStopped
		}
	}
	if r.failed && r.isRemote {
		if tn := w.findNode(r.id); tn != nil && tn.unclean {
			tn.unseen = false
		}
	}
	if r.role != roleStopped && r.role != roleUnknown {
		w.addRunning(r, n)
		switch of {
		case failIgnore:
		case failDemote, failBlock:
			r.failed = true
		default:
			r.failed = true
		}
	} else if r.cloneName != "" && strings.Contains(r.cloneName, ":") {
		r.cloneName = ""
	}
	if r.role == roleStopped && r.partialSource == n && r.partialTarget != nil && len(r.running) > 0 {
		r.role = roleStarted
	}
}
