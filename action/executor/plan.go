package executor

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"mgmtd/action"
	"mgmtd/model"
)

// command is one tool invocation.
type command struct {
	tool string
	args []string
}

func (c command) String() string { return c.tool + " " + strings.Join(c.args, " ") }

func cmd(tool string, args ...string) command { return command{tool: tool, args: args} }

// plan is how one request is carried out.
type plan struct {
	object model.ID
	// live changes the live cluster (with CIB_user when enabled).
	live []command
	// offline applies the same change to a CIB file: the simulation's copy,
	// and the rehearsal file in CIB-file mode. It differs from live only
	// where a tool cannot work on a file (cleanup, restart, fencing).
	offline []command
	// restore, for restart in CIB-file mode: undoes the stop after the
	// stop transition ran.
	restore []command
	// simExtra are extra crm_simulate arguments (fencing: --node-fail).
	simExtra []string
	// migrate, for an unmanaged VM: libvirt live migration.
	migrate *vmMove
	// resources whose failures during the task fail it.
	resources []string
	// goal reports whether the model shows the action done, and if not why.
	goal func(sn *model.Snapshot) (bool, string)
	// fenceTarget is the node fenced (node.fence).
	fenceTarget string
	// transient: the prediction is not of Pacemaker's end state (restart's
	// stop phase; a libvirt migration Pacemaker does not see), so only the
	// goal is checked.
	transient bool
}

type vmMove struct{ name, from, to string }

// safeName is what the executor passes to tools and XPath expressions:
// Pacemaker ids are XML NCNames; node names are host names.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,254}$`)

func checkName(what, s string) error {
	if !safeName.MatchString(s) {
		return fmt.Errorf("%w: %s %q is not a valid name", action.ErrInvalid, what, s)
	}
	return nil
}

var isoDuration = regexp.MustCompile(`^P(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?$`)

// Lifetime converts a lifetime to the ISO 8601 duration crm_resource
// takes: "PT1H" stays, a Go duration "90m" becomes "PT5400S".
func Lifetime(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if isoDuration.MatchString(s) && s != "P" && s != "PT" {
		return s, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return "", fmt.Errorf("%w: lifetime %q: want an ISO 8601 duration (PT1H) or a Go duration of at least 1s (1h)", action.ErrInvalid, s)
	}
	return "PT" + strconv.FormatInt(int64(d/time.Second), 10) + "S", nil
}

// buildPlan validates the request against the snapshot and returns the
// plan; cibFile reports CIB-file mode.
func buildPlan(req action.Request, sn *model.Snapshot) (*plan, error) {
	kind := req.Op.Kind()
	if !req.Op.Known() {
		return nil, fmt.Errorf("%w: unknown action %q", action.ErrInvalid, req.Op)
	}
	p := &plan{}
	if req.Node != "" {
		if err := checkName("node", req.Node); err != nil {
			return nil, err
		}
	}
	lifetime, err := Lifetime(req.Lifetime)
	if err != nil {
		return nil, err
	}
	if lifetime != "" && req.Op != action.ResourceMove && req.Op != action.ResourceBan && req.Op != action.VMMigrate {
		return nil, fmt.Errorf("%w: lifetime applies to move and ban only", action.ErrInvalid)
	}
	if kind != model.KindCluster {
		if err := checkName(string(kind), req.Name); err != nil {
			return nil, err
		}
	}
	switch kind {
	case model.KindResource:
		return p, resourcePlan(p, req, lifetime, sn)
	case model.KindNode:
		return p, nodePlan(p, req, sn)
	case model.KindCluster:
		return p, clusterPlan(p, req, sn)
	case model.KindVM:
		return p, vmPlan(p, req, lifetime, sn)
	}
	return nil, fmt.Errorf("%w: unknown action %q", action.ErrInvalid, req.Op)
}

func needNode(sn *model.Snapshot, node string) error {
	if node == "" {
		return nil
	}
	if _, ok := sn.Node(node); !ok {
		return fmt.Errorf("%w: node %q", action.ErrNotFound, node)
	}
	return nil
}

// primitives returns the primitive ids at or below a resource.
func primitives(sn *model.Snapshot, id string) []string {
	r, ok := sn.Resource(id)
	if !ok {
		return nil
	}
	if len(r.Children) == 0 {
		return []string{id}
	}
	var out []string
	for _, c := range r.Children {
		out = append(out, primitives(sn, c)...)
	}
	return out
}

