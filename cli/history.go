package cli

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"mgmtd/rest"
)

func historyCommand() *command {
	return &command{name: "history", synopsis: "[--since 3h] [--until T] [--object NAME] [--kind K] [--type T] [--severity S] --server URL",
		summary: "stored events: what happened, in what order",
		detail: `history prints the daemon's stored events, oldest first (--desc: newest
first), across restarts. --since and --until take an RFC 3339 time or a
duration back from now (3h, 90m); --object matches an object's name or the
node an event happened on; --kind (node, resource, vm, host, cluster,
source, task), --type (resource.failed; resource. for every resource event)
and --severity (info, warning, critical) take comma-separated lists.
--limit bounds how many events are printed (the pages are fetched in turn).`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			var f daemonFlags
			f.register(fs, 60*time.Second)
			since := fs.String("since", "", "from this time or this long ago (3h)")
			until := fs.String("until", "", "before this time or this long ago")
			object := fs.String("object", "", "an object or node name")
			kind := fs.String("kind", "", "object kinds, comma-separated")
			typ := fs.String("type", "", "event types, comma-separated (resource. for a prefix)")
			severity := fs.String("severity", "", "info, warning, critical (comma-separated)")
			limit := fs.Int("limit", 1000, "print at most this many events")
			desc := fs.Bool("desc", false, "newest first")
			return func(ctx context.Context, pos []string) error {
				if len(pos) != 0 {
					return usagef("history takes no arguments; filter with --since, --object, --kind, --type, --severity")
				}
				if *limit < 1 {
					return usagef("--limit must be positive")
				}
				c, ctx, cancel, err := f.connect(ctx, "history")
				if err != nil {
					return err
				}
				defer cancel()
				v := url.Values{}
				for k, x := range map[string]string{"since": *since, "until": *until, "object": *object, "kind": *kind, "type": *typ, "severity": *severity} {
					if x != "" {
						v.Set(k, x)
					}
				}
				if *desc {
					v.Set("order", "desc")
				}
				var recs []rest.HistoryRecord
				var stats *rest.HistoryStats
				for len(recs) < *limit {
					v.Set("limit", strconv.Itoa(min(*limit-len(recs), 1000)))
					var p rest.HistoryPage
					if err := c.do(ctx, http.MethodGet, "/api/v1/history?"+v.Encode(), nil, &p); err != nil {
						return err
					}
					recs, stats = append(recs, p.Records...), p.Recorder
					if p.Next == "" {
						break
					}
					v.Set("cursor", p.Next)
				}
				if f.output == "json" {
					return writeJSON(s.out, recs)
				}
				tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tSEQ\tSEVERITY\tTYPE\tOBJECT\tMESSAGE")
				for _, r := range recs {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s/%s\t%s\n", r.Time.Local().Format(time.RFC3339), r.Seq, r.Severity, r.Type,
						r.Object.Kind, r.Object.Name, r.Message)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if stats != nil && (stats.Failing || stats.Dropped > 0) {
					fmt.Fprintf(s.err, "mgmtd: the history is incomplete: %d events dropped since the daemon started", stats.Dropped)
					if stats.Failing {
						fmt.Fprintf(s.err, "; its store is failing (%s), %d events wait", stats.Error, stats.Queued)
					}
					fmt.Fprintln(s.err)
				}
				return nil
			}
		}}
}
