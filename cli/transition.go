package cli

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"mgmtd/model"
)

func transitionCommand() *command {
	return &command{name: "transition", synopsis: "list | explain INPUT [--scores] --server URL",
		summary: "why the cluster did it: the DC's scheduler inputs and what Pacemaker did from one", words: []string{"list", "explain"},
		detail: `list prints the scheduler inputs the DC saved (pe-input-N.bz2, pe-warn-N,
pe-error-N), newest first, with the controller's transition number where
Pacemaker's log tells it. explain runs crm_simulate on a private copy of one
input - never on the live cluster - and prints the actions Pacemaker took
from it; --scores adds the allocation scores. A stored event links to its
input (mgmtd history -o json: "transition").`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			var f daemonFlags
			f.register(fs, 2*time.Minute)
			scores := fs.Bool("scores", false, "explain: also the allocation scores")
			return func(ctx context.Context, pos []string) error {
				if !(len(pos) == 1 && pos[0] == "list") && !(len(pos) == 2 && pos[0] == "explain") {
					return usagef("usage: mgmtd transition list | explain INPUT [--scores] --server URL")
				}
				c, ctx, cancel, err := f.connect(ctx, "transition")
				if err != nil {
					return err
				}
				defer cancel()
				if pos[0] == "list" {
					var ins []model.TransitionInput
					if err := c.do(ctx, http.MethodGet, "/api/v1/transitions", nil, &ins); err != nil {
						return err
					}
					if f.output == "json" {
						return writeJSON(s.out, ins)
					}
					tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "INPUT\tKIND\tTRANSITION\tSAVED")
					for _, in := range ins {
						tr := "?"
						if in.Transition >= 0 {
							tr = fmt.Sprint(in.Transition)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.Name, in.Kind, tr, in.Time.Local().Format(time.RFC3339))
					}
					return tw.Flush()
				}
				path := "/api/v1/transitions/" + url.PathEscape(pos[1])
				if *scores {
					path += "?scores=true"
				}
				var ex model.Explanation
				if err := c.do(ctx, http.MethodGet, path, nil, &ex); err != nil {
					return err
				}
				if f.output == "json" {
					return writeJSON(s.out, ex)
				}
				fmt.Fprintf(s.out, "%s (saved %s)\n", ex.Input.Name, ex.Input.Time.Local().Format(time.RFC3339))
				tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
				if len(ex.Actions) == 0 {
					fmt.Fprintln(tw, "  no actions: the cluster was where the scheduler wanted it")
				}
				for _, a := range ex.Actions {
					where := a.Node
					switch {
					case a.Source != "" && a.Dest != "" && a.Source != a.Dest:
						where = a.Source + " -> " + a.Dest
					case where == "":
						where = a.Source + a.Dest
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.Action, a.Resource, where, a.Reason)
				}
				if len(ex.Scores) > 0 {
					fmt.Fprintln(tw, "scores:")
					for _, sc := range ex.Scores {
						fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", sc.Resource, sc.Node, sc.Score, sc.Function)
					}
				}
				return tw.Flush()
			}
		}}
}
