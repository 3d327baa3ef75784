package rest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"mgmtd/action"
	"mgmtd/auth"
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

func init() {
	RegisterSchema("Task", action.Task{})
	RegisterSchema("Tasks", []action.Task{})
}

// actionProblem is the one place that maps an action refusal to HTTP:
// the status from the error kind (errors.Is), the error's text as detail.
func actionProblem(err error) *Problem {
	p := &Problem{Status: http.StatusInternalServerError, Detail: err.Error()}
	for _, m := range []struct {
		err    error
		status int
	}{
		{action.ErrInvalid, http.StatusBadRequest}, {action.ErrForbidden, http.StatusForbidden},
		{action.ErrNotFound, http.StatusNotFound}, {action.ErrStale, http.StatusConflict},
		{action.ErrNoQuorum, http.StatusConflict}, {action.ErrBusy, http.StatusConflict},
		{action.ErrIdempotency, http.StatusUnprocessableEntity},
		{action.ErrUnreachable, http.StatusConflict},
		// The audit log cannot record the intent: retry later.
		{action.ErrUnavailable, http.StatusServiceUnavailable},
	} {
		if errors.Is(err, m.err) {
			p.Status = m.status
			break
		}
	}
	if p.Status == http.StatusServiceUnavailable {
		p.RetryAfter = 30
	}
	return p
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
func ActionRoutes(s *Server, a action.Actuator) []Route {
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

func (s *Server) actionHandler(a action.Actuator, kind, param string, allowed []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		act := c.Param("action")
		if !slices.Contains(allowed, act) {
			s.problem(c, NotFound("no "+kind+" action "+act+" (want one of "+strings.Join(allowed, ", ")+")"))
			return
		}
		// Only JSON: a form's fields (dry_run=true) would otherwise be
		// ignored and the action run for real.
		if ct := c.GetHeader("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
			s.problem(c, &Problem{Status: http.StatusUnsupportedMediaType, Detail: "an action's body is JSON (Content-Type: application/json), not " + ct})
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
		node := body.Node
		if kind == "vm" {
			node = body.To
		}
		req := action.Request{Op: action.Op(kind + "." + act), Node: node, Lifetime: body.Lifetime, DryRun: body.DryRun,
			Force: body.Force, Confirm: body.Confirm, IdempotencyKey: body.IdempotencyKey,
			Actor: action.Actor{Channel: string(ChannelOf(c)), Source: c.Request.RemoteAddr, RequestID: c.GetString("request_id")}}
		if param != "" {
			req.Name = c.Param(param)
		}
		if id := identity(c); id != nil {
			req.Actor.ID, req.Actor.Name, req.Actor.Method = id.ID, id.Name, string(id.Method)
			for _, r := range id.Roles {
				req.Actor.Roles = append(req.Actor.Roles, string(r))
			}
		}
		task, err := a.Submit(c.Request.Context(), req)
		if err != nil {
			if task.ID != "" {
				c.Header("Location", "/api/v1/tasks/"+task.ID)
			}
			s.problem(c, actionProblem(err))
			return
		}
		c.Header("Location", "/api/v1/tasks/"+task.ID)
		status := http.StatusAccepted
		if task.State.Terminal() {
			status = http.StatusOK
		}
		s.plainJSON(c, status, task)
	}
}

func (s *Server) listTasks(a action.Actuator) gin.HandlerFunc {
	return func(c *gin.Context) {
		state := action.State(c.Query("state"))
		out := []action.Task{}
		for _, t := range a.Tasks() {
			if t, ok := s.taskFor(c, t); ok && (state == "" || t.State == state) {
				out = append(out, t)
			}
		}
		s.plainJSON(c, http.StatusOK, out)
	}
}

func (s *Server) getTask(a action.Actuator) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, ok := a.Task(c.Param("id"))
		if ok {
			t, ok = s.taskFor(c, t)
		}
		if !ok {
			s.problem(c, NotFound("no task "+c.Param("id")))
			return
		}
		s.plainJSON(c, http.StatusOK, t)
	}
}

// taskFor is a task as the caller may see it. Whose task it is, from
// where, is for its actor and for admins: others see the task without the
// actor's identity (token ids, addresses, request ids), and not at all
// when it was refused (a refused attempt is the actor's and the audit
// log's business). Scoped callers see only tasks on objects they may
// read, with the prediction cut to their scope.
func (s *Server) taskFor(c *gin.Context, t action.Task) (action.Task, bool) {
	id := identity(c)
	if id == nil {
		return t, true // no guard: tests of the HTTP mapping
	}
	if t.Actor.ID != id.ID && !auth.Authorize(id, auth.ActionAdmin, auth.Object{Kind: auth.KindSystem}).Allowed {
		if t.State == action.StateRefused {
			return t, false
		}
		t.Actor = action.Actor{Name: "another caller", Channel: t.Actor.Channel}
	}
	if !s.mayRead(c, t) {
		return t, false
	}
	if v, ok := c.Get(restrictKey); ok && t.Prediction != nil {
		if restrict, ok := v.(func(*model.Snapshot) *model.Snapshot); ok {
			p := restrict(s.opts.Store.Snapshot()).RestrictSimulation(*t.Prediction)
			t.Prediction = &p
		}
	}
	return t, true
}

// mayRead keeps scoped callers to the tasks on objects they may read.
func (s *Server) mayRead(c *gin.Context, t action.Task) bool {
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
