// Package executor carries out actions (package action): it is the
// action.Actuator the wiring hands to the front-ends. Every action runs the
// seven steps package action describes, through the cluster's own tools,
// each run through toolexec.
//
// What the executor needs from elsewhere (authorization, the audit log,
// the scheduler simulation, the model's refresh, libvirt migration) is
// declared here as small consumer-side interfaces that the wiring (package
// mgmtd) satisfies. It imports model, action and toolexec.
package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"mgmtd/action"
	"mgmtd/model"
	"mgmtd/toolexec"
)

// Check is what the Authorizer decides on.
type Check struct {
	Op      action.Op
	Kind    model.Kind
	Cluster string
	Name    string // object name (the cluster name for cluster ops)
	// Privileged is set for fencing and maintenance, and when the request
	// asks to force: only admins may.
	Privileged bool
	Actor      action.Actor
}

// Authorizer decides whether the caller may run an action. It returns nil
// to allow, or an error whose text says why not. ctx is the request's
// context (it carries the front-end's identity).
type Authorizer interface {
	Authorize(ctx context.Context, c Check) error
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, c Check) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, c Check) error { return f(ctx, c) }

// Phase says which of an action's records an Entry is.
type Phase string

// Record phases.
const (
	PhaseIntent  Phase = "intent"  // before execution; must be durable
	PhaseOutcome Phase = "outcome" // after the task ended
	PhaseRefused Phase = "refused" // refused after authorization
)

// Entry is one audit record of an action.
type Entry struct {
	Phase  Phase
	Op     action.Op
	Task   string
	Object model.ID
	Actor  action.Actor
	State  action.State // the task's state (for outcomes)
	Reason string
	Before json.RawMessage
	After  json.RawMessage
	Time   time.Time
}

// Recorder makes action records durable (the audit log). Record returns
// only after the record is durable; any error means it is not, and the
// executor fails closed.
type Recorder interface {
	Record(ctx context.Context, e Entry) error
}

// Simulator runs Pacemaker's scheduler on a private copy of the CIB after
// modify changed the copy (modify gets the copy's path; the executor runs
// the action's own tool command with CIB_file pointing at it).
// *pacemaker.Source implements it.
type Simulator interface {
	Predict(ctx context.Context, scenario, node string, modify func(ctx context.Context, file string) error, extra ...string) *model.Simulation
}

// Snapshotter gives the current model snapshot; *model.Store implements it.
type Snapshotter interface {
	Snapshot() *model.Snapshot
}

// Refresher makes the model observe the cluster now (the Pacemaker
// source's Refresh). The model changes only through it: the executor never
// writes to the model.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// VMMigrator live-migrates a libvirt domain Pacemaker does not manage
// (*virt.Source implements it).
type VMMigrator interface {
	MigrateDomain(ctx context.Context, from, to, name string) error
}

// Runner runs one cluster tool with extra environment (CIB_file,
// CIB_user) and returns its standard output; toolexec.Runner implements
// it. An error carries the tool's standard error.
type Runner interface {
	Run(ctx context.Context, env []string, tool string, args ...string) ([]byte, error)
}

// Options configures an Executor. Store, Simulator, Authorizer and
// Recorder are required.
type Options struct {
	Store      Snapshotter
	Events     *model.EventLog // tasks are published here and waits wake on it; may be nil
	Refresher  Refresher       // makes the model observe the cluster; nil relies on the source's own schedule
	Simulator  Simulator
	Authorizer Authorizer
	Recorder   Recorder
	Migrator   VMMigrator // libvirt migration of unmanaged VMs; nil refuses them
	Runner     Runner     // nil means toolexec.Runner{} with a 5-minute timeout
	// CIBFile switches to rehearsal mode: every tool works on this file
	// (CIB_file), and after the change Pacemaker's scheduler runs the
	// transition on the file (crm_simulate --simulate --save-output), so
	// the file shows the outcome. The quorum refusal still applies (the
	// file's have-quorum).
	CIBFile string
	// SettleArgs are extra crm_simulate arguments for that transition in
	// rehearsal mode (e.g. --op-fail rsc_start_0@node=1 to rehearse a
	// failure).
	SettleArgs []string
	// CIBUser, when set, names the Pacemaker ACL user of the caller whose
	// identity ctx carries (empty: none); the live tools then run with
	// CIB_user so that Pacemaker's ACLs apply as well.
	CIBUser func(ctx context.Context) string
	// Timeout bounds execution and the wait for the result; 0 means 5 min.
	Timeout time.Duration
	// SettleGrace is how long a live cluster that says it has settled
	// may still take to show the action's result; 0 means 15 s.
	SettleGrace time.Duration
	// PollInterval is how often the model is refreshed while waiting; 0
	// means 1 s.
	PollInterval time.Duration
	// MaxTasks is how many finished tasks are kept; 0 means 1000.
	MaxTasks int
	// TaskFile, when set, keeps the tasks across restarts (a journal of
	// JSON lines, synced on every change). A task that was running when
	// the daemon stopped is ended by Recover at the next start.
	TaskFile string
	Now      func() time.Time
	Log      *slog.Logger
}

