package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"mgmtd/action"
	"mgmtd/mgmtd"
	"mgmtd/rest"
)

// verbs are the actions of each action command, by their command-line
// word.
var verbs = map[string]map[string]action.Op{
	"resource": {"start": action.ResourceStart, "stop": action.ResourceStop, "restart": action.ResourceRestart,
		"move": action.ResourceMove, "ban": action.ResourceBan, "clear": action.ResourceClear, "cleanup": action.ResourceCleanup,
		"manage": action.ResourceManage, "unmanage": action.ResourceUnmanage},
	"node": {"standby": action.NodeStandby, "online": action.NodeOnline, "maintenance-on": action.NodeMaintenanceOn,
		"maintenance-off": action.NodeMaintenanceOff},
	"vm": {"migrate": action.VMMigrate},
}

func verbNames(group string) []string {
	var out []string
	for v := range verbs[group] {
		out = append(out, v)
	}
	if group == "cluster" {
		out = []string{"maintenance"}
	}
	sort.Strings(out)
	return out
}

// actionFlags are the flags of the action commands.
type actionFlags struct {
	daemonFlags
	cib, node, lifetime, to, auditDir, key string
	dryRun, force, confirm, noWait         bool
}

func (f *actionFlags) register(fs *flag.FlagSet) {
	f.daemonFlags.register(fs, 5*time.Minute)
	fs.StringVar(&f.cib, "cib", "", "rehearse on this CIB file: the change and Pacemaker's simulated transition are written to it")
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

func actionCommand(group, synopsis, summary string) *command {
	return &command{name: group, synopsis: synopsis + " [--cib FILE | --server URL]", summary: summary, words: verbNames(group),
		detail: `With --server the daemon runs the action: authorized, simulated with
Pacemaker's scheduler, recorded in the audit log, executed with the cluster's
own tools, and followed to its result. With --cib the action is rehearsed on
a CIB file, recorded in a local audit journal (--audit-dir).`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			var f actionFlags
			f.register(fs)
			return func(ctx context.Context, pos []string) error {
				if err := f.checkOutput(); err != nil {
					return err
				}
				req, err := parseAction(group, pos, &f)
				if err != nil {
					return err
				}
				if f.cib != "" && f.server != "" {
					return usagef("%s: give --cib FILE or --server URL, not both", group)
				}
				if f.cib == "" {
					f.defaultServer()
				}
				if w := constraintWarning(req); w != "" {
					fmt.Fprintln(s.err, "mgmtd: note:", w)
				}
				ctx, cancel := context.WithTimeout(ctx, f.timeout)
				defer cancel()
				var task action.Task
				if f.cib != "" {
					log := slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
					task, err = mgmtd.Rehearse(ctx, req, mgmtd.RehearseOptions{CIBFile: f.cib, AuditDir: f.auditDir, Timeout: f.timeout, Log: log})
				} else {
					task, err = remoteAction(ctx, req, &f)
				}
				if task.ID != "" {
					if perr := printTask(s.out, f.output, task); perr != nil {
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
		}}
}

// constraintWarning says which constraint a move or ban leaves in the
// CIB, and how to remove it: Pacemaker keeps it until it is cleared (or
// its lifetime ends), and a forgotten one pins or bans the resource for
// good.
func constraintWarning(req action.Request) string {
	if req.DryRun {
		return ""
	}
	until := "it stays until \"mgmtd resource clear " + req.Name + "\""
	if req.Lifetime != "" {
		until = "it expires after " + req.Lifetime + " (or \"mgmtd resource clear " + req.Name + "\")"
	}
	switch {
	case req.Op == action.ResourceMove && req.Node == "":
		return "without --node, Pacemaker moves " + req.Name + " by banning it from the node it runs on: a cli-ban constraint; " + until
	case req.Op == action.ResourceMove:
		return "the move pins " + req.Name + " to " + req.Node + " with a cli-prefer constraint; " + until
	case req.Op == action.ResourceBan:
		return "the ban is a cli-ban constraint; " + until
	}
	return ""
}

// parseAction turns "resource move RSC", "node standby N", "cluster
// maintenance on", "fence N", "vm migrate VM" into a request.
func parseAction(group string, pos []string, f *actionFlags) (action.Request, error) {
	req := action.Request{Node: f.node, Lifetime: f.lifetime, DryRun: f.dryRun, Force: f.force, Confirm: f.confirm, IdempotencyKey: f.key}
	switch group {
	case "cluster":
		if len(pos) != 2 || pos[0] != "maintenance" || (pos[1] != "on" && pos[1] != "off") {
			return req, usagef("usage: mgmtd cluster maintenance on|off [flags]")
		}
		req.Op = action.ClusterMaintenanceOn
		if pos[1] == "off" {
			req.Op = action.ClusterMaintenanceOff
		}
		return req, nil
	case "fence":
		if len(pos) != 1 {
			return req, usagef("usage: mgmtd fence NODE --confirm [flags]")
		}
		if !f.confirm {
			return req, usagef("fence: refusing without --confirm (the node will be rebooted)")
		}
		req.Op, req.Name = action.NodeFence, pos[0]
		return req, nil
	}
	if len(pos) != 2 {
		return req, usagef("usage: mgmtd %s ACTION NAME [flags]; actions: %s", group, strings.Join(verbNames(group), ", "))
	}
	op, ok := verbs[group][pos[0]]
	if !ok {
		return req, usagef("%s: unknown action %q", group, pos[0])
	}
	req.Op, req.Name = op, pos[1]
	if op == action.VMMigrate {
		if f.to == "" {
			return req, usagef("usage: mgmtd vm migrate VM --to HOST")
		}
		req.Node = f.to
	}
	return req, nil
}

// actionPath is the REST path of a request.
func actionPath(req action.Request) string {
	kind, verb, _ := strings.Cut(string(req.Op), ".")
	switch kind {
	case "resource":
		return "/api/v1/resources/" + url.PathEscape(req.Name) + "/actions/" + verb
	case "node":
		return "/api/v1/nodes/" + url.PathEscape(req.Name) + "/actions/" + verb
	case "vm":
		return "/api/v1/vms/" + url.PathEscape(req.Name) + "/actions/migrate"
	}
	return "/api/v1/cluster/actions/" + verb
}

// remoteAction posts the request to the daemon and follows the task.
func remoteAction(ctx context.Context, req action.Request, f *actionFlags) (action.Task, error) {
	c, err := newClient(&f.daemonFlags)
	if err != nil {
		return action.Task{}, err
	}
	body := rest.ActionBody{Node: req.Node, Lifetime: req.Lifetime, DryRun: req.DryRun, Force: req.Force, Confirm: req.Confirm, IdempotencyKey: req.IdempotencyKey}
	if req.Op == action.VMMigrate {
		body.To, body.Node = req.Node, ""
	}
	var t action.Task
	if err := c.do(ctx, http.MethodPost, actionPath(req), body, &t); err != nil {
		return t, err
	}
	for !f.noWait && !t.State.Terminal() {
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("task %s still %s: %w", t.ID, t.State, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/tasks/"+url.PathEscape(t.ID), nil, &t); err != nil {
			return t, err
		}
	}
	return t, nil
}

func taskCommand() *command {
	return &command{name: "task", synopsis: "list | show ID --server URL", summary: "the daemon's action tasks", words: []string{"list", "show"},
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			var f daemonFlags
			f.register(fs, 60*time.Second)
			return func(ctx context.Context, pos []string) error {
				c, ctx, cancel, err := f.connect(ctx, "task")
				if err != nil {
					return err
				}
				defer cancel()
				switch {
				case len(pos) == 1 && pos[0] == "list":
					var ts []action.Task
					if err := c.do(ctx, http.MethodGet, "/api/v1/tasks", nil, &ts); err != nil {
						return err
					}
					if f.output == "json" {
						return writeJSON(s.out, ts)
					}
					tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tOP\tOBJECT\tSTATE\tACTOR\tCREATED")
					for _, t := range ts {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Op, t.Object.Name, t.State, t.Actor.ID, t.Created.Format(time.RFC3339))
					}
					return tw.Flush()
				case len(pos) == 2 && pos[0] == "show":
					var t action.Task
					if err := c.do(ctx, http.MethodGet, "/api/v1/tasks/"+url.PathEscape(pos[1]), nil, &t); err != nil {
						return err
					}
					return printTask(s.out, f.output, t)
				}
				return usagef("usage: mgmtd task list|show ID --server URL")
			}
		}}
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
			fmt.Fprintf(tw, "%s\t%s\n", label, a.Text())
		}
		if len(t.Prediction.Actions) == 0 {
			fmt.Fprintf(tw, "predicted\tno resource changes\n")
		}
		if n := len(t.Prediction.Planned); n > 0 {
			fmt.Fprintf(tw, "\t(and %d actions the cluster takes anyway, without this change)\n", n)
		}
	}
	if t.Shortfall != "" {
		fmt.Fprintf(tw, "WILL NOT REACH\t%s\n", t.Shortfall)
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
