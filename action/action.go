// Package action holds the vocabulary of actions - the changes mgmtd makes
// to a cluster on behalf of authorized people: the request, the actor, the
// task and its states, the errors a refusal wraps, and the Actuator
// interface the front-ends (REST, CIM, the command line) submit through.
// It is a leaf: it imports model only, so every front-end may import it
// without depending on how actions are carried out.
//
// The executor (package action/executor) carries them out through the
// cluster's own tools only (crm_resource, crm_attribute, cibadmin,
// stonith_admin, crm_simulate, and libvirt through a migrator the wiring
// passes in), never by editing CIB XML. Every action runs the same seven
// steps: (1) authorize through the
// Authorizer hook, (2) simulate the change with crm_simulate on a private
// copy of the CIB to which the same tool command was applied (a dry run
// stops here), (3) refuse when the model is stale, the cluster has no
// quorum, or another action on the same object is running, unless an
// admin forces it, (4) record the intent durably through the Recorder and
// fail closed when that is impossible, (5) execute, (6) wait until the
// cluster has settled and the model shows the expected state, or a
// timeout, and (7) record the outcome with the object's state before and
// after. Actions are Tasks with a truthful terminal state, listed by the
// executor and published on the model's event log.
package action

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"mgmtd/model"
)

// Op names an action. The text is also the audit log's action name.
type Op string

// The actions.
const (
	ResourceStart         Op = "resource.start"
	ResourceStop          Op = "resource.stop"
	ResourceRestart       Op = "resource.restart"
	ResourceMove          Op = "resource.move"
	ResourceBan           Op = "resource.ban"
	ResourceClear         Op = "resource.clear"
	ResourceCleanup       Op = "resource.cleanup"
	ResourceManage        Op = "resource.manage"
	ResourceUnmanage      Op = "resource.unmanage"
	NodeStandby           Op = "node.standby"
	NodeOnline            Op = "node.online"
	NodeMaintenanceOn     Op = "node.maintenance-on"
	NodeMaintenanceOff    Op = "node.maintenance-off"
	NodeFence             Op = "node.fence"
	ClusterMaintenanceOn  Op = "cluster.maintenance-on"
	ClusterMaintenanceOff Op = "cluster.maintenance-off"
	VMMigrate             Op = "vm.migrate"
)

// opInfo is what the executor knows about an op.
type opInfo struct {
	kind model.Kind
	// privileged ops override Pacemaker's protections (fencing,
	// maintenance): the Authorizer is asked for the privileged check.
	privileged bool
	// needsNode: the request must name a node (Request.Node or To).
	needsNode bool
}

var ops = map[Op]opInfo{
	ResourceStart:         {kind: model.KindResource},
	ResourceStop:          {kind: model.KindResource},
	ResourceRestart:       {kind: model.KindResource},
	ResourceMove:          {kind: model.KindResource},
	ResourceBan:           {kind: model.KindResource},
	ResourceClear:         {kind: model.KindResource},
	ResourceCleanup:       {kind: model.KindResource},
	ResourceManage:        {kind: model.KindResource},
	ResourceUnmanage:      {kind: model.KindResource},
	NodeStandby:           {kind: model.KindNode},
	NodeOnline:            {kind: model.KindNode},
	NodeMaintenanceOn:     {kind: model.KindNode, privileged: true},
	NodeMaintenanceOff:    {kind: model.KindNode, privileged: true},
	NodeFence:             {kind: model.KindNode, privileged: true},
	ClusterMaintenanceOn:  {kind: model.KindCluster, privileged: true},
	ClusterMaintenanceOff: {kind: model.KindCluster, privileged: true},
	VMMigrate:             {kind: model.KindVM, needsNode: true},
}

// Ops lists every action, sorted by name.
func Ops() []Op {
	return []Op{ClusterMaintenanceOff, ClusterMaintenanceOn, NodeFence, NodeMaintenanceOff, NodeMaintenanceOn,
		NodeOnline, NodeStandby, ResourceBan, ResourceCleanup, ResourceClear, ResourceManage, ResourceMove,
		ResourceRestart, ResourceStart, ResourceStop, ResourceUnmanage, VMMigrate}
}

// Known reports whether o is one of the actions.
func (o Op) Known() bool { _, ok := ops[o]; return ok }

// Kind returns the kind of object the op acts on ("" for an unknown op).
func (o Op) Kind() model.Kind { return ops[o].kind }

// Privileged reports whether the op overrides Pacemaker's protections
// (fencing, maintenance) and so needs more than the operate permission.
func (o Op) Privileged() bool { return ops[o].privileged }