func metaSet(rsc, name, value string) command {
	return cmd("crm_resource", "--resource", rsc, "--meta", "--set-parameter", name, "--parameter-value", value)
}

func resourcePlan(p *plan, req action.Request, lifetime string, sn *model.Snapshot) error {
	r, ok := sn.Resource(req.Name)
	if !ok {
		return fmt.Errorf("%w: resource %q", action.ErrNotFound, req.Name)
	}
	if err := needNode(sn, req.Node); err != nil {
		return err
	}
	p.object = sn.ID(model.KindResource, r.ID)
	p.resources = append([]string{r.ID}, primitives(sn, r.ID)...)
	withNode := func(args ...string) []string {
		if req.Node != "" {
			args = append(args, "--node", req.Node)
		}
		return args
	}
	withLifetime := func(args []string) []string {
		if lifetime != "" {
			args = append(args, "--lifetime", lifetime)
		}
		return args
	}
	switch req.Op {
	case action.ResourceStart, action.ResourceStop:
		role := "Started"
		if req.Op == action.ResourceStop {
			role = "Stopped"
		}
		p.live = []command{metaSet(r.ID, "target-role", role)}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			cur, _ := sn.Resource(r.ID)
			if !strings.EqualFold(cur.TargetRole, role) && !(role == "Started" && cur.TargetRole == "") {
				return false, "target-role is " + orDefault(cur.TargetRole, "unset")
			}
			act := activeNodes(sn, r.ID)
			if role == "Stopped" && len(act) > 0 {
				return false, r.ID + " is still active on " + strings.Join(act, ", ")
			}
			if role == "Started" && len(act) == 0 {
				return false, r.ID + " is not active anywhere"
			}
			return true, ""
		}
	case action.ResourceManage, action.ResourceUnmanage:
		want := req.Op == action.ResourceManage
		p.live = []command{metaSet(r.ID, "is-managed", strconv.FormatBool(want))}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			cur, _ := sn.Resource(r.ID)
			if cur.Managed != want {
				return false, fmt.Sprintf("%s managed=%t", r.ID, cur.Managed)
			}
			return true, ""
		}
	case action.ResourceMove:
		p.live = []command{cmd("crm_resource", withLifetime(withNode("--move", "--resource", r.ID))...)}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			act := activeNodes(sn, r.ID)
			if req.Node != "" && !slices.Contains(act, req.Node) {
				return false, r.ID + " is active on " + orDefault(strings.Join(act, ", "), "no node") + ", not on " + req.Node
			}
			return true, ""
		}
	case action.ResourceBan:
		if req.Node == "" && len(activeNodes(sn, r.ID)) != 1 {
			return fmt.Errorf("%w: ban without a node needs %s active on exactly one node", action.ErrInvalid, r.ID)
		}
		from := req.Node
		if from == "" {
			from = activeNodes(sn, r.ID)[0]
		}
		p.live = []command{cmd("crm_resource", withLifetime(withNode("--ban", "--resource", r.ID))...)}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			if slices.Contains(activeNodes(sn, r.ID), from) {
				return false, r.ID + " is still active on " + from
			}
			return true, ""
		}
	case action.ResourceClear:
		p.live = []command{cmd("crm_resource", withNode("--clear", "--resource", r.ID)...)}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			for _, c := range sn.ConstraintsOf(r.ID) {
				if strings.HasPrefix(c.ID, "cli-") && (req.Node == "" || c.Node == req.Node) {
					return false, "constraint " + c.ID + " is still configured"
				}
			}
			return true, ""
		}
	case action.ResourceCleanup:
		p.live = []command{cmd("crm_resource", withNode("--cleanup", "--resource", r.ID)...)}
		// crm_resource --cleanup cannot work on a CIB file (it asks the
		// controller, and segfaults with CIB_file in 2.1.5): on a file the
		// same history is removed with cibadmin.
		scope := "//node_state"
		if req.Node != "" {
			scope = "//node_state[@uname='" + req.Node + "']"
		}
		for _, id := range primitives(sn, r.ID) {
			p.offline = append(p.offline,
				cmd("cibadmin", "--delete-all", "--force", "--xpath", scope+"//lrm_resource[@id='"+id+"' or starts-with(@id,'"+id+":')]"),
				cmd("cibadmin", "--delete-all", "--force", "--xpath", scope+"/transient_attributes//nvpair["+
					"starts-with(@name,'fail-count-"+id+"#') or starts-with(@name,'last-failure-"+id+"#') or "+
					"starts-with(@name,'fail-count-"+id+".') or starts-with(@name,'last-failure-"+id+".')]"))
		}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			for _, f := range sn.FailuresOf(r.ID) {
				if req.Node == "" || f.Node == req.Node {
					return false, "failure " + failureText(f) + " is still recorded"
				}
			}
			return true, ""
		}
	case action.ResourceRestart:
		if len(activeNodes(sn, r.ID)) == 0 {
			return fmt.Errorf("%w: %s is not running; start it instead", action.ErrInvalid, r.ID)
		}
		args := []string{"--restart", "--resource", r.ID}
		if req.Node != "" {
			args = append(args, "--node", req.Node)
		}
		p.live = []command{cmd("crm_resource", args...)}
		// On a file crm_resource --restart cannot wait for the cluster:
		// the rehearsal stops (target-role), runs the transition, and
		// restores the previous target-role.
		p.offline = []command{metaSet(r.ID, "target-role", "Stopped")}
		if r.TargetRole == "" {
			p.restore = []command{cmd("crm_resource", "--resource", r.ID, "--meta", "--delete-parameter", "target-role")}
		} else {
			p.restore = []command{metaSet(r.ID, "target-role", r.TargetRole)}
		}
		before := activeNodes(sn, r.ID)
		p.transient = true
		p.goal = func(sn *model.Snapshot) (bool, string) {
			act := activeNodes(sn, r.ID)
			if !slices.Equal(act, before) {
				return false, r.ID + " is active on " + orDefault(strings.Join(act, ", "), "no node") + ", was on " + strings.Join(before, ", ")
			}
			return true, ""
		}
	default:
		return fmt.Errorf("%w: %s is not a resource action", action.ErrInvalid, req.Op)
	}
	return nil
}

