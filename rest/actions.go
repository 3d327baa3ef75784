package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// ActionBody is the body of an action request. Every field is optional;
// an empty body is allowed.
type ActionBody struct {
	// Node is the target node (move, ban, clear, cleanup, restart).
	Node string `json:"node,omitempty"`
	// To is the destination host of a VM migration (Node is accepted too).
	To string `json:"to,omitempty"`
	// Lifetime of a move or ban: ISO 8601 (PT1H) or Go (1h) duration.
	Lifetime string `json:"lifetime,omitempty"`
	// DryRun returns the prediction without changing anything.
	DryRun bool `json:"dry_run,omitempty"`
	// Force overrides the stale-model, quorum and busy refusals (admins).
	Force bool `json:"force,omitempty"`
	// Confirm must be true to fence a node.
	Confirm bool `json:"confirm,omitempty"`
	// IdempotencyKey (or the Idempotency-Key header) makes a retried
	// request return the first task.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// ActionCaller is the authenticated caller of an action, for the audit log.
type ActionCaller struct {
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	Method    string   `json:"method,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	Channel   string   `json:"channel,omitempty"`
	Source    string   `json:"source,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
}

// ActionCall is one action request as the API hands it to the Actuator.
type ActionCall struct {
	// Op is KIND.ACTION, e.g. "resource.move", "node.fence",
	// "cluster.maintenance-on", "vm.migrate".
	Op     string
	Name   string // resource id, node or VM name; empty for cluster actions
	Body   ActionBody
	Caller ActionCaller
}

// ActionTask is a task as the API shows it. Its JSON is the task's own
// (the wiring converts the executor's task field by field through JSON).
type ActionTask struct {
	ID             string            `json:"id"`
	Op             string            `json:"op"`
	Object         model.ID          `json:"object"`
	Node           string            `json:"node,omitempty"`
	Lifetime       string            `json:"lifetime,omitempty"`
	DryRun         bool              `json:"dry_run"`
	Force          bool              `json:"force"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	Actor          ActionCaller      `json:"actor"`
	State          string            `json:"state"` // pending, running, succeeded, failed, timed_out, refused
	Error          string            `json:"error,omitempty"`
	Result         string            `json:"result,omitempty"`
	Prediction     *model.Simulation `json:"prediction,omitempty"`
	Commands       []string          `json:"commands,omitempty"`
	Before         json.RawMessage   `json:"before,omitempty"`
	After          json.RawMessage   `json:"after,omitempty"`
	Created        time.Time         `json:"created"`
	Started        time.Time         `json:"started,omitzero"`
	Finished       time.Time         `json:"finished,omitzero"`
}

// Terminal reports whether the task has ended.
func (t ActionTask) Terminal() bool {
	switch t.State {
	case "succeeded", "failed", "timed_out", "refused":
		return true
	}
	return false
}

// ActionRefusal classifies a refused action request.
type ActionRefusal string

// Refusals and the HTTP status each maps to (in ActionError.Status).
const (
	RefusedInvalid     ActionRefusal = "invalid"     // 400
	RefusedForbidden   ActionRefusal = "forbidden"   // 403
	RefusedNotFound    ActionRefusal = "not_found"   // 404
	RefusedStale       ActionRefusal = "stale"       // 409
	RefusedNoQuorum    ActionRefusal = "no_quorum"   // 409
	RefusedBusy        ActionRefusal = "busy"        // 409
	RefusedIdempotency ActionRefusal = "idempotency" // 422
	RefusedUnavailable ActionRefusal = "unavailable" // 503: the audit log cannot record the intent
)

// ActionError is how an Actuator refuses a request. Task is the refused
// task, when one was recorded.
type ActionError struct {
	Refusal ActionRefusal
	Detail  string
	Task    *ActionTask
}

func (e *ActionError) Error() string { return string(e.Refusal) + ": " + e.Detail }

// Status is the HTTP status of the refusal.
func (e *ActionError) Status() int {
	switch e.Refusal {
	case RefusedInvalid:
		return http.StatusBadRequest
	case RefusedForbidden:
		return http.StatusForbidden
	case RefusedNotFound:
		return http.StatusNotFound
	case RefusedStale, RefusedNoQuorum, RefusedBusy:
		return http.StatusConflict
	case RefusedIdempotency:
		return http.StatusUnprocessableEntity
	case RefusedUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Actuator runs actions; the wiring satisfies it with the action package's
// executor. Submit authorizes with the identity in ctx (set by the Guard)
// and returns at once with the task (running, or terminal for dry runs and
// idempotent retries); refusals are *ActionError.
type Actuator interface {
	Submit(ctx context.Context, call ActionCall) (ActionTask, error)
	Task(id string) (ActionTask, bool)
	Tasks() []ActionTask
}

func init() {
	RegisterSchema("Task", ActionTask{})
	RegisterSchema("Tasks", []ActionTask{})
}

// The actions each route accepts.
var (
	resourceActions = []string{"start", "stop", "restart", "move", "ban", "clear", "cleanup", "manage", "unmanage"}
	nodeActions     = []string{"standby", "online", "maintenance-on", "maintenance-off", "fence"}
	clusterActions  = []string{"maintenance-on", "maintenance-off"}
)

// ActionRoutes returns the action and task routes. The routes declare
// PermAct; the Actuator's authorizer decides per object and asks for more
// (fencing, maintenance, force are admin-only) with the caller's identity.
func ActionRoutes(s *Server, a Actuator) []Route {
	return []Route{
		{Method: "POST", Path: "/api/v1/resources/:id/actions/:action", Perm: PermAct, Response: "Task",
			Summary: "Run a resource action (" + strings.Join(resourceActions, ", ") + "); returns the task",
			Handler: s.actionHandler(a, "resource", "id", resourceActions)},
		{Method: "POST", Path: "/api/v1/nodes/:name/actions/:action", Perm: PermAct, Response: "Task",
			Summary: "Run a node action (" + strings.Join(nodeActions, ", ") + "; fence needs confirm and admin); returns the task",
			Handler: s.actionHandler(a, "node", "name", nodeActions)},
		{Method: "POST", Path: "/api/v1/cluster/actions/:action", Perm: PermAct, Response: "Task",
			Summary: "Run a cluster action (" + strings.Join(clusterActions, ", ") + "; admin); returns the task",
			Handler: s.actionHandler(a, "cluster", "", clusterActions)},
		{Method: "POST", Path: "/api/v1/vms/:name/actions/:action", Perm: PermAct, Response: "Task",
			Summary: "Live-migrate a VM (action migrate, body to); returns the task",
			Handler: s.actionHandler(a, "vm", "name", []string{"migrate"})},
		{Method: "GET", Path: "/api/v1/tasks", Perm: PermRead, Response: "Tasks", Summary: "Action tasks, newest first",
			Query: []Param{{Name: "state", Type: "string", Description: "only tasks in this state"}}, Handler: s.listTasks(a)},
		{Method: "GET", Path: "/api/v1/tasks/:id", Perm: PermRead, Response: "Task", Summary: "One action task", Handler: s.getTask(a)},
	}
}

func (s *Server) actionHandler(a Actuator, kind, param string, allowed []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		act := c.Param("action")
		if !slices.Contains(allowed, act) {
			s.problem(c, NotFound("no "+kind+" action "+act+" (want one of "+strings.Join(allowed, ", ")+")"))
			return
		}
		var body ActionBody
		dec := json.NewDecoder(io.LimitReader(c.Request.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			s.problem(c, BadRequest("body: "+err.Error()))
			return
		}
		if h := c.GetHeader("Idempotency-Key"); h != "" {
			if body.IdempotencyKey != "" && body.IdempotencyKey != h {
				s.problem(c, BadRequest("Idempotency-Key header and idempotency_key differ"))
				return
			}
			body.IdempotencyKey = h
		}
		if len(body.IdempotencyKey) > 200 {
			s.problem(c, BadRequest("idempotency key longer than 200 bytes"))
			return
		}
		if kind == "vm" && body.To == "" {
			body.To = body.Node
		}
		call := ActionCall{Op: kind + "." + act, Body: body, Caller: ActionCaller{Channel: string(ChannelOf(c)), Source: c.Request.RemoteAddr, RequestID: c.GetString("request_id")}}
		if param != "" {
			call.Name = c.Param(param)
		}
		if id := identity(c); id != nil {
			call.Caller.ID, call.Caller.Name, call.Caller.Method = id.ID, id.Name, string(id.Method)
			for _, r := range id.Roles {
				call.Caller.Roles = append(call.Caller.Roles, string(r))
			}
		}
		task, err := a.Submit(c.Request.Context(), call)
		if err != nil {
			var ae *ActionError
			if !errors.As(err, &ae) {
				s.opts.Log.Error("action submit", "op", call.Op, "err", err)
				s.problem(c, ProblemFrom(err))
				return
			}
			if ae.Task != nil && ae.Task.ID != "" {
				c.Header("Location", "/api/v1/tasks/"+ae.Task.ID)
			}
			p := &Problem{Status: ae.Status(), Detail: ae.Detail}
			if ae.Refusal == RefusedUnavailable {
				p.RetryAfter = 30
			}
			s.problem(c, p)
			return
		}
		c.Header("Location", "/api/v1/tasks/"+task.ID)
		status := http.StatusAccepted
		if task.Terminal() {
			status = http.StatusOK
		}
		s.plainJSON(c, status, task)
	}
}

func (s *Server) listTasks(a Actuator) gin.HandlerFunc {
	return func(c *gin.Context) {
		state := c.Query("state")
		out := []ActionTask{}
		for _, t := range a.Tasks() {
			if (state == "" || t.State == state) && s.mayRead(c, t) {
				out = append(out, t)
			}
		}
		s.plainJSON(c, http.StatusOK, out)
	}
}

func (s *Server) getTask(a Actuator) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, ok := a.Task(c.Param("id"))
		if !ok || !s.mayRead(c, t) {
			s.problem(c, NotFound("no task "+c.Param("id")))
			return
		}
		s.plainJSON(c, http.StatusOK, t)
	}
}

// mayRead keeps scoped callers to the tasks on objects they may read.
func (s *Server) mayRead(c *gin.Context, t ActionTask) bool {
	v, ok := c.Get(restrictKey)
	if !ok {
		return true
	}
	restrict, ok := v.(func(*model.Snapshot) *model.Snapshot)
	if !ok {
		return false
	}
	sn := restrict(s.opts.Store.Snapshot())
	switch t.Object.Kind {
	case model.KindResource:
		_, ok = sn.Resource(t.Object.Name)
	case model.KindNode:
		_, ok = sn.Node(t.Object.Name)
	case model.KindVM:
		ok = len(sn.VMsNamed(t.Object.Name)) > 0
		if !ok {
			_, ok = sn.Resource(t.Object.Name)
		}
	default:
		ok = false
	}
	return ok
}
