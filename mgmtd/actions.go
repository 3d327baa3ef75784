package mgmtd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
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

// This file wires the action package to the daemon (REST routes, the auth
// policy as the authorizer, the audit log as the recorder) and adds the
// action subcommands of the command line.

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
		obj := auth.Object{Cluster: c.Cluster, Name: c.Name}
		switch c.Kind {
		case model.KindResource:
			obj.Kind = auth.KindResource
		case model.KindNode:
			obj.Kind = auth.KindNode
		case model.KindVM:
			obj.Kind = auth.KindVM
		default:
			obj.Kind = auth.KindCluster
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
	ex, err := executor.New(executor.Options{Store: d.Store, Events: d.Store.Events(), Refresher: pm, Simulator: pm,
		Authorizer: actionAuthorizer(d.Auth), Recorder: actionRecorder{o.Recorder}, Migrator: o.Migrator,
		Runner: toolexec.Runner{Dir: d.cfg.Pacemaker.ToolDir, Timeout: 5 * time.Minute}, CIBFile: d.cfg.Pacemaker.CIBFile,
		CIBUser: cibUserOf, Timeout: o.Timeout, Log: d.log})
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

func init() {
	extraCommands["resource"] = func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return cmdAction(ctx, "resource", args, stdout, stderr)
	}
	extraCommands["node"] = func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return cmdAction(ctx, "node", args, stdout, stderr)
	}
	extraCommands["cluster"] = func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return cmdAction(ctx, "cluster", args, stdout, stderr)
	}
	extraCommands["fence"] = func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return cmdAction(ctx, "fence", args, stdout, stderr)
	}
	extraCommands["vm"] = func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return cmdAction(ctx, "vm", args, stdout, stderr)
	}
	extraCommands["task"] = cmdTask
}

// actionFlags are the flags of the action subcommands.
type actionFlags struct {
	queryFlags
	node, lifetime, to, auditDir, key string
	dryRun, force, confirm, noWait    bool
}

func (f *actionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cib, "cib", "", "rehearse on this CIB file: the change and Pacemaker's simulated transition are written to it")
	fs.StringVar(&f.server, "server", "", "act through a running daemon: https://HOST:PORT, or unix:PATH for its local socket (token from $MGMTD_TOKEN)")
	fs.StringVar(&f.ca, "ca", "", "trust this CA (or the daemon's self-signed certificate) file")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the daemon's TLS certificate")
	fs.StringVar(&f.output, "o", "table", "output: table or json")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up waiting after this long")
	fs.StringVar(&f.node, "node", "", "target node")
	fs.StringVar(&f.to, "to", "", "destination host (vm migrate)")
	fs.StringVar(&f.lifetime, "lifetime", "", "lifetime of a move or ban (PT1H or 1h)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "only show Pacemaker's prediction")
	fs.BoolVar(&f.force, "force", false, "act although the model is stale, quorum is lost or another action runs (admin)")
	fs.BoolVar(&f.confirm, "confirm", false, "confirm fencing")
	fs.BoolVar(&f.noWait, "no-wait", false, "return once the task is accepted (with --server)")
	fs.StringVar(&f.auditDir, "audit-dir", "/var/lib/mgmtd/audit-cli", "with --cib: the audit journal's directory")
	fs.StringVar(&f.key, "idempotency-key", "", "idempotency key (with --server)")
}

// parseInterleaved parses flags given before and after positional words.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

var cliOps = map[string]map[string]action.Op{
	"resource": {"start": action.ResourceStart, "stop": action.ResourceStop, "restart": action.ResourceRestart,
		"move": action.ResourceMove, "ban": action.ResourceBan, "clear": action.ResourceClear, "cleanup": action.ResourceCleanup,
		"manage": action.ResourceManage, "unmanage": action.ResourceUnmanage},
	"node": {"standby": action.NodeStandby, "online": action.NodeOnline, "maintenance-on": action.NodeMaintenanceOn,
		"maintenance-off": action.NodeMaintenanceOff},
	"vm": {"migrate": action.VMMigrate},
}