func nodePlan(p *plan, req action.Request, sn *model.Snapshot) error {
	n, ok := sn.Node(req.Name)
	if !ok {
		return fmt.Errorf("%w: node %q", action.ErrNotFound, req.Name)
	}
	p.object = sn.ID(model.KindNode, n.Name)
	attr := func(name, value string) command {
		return cmd("crm_attribute", "--node", n.Name, "--name", name, "--update", value, "--lifetime", "forever")
	}
	switch req.Op {
	case action.NodeStandby, action.NodeOnline:
		want := req.Op == action.NodeStandby
		p.live = []command{attr("standby", map[bool]string{true: "on", false: "off"}[want])}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			cur, _ := sn.Node(n.Name)
			if cur.Standby != want {
				return false, fmt.Sprintf("node %s standby=%t", n.Name, cur.Standby)
			}
			if want {
				for _, in := range sn.InstancesOn(n.Name) {
					if in.Active && in.Managed {
						return false, in.Resource + " is still active on " + n.Name
					}
				}
			}
			return true, ""
		}
	case action.NodeMaintenanceOn, action.NodeMaintenanceOff:
		want := req.Op == action.NodeMaintenanceOn
		p.live = []command{attr("maintenance", map[bool]string{true: "on", false: "off"}[want])}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			cur, _ := sn.Node(n.Name)
			if cur.Maintenance != want {
				return false, fmt.Sprintf("node %s maintenance=%t", n.Name, cur.Maintenance)
			}
			return true, ""
		}
	case action.NodeFence:
		if !req.Confirm {
			return fmt.Errorf("%w: fencing %s needs an explicit confirmation (confirm)", action.ErrInvalid, n.Name)
		}
		p.live = []command{cmd("stonith_admin", "--reboot", n.Name)}
		p.offline = []command{} // on a file, crm_simulate --node-fail stands in for the fencing
		p.simExtra = []string{"--node-fail", n.Name}
		p.fenceTarget = n.Name
		for _, in := range sn.InstancesOn(n.Name) {
			p.resources = append(p.resources, in.Primitive)
		}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			// The fencing history or the node's loss shows it; a reboot
			// brings the node back, so either counts.
			for _, f := range sn.Fencing {
				if f.Target == n.Name && f.Status == "success" {
					return true, ""
				}
			}
			if cur, _ := sn.Node(n.Name); !cur.Online {
				return true, ""
			}
			return false, "no successful fencing of " + n.Name + " recorded"
		}
	default:
		return fmt.Errorf("%w: %s is not a node action", action.ErrInvalid, req.Op)
	}
	return nil
}