// Executor runs actions as tasks. Its methods are safe for concurrent use.
// Close waits for running tasks.
type Executor struct {
	opts Options
	run  Runner
	log  *slog.Logger
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc

	mu      sync.Mutex
	tasks   map[string]*action.Task
	order   []string          // task ids, oldest first
	busy    map[string]string // object -> running task id
	idem    map[string]string // actor + key -> task id
	reqs    map[string]action.Request
	changed chan struct{}
	journal *journal // nil without Options.TaskFile
	orphans []string // tasks that were running when the daemon stopped
}

// New returns an executor.
func New(opts Options) (*Executor, error) {
	if opts.Store == nil || opts.Simulator == nil || opts.Authorizer == nil || opts.Recorder == nil {
		return nil, errors.New("action: store, simulator, authorizer and recorder are required")
	}
	if opts.Runner == nil {
		opts.Runner = toolexec.Runner{Timeout: 5 * time.Minute}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.SettleGrace <= 0 {
		opts.SettleGrace = 15 * time.Second
	}
	if opts.MaxTasks <= 0 {
		opts.MaxTasks = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.CIBFile != "" {
		abs, err := filepath.Abs(opts.CIBFile)
		if err != nil {
			return nil, fmt.Errorf("action: cib file: %w", err)
		}
		opts.CIBFile = abs
	}
	ctx, stop := context.WithCancel(context.Background())
	e := &Executor{opts: opts, run: opts.Runner, log: opts.Log, ctx: ctx, stop: stop,
		tasks: map[string]*action.Task{}, busy: map[string]string{}, idem: map[string]string{}, reqs: map[string]action.Request{},
		changed: make(chan struct{})}
	if opts.TaskFile != "" {
		j, lines, err := openJournal(opts.TaskFile, opts.MaxTasks)
		if err != nil {
			stop()
			return nil, err
		}
		e.journal = j
		for _, l := range lines {
			t, req := l.Task, l.Request
			req.Actor.CIBUser = l.CIBUser
			e.tasks[t.ID], e.reqs[t.ID] = &t, req
			e.order = append(e.order, t.ID)
			if req.IdempotencyKey != "" && t.State != action.StateRefused {
				e.idem[req.Actor.ID+"\x00"+req.IdempotencyKey] = t.ID
			}
			if !t.State.Terminal() {
				e.orphans = append(e.orphans, t.ID)
			}
		}
	}
	return e, nil
}

// Close cancels running tasks (they end timed_out with the cluster's
// state at that moment), waits for them, and closes the task journal.
func (e *Executor) Close() error {
	e.stop()
	e.wg.Wait()
	if e.journal != nil {
		return e.journal.close()
	}
	return nil
}

// Orphans lists the tasks that were running when the daemon stopped
// before this start; Recover ends them.
func (e *Executor) Orphans() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.orphans)
}

