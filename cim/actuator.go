package cim

import (
	"context"
	"errors"
	"time"

	mdl "mgmtd/model"

	"mgmtd/wbem"
)

// Actuator performs the actions CIM methods request. It is declared here,
// on the consumer side; the daemon adapts the actions package to it. Do
// authorizes the request for req.Principal (answering an error wrapping
// ErrAccessDenied when refused), records it and starts it. It returns the
// id of the task doing the work, or "" when the action completed before Do
// returned. Task reports a task's progress for MGMTD_ConcreteJob.
type Actuator interface {
	Do(ctx context.Context, req ActionRequest) (taskID string, err error)
	Task(id string) (TaskStatus, bool)
}

// Action names requested through [Actuator.Do].
const (
	ActionResourceStart    = "resource.start"    // RequestStateChange(2)
	ActionResourceStop     = "resource.stop"     // RequestStateChange(3 Disabled, 4 Shut Down)
	ActionResourceRestart  = "resource.restart"  // RequestStateChange(10 Reboot, 11 Reset)
	ActionResourceUnmanage = "resource.unmanage" // RequestStateChange(9 Quiesce)
	ActionResourceMove     = "resource.move"     // MoveTo(DestinationNode, Lifetime); params "node", "lifetime"
	ActionResourceClear    = "resource.clear"    // MoveTo with an empty DestinationNode: drop the move constraint
	ActionResourceCleanup  = "resource.cleanup"  // Cleanup(Node); param "node" (empty: all nodes)
	ActionNodeStandby      = "node.standby"      // RequestStateChange(6 Offline)
	ActionNodeOnline       = "node.online"       // RequestStateChange(2 Enabled)
	ActionNodeFence        = "node.fence"        // Fence(Action); param "action": reboot, off, on
	ActionVMMigrate        = "vm.migrate"        // MigrateVirtualSystemToHost; params "host", "resource"
)

// ActionRequest is one action requested through a CIM method.
type ActionRequest struct {
	// Action is one of the Action* names.
	Action string
	// Kind and Target name the object: KindResource + resource id,
	// KindNode + node name, KindVM + libvirt domain name.
	Kind   mdl.Kind
	Target string
	// Params are the action's parameters (see the Action* constants);
	// durations are Go duration strings.
	Params map[string]string
	// Principal is the authenticated caller (Identity is the
	// authenticator's own value).
	Principal wbem.Principal
	// Method is the CIM method that asked ("RequestStateChange", ...), for
	// audit records.
	Method string
}

// TaskState is the state of an action task.
type TaskState string

// Task states.
const (
	TaskPending   TaskState = "pending"
	TaskRunning   TaskState = "running"
	TaskSucceeded TaskState = "succeeded"
	TaskFailed    TaskState = "failed"
	TaskCancelled TaskState = "cancelled"
)

// TaskStatus is the progress of an action task.
type TaskStatus struct {
	ID     string
	Action string
	Kind   mdl.Kind
	Target string
	State  TaskState
	// Percent is the completion in percent, or -1 when unknown.
	Percent int
	// Message describes the current step; Error the failure.
	Message string
	Error   string
	// Owner is the principal that requested the task.
	Owner     string
	Submitted time.Time
	Updated   time.Time
}

// Errors an Actuator returns (wrapped) to choose the method's return
// value instead of a CIM error: 4097 Invalid State Transition, 4099 Busy,
// 5 Invalid Parameter. An error wrapping ErrAccessDenied becomes
// CIM_ERR_ACCESS_DENIED; any other error CIM_ERR_FAILED with its text.
var (
	ErrInvalidStateTransition = errors.New("invalid state transition")
	ErrBusy                   = errors.New("busy")
	ErrInvalidParameter       = errors.New("invalid parameter")
)
