package mgmtd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mgmtd/action"
	"mgmtd/action/executor"
	"mgmtd/audit"
	"mgmtd/auth"
	"mgmtd/model"
	"mgmtd/rest"
	"mgmtd/source/pacemaker"
	"mgmtd/toolexec"
)

// This file wires the action executor to the daemon (REST routes, the auth
// policy as the authorizer, the audit log as the recorder) and runs the
// command line's offline rehearsals on a CIB file.

// actionAuthorizer is the action package's authorization hook backed by the
// one auth policy: the identity comes from the request context (the REST
// guard or the CLI put it there). Fencing, maintenance and forcing need
// auth.ActionFence (admins); everything else auth.ActionOperate. svc, when
// set, records denials.
func actionAuthorizer(svc *auth.Service) executor.Authorizer {
	return executor.AuthorizerFunc(func(ctx context.Context, c executor.Check) error {
		id, ok := auth.FromContext(ctx)
		if !ok {
			return fmt.Errorf("%w: not authenticated", action.ErrForbidden)
		}
		act := auth.ActionOperate
		if c.Privileged {
			act = auth.ActionFence
		}
		obj := auth.Object{Cluster: c.Cluster, Name: c.Name, Kind: auth.KindCluster}
		if k, member := auth.MemberKind(string(c.Kind)); member {
			obj.Kind = k
		}
		var d auth.Decision
		if svc != nil {
			d = svc.Authorize(ctx, id, act, obj)
		} else {
			d = auth.Authorize(id, act, obj)
		}
		if !d.Allowed {
			return fmt.Errorf("%w: %s", action.ErrForbidden, d.Reason)
		}
		return nil
	})
}

// actionRecorder writes action records to the audit log: the intent as
// "<op>.intent" (outcome success: the intent is on record), refusals as
// denied, outcomes as success, failure (failed) or error (timed out).
type actionRecorder struct{ rec audit.Recorder }

// Record implements executor.Recorder.
func (r actionRecorder) Record(ctx context.Context, e executor.Entry) error {
	ev := audit.Event{Actor: e.Actor.ID, AuthMethod: e.Actor.Method, Roles: e.Actor.Roles, Action: string(e.Op), Time: e.Time,
		Channel: audit.Channel(e.Actor.Channel), Source: e.Actor.Source, RequestID: e.Actor.RequestID,
		ObjectType: string(e.Object.Kind), ObjectID: e.Object.Cluster + "/" + e.Object.Name,
		Reason: "task " + e.Task + ": " + e.Reason, Before: e.Before, After: e.After}
	if ev.Channel == "" {
		ev.Channel = audit.ChannelSystem
	}
	if ev.Actor == "" {
		ev.Actor = "unknown"
	}
	switch e.Phase {
	case executor.PhaseIntent:
		ev.Action += ".intent"
		ev.Outcome = audit.OutcomeSuccess
	case executor.PhaseRefused:
		ev.Outcome = audit.OutcomeDenied
	default:
		switch e.State {
		case action.StateSucceeded:
			ev.Outcome = audit.OutcomeSuccess
		case action.StateFailed:
			ev.Outcome = audit.OutcomeFailure
		default:
			ev.Outcome = audit.OutcomeError
		}
	}
	if len(ev.Reason) > audit.MaxFieldLen {
		ev.Reason = ev.Reason[:audit.MaxFieldLen-3] + "..."
	}
	if _, err := r.rec.Record(ctx, ev); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// cibUser is the Pacemaker ACL user for the caller: the user name of
// password (PAM) and local peer-credential callers. Other callers act as
// mgmtd itself.
func cibUser(ctx context.Context) string {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return ""
	}
	if name, ok := strings.CutPrefix(id.ID, "pam:"); ok {
		return name
	}
	if name, ok := strings.CutPrefix(id.ID, "password:"); ok {
		return name
	}
	return ""
}

// ActionOptions are the daemon's choices for actions.
type ActionOptions struct {
	// Recorder is the audit log; required (actions fail closed without it).
	Recorder audit.Recorder
	// Migrator live-migrates VMs Pacemaker does not manage (the virt
	// source); nil refuses them.
	Migrator executor.VMMigrator
	// UseCIBUser runs the live tools as the caller's CIB user.
	UseCIBUser bool
	// Timeout bounds one action; 0 means 5 min.
	Timeout time.Duration
}

