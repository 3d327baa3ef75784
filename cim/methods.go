package cim

import (
	"context"
	"errors"
	"strings"

	"mgmtd/action"
	"mgmtd/auth"
	"mgmtd/wbem"
)

const (
	jobPrefix = "MGMTD:Job:"
	maxJobs   = 256
)

// InvokeMethod implements wbem.Provider: the extrinsic methods of the
// model are actions submitted to the Actuator (docs/cim.md lists which
// method becomes which action.Op).
func (p *ModelProvider) InvokeMethod(ctx context.Context, call *wbem.MethodCall) (*wbem.MethodResult, error) {
	if !strings.EqualFold(call.Namespace, ModelNamespace) {
		return nil, wbem.Errorf(wbem.StatusMethodNotAvailable, "%s.%s is not implemented", call.ClassName, call.Method.Name)
	}
	x := p.index()
	if call.Instance != nil {
		if _, err := p.GetInstance(ctx, call.Instance); err != nil {
			return nil, err
		}
	}
	m := call.Method.Name
	repo := p.model
	switch {
	case strings.EqualFold(m, "RequestStateChange"):
		if call.Instance == nil {
			return nil, wbem.Errorf(wbem.StatusInvalidParameter, "RequestStateChange needs an instance")
		}
		return p.requestStateChange(ctx, x, call)
	case strings.EqualFold(m, "MoveTo") && repo.IsA(call.ClassName, ClassResource) && call.Instance != nil:
		req := action.Request{Op: action.ResourceClear, Name: keyValue(call.Instance, "Name")}
		if node := argString(call, "DestinationNode"); node != "" {
			if sy := x.sys[node]; sy == nil || sy.node == nil {
				return &wbem.MethodResult{ReturnValue: "5"}, nil
			}
			req.Op, req.Node = action.ResourceMove, node
		}
		if a := call.Arg("Lifetime"); a != nil && !a.Null {
			d, err := wbem.ParseCIMInterval(a.Value)
			if err != nil {
				return nil, wbem.Errorf(wbem.StatusInvalidParameter, "Lifetime: %v", err)
			}
			if d > 0 {
				req.Lifetime = d.String()
			}
		}
		return p.act(ctx, call, req)
	case strings.EqualFold(m, "Cleanup") && repo.IsA(call.ClassName, ClassResource) && call.Instance != nil:
		req := action.Request{Op: action.ResourceCleanup, Name: keyValue(call.Instance, "Name")}
		if n := argString(call, "Node"); n != "" {
			if sy := x.sys[n]; sy == nil || sy.node == nil {
				return &wbem.MethodResult{ReturnValue: "5"}, nil
			}
			req.Node = n
		}
		return p.act(ctx, call, req)
	case strings.EqualFold(m, "Fence") && call.Instance != nil:
		name := keyValue(call.Instance, "Name")
		if sy := x.sys[name]; sy == nil || sy.node == nil {
			return &wbem.MethodResult{ReturnValue: "1"}, nil
		}
		switch argString(call, "Action") {
		case "", "2", "3", "4": // reboot, off, on: the executor fences as the cluster is configured to
		default:
			return &wbem.MethodResult{ReturnValue: "5"}, nil
		}
		// Calling Fence is the explicit confirmation; only admins may.
		return p.act(ctx, call, action.Request{Op: action.NodeFence, Name: name, Confirm: true})
	case strings.EqualFold(m, "MigrateVirtualSystemToHost"), strings.EqualFold(m, "CheckVirtualSystemIsMigratableToHost"):
		return p.migrate(ctx, x, call)
	case strings.EqualFold(m, "AddNode"), strings.EqualFold(m, "EvictNode"):
		return &wbem.MethodResult{ReturnValue: "1"}, nil
	}
	return nil, wbem.Errorf(wbem.StatusMethodNotAvailable, "%s.%s is not implemented", call.ClassName, m)
}

func argString(call *wbem.MethodCall, name string) string {
	if a := call.Arg(name); a != nil && !a.Null {
		return a.Value
	}
	return ""
}