// Recover ends the orphans: for each, it makes the model observe the
// cluster, reads the task's object back, and ends the task unknown with
// that state as its result, recording the outcome in the audit log as
// unknown. Call it once at start, before new actions matter; a task whose
// outcome cannot be recorded stays an orphan for the next start.
func (e *Executor) Recover(ctx context.Context) error {
	var errs []error
	for _, id := range e.Orphans() {
		if e.opts.Refresher != nil {
			if err := e.opts.Refresher.Refresh(ctx); err != nil {
				e.log.Warn("reading the cluster back for an orphaned task", "task", id, "err", err)
			}
		}
		e.mu.Lock()
		t, req := *e.tasks[id], e.reqs[id]
		e.mu.Unlock()
		sn := e.opts.Store.Snapshot()
		result := "the cluster could not be read back"
		var p *plan
		if len(sn.Nodes) > 0 {
			var err error
			if p, err = buildPlan(req, sn); err == nil {
				p.object = t.Object
				result = e.result(p, sn)
				t.After = stateJSON(sn, t.Object, p)
			} else {
				result = "read back: " + err.Error()
			}
		}
		t.State, t.Finished = action.StateUnknown, e.opts.Now().UTC()
		t.Error = "mgmtd stopped while the task ran (started " + t.Started.Format(time.RFC3339) + "); whether it took effect is read back in the result"
		t.Result = result
		if err := e.opts.Recorder.Record(ctx, Entry{Phase: PhaseOutcome, Op: t.Op, Task: t.ID, Object: t.Object, Actor: req.Actor,
			State: action.StateUnknown, Reason: "outcome unknown: mgmtd stopped while the task ran; read back: " + result,
			Before: t.Before, After: t.After, Time: t.Finished}); err != nil {
			errs = append(errs, fmt.Errorf("task %s: record the unknown outcome: %w", id, err))
			continue
		}
		e.store(&t, req, nil)
		e.mu.Lock()
		e.orphans = slices.DeleteFunc(e.orphans, func(o string) bool { return o == id })
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Submit runs steps 1 to 4 of an action synchronously (authorize,
// simulate, refuse, record the intent) and steps 5 to 7 in the background.
// It returns the task: succeeded for a dry run, running otherwise. A
// refused request returns the refused task (if one was created) and an
// error wrapping ErrForbidden, ErrInvalid, ErrNotFound, ErrStale,
// ErrNoQuorum, ErrBusy, ErrUnavailable or ErrIdempotency. A request with
// an idempotency key already seen from the same actor returns that task
// and no error.
func (e *Executor) Submit(ctx context.Context, req action.Request) (action.Task, error) {
	req.Actor.CIBUser = ""
	if e.opts.CIBUser != nil {
		req.Actor.CIBUser = e.opts.CIBUser(ctx)
	}
	if req.IdempotencyKey != "" {
		e.mu.Lock()
		id, seen := e.idem[req.Actor.ID+"\x00"+req.IdempotencyKey]
		if seen {
			first := e.reqs[id]
			t := *e.tasks[id]
			e.mu.Unlock()
			if !sameRequest(first, req) {
				return action.Task{}, fmt.Errorf("%w: key %q", action.ErrIdempotency, req.IdempotencyKey)
			}
			return t, nil
		}
		e.mu.Unlock()
	}
	sn := e.opts.Store.Snapshot()
	kind := req.Op.Kind()
	if !req.Op.Known() {
		return action.Task{}, fmt.Errorf("%w: unknown action %q", action.ErrInvalid, req.Op)
	}
	name := req.Name
	if kind == model.KindCluster {
		name = sn.Cluster.Name
	}
	t := &action.Task{ID: newID(), Op: req.Op, Object: sn.ID(kind, name), Node: req.Node, Lifetime: req.Lifetime,
		DryRun: req.DryRun, Force: req.Force, IdempotencyKey: req.IdempotencyKey, Actor: req.Actor,
		State: action.StatePending, Created: e.opts.Now().UTC()}

	// 1. Authorize: the op's own permission, and the privileged one for
	// fencing, maintenance and forcing.
	check := Check{Op: req.Op, Kind: kind, Cluster: sn.Cluster.Name, Name: name, Privileged: req.Op.Privileged() || req.Force, Actor: req.Actor}
	if err := e.opts.Authorizer.Authorize(ctx, check); err != nil {
		if !errors.Is(err, action.ErrForbidden) {
			err = fmt.Errorf("%w: %v", action.ErrForbidden, err)
		}
		return e.refuse(ctx, t, req, err, false), err
	}
	p, err := buildPlan(req, sn)
	if err != nil {
		return e.refuse(ctx, t, req, err, true), err
	}
	t.Object = p.object
	t.Before = stateJSON(sn, t.Object, p)

	// 2. Simulate on a copy with the change applied.
	t.Prediction = e.simulate(ctx, req, p)
	if t.Prediction.Error != "" && !req.DryRun && !req.Force {
		err := fmt.Errorf("%w: simulation failed: %s", action.ErrInvalid, t.Prediction.Error)
		return e.refuse(ctx, t, req, err, true), err
	}
	// Refuse what the prediction says would not reach its goal: applying
	// it would only leave the change (a constraint, an attribute) behind.
	if t.Prediction.Error == "" {
		t.Shortfall = shortfall(req, p, sn, t.Prediction)
	}
	if t.Shortfall != "" && !req.DryRun && !req.Force {
		err := fmt.Errorf("%w: %s; nothing was changed (an admin may force it)", action.ErrUnreachable, t.Shortfall)
		return e.refuse(ctx, t, req, err, true), err
	}
	if req.DryRun {
		t.State = action.StateSucceeded
		t.Result = "dry run: " + predictionText(t.Prediction)
		if t.Shortfall != "" {
			t.Result += "; it would not reach its goal: " + t.Shortfall
		}
		t.Finished = e.opts.Now().UTC()
		e.store(t, req, nil)
		return *t, nil
	}

	// 3. Refuse on a stale model, lost quorum, or a busy object.
	if !req.Force {
		if err := refusal(sn); err != nil {
			return e.refuse(ctx, t, req, err, true), err
		}
	}
	locks := []string{string(t.Object.Kind) + "/" + t.Object.Name}
	if t.Object.Kind == model.KindVM {
		for _, r := range p.resources {
			locks = append(locks, string(model.KindResource)+"/"+r)
		}
	}
	e.mu.Lock()
	for _, l := range locks {
		if other, busy := e.busy[l]; busy && !req.Force {
			e.mu.Unlock()
			err := fmt.Errorf("%w: task %s is acting on %s", action.ErrBusy, other, l)
			return e.refuse(ctx, t, req, err, true), err
		}
	}
	for _, l := range locks {
		e.busy[l] = t.ID
	}
	e.mu.Unlock()

	// 4. Record the intent durably, or refuse.
	if err := e.opts.Recorder.Record(ctx, Entry{Phase: PhaseIntent, Op: req.Op, Task: t.ID, Object: t.Object, Actor: req.Actor,
		State: action.StateRunning, Reason: intentReason(t), Before: t.Before, Time: e.opts.Now().UTC()}); err != nil {
		e.mu.Lock()
		for _, l := range locks {
			if e.busy[l] == t.ID {
				delete(e.busy, l)
			}
		}
		e.mu.Unlock()
		err = fmt.Errorf("%w: recording the intent failed, action not executed: %v", action.ErrUnavailable, err)
		t.State, t.Error, t.Finished = action.StateRefused, err.Error(), e.opts.Now().UTC()
		e.store(t, req, nil)
		return *t, err
	}
	t.State = action.StateRunning
	t.Started = e.opts.Now().UTC()
	e.store(t, req, locks)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.execute(t.ID, req, p, sn, locks)
	}()
	return *t, nil
}

func sameRequest(a, b action.Request) bool {
	return a.Op == b.Op && a.Name == b.Name && a.Node == b.Node && a.Lifetime == b.Lifetime &&
		a.DryRun == b.DryRun && a.Force == b.Force && a.Confirm == b.Confirm
}

// refusal checks the model before acting.
func refusal(sn *model.Snapshot) error {
	if len(sn.Nodes) == 0 {
		return fmt.Errorf("%w: the model has no picture of the cluster yet", action.ErrStale)
	}
	for _, st := range sn.Sources {
		if st.State != model.SourceOK {
			return fmt.Errorf("%w: source %s is %s: %s", action.ErrStale, st.Name, st.State, st.LastError)
		}
	}
	if !sn.Cluster.Quorate {
		return fmt.Errorf("%w: partition without quorum", action.ErrNoQuorum)
	}
	return nil
}

// refuse ends a task as refused, records it (after authorization, which
// the auth service records itself) and stores it.
func (e *Executor) refuse(ctx context.Context, t *action.Task, req action.Request, err error, record bool) action.Task {
	t.State, t.Error, t.Finished = action.StateRefused, err.Error(), e.opts.Now().UTC()
	if record {
		if rerr := e.opts.Recorder.Record(ctx, Entry{Phase: PhaseRefused, Op: req.Op, Task: t.ID, Object: t.Object, Actor: req.Actor,
			State: action.StateRefused, Reason: err.Error(), Before: t.Before, Time: t.Finished}); rerr != nil {
			e.log.Warn("recording a refusal failed", "task", t.ID, "err", rerr)
		}
	}
	e.store(t, req, nil)
	return *t
}

// store saves a copy of t, publishes it and wakes waiters. locks are the
// busy locks the task holds (released at a terminal state).
func (e *Executor) store(t *action.Task, req action.Request, locks []string) {
	c := *t
	c.Commands = slices.Clone(t.Commands)
	e.mu.Lock()
	if _, ok := e.tasks[c.ID]; !ok {
		e.order = append(e.order, c.ID)
		e.reqs[c.ID] = req
	}
	// A refused request may be retried with the same key (after the audit
	// log is back, say); an accepted one returns its task.
	if req.IdempotencyKey != "" && c.State != action.StateRefused {
		e.idem[req.Actor.ID+"\x00"+req.IdempotencyKey] = c.ID
	}
	e.tasks[c.ID] = &c
	if e.journal != nil {
		if err := e.journal.append(journalLine{Task: c, Request: req, CIBUser: req.Actor.CIBUser}); err != nil {
			e.log.Error("task journal write failed; the task is kept in memory only", "task", c.ID, "err", err)
		}
	}
	for _, l := range locks {
		if c.State.Terminal() && e.busy[l] == c.ID {
			delete(e.busy, l)
		}
	}
	for len(e.order) > e.opts.MaxTasks {
		old := e.tasks[e.order[0]]
		if !old.State.Terminal() {
			break
		}
		delete(e.tasks, old.ID)
		delete(e.reqs, old.ID)
		if old.IdempotencyKey != "" {
			delete(e.idem, old.Actor.ID+"\x00"+old.IdempotencyKey)
		}
		e.order = e.order[1:]
	}
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
	if e.opts.Events != nil {
		sev := model.SeverityInfo
		switch c.State {
		case action.StateFailed, action.StateTimedOut:
			sev = model.SeverityWarning
		}
		e.opts.Events.Publish(model.Event{Time: e.opts.Now().UTC(), Type: model.EventTask, Severity: sev,
			Object: model.ID{Cluster: c.Object.Cluster, Kind: model.KindTask, Name: c.ID}, Node: c.Node, To: string(c.State),
			Message: fmt.Sprintf("task %s: %s %s %s", c.ID, c.Op, c.Object.Name, c.State), Data: c})
	}
}

// Task returns a task by id.
func (e *Executor) Task(id string) (action.Task, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tasks[id]
	if !ok {
		return action.Task{}, false
	}
	return *t, true
}

// Tasks returns the kept tasks, newest first.
func (e *Executor) Tasks() []action.Task {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]action.Task, 0, len(e.order))
	for i := len(e.order) - 1; i >= 0; i-- {
		out = append(out, *e.tasks[e.order[i]])
	}
	return out
}

