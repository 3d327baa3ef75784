package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"mgmtd/check"
	"mgmtd/toolexec"
)

func checkCommand() *command {
	return &command{name: "check", synopsis: "(--cib FILE | --server URL)", summary: "health check of the cluster's configuration, with the commands that fix it",
		detail: `Checks what crm_verify reports, fencing (disabled, no device, never
succeeded), no-quorum-policy for the node count, resources without a
recurring monitor, constraints on what does not exist, cli-prefer-/cli-ban-
constraints left by moves and bans, DRBD without fencing, and Corosync with
a single link or a short token. Offline on a CIB file it runs crm_verify
with the file (Corosync and the fencing history are then not checked);
against a daemon it asks GET /api/v1/check. With --fail-on, findings of
that severity or worse make the exit status 3.`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			var f daemonFlags
			f.register(fs, 2*time.Minute)
			cib := fs.String("cib", "", "check this CIB file offline (crm_verify --xml-file)")
			failOn := fs.String("fail-on", "", "exit 3 when there is a finding of this severity or worse: critical, warning or info")
			return func(ctx context.Context, pos []string) error {
				if err := f.checkOutput(); err != nil {
					return err
				}
				if len(pos) > 0 {
					return usagef("check: unexpected argument %s", pos[0])
				}
				if (*cib == "") == (f.server == "") {
					return usagef("check: give exactly one of --cib FILE or --server URL")
				}
				switch *failOn {
				case "", "critical", "warning", "info":
				default:
					return usagef("check: --fail-on %q: give critical, warning or info", *failOn)
				}
				ctx, cancel := context.WithTimeout(ctx, f.timeout)
				defer cancel()
				var r check.Report
				if *cib != "" {
					if _, err := os.Stat(*cib); err != nil {
						return fmt.Errorf("--cib: %w", err)
					}
					in, err := check.Gather(ctx, toolexec.Runner{Timeout: f.timeout}, check.Options{CIBFile: *cib})
					if err != nil {
						return err
					}
					r = check.Run(in, time.Now())
				} else {
					c, err := newClient(&f)
					if err != nil {
						return err
					}
					if err := c.data(ctx, "/api/v1/check", &r); err != nil {
						return err
					}
				}
				var err error
				if f.output == "json" {
					err = writeJSON(s.out, r)
				} else {
					err = printCheck(s.out, r)
				}
				if err != nil {
					return err
				}
				if n := failing(r, check.Severity(*failOn)); n > 0 {
					return exitError{code: 3, msg: fmt.Sprintf("check: %d finding(s) of severity %s or worse", n, *failOn)}
				}
				return nil
			}
		}}
}

// failing counts the findings at least as severe as sev ("" counts none).
func failing(r check.Report, sev check.Severity) int {
	limit := map[check.Severity]int{check.Critical: 0, check.Warning: 1, check.Info: 2}
	max, ok := limit[sev]
	if !ok {
		return 0
	}
	n := 0
	for _, f := range r.Findings {
		if limit[f.Severity] <= max {
			n++
		}
	}
	return n
}

func printCheck(w io.Writer, r check.Report) error {
	fmt.Fprintf(w, "%d critical, %d warning, %d info\n", r.Counts[check.Critical], r.Counts[check.Warning], r.Counts[check.Info])
	for _, f := range r.Findings {
		fmt.Fprintf(w, "\n%s  %s  %s\n", strings.ToUpper(string(f.Severity)), f.Check, f.Summary)
		fmt.Fprintf(w, "  why: %s\n", f.Explanation)
		for i, line := range strings.Split(f.Fix, "\n") {
			if i == 0 {
				fmt.Fprintf(w, "  fix: %s\n", line)
			} else {
				fmt.Fprintf(w, "       %s\n", line)
			}
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintln(w, "\nnot checked:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range sortedKeys(r.Skipped) {
			fmt.Fprintf(tw, "  %s\t%s\n", k, r.Skipped[k])
		}
		return tw.Flush()
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