// wireActions builds the executor on the daemon's store and Pacemaker
// source, and registers the action and task routes. The caller closes the
// returned executor after the HTTP servers have shut down (it waits for
// running tasks). In demo mode (no Pacemaker source) it registers nothing
// and returns nil.
func (d *Daemon) wireActions(o ActionOptions) (*executor.Executor, error) {
	pm, ok := d.sim.(interface {
		executor.Simulator
		executor.Refresher
	})
	if !ok {
		return nil, nil
	}
	if o.Recorder == nil {
		return nil, errors.New("actions: an audit recorder is required")
	}
	var cibUserOf func(context.Context) string
	if o.UseCIBUser {
		cibUserOf = cibUser
	}
	taskFile := ""
	if d.cfg.StateDir != "" {
		taskFile = filepath.Join(d.cfg.StateDir, "tasks.jsonl")
	}
	ex, err := executor.New(executor.Options{Store: d.Store, Events: d.Store.Events(), Refresher: pm, Simulator: pm,
		Authorizer: actionAuthorizer(d.Auth), Recorder: actionRecorder{o.Recorder}, Migrator: o.Migrator,
		Runner: toolexec.Runner{Dir: d.cfg.Pacemaker.ToolDir, Timeout: 5 * time.Minute, Observe: d.observeTool}, CIBFile: d.cfg.Pacemaker.CIBFile,
		CIBUser: cibUserOf, Timeout: o.Timeout, TaskFile: taskFile, Log: d.log.With("component", "action")})
	if err != nil {
		return nil, err
	}
	for _, r := range rest.ActionRoutes(d.REST, ex) {
		d.REST.Handle(r)
	}
	return ex, nil
}

// openCLIRecorder opens the audit log the CLI's --cib actions record to:
// by default a local journal (its own instance and directory, so it never
// writes the daemon's chain). The wiring may replace it.
var openCLIRecorder = func(ctx context.Context, dir string, log *slog.Logger) (executor.Recorder, func() error, error) {
	host, _ := os.Hostname()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("audit dir: %w", err)
	}
	l, err := audit.Open(ctx, audit.Options{Instance: "cli@" + orString(host, "localhost"), StateDir: dir, AnchorInterval: -1}, log)
	if err != nil {
		return nil, nil, fmt.Errorf("open audit log: %w", err)
	}
	return actionRecorder{l}, l.Close, nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// RehearseOptions configure Rehearse.
type RehearseOptions struct {
	// CIBFile is the CIB file the action and Pacemaker's simulated
	// transition are written to.
	CIBFile string
	// AuditDir is the directory of the local audit journal the rehearsal
	// records to (its own instance, never a daemon's chain).
	AuditDir string
	// Timeout bounds the action; 0 means 5 min.
	Timeout time.Duration
	Log     *slog.Logger
}

// Rehearse runs an action on a CIB file with a local executor, as the
// local user (who can write the file anyway) acting as admin, and waits
// for its task to end. It is the command line's --cib mode.
func Rehearse(ctx context.Context, req action.Request, o RehearseOptions) (action.Task, error) {
	if _, err := os.Stat(o.CIBFile); err != nil {
		return action.Task{}, fmt.Errorf("--cib: %w", err)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	rec, closeRec, err := openCLIRecorder(ctx, o.AuditDir, o.Log)
	if err != nil {
		return action.Task{}, err
	}
	defer func() {
		if cerr := closeRec(); cerr != nil {
			o.Log.Error("close audit log", "err", cerr)
		}
	}()
	store := model.NewStore(model.StoreOptions{View: "cib-file"})
	store.Register(pacemaker.Name)
	src := pacemaker.New(pacemaker.Options{CIBFile: o.CIBFile, ReadConfigFiles: true}, store, o.Log)
	if err := src.Refresh(ctx); err != nil {
		return action.Task{}, err
	}
	ex, err := executor.New(executor.Options{Store: store, Events: store.Events(), Refresher: src, Simulator: src,
		Authorizer: actionAuthorizer(nil), Recorder: rec, CIBFile: o.CIBFile, Timeout: o.Timeout,
		PollInterval: 100 * time.Millisecond, Log: o.Log})
	if err != nil {
		return action.Task{}, err
	}
	defer ex.Close()
	id := localIdentity()
	ctx = auth.NewContext(ctx, id)
	req.Actor = action.Actor{ID: id.ID, Name: id.Name, Method: string(id.Method), Roles: []string{string(auth.RoleAdmin)}, Channel: string(audit.ChannelCLI)}
	t, err := ex.Submit(ctx, req)
	if err != nil {
		return t, err
	}
	return ex.Wait(ctx, t.ID)
}

// localIdentity is the caller of a rehearsal: the local user, who can
// write the CIB file anyway, acts as admin on it.
func localIdentity() *auth.Identity {
	uid := os.Getuid()
	name := strconv.Itoa(uid)
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return &auth.Identity{ID: "local:uid=" + strconv.Itoa(uid), Name: name, Method: auth.MethodLocal,
		Roles: []auth.Role{auth.RoleAdmin}, Grants: []auth.Grant{{Role: auth.RoleAdmin}}}
}