func (p *ModelProvider) requestStateChange(ctx context.Context, x *snapIndex, call *wbem.MethodCall) (*wbem.MethodResult, error) {
	if a := call.Arg("TimeoutPeriod"); a != nil && !a.Null {
		if d, err := wbem.ParseCIMInterval(a.Value); err != nil || d != 0 {
			return &wbem.MethodResult{ReturnValue: "4098"}, nil
		}
	}
	a := call.Arg("RequestedState")
	if a == nil || a.Null {
		return &wbem.MethodResult{ReturnValue: "5"}, nil
	}
	state := a.Value
	name := keyValue(call.Instance, "Name")
	switch {
	case p.model.IsA(call.ClassName, ClassResource):
		op := map[string]action.Op{"2": action.ResourceStart, "3": action.ResourceStop, "4": action.ResourceStop,
			"9": action.ResourceUnmanage, "10": action.ResourceRestart, "11": action.ResourceRestart}[state]
		if op == "" {
			return &wbem.MethodResult{ReturnValue: "1"}, nil
		}
		return p.act(ctx, call, action.Request{Op: op, Name: name})
	case p.model.IsA(call.ClassName, ClassComputerSystem):
		sy := x.sys[name]
		if sy != nil && sy.node == nil && sy.vm != nil && sy.vm.Resource != "" {
			// A VM the cluster manages changes state through its resource.
			op := map[string]action.Op{"2": action.ResourceStart, "3": action.ResourceStop, "4": action.ResourceStop,
				"10": action.ResourceRestart, "11": action.ResourceRestart}[state]
			if op == "" {
				return &wbem.MethodResult{ReturnValue: "1"}, nil
			}
			return p.act(ctx, call, action.Request{Op: op, Name: sy.vm.Resource})
		}
		if sy == nil || sy.node == nil {
			return &wbem.MethodResult{ReturnValue: "1"}, nil
		}
		op := map[string]action.Op{"2": action.NodeOnline, "6": action.NodeStandby}[state]
		if op == "" {
			return &wbem.MethodResult{ReturnValue: "1"}, nil
		}
		return p.act(ctx, call, action.Request{Op: op, Name: name})
	}
	return &wbem.MethodResult{ReturnValue: "1"}, nil
}

func (p *ModelProvider) migrate(ctx context.Context, x *snapIndex, call *wbem.MethodCall) (*wbem.MethodResult, error) {
	check := strings.EqualFold(call.Method.Name, "CheckVirtualSystemIsMigratableToHost")
	cs := call.Arg("ComputerSystem")
	if cs == nil || cs.Null || cs.Ref == nil {
		return nil, wbem.Errorf(wbem.StatusInvalidParameter, "ComputerSystem is required")
	}
	dest := argString(call, "DestinationHost")
	if dest == "" {
		return nil, wbem.Errorf(wbem.StatusInvalidParameter, "DestinationHost is required")
	}
	if !strings.EqualFold(cs.Ref.ClassName, ClassComputerSystem) {
		return nil, wbem.Errorf(wbem.StatusInvalidParameter, "ComputerSystem must be a %s", ClassComputerSystem)
	}
	sy := x.sys[keyValue(cs.Ref, "Name")]
	if sy == nil || sy.vm == nil {
		return nil, wbem.Errorf(wbem.StatusNotFound, "no virtual system %s", wbem.WBEMURI(cs.Ref))
	}
	dsy := x.sys[dest]
	ok := dsy != nil && dsy.host != nil && dsy.host.Reachable && sy.vm.Resource != "" && x.hostSystem(sy.vm.Host) != dest
	if check {
		v := "FALSE"
		if ok {
			v = "TRUE"
		}
		return &wbem.MethodResult{ReturnValue: "0", Out: []wbem.Argument{{Name: "IsMigratable", Type: "boolean", Value: v}}}, nil
	}
	if dsy == nil || dsy.host == nil {
		return &wbem.MethodResult{ReturnValue: "4"}, nil
	}
	if sy.vm.Resource == "" || x.hostSystem(sy.vm.Host) == dest {
		return &wbem.MethodResult{ReturnValue: "5"}, nil
	}
	return p.act(ctx, call, action.Request{Op: action.VMMigrate, Name: sy.name, Node: dest})
}