// Wait blocks until the task is terminal or ctx ends.
func (e *Executor) Wait(ctx context.Context, id string) (action.Task, error) {
	for {
		e.mu.Lock()
		t, ok := e.tasks[id]
		ch := e.changed
		e.mu.Unlock()
		if !ok {
			return action.Task{}, fmt.Errorf("%w: task %q", action.ErrNotFound, id)
		}
		if t.State.Terminal() {
			return *t, nil
		}
		select {
		case <-ctx.Done():
			return *t, ctx.Err()
		case <-ch:
		}
	}
}

// env returns the extra environment of a tool run: CIB_file in rehearsal
// mode or for a simulation copy, CIB_user for the live cluster.
func (e *Executor) env(file string, a action.Actor) []string {
	if file != "" {
		return []string{"CIB_file=" + file}
	}
	if a.CIBUser != "" {
		return []string{"CIB_user=" + a.CIBUser}
	}
	return nil
}

func (e *Executor) runAll(ctx context.Context, file string, a action.Actor, cmds []command) error {
	for _, c := range cmds {
		if _, err := e.run.Run(ctx, e.env(file, a), c.tool, c.args...); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

// offlineCmds is the change as it applies to a CIB file.
func (p *plan) offlineCmds() []command {
	if p.offline != nil {
		return p.offline
	}
	return p.live
}

// simulate is step 2.
func (e *Executor) simulate(ctx context.Context, req action.Request, p *plan) *model.Simulation {
	if p.migrate != nil {
		// libvirt, not Pacemaker, moves an unmanaged VM: nothing for the
		// scheduler to predict beyond the migration itself.
		return &model.Simulation{Scenario: string(req.Op), Node: p.migrate.to, Actions: []model.SimAction{
			{Action: "migrate", Resource: p.migrate.name, Source: p.migrate.from, Dest: p.migrate.to, Reason: "libvirt live migration (not managed by Pacemaker)"}}}
	}
	var modify func(ctx context.Context, file string) error
	if cmds := p.offlineCmds(); len(cmds) > 0 {
		modify = func(ctx context.Context, file string) error { return e.runAll(ctx, file, req.Actor, cmds) }
	}
	sim := e.opts.Simulator.Predict(ctx, string(req.Op), req.Node, modify, p.simExtra...)
	if sim == nil {
		sim = &model.Simulation{Scenario: string(req.Op), Error: "no simulation"}
	}
	return sim
}

// execute runs steps 5 to 7 for a task that was accepted.
func (e *Executor) execute(id string, req action.Request, p *plan, before *model.Snapshot, locks []string) {
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
	defer cancel()
	t, _ := e.Task(id)
	finish := func(st action.State, errText, result string) {
		sn := e.opts.Store.Snapshot()
		t.State, t.Error, t.Result, t.Finished = st, errText, result, e.opts.Now().UTC()
		t.After = stateJSON(sn, t.Object, p)
		// 7. Record the outcome; the action has happened, so a failure to
		// record is logged loudly but does not change the task's state.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
		defer rcancel()
		reason := result
		if errText != "" {
			reason = errText + "; " + result
		}
		if err := e.opts.Recorder.Record(rctx, Entry{Phase: PhaseOutcome, Op: req.Op, Task: t.ID, Object: t.Object, Actor: req.Actor,
			State: st, Reason: reason, Before: t.Before, After: t.After, Time: t.Finished}); err != nil {
			e.log.Error("recording an action's outcome failed", "task", t.ID, "op", req.Op, "err", err)
			t.Error = strings.TrimPrefix(t.Error+"; outcome not recorded in the audit log: "+err.Error(), "; ")
		}
		e.store(&t, req, locks)
	}

	// 5. Execute.
	settled, err := e.apply(ctx, &t, req, p)
	if err != nil {
		if ctx.Err() != nil {
			finish(action.StateTimedOut, err.Error(), e.result(p, before))
			return
		}
		finish(action.StateFailed, err.Error(), e.result(p, before))
		return
	}
	e.store(&t, req, locks) // commands are visible while waiting

	// 6. Wait until the model shows the result.
	known := failureIDs(before)
	var lastWhy string
	// Once the cluster says it has settled, the model gets a grace to
	// catch up. On a live cluster "settled" can come too early: right
	// after a change the DC may not have started the transition yet, so
	// crm_resource --wait finds nothing pending. Within the grace the wait
	// is asked again; only a cluster that stays settled short of the goal
	// fails the task.
	graceLeft, graceUntil := 3, time.Time{}
	for {
		if e.opts.Refresher != nil {
			if err := e.opts.Refresher.Refresh(ctx); err != nil && ctx.Err() == nil {
				e.log.Debug("refresh while waiting", "task", id, "err", err)
			}
		}
		sn := e.opts.Store.Snapshot()
		if fs := newFailures(sn, known, p.resources); len(fs) > 0 {
			finish(action.StateFailed, fs[0], e.result(p, sn))
			return
		}
		if p.fenceTarget != "" {
			for _, f := range sn.Fencing {
				if f.Target == p.fenceTarget && f.Status == "failed" && f.Completed.After(t.Started.Add(-time.Second)) {
					finish(action.StateFailed, "fencing "+f.Target+" failed: "+orDefault(f.ExitReason, f.Status), e.result(p, sn))
					return
				}
			}
		}
		done, why := p.goal(sn)
		if done {
			pred := t.Prediction
			if p.transient {
				pred = nil
			}
			if ok, pwhy := predictionMet(sn, pred); ok || !settled {
				if ok {
					finish(action.StateSucceeded, "", e.result(p, sn))
					return
				}
				why = pwhy
			} else {
				why = pwhy
			}
		}
		lastWhy = why
		if settled {
			if graceUntil.IsZero() {
				graceUntil = time.Now().Add(e.opts.SettleGrace)
			}
			if graceLeft <= 0 && time.Now().After(graceUntil) {
				finish(action.StateFailed, "the cluster settled without reaching the expected state: "+why, e.result(p, sn))
				return
			}
			graceLeft--
			if e.opts.CIBFile == "" && p.migrate == nil {
				settled = e.waitSettled(ctx, &t, req)
			}
		}
		if !e.sleep(ctx) {
			finish(action.StateTimedOut, fmt.Sprintf("no result after %s: %s", e.opts.Timeout, lastWhy), e.result(p, e.opts.Store.Snapshot()))
			return
		}
	}
}

// sleep waits for a model event or the poll interval; false when ctx ended.
func (e *Executor) sleep(ctx context.Context) bool {
	wctx, cancel := context.WithTimeout(ctx, e.opts.PollInterval)
	defer cancel()
	if e.opts.Events != nil {
		_ = e.opts.Events.Wait(wctx, e.opts.Events.Last())
	} else {
		<-wctx.Done()
	}
	return ctx.Err() == nil
}

// apply is step 5: run the tools (or the migrator) and, where possible,
// wait for the cluster to settle. It reports whether the cluster is known
// to have settled.
func (e *Executor) apply(ctx context.Context, t *action.Task, req action.Request, p *plan) (settled bool, err error) {
	note := func(c command) {
		s := c.String()
		if e.opts.CIBFile != "" {
			s = "CIB_file=" + e.opts.CIBFile + " " + s
		}
		t.Commands = append(t.Commands, s)
	}
	if p.migrate != nil {
		if e.opts.Migrator == nil {
			return false, errors.New("no libvirt migrator configured for VMs Pacemaker does not manage")
		}
		t.Commands = append(t.Commands, fmt.Sprintf("libvirt migrate %s from %s to %s (live)", p.migrate.name, p.migrate.from, p.migrate.to))
		if err := e.opts.Migrator.MigrateDomain(ctx, p.migrate.from, p.migrate.to, p.migrate.name); err != nil {
			return false, fmt.Errorf("migrate %s: %w", p.migrate.name, err)
		}
		return false, nil
	}
	if f := e.opts.CIBFile; f != "" {
		// Rehearsal: the change on the file, then the scheduler runs the
		// transition on it.
		if len(p.simExtra) > 0 {
			c := cmd("crm_simulate", append(append([]string{"--xml-file", f, "--simulate", "--save-output", f}, p.simExtra...), e.opts.SettleArgs...)...)
			note(c)
			_, err := e.run.Run(ctx, e.env(f, req.Actor), c.tool, c.args...)
			return true, err
		}
		for _, c := range p.offlineCmds() {
			note(c)
		}
		if err := e.runAll(ctx, f, req.Actor, p.offlineCmds()); err != nil {
			return false, err
		}
		if err := e.settleFile(ctx, t, req); err != nil {
			return false, err
		}
		if len(p.restore) > 0 {
			for _, c := range p.restore {
				note(c)
			}
			if err := e.runAll(ctx, f, req.Actor, p.restore); err != nil {
				return false, err
			}
			if err := e.settleFile(ctx, t, req); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	for _, c := range p.live {
		note(c)
	}
	if err := e.runAll(ctx, "", req.Actor, p.live); err != nil {
		return false, err
	}
	return e.waitSettled(ctx, t, req), nil
}

// waitSettled runs crm_resource --wait, which returns when the cluster
// has no pending actions, and reports whether it did.
func (e *Executor) waitSettled(ctx context.Context, t *action.Task, req action.Request) bool {
	left := time.Until(deadline(ctx))
	c := cmd("crm_resource", "--wait", "--timeout", strconv.Itoa(max(int(left/time.Second)-1, 1))+"s")
	if _, err := e.run.Run(ctx, e.env("", req.Actor), c.tool, c.args...); err != nil {
		e.log.Debug("cluster did not settle", "task", t.ID, "err", err)
		return false
	}
	return true
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Minute)
	}
	return d
}

func (e *Executor) settleFile(ctx context.Context, t *action.Task, req action.Request) error {
	f := e.opts.CIBFile
	c := cmd("crm_simulate", append([]string{"--xml-file", f, "--simulate", "--save-output", f}, e.opts.SettleArgs...)...)
	t.Commands = append(t.Commands, "CIB_file="+f+" "+c.String())
	_, err := e.run.Run(ctx, e.env(f, req.Actor), c.tool, c.args...)
	return err
}

// result describes the cluster's actual state of the task's objects.
func (e *Executor) result(p *plan, sn *model.Snapshot) string {
	var parts []string
	switch p.object.Kind {
	case model.KindResource:
		act := activeNodes(sn, p.object.Name)
		if len(act) == 0 {
			parts = append(parts, p.object.Name+" stopped")
		} else {
			parts = append(parts, p.object.Name+" active on "+strings.Join(act, ", "))
		}
		for _, f := range sn.FailuresOf(p.object.Name) {
			parts = append(parts, failureText(f))
		}
	case model.KindNode:
		n, _ := sn.Node(p.object.Name)
		parts = append(parts, fmt.Sprintf("node %s %s (standby=%t maintenance=%t), %d resources running", n.Name, n.State, n.Standby, n.Maintenance, n.ResourcesRunning))
	case model.KindCluster:
		parts = append(parts, fmt.Sprintf("cluster %s maintenance-mode=%t quorate=%t", sn.Cluster.Name, sn.Cluster.MaintenanceMode, sn.Cluster.Quorate))
	case model.KindVM:
		for _, v := range sn.VMsNamed(p.object.Name) {
			parts = append(parts, fmt.Sprintf("domain %s %s on host %s", v.Name, v.State, v.Host))
		}
		for _, r := range p.resources {
			parts = append(parts, r+" active on "+orDefault(strings.Join(activeNodes(sn, r), ", "), "no node"))
		}
	}
	return strings.Join(parts, "; ")
}

func failureIDs(sn *model.Snapshot) map[string]bool {
	m := make(map[string]bool, len(sn.Failures))
	for _, f := range sn.Failures {
		m[f.Key()+"\x00"+strconv.Itoa(f.Call)+"\x00"+f.Time.String()] = true
	}
	return m
}

// newFailures returns the failures of the given resources that were not
// in the model before the task.
func newFailures(sn *model.Snapshot, known map[string]bool, rscs []string) []string {
	var out []string
	for _, f := range sn.Failures {
		if known[f.Key()+"\x00"+strconv.Itoa(f.Call)+"\x00"+f.Time.String()] {
			continue
		}
		if slices.Contains(rscs, model.PrimitiveOf(f.Resource)) {
			out = append(out, failureText(f))
		}
	}
	return out
}

// predictionMet checks the predicted placements: what should start, move
// or migrate is active at its destination, what should stop is gone from
// its source, and nothing is pending.
func predictionMet(sn *model.Snapshot, sim *model.Simulation) (bool, string) {
	if sim == nil {
		return true, ""
	}
	for _, in := range sn.Instances {
		if in.Pending != "" {
			return false, in.Resource + " is " + in.Pending + " on " + in.Node
		}
	}
	for _, a := range sim.Actions {
		if a.Blocked {
			continue
		}
		if _, isNode := sn.Node(a.Resource); isNode && a.Resource != "" {
			if _, isRsc := sn.Resource(a.Resource); !isRsc {
				continue // fencing or shutdown of a node
			}
		}
		switch a.Action {
		case "start", "move", "migrate", "promote", "recover", "restart":
			if a.Dest != "" && !activeOn(sn, a.Resource, a.Dest) {
				return false, "predicted " + a.Action + " of " + a.Resource + " to " + a.Dest + " has not happened"
			}
		case "stop":
			if a.Source != "" && activeOn(sn, a.Resource, a.Source) && !startsOn(sim, a.Resource, a.Source) {
				return false, "predicted stop of " + a.Resource + " on " + a.Source + " has not happened"
			}
		}
	}
	return true, ""
}

// activeOn reports whether rsc is active on node; anonymous clone
// instance numbers ("mon:2") are not stable, so the primitive counts too.
func activeOn(sn *model.Snapshot, rsc, node string) bool {
	return slices.Contains(activeNodes(sn, rsc), node) || slices.Contains(activeNodes(sn, model.PrimitiveOf(rsc)), node)
}

func startsOn(sim *model.Simulation, rsc, node string) bool {
	for _, a := range sim.Actions {
		if a.Resource == rsc && a.Dest == node && a.Action != "stop" {
			return true
		}
	}
	return false
}

func predictionText(sim *model.Simulation) string {
	if sim == nil {
		return "no prediction"
	}
	if sim.Error != "" {
		return "simulation failed: " + sim.Error
	}
	if len(sim.Actions) == 0 {
		return "no resource changes"
	}
	var b strings.Builder
	for i, a := range sim.Actions {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Action + " " + a.Resource)
		switch {
		case a.Source != "" && a.Dest != "":
			b.WriteString(" (" + a.Source + " -> " + a.Dest + ")")
		case a.Dest != "":
			b.WriteString(" (" + a.Dest + ")")
		case a.Source != "":
			b.WriteString(" (" + a.Source + ")")
		}
		if a.Blocked {
			b.WriteString(" [blocked]")
		}
	}
	return b.String()
}

// objectState is the JSON recorded before and after an action.
type objectState struct {
	Cluster     *model.Cluster     `json:"cluster,omitempty"`
	Node        *model.Node        `json:"node,omitempty"`
	Resource    *model.Resource    `json:"resource,omitempty"`
	VMs         []model.VM         `json:"vms,omitempty"`
	Instances   []model.Instance   `json:"instances,omitempty"`
	Failures    []model.Failure    `json:"failures,omitempty"`
	Constraints []model.Constraint `json:"constraints,omitempty"`
	Generation  uint64             `json:"generation"`
	Truncated   bool               `json:"truncated,omitempty"`
}

// maxState keeps a state under the audit log's 64 KiB limit.
const maxState = 60 << 10

func stateJSON(sn *model.Snapshot, obj model.ID, p *plan) json.RawMessage {
	st := objectState{Generation: sn.Generation}
	switch obj.Kind {
	case model.KindCluster:
		c := sn.Cluster
		st.Cluster = &c
	case model.KindNode:
		if n, ok := sn.Node(obj.Name); ok {
			st.Node = &n
		}
		st.Instances = sn.InstancesOn(obj.Name)
	case model.KindResource:
		if r, ok := sn.Resource(obj.Name); ok {
			st.Resource = &r
		}
		st.Instances = sn.InstancesOf(obj.Name)
		st.Failures = sn.FailuresOf(obj.Name)
		st.Constraints = sn.ConstraintsOf(obj.Name)
	case model.KindVM:
		st.VMs = sn.VMsNamed(obj.Name)
		for _, r := range p.resources {
			st.Instances = append(st.Instances, sn.InstancesOf(r)...)
		}
	}
	b, _ := json.Marshal(st)
	if len(b) > maxState {
		st.Instances, st.Failures, st.Constraints, st.Truncated = nil, nil, nil, true
		b, _ = json.Marshal(st)
	}
	return b
}
