package cim

import (
	"context"
	"errors"
	"strings"

	mdl "mgmtd/model"

	"mgmtd/wbem"
)

const (
	jobPrefix = "MGMTD:Job:"
	maxJobs   = 256
)

// InvokeMethod implements Provider: the extrinsic methods of the model
// map to Actuator actions (see the Action* constants).
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
		node := argString(call, "DestinationNode")
		params := map[string]string{}
		action := ActionResourceClear
		if node != "" {
			if sy := x.sys[node]; sy == nil || sy.node == nil {
				return &wbem.MethodResult{ReturnValue: "5"}, nil
			}
			action = ActionResourceMove
			params["node"] = node
		}
		if a := call.Arg("Lifetime"); a != nil && !a.Null {
			d, err := wbem.ParseCIMInterval(a.Value)
			if err != nil {
				return nil, wbem.Errorf(wbem.StatusInvalidParameter, "Lifetime: %v", err)
			}
			if d > 0 {
				params["lifetime"] = d.String()
			}
		}
		return p.act(ctx, call, action, mdl.KindResource, keyValue(call.Instance, "Name"), params)
	case strings.EqualFold(m, "Cleanup") && repo.IsA(call.ClassName, ClassResource) && call.Instance != nil:
		params := map[string]string{}
		if n := argString(call, "Node"); n != "" {
			if sy := x.sys[n]; sy == nil || sy.node == nil {
				return &wbem.MethodResult{ReturnValue: "5"}, nil
			}
			params["node"] = n
		}
		return p.act(ctx, call, ActionResourceCleanup, mdl.KindResource, keyValue(call.Instance, "Name"), params)
	case strings.EqualFold(m, "Fence") && call.Instance != nil:
		name := keyValue(call.Instance, "Name")
		if sy := x.sys[name]; sy == nil || sy.node == nil {
			return &wbem.MethodResult{ReturnValue: "1"}, nil
		}
		action := map[string]string{"": "reboot", "2": "reboot", "3": "off", "4": "on"}[argString(call, "Action")]
		if action == "" {
			return &wbem.MethodResult{ReturnValue: "5"}, nil
		}
		return p.act(ctx, call, ActionNodeFence, mdl.KindNode, name, map[string]string{"action": action})
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
		action := map[string]string{"2": ActionResourceStart, "3": ActionResourceStop, "4": ActionResourceStop,
			"9": ActionResourceUnmanage, "10": ActionResourceRestart, "11": ActionResourceRestart}[state]
		if action == "" {
			return &wbem.MethodResult{ReturnValue: "1"}, nil
		}
		return p.act(ctx, call, action, mdl.KindResource, name, nil)
	case p.model.IsA(call.ClassName, ClassComputerSystem):
		sy := x.sys[name]
		if sy != nil && sy.node == nil && sy.vm != nil && sy.vm.Resource != "" {
			// A VM the cluster manages changes state through its resource.
			action := map[string]string{"2": ActionResourceStart, "3": ActionResourceStop, "4": ActionResourceStop,
				"10": ActionResourceRestart, "11": ActionResourceRestart}[state]
			if action == "" {
				return &wbem.MethodResult{ReturnValue: "1"}, nil
			}
			return p.act(ctx, call, action, mdl.KindResource, sy.vm.Resource, nil)
		}
		if sy == nil || sy.node == nil {
			return &wbem.MethodResult{ReturnValue: "1"}, nil
		}
		action := map[string]string{"2": ActionNodeOnline, "6": ActionNodeStandby}[state]
		if action == "" {
			return &wbem.MethodResult{ReturnValue: "1"}, nil
		}
		return p.act(ctx, call, action, mdl.KindNode, name, nil)
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
	return p.act(ctx, call, ActionVMMigrate, mdl.KindVM, sy.name, map[string]string{"host": dest, "resource": sy.vm.Resource})
}

// act hands an action to the Actuator and maps the outcome to a method
// result: 0 when done, 4096 with a Job reference when a task runs.
func (p *ModelProvider) act(ctx context.Context, call *wbem.MethodCall, action string, kind mdl.Kind, target string, params map[string]string) (*wbem.MethodResult, error) {
	if p.opts.Actuator == nil {
		return nil, wbem.Errorf(wbem.StatusNotSupported, "%s: actions are not available", call.Method.Name)
	}
	pr, _ := wbem.PrincipalFrom(ctx)
	if params == nil {
		params = map[string]string{}
	}
	id, err := p.opts.Actuator.Do(ctx, ActionRequest{Action: action, Kind: kind, Target: target, Params: params, Principal: pr, Method: call.Method.Name})
	var ce *wbem.Error
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidStateTransition):
		return &wbem.MethodResult{ReturnValue: "4097"}, nil
	case errors.Is(err, ErrBusy):
		return &wbem.MethodResult{ReturnValue: "4099"}, nil
	case errors.Is(err, ErrInvalidParameter):
		return &wbem.MethodResult{ReturnValue: "5"}, nil
	case errors.As(err, &ce):
		return nil, ce
	default:
		return nil, wbem.Errorf(wbem.StatusFailed, "%s %s: %v", action, target, err)
	}
	if id == "" {
		return &wbem.MethodResult{ReturnValue: "0"}, nil
	}
	p.rememberJob(id)
	job := instanceIDPath(ModelNamespace, ClassConcreteJob, jobPrefix+id)
	return &wbem.MethodResult{ReturnValue: "4096", Out: []wbem.Argument{{Name: "Job", Type: "reference", Ref: job}}}, nil
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

// jobInst builds the MGMTD_ConcreteJob of task id, or nil.
func (p *ModelProvider) jobInst(id string) *wbem.Instance {
	if p.opts.Actuator == nil {
		return nil
	}
	t, ok := p.opts.Actuator.Task(id)
	if !ok {
		return nil
	}
	state := map[TaskState]uint64{TaskPending: 2, TaskRunning: 4, TaskSucceeded: 7, TaskFailed: 10, TaskCancelled: 8}[t.State]
	op := []uint16{osOK}
	switch t.State {
	case TaskSucceeded:
		op = []uint16{osOK, 17}
	case TaskFailed:
		op = []uint16{osError, 17}
	case TaskCancelled:
		op = []uint16{osStopped, 17}
	}
	b := p.newInst(ClassConcreteJob, 18).s("InstanceID", jobPrefix+id).s("Name", t.Action).s("ElementName", t.Action+" "+t.Target).
		ua("OperationalStatus", op...).s("JobStatus", string(t.State)).u("JobState", state).
		t("TimeSubmitted", t.Submitted).t("TimeOfLastStateChange", t.Updated).b("DeleteOnCompletion", false).
		so("Owner", t.Owner).s("Action", t.Action).s("Target", string(t.Kind)+"/"+t.Target).so("Description", t.Message)
	if t.Percent >= 0 && t.Percent <= 100 {
		b.u("PercentComplete", uint64(t.Percent))
	}
	if !t.Submitted.IsZero() {
		end := t.Updated
		if t.State == TaskPending || t.State == TaskRunning {
			end = p.opts.Now()
		}
		if end.After(t.Submitted) {
			b.s("ElapsedTime", wbem.CIMInterval(end.Sub(t.Submitted)))
		}
	}
	if t.State == TaskFailed {
		b.u("ErrorCode", 1).so("ErrorDescription", t.Error)
	}
	return b.in
}