// Actor is who asked for an action, as the front-end authenticated them.
// It is copied into the audit records and the task.
type Actor struct {
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	Method    string   `json:"method,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	Channel   string   `json:"channel,omitempty"` // rest, cli, cim, ui
	Source    string   `json:"source,omitempty"`  // client address
	RequestID string   `json:"request_id,omitempty"`
	// CIBUser is the Pacemaker ACL user the live tools run as (CIB_user),
	// so that Pacemaker's own ACLs apply as well. The executor sets it from
	// the caller's identity when configured to; front-ends leave it empty.
	// It is never shown.
	CIBUser string `json:"-"`
}

// Request asks for one action.
type Request struct {
	Op Op `json:"op"`
	// Name is the resource, node or VM name (ignored for cluster ops).
	Name string `json:"name,omitempty"`
	// Node is the target node of move, ban, clear, cleanup and restart,
	// or the destination host of vm.migrate.
	Node string `json:"node,omitempty"`
	// Lifetime of a move or ban constraint: an ISO 8601 duration (PT1H)
	// or a Go duration (1h).
	Lifetime string `json:"lifetime,omitempty"`
	// DryRun stops after the simulation.
	DryRun bool `json:"dry_run,omitempty"`
	// Force overrides the stale, quorum and busy refusals; it needs the
	// privileged permission.
	Force bool `json:"force,omitempty"`
	// Confirm must be true for node.fence.
	Confirm bool `json:"confirm,omitempty"`
	// IdempotencyKey makes a retried request return the first task.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Actor          Actor  `json:"actor"`
}

// State is a task's state. Succeeded, Failed, TimedOut and Refused are
// terminal.
type State string

// Task states.
const (
	StatePending   State = "pending"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateTimedOut  State = "timed_out"
	StateRefused   State = "refused"
	// StateUnknown: the daemon stopped (crashed, was killed) while the
	// task ran; at the next start its effect was read back from the
	// cluster into Result and After, and the outcome recorded as unknown.
	StateUnknown State = "unknown"
)

// Terminal reports whether the state is final.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateTimedOut || s == StateRefused || s == StateUnknown
}

// Task is one action and its fate. Tasks returned by the Executor are
// copies; they never change under the caller.
type Task struct {
	ID             string   `json:"id"`
	Op             Op       `json:"op"`
	Object         model.ID `json:"object"`
	Node           string   `json:"node,omitempty"`
	Lifetime       string   `json:"lifetime,omitempty"`
	DryRun         bool     `json:"dry_run"`
	Force          bool     `json:"force"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	Actor          Actor    `json:"actor"`
	State          State    `json:"state"`
	Error          string   `json:"error,omitempty"`
	// Result is the cluster's actual result in words: what runs where, the
	// failed operation and its exit reason.
	Result     string            `json:"result,omitempty"`
	Prediction *model.Simulation `json:"prediction,omitempty"`
	// Shortfall says what the prediction shows the action would not
	// reach; empty when it reaches its goal or the executor cannot tell.
	Shortfall string `json:"shortfall,omitempty"`
	// Commands are the tool invocations that changed the cluster.
	Commands []string        `json:"commands,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	Created  time.Time       `json:"created"`
	Started  time.Time       `json:"started,omitzero"`
	Finished time.Time       `json:"finished,omitzero"`
}

// Errors of Submit. Each front-end maps them to its protocol's errors in
// one place, with errors.Is (REST: 400, 403, 404, 409, 409, 409, 503, 422,
// 409).
var (
	ErrInvalid     = errors.New("invalid action request")
	ErrForbidden   = errors.New("action not allowed")
	ErrNotFound    = errors.New("no such object")
	ErrStale       = errors.New("the model is stale")
	ErrNoQuorum    = errors.New("the cluster has no quorum")
	ErrBusy        = errors.New("another action on the same object is running")
	ErrUnavailable = errors.New("the audit log is unavailable")
	ErrIdempotency = errors.New("idempotency key reused for a different request")
	// ErrUnreachable: Pacemaker's prediction says the action would not
	// reach its goal (a move that places nothing, a standby that drains
	// nothing); applying it would only leave the change behind. Force
	// (admin) applies it anyway.
	ErrUnreachable = errors.New("the prediction says the action would not reach its goal")
)

// Actuator runs actions; the executor implements it and the front-ends
// submit through it. Submit authorizes the request with the caller's
// identity in ctx and returns at once with the task: running, or terminal
// for a dry run and an idempotent retry. A refused request returns an
// error wrapping one of the errors above, and the refused task when one
// was recorded (its ID is then set). Tasks are copies that never change
// under the caller; Tasks lists them newest first.
type Actuator interface {
	Submit(ctx context.Context, req Request) (Task, error)
	Task(id string) (Task, bool)
	Tasks() []Task
}
