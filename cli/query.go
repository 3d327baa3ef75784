package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"mgmtd/model"
	"mgmtd/source/pacemaker"
)

func queryCommand(what, synopsis, summary string) *command {
	return &command{name: what, synopsis: synopsis + " [--cib FILE | --server URL]", summary: summary,
		detail: `Offline on a CIB file, mgmtd runs Pacemaker's tools with CIB_file and never
touches a live cluster; against a running daemon it asks its REST API.`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			var f daemonFlags
			f.register(fs, 60*time.Second)
			cib := fs.String("cib", "", "answer offline from this CIB file (runs crm_mon with CIB_file)")
			var check *bool
			if what == "status" {
				check = fs.Bool("check", false, "one line for a monitoring system: Nagios/monitoring-plugins exit codes (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and perfdata")
			}
			return func(ctx context.Context, pos []string) error {
				if check != nil && *check {
					return runCheck(ctx, s, &f, *cib, pos)
				}
				if err := f.checkOutput(); err != nil {
					return err
				}
				if *cib != "" && f.server != "" {
					return usagef("%s: give --cib FILE or --server URL, not both", what)
				}
				if *cib == "" {
					f.defaultServer()
				}
				name := ""
				switch {
				case what == "impact" && len(pos) != 1:
					return usagef("impact: give one node or host name")
				case what == "where" && len(pos) > 1, what == "status" && len(pos) > 0:
					return usagef("%s: too many arguments", what)
				case len(pos) == 1:
					name = pos[0]
				}
				ctx, cancel := context.WithTimeout(ctx, f.timeout)
				defer cancel()
				var result any
				var err error
				if *cib != "" {
					result, err = offline(ctx, what, name, *cib)
				} else {
					result, err = online(ctx, what, name, &f)
				}
				if err != nil {
					return err
				}
				if f.output == "json" {
					err = writeJSON(s.out, result)
				} else {
					err = printTable(s.out, result)
				}
				if st, ok := result.(model.StatusReport); ok && err == nil {
					return statusExit(st)
				}
				return err
			}
		}}
}

func offline(ctx context.Context, what, name, cibFile string) (any, error) {
	if _, err := os.Stat(cibFile); err != nil {
		return nil, fmt.Errorf("--cib: %w", err)
	}
	src := pacemaker.New(pacemaker.Options{CIBFile: cibFile, ReadConfigFiles: true}, nil, slog.New(slog.DiscardHandler))
	part, err := src.Load(ctx)
	if err != nil {
		return nil, err
	}
	st := model.NewStore(model.StoreOptions{View: "offline"})
	sn := st.Report(model.Report{Source: pacemaker.Name, Pacemaker: part})
	switch what {
	case "where":
		ans := sn.Where(name)
		if name != "" && len(ans.Matches) == 0 {
			return nil, fmt.Errorf("nothing named %q (not a resource, service, address, node, VM or host)", name)
		}
		return ans, nil
	case "impact":
		ans := sn.Impact(name)
		if !ans.Known {
			return nil, fmt.Errorf("no node or host named %q", name)
		}
		if n, ok := sn.Node(name); ok && n.Type == model.NodeMember {
			ans.Simulations = src.Impact(ctx, name)
		}
		return ans, nil
	}
	return sn.Status(), nil
}

func online(ctx context.Context, what, name string, f *daemonFlags) (any, error) {
	c, err := newClient(f)
	if err != nil {
		return nil, err
	}
	switch what {
	case "where":
		var a model.WhereAnswer
		return a, c.data(ctx, "/api/v1/where?q="+url.QueryEscape(name), &a)
	case "impact":
		var a model.ImpactAnswer
		return a, c.data(ctx, "/api/v1/impact?node="+url.QueryEscape(name), &a)
	}
	var st model.StatusReport
	return st, c.data(ctx, "/api/v1/status", &st)
}

func chainText(p model.Placement) string {
	var parts []string
	for _, h := range p.Chain[1:] {
		parts = append(parts, string(h.Kind)+" "+h.Name)
	}
	return strings.Join(parts, " -> ")
}

// storageText is a storage chain on one line: "iscsi-target IQN ->
// lun 1 -> device /dev/drbd0 -> drbd r0 (Primary on node1) -> node node1".
func storageText(c model.StorageChain) string {
	var parts []string
	for _, h := range c.Chain {
		t := string(h.Kind) + " " + h.Name
		if h.Kind == model.KindDRBD && h.State != "" {
			t += " (" + h.State + ")"
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " -> ")
}

func printTable(w io.Writer, result any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch r := result.(type) {
	case model.WhereAnswer:
		fmt.Fprintln(tw, "RESOURCE\tROLE\tNODE\tHOST\tCHAIN")
		for _, p := range r.Instances {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Resource, p.Role, dash(p.Node), dash(p.Host), chainText(p))
		}
		for _, a := range r.Addresses {
			fmt.Fprintf(tw, "address %s\t%s\t%s\t%s\t(%s)\n", a.Address, a.Method, dash(a.Node), dash(a.Host), a.Resource)
		}
		for _, c := range r.Storage {
			fmt.Fprintf(tw, "storage\t%s\n", storageText(c))
			fmt.Fprintf(tw, "  \t%s\n", c.Sync)
		}
	case model.ImpactAnswer:
		fmt.Fprintf(tw, "If %s goes away:\n", r.Target)
		fmt.Fprintln(tw, "RESOURCE\tROLE\tNODE\tHOST")
		for _, p := range r.Instances {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Resource, p.Role, p.Node, p.Host)
		}
		if len(r.VMs) > 0 {
			fmt.Fprintln(tw, "VM\tSTATE\tMANAGED\t")
			for _, v := range r.VMs {
				fmt.Fprintf(tw, "%s\t%s\t%v\t\n", v.Name, v.State, v.Managed)
			}
		}
		if len(r.Services) > 0 {
			fmt.Fprintf(tw, "services: %s\n", strings.Join(r.Services, ", "))
		}
		for _, l := range r.Replication {
			fmt.Fprintf(tw, "replication: %s\n", l.Message)
		}
		if !r.StandbySafe {
			fmt.Fprintf(tw, "a planned standby of %s is NOT safe for replicated data:\n", r.Target)
			for _, u := range r.Unsafe {
				fmt.Fprintf(tw, "  %s\n", u)
			}
		}
		for _, s := range r.Simulations {
			fmt.Fprintf(tw, "Pacemaker would do (%s):\n", s.Scenario)
			if s.Error != "" {
				fmt.Fprintf(tw, "  error: %s\n", s.Error)
			}
			for _, a := range s.Actions {
				fmt.Fprintf(tw, "  %s\t%s\n", a.Text(), a.Reason)
			}
			if len(s.Actions) == 0 && s.Error == "" {
				fmt.Fprintln(tw, "  nothing beyond what the cluster does anyway")
			}
			if n := len(s.Planned); n > 0 {
				fmt.Fprintf(tw, "  (and %d actions the cluster takes anyway)\n", n)
			}
		}
	case model.StatusReport:
		printStatus(tw, r)
	}
	return tw.Flush()
}