func clusterPlan(p *plan, req action.Request, sn *model.Snapshot) error {
	want := req.Op == action.ClusterMaintenanceOn
	p.object = sn.ID(model.KindCluster, sn.Cluster.Name)
	p.live = []command{cmd("crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", strconv.FormatBool(want))}
	p.goal = func(sn *model.Snapshot) (bool, string) {
		if sn.Cluster.MaintenanceMode != want {
			return false, fmt.Sprintf("maintenance-mode=%t", sn.Cluster.MaintenanceMode)
		}
		return true, ""
	}
	return nil
}

func vmPlan(p *plan, req action.Request, lifetime string, sn *model.Snapshot) error {
	to := req.Node
	if to == "" {
		return fmt.Errorf("%w: vm.migrate needs a destination host (to)", action.ErrInvalid)
	}
	var vm model.VM
	found := false
	for _, v := range sn.VMsNamed(req.Name) {
		if v.State.Active() {
			vm, found = v, true
		}
	}
	var rsc model.Resource
	if !found {
		// Pacemaker may know the VM by its resource id without a virt source.
		r, ok := sn.Resource(req.Name)
		if !ok || !strings.HasSuffix(r.Agent, ":VirtualDomain") {
			return fmt.Errorf("%w: vm %q (no active domain and no VirtualDomain resource of that name)", action.ErrNotFound, req.Name)
		}
		rsc = r
	} else if vm.Resource != "" {
		rsc, _ = sn.Resource(vm.Resource)
	}
	p.object = sn.ID(model.KindVM, req.Name)
	if rsc.ID != "" {
		if !metaTrue(rsc.Meta["allow-migrate"]) {
			return fmt.Errorf("%w: %s is managed by resource %s without allow-migrate=true: a move would restart it; move the resource instead", action.ErrInvalid, req.Name, rsc.ID)
		}
		node := to
		if h, ok := sn.Host(to); ok && h.Node != "" {
			node = h.Node
		}
		if err := needNode(sn, node); err != nil {
			return err
		}
		args := []string{"--move", "--resource", rsc.ID, "--node", node}
		if lifetime != "" {
			args = append(args, "--lifetime", lifetime)
		}
		p.live = []command{cmd("crm_resource", args...)}
		p.resources = []string{rsc.ID}
		p.goal = func(sn *model.Snapshot) (bool, string) {
			act := activeNodes(sn, rsc.ID)
			if !slices.Contains(act, node) {
				return false, rsc.ID + " is active on " + orDefault(strings.Join(act, ", "), "no node") + ", not on " + node
			}
			return vmOn(sn, req.Name, to)
		}
		return nil
	}
	if lifetime != "" {
		return fmt.Errorf("%w: lifetime applies to VMs Pacemaker manages", action.ErrInvalid)
	}
	if _, ok := sn.Host(to); !ok {
		return fmt.Errorf("%w: host %q", action.ErrNotFound, to)
	}
	if vm.Host == to {
		return fmt.Errorf("%w: %s already runs on %s", action.ErrInvalid, req.Name, to)
	}
	p.migrate = &vmMove{name: vm.Name, from: vm.Host, to: to}
	p.transient = true
	p.goal = func(sn *model.Snapshot) (bool, string) { return vmOn(sn, req.Name, to) }
	return nil
}

// vmOn reports whether the model shows the domain active on host; a model
// without a virtualization source cannot tell and does not hold it up.
func vmOn(sn *model.Snapshot, name, host string) (bool, string) {
	vms := sn.VMsNamed(name)
	if len(vms) == 0 && len(sn.Hosts) == 0 {
		return true, ""
	}
	for _, v := range vms {
		if v.Host == host && v.State.Active() {
			return true, ""
		}
	}
	return false, "domain " + name + " is not active on host " + host
}

func metaTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1", "y":
		return true
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// activeNodes returns the sorted nodes a resource is active on.
func activeNodes(sn *model.Snapshot, id string) []string {
	var out []string
	for _, in := range sn.InstancesOf(id) {
		if in.Active && in.Node != "" && !slices.Contains(out, in.Node) {
			out = append(out, in.Node)
		}
	}
	slices.Sort(out)
	return out
}

func failureText(f model.Failure) string {
	s := f.Resource + " " + f.Op + " on " + f.Node + " failed: " + orDefault(f.RCText, "rc "+strconv.Itoa(f.RC))
	if f.Status != "" && f.Status != "complete" {
		s += " (" + f.Status + ")"
	}
	if f.ExitReason != "" {
		s += ": " + f.ExitReason
	}
	return s
}