// parseActionArgs turns "resource move RSC", "node standby N", "cluster
// maintenance on", "fence N", "vm migrate VM" into a request.
func parseActionArgs(group string, pos []string, f *actionFlags) (action.Request, error) {
	req := action.Request{Node: f.node, Lifetime: f.lifetime, DryRun: f.dryRun, Force: f.force, Confirm: f.confirm, IdempotencyKey: f.key}
	switch group {
	case "cluster":
		if len(pos) != 2 || pos[0] != "maintenance" || (pos[1] != "on" && pos[1] != "off") {
			return req, usageError{"usage: mgmtd cluster maintenance on|off [flags]"}
		}
		req.Op = action.ClusterMaintenanceOn
		if pos[1] == "off" {
			req.Op = action.ClusterMaintenanceOff
		}
		return req, nil
	case "fence":
		if len(pos) != 1 {
			return req, usageError{"usage: mgmtd fence NODE --confirm [flags]"}
		}
		if !f.confirm {
			return req, usageError{"fence: refusing without --confirm (the node will be rebooted)"}
		}
		req.Op, req.Name = action.NodeFence, pos[0]
		return req, nil
	}
	if len(pos) != 2 {
		names := make([]string, 0, len(cliOps[group]))
		for n := range cliOps[group] {
			names = append(names, n)
		}
		return req, usageError{fmt.Sprintf("usage: mgmtd %s ACTION NAME [flags]; actions: %s", group, strings.Join(sortedStrings(names), ", "))}
	}
	op, ok := cliOps[group][pos[0]]
	if !ok {
		return req, usageError{fmt.Sprintf("%s: unknown action %q", group, pos[0])}
	}
	req.Op, req.Name = op, pos[1]
	if op == action.VMMigrate {
		if f.to == "" {
			return req, usageError{"usage: mgmtd vm migrate VM --to HOST"}
		}
		req.Node = f.to
	}
	return req, nil
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func cmdAction(ctx context.Context, group string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(group, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f actionFlags
	f.register(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if f.output != "table" && f.output != "json" {
		return usageError{"-o must be table or json"}
	}
	req, err := parseActionArgs(group, pos, &f)
	if err != nil {
		return err
	}
	if (f.cib == "") == (f.server == "") {
		return usageError{group + ": give exactly one of --cib FILE or --server URL"}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var task action.Task
	if f.cib != "" {
		task, err = rehearse(ctx, req, f, stderr)
	} else {
		task, err = remoteAction(ctx, req, f)
	}
	if task.ID != "" {
		if perr := printTask(stdout, f.output, task); perr != nil {
			return perr
		}
	}
	if err != nil {
		return err
	}
	if task.State.Terminal() && task.State != action.StateSucceeded {
		return fmt.Errorf("task %s %s: %s", task.ID, task.State, task.Error)
	}
	return nil
}

// localIdentity is the CLI's caller in rehearsal mode: the local user, who
// can write the CIB file anyway, acts as admin on it.
func localIdentity() *auth.Identity {
	uid := os.Getuid()
	name := strconv.Itoa(uid)
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return &auth.Identity{ID: "local:uid=" + strconv.Itoa(uid), Name: name, Method: auth.MethodLocal,
		Roles: []auth.Role{auth.RoleAdmin}, Grants: []auth.Grant{{Role: auth.RoleAdmin}}}
}

// rehearse runs an action on a CIB file with a local executor.
func rehearse(ctx context.Context, req action.Request, f actionFlags, stderr io.Writer) (action.Task, error) {
	if _, err := os.Stat(f.cib); err != nil {
		return action.Task{}, fmt.Errorf("--cib: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rec, closeRec, err := openCLIRecorder(ctx, f.auditDir, log)
	if err != nil {
		return action.Task{}, err
	}
	defer func() {
		if cerr := closeRec(); cerr != nil {
			fmt.Fprintln(stderr, "mgmtd: close audit log:", cerr)
		}
	}()
	store := model.NewStore(model.StoreOptions{View: "cib-file"})
	store.Register(pacemaker.Name)
	src := pacemaker.New(pacemaker.Options{CIBFile: f.cib, ReadConfigFiles: true}, store, log)
	if err := src.Refresh(ctx); err != nil {
		return action.Task{}, err
	}
	ex, err := executor.New(executor.Options{Store: store, Events: store.Events(), Refresher: src, Simulator: src,
		Authorizer: actionAuthorizer(nil), Recorder: rec, CIBFile: f.cib, Timeout: f.timeout,
		PollInterval: 100 * time.Millisecond, Log: log})
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

// client is a small REST client for the daemon (token from $MGMTD_TOKEN,
// or peer credentials on the unix socket).
func newClient(q queryFlags) (*http.Client, string, error) {
	base := strings.TrimRight(q.server, "/")
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: q.insecure}} //nolint:gosec // an explicit operator choice
	if sock, ok := strings.CutPrefix(q.server, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		base = "http://mgmtd"
	} else if q.ca != "" {
		pem, err := os.ReadFile(q.ca)
		if err != nil {
			return nil, "", fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("--ca: no certificate in %s", q.ca)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, base, nil
}

func apiCall(ctx context.Context, c *http.Client, method, u string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok := os.Getenv("MGMTD_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var p struct{ Title, Detail string }
		_ = json.Unmarshal(b, &p)
		return fmt.Errorf("%s: %s", resp.Status, orString(p.Detail, p.Title))
	}
	return json.Unmarshal(b, out)
}

// actionPath is the REST path of a request.
func actionPath(req action.Request) string {
	kind, verb, _ := strings.Cut(string(req.Op), ".")
	switch kind {
	case "resource":
		return "/api/v1/resources/" + url.PathEscape(req.Name) + "/actions/" + verb
	case "node":
		if req.Op == action.NodeFence {
			verb = "fence"
		}
		return "/api/v1/nodes/" + url.PathEscape(req.Name) + "/actions/" + verb
	case "vm":
		return "/api/v1/vms/" + url.PathEscape(req.Name) + "/actions/migrate"
	}
	return "/api/v1/cluster/actions/" + verb
}

// remoteAction posts the request to the daemon and waits for the task.
func remoteAction(ctx context.Context, req action.Request, f actionFlags) (action.Task, error) {
	c, base, err := newClient(f.queryFlags)
	if err != nil {
		return action.Task{}, err
	}
	body := rest.ActionBody{Node: req.Node, Lifetime: req.Lifetime, DryRun: req.DryRun, Force: req.Force, Confirm: req.Confirm, IdempotencyKey: req.IdempotencyKey}
	if req.Op == action.VMMigrate {
		body.To, body.Node = req.Node, ""
	}
	var t action.Task
	if err := apiCall(ctx, c, http.MethodPost, base+actionPath(req), body, &t); err != nil {
		return t, err
	}
	for !f.noWait && !t.State.Terminal() {
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("task %s still %s: %w", t.ID, t.State, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
		if err := apiCall(ctx, c, http.MethodGet, base+"/api/v1/tasks/"+url.PathEscape(t.ID), nil, &t); err != nil {
			return t, err
		}
	}
	return t, nil
}

func cmdTask(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("task", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var q queryFlags
	q.daemonFlags(fs, 60*time.Second)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	c, base, ctx, cancel, err := q.connect(ctx, "task")
	if err != nil {
		return err
	}
	defer cancel()
	switch {
	case len(pos) == 1 && pos[0] == "list":
		var ts []action.Task
		if err := apiCall(ctx, c, http.MethodGet, base+"/api/v1/tasks", nil, &ts); err != nil {
			return err
		}
		if q.output == "json" {
			return writeJSON(stdout, ts)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tOP\tOBJECT\tSTATE\tACTOR\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Op, t.Object.Name, t.State, t.Actor.ID, t.Created.Format(time.RFC3339))
		}
		return tw.Flush()
	case len(pos) == 2 && pos[0] == "show":
		var t action.Task
		if err := apiCall(ctx, c, http.MethodGet, base+"/api/v1/tasks/"+url.PathEscape(pos[1]), nil, &t); err != nil {
			return err
		}
		return printTask(stdout, q.output, t)
	}
	return usageError{"usage: mgmtd task list|show ID --server URL"}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func printTask(w io.Writer, output string, t action.Task) error {
	if output == "json" {
		return writeJSON(w, t)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "task\t%s\n", t.ID)
	fmt.Fprintf(tw, "action\t%s %s\n", t.Op, t.Object.Name)
	fmt.Fprintf(tw, "state\t%s\n", t.State)
	if t.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", t.Error)
	}
	if t.Prediction != nil {
		for i, a := range t.Prediction.Actions {
			label := ""
			if i == 0 {
				label = "predicted"
			}
			where := a.Dest
			if a.Source != "" && a.Dest != "" {
				where = a.Source + " -> " + a.Dest
			} else if a.Source != "" {
				where = a.Source
			}
			fmt.Fprintf(tw, "%s\t%s %s %s\n", label, a.Action, a.Resource, where)
		}
		if len(t.Prediction.Actions) == 0 {
			fmt.Fprintf(tw, "predicted\tno resource changes\n")
		}
	}
	for i, c := range t.Commands {
		label := ""
		if i == 0 {
			label = "ran"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, c)
	}
	if t.Result != "" {
		fmt.Fprintf(tw, "result\t%s\n", t.Result)
	}
	return tw.Flush()
}