// act submits req for the caller (the wbem.Principal's Identity is the
// *auth.Identity the daemon's authenticator found: it goes into ctx for
// the executor's authorization and into req.Actor, channel "cim") and maps
// the outcome to a method result: 0 when done, 4096 with a Job reference
// when a task runs, else actionError.
func (p *ModelProvider) act(ctx context.Context, call *wbem.MethodCall, req action.Request) (*wbem.MethodResult, error) {
	if p.opts.Actuator == nil {
		return nil, wbem.Errorf(wbem.StatusNotSupported, "%s: actions are not available", call.Method.Name)
	}
	pr, _ := wbem.PrincipalFrom(ctx)
	if id, ok := pr.Identity.(*auth.Identity); ok {
		ctx = auth.NewContext(ctx, id)
		req.Actor = action.Actor{ID: id.ID, Name: id.Name, Method: string(id.Method), Channel: "cim"}
		for _, r := range id.Roles {
			req.Actor.Roles = append(req.Actor.Roles, string(r))
		}
	}
	t, err := p.opts.Actuator.Submit(ctx, req)
	if err != nil {
		return actionError(req, err)
	}
	if t.ID == "" {
		return &wbem.MethodResult{ReturnValue: "0"}, nil
	}
	p.rememberJob(t.ID)
	job := instanceIDPath(ModelNamespace, ClassConcreteJob, jobPrefix+t.ID)
	return &wbem.MethodResult{ReturnValue: "4096", Out: []wbem.Argument{{Name: "Job", Type: "reference", Ref: job}}}, nil
}

// actionError is the one place CIM maps the errors of Actuator.Submit: a
// refusal by authorization is CIM_ERR_ACCESS_DENIED, another action on the
// object the return value 4099 (Busy), an invalid request or unknown
// object 5 (Invalid Parameter), anything else (stale model, no quorum,
// audit log unavailable, ...) CIM_ERR_FAILED with its text.
func actionError(req action.Request, err error) (*wbem.MethodResult, error) {
	switch {
	case errors.Is(err, action.ErrForbidden):
		return nil, &wbem.Error{Status: wbem.StatusAccessDenied, Description: err.Error()}
	case errors.Is(err, action.ErrBusy):
		return &wbem.MethodResult{ReturnValue: "4099"}, nil
	case errors.Is(err, action.ErrInvalid), errors.Is(err, action.ErrNotFound):
		return &wbem.MethodResult{ReturnValue: "5"}, nil
	}
	return nil, wbem.Errorf(wbem.StatusFailed, "%s %s: %v", req.Op, req.Name, err)
}

func (p *ModelProvider) rememberJob(id string) {
	p.jobsMu.Lock()
	defer p.jobsMu.Unlock()
	for _, j := range p.jobs {
		if j == id {
			return
		}
	}
	p.jobs = append(p.jobs, id)
	if len(p.jobs) > maxJobs {
		p.jobs = p.jobs[len(p.jobs)-maxJobs:]
	}
}

func (p *ModelProvider) jobIDs() []string {
	p.jobsMu.Lock()
	defer p.jobsMu.Unlock()
	return append([]string(nil), p.jobs...)
}

// jobInst builds the MGMTD_ConcreteJob of task id, or nil: JobState 2
// pending, 4 running, 7 succeeded (PercentComplete 100), 10 for the
// other terminal states (failed, timed_out, refused: JobStatus "failed",
// ErrorDescription the task's error or its state).
func (p *ModelProvider) jobInst(id string) *wbem.Instance {
	if p.opts.Actuator == nil {
		return nil
	}
	t, ok := p.opts.Actuator.Task(id)
	if !ok {
		return nil
	}
	var (
		state   uint64
		status  = string(t.State)
		op      = []uint16{osOK}
		changed = t.Finished
	)
	switch t.State {
	case action.StatePending:
		state = 2
	case action.StateRunning:
		state, changed = 4, t.Started
	case action.StateSucceeded:
		state, op = 7, []uint16{osOK, 17}
	default:
		state, status, op = 10, "failed", []uint16{osError, 17}
	}
	b := p.newInst(ClassConcreteJob, 18).s("InstanceID", jobPrefix+id).s("Name", string(t.Op)).s("ElementName", string(t.Op)+" "+t.Object.Name).
		ua("OperationalStatus", op...).s("JobStatus", status).u("JobState", state).
		t("TimeSubmitted", t.Created).t("TimeOfLastStateChange", changed).b("DeleteOnCompletion", false).
		so("Owner", t.Actor.Name).s("Action", string(t.Op)).s("Target", string(t.Object.Kind)+"/"+t.Object.Name).so("Description", t.Result)
	if t.State == action.StateSucceeded {
		b.u("PercentComplete", 100)
	}
	if !t.Created.IsZero() {
		end := changed
		if !t.State.Terminal() {
			end = p.opts.Now()
		}
		if end.After(t.Created) {
			b.s("ElapsedTime", wbem.CIMInterval(end.Sub(t.Created)))
		}
	}
	if state == 10 {
		msg := t.Error
		if msg == "" {
			msg = string(t.State)
		}
		b.u("ErrorCode", 1).s("ErrorDescription", msg)
	}
	return b.in
}
