package mgmtd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"mgmtd/model"
	"mgmtd/source/pacemaker"
)

// Main runs the mgmtd command line and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr, false)
	case "demo":
		err = cmdServe(ctx, args[1:], stdout, stderr, true)
	case "where":
		err = cmdQuery(ctx, "where", args[1:], stdout)
	case "impact":
		err = cmdQuery(ctx, "impact", args[1:], stdout)
	case "status":
		err = cmdQuery(ctx, "status", args[1:], stdout)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		if cmd, ok := extraCommands[args[0]]; ok {
			err = cmd(ctx, args[1:], stdout, stderr)
			break
		}
		fmt.Fprintf(stderr, "mgmtd: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "mgmtd:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "mgmtd:", err)
		return 1
	}
	return 0
}

// extraCommands are subcommands defined in other files of this package
// (actions, audit), registered from their init functions.
var extraCommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: mgmtd COMMAND [flags]

commands:
  serve    run the daemon on a cluster node (or on a CIB file with --cib)
  demo     run the daemon on the built-in demo cluster
  where    where does a resource, service, address, node or VM run
  impact   what goes away with a node or host
  status   the cluster at a glance

where, impact and status work offline on a CIB file (--cib FILE) or against a
running daemon (--server URL). Run "mgmtd COMMAND -h" for a command's flags.
`)
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{"--log-level: " + err.Error()}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, isDemo bool) error {
	name := "serve"
	if isDemo {
		name = "demo"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "configuration file (YAML)")
	addr := fs.String("addr", "", "listen address HOST:PORT (default 127.0.0.1:8443; demo 127.0.0.1:8080)")
	stateDir := fs.String("state-dir", "", "state directory")
	cibFile := fs.String("cib", "", "serve a CIB file instead of the live cluster")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	speed := fs.Float64("speed", 1, "demo: play the story this many times faster")
	credFile := fs.String("credentials", "", "demo: also write the demo credentials (JSON) to this file")
	plain := fs.Bool("plain-http", false, "serve plain HTTP (only on a loopback address)")
	agentx := fs.String("agentx", "", "serve SNMP as an AgentX subagent of the master at unix:PATH or tcp:HOST:PORT")
	cimAddr := fs.String("cim-addr", "", "serve CIM-XML (WBEM) over HTTPS at HOST:PORT, e.g. 127.0.0.1:5989")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{name + ": unexpected argument " + fs.Arg(0)}
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(*cfgFile)
	if err != nil {
		return err
	}
	if isDemo {
		cfg.Listen = "127.0.0.1:8080"
		if cfg.Cluster == "" {
			cfg.Cluster = "demo"
		}
		cfg.View = "hv1"
		if *stateDir == "" {
			dir, err := os.MkdirTemp("", "mgmtd-demo-")
			if err != nil {
				return err
			}
			*stateDir = dir
		}
	}
	if *addr != "" {
		cfg.Listen = *addr
	}
	if *stateDir != "" {
		cfg.StateDir = *stateDir
	}
	if *plain {
		cfg.PlainHTTP = true
	}
	if *agentx != "" {
		cfg.SNMP.AgentX = *agentx
	}
	if *cimAddr != "" {
		cfg.CIM.Addr = *cimAddr
		cfg.CIM.PlainHTTP = cfg.PlainHTTP
	}
	if *cibFile != "" {
		cfg.Pacemaker.CIBFile = *cibFile
		off := false
		cfg.Corosync.Enabled = &off
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	d, err := NewDaemon(cfg, log, daemonOptions{demo: isDemo, demoSpeed: *speed})
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-d.Ready:
			fmt.Fprintf(stdout, "mgmtd %s: serving %s\n", name, d.URL)
			fmt.Fprintf(stdout, "  API:     %s/api/v1/clusters\n  events:  %s/api/v1/events\n  OpenAPI: %s/api/v1/openapi.json\n  socket:  %s\n  state:   %s\n",
				d.URL, d.URL, d.URL, d.Socket, cfg.StateDir)
			if cfg.CIM.Addr != "" {
				select {
				case <-d.cimReady:
					fmt.Fprintf(stdout, "  CIM:     %s (namespaces root/cimv2 and interop)\n", d.CIMURL)
				case <-time.After(5 * time.Second):
				}
			}
			if d.TLS != nil {
				fmt.Fprintf(stdout, "  TLS certificate %s, SHA-256 fingerprint %s\n", d.TLS.CertFile(), d.TLS.Fingerprint())
			}
			if d.DemoCredentials != nil {
				fmt.Fprintln(stdout, "demo credentials (one per role; bearer token or Basic user/password):")
				_ = d.DemoCredentials.Print(stdout)
				if *credFile != "" {
					if err := d.DemoCredentials.WriteFile(*credFile); err != nil {
						fmt.Fprintln(stderr, "mgmtd:", err)
					} else {
						fmt.Fprintf(stdout, "  (also written to %s)\n", *credFile)
					}
				}
			}
		case <-ctx.Done():
		}
	}()
	return d.Run(ctx)
}

// queryFlags are the flags of where, impact and status.
type queryFlags struct {
	cib, server, output, ca string
	insecure                bool
	timeout                 time.Duration
}

// daemonFlags registers the flags that reach a running daemon.
func (q *queryFlags) daemonFlags(fs *flag.FlagSet, timeout time.Duration) {
	fs.StringVar(&q.server, "server", "", "the daemon: https://HOST:PORT, or unix:PATH for its local socket (token from $MGMTD_TOKEN)")
	fs.StringVar(&q.ca, "ca", "", "trust this CA (or the daemon's self-signed certificate) file")
	fs.BoolVar(&q.insecure, "insecure", false, "do not verify the daemon's TLS certificate")
	fs.StringVar(&q.output, "o", "table", "output: table or json")
	fs.DurationVar(&q.timeout, "timeout", timeout, "give up after this long")
}

// connect checks the daemon flags and returns a client, the base URL and
// a context bounded by --timeout.
func (q *queryFlags) connect(ctx context.Context, cmd string) (*http.Client, string, context.Context, context.CancelFunc, error) {
	if q.server == "" {
		return nil, "", nil, nil, usageError{cmd + ": --server URL (or unix:PATH) is required"}
	}
	if q.output != "table" && q.output != "json" {
		return nil, "", nil, nil, usageError{"-o must be table or json"}
	}
	c, base, err := newClient(*q)
	if err != nil {
		return nil, "", nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	return c, base, ctx, cancel, nil
}

func cmdQuery(ctx context.Context, what string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(what, flag.ContinueOnError)
	var q queryFlags
	fs.StringVar(&q.cib, "cib", "", "answer offline from this CIB file (runs crm_mon with CIB_file)")
	fs.StringVar(&q.server, "server", "", "ask a running daemon: https://HOST:PORT, or unix:PATH for its local socket (token from $MGMTD_TOKEN)")
	fs.StringVar(&q.ca, "ca", "", "trust this CA (or the daemon's self-signed certificate) file")
	fs.StringVar(&q.output, "o", "table", "output: table or json")
	fs.BoolVar(&q.insecure, "insecure", false, "do not verify the daemon's TLS certificate")
	fs.DurationVar(&q.timeout, "timeout", 60*time.Second, "give up after this long")
	// Accept flags before and after the positional name.
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if q.output != "table" && q.output != "json" {
		return usageError{"-o must be table or json"}
	}
	if (q.cib == "") == (q.server == "") {
		return usageError{what + ": give exactly one of --cib FILE or --server URL"}
	}
	name := ""
	switch {
	case what == "impact" && len(pos) != 1:
		return usageError{"impact: give one node or host name"}
	case what == "where" && len(pos) > 1, what == "status" && len(pos) > 0:
		return usageError{what + ": too many arguments"}
	case len(pos) == 1:
		name = pos[0]
	}
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	var result any
	var err error
	if q.cib != "" {
		result, err = offline(ctx, what, name, q.cib)
	} else {
		result, err = online(ctx, what, name, q)
	}
	if err != nil {
		return err
	}
	if q.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(result)
	}
	return printTable(stdout, what, result)
}

func offline(ctx context.Context, what, name, cibFile string) (any, error) {
	if _, err := os.Stat(cibFile); err != nil {
		return nil, fmt.Errorf("--cib: %w", err)
	}
	src := pacemaker.New(pacemaker.Options{CIBFile: cibFile, ReadConfigFiles: true}, nil, discardLogger())
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
	return statusOf(sn), nil
}

// Status is the status command's JSON.
type Status struct {
	Cluster    model.Cluster        `json:"cluster"`
	Generation uint64               `json:"generation"`
	Stale      bool                 `json:"stale"`
	Nodes      []model.Node         `json:"nodes"`
	Instances  []model.Instance     `json:"instances"`
	Failures   []model.Failure      `json:"failures"`
	Sources    []model.SourceStatus `json:"sources"`
}

func statusOf(sn *model.Snapshot) Status {
	return Status{Cluster: sn.Cluster, Generation: sn.Generation, Stale: sn.Stale(), Nodes: sn.Nodes,
		Instances: sn.Instances, Failures: sn.Failures, Sources: sn.Sources}
}

func online(ctx context.Context, what, name string, q queryFlags) (any, error) {
	var path string
	switch what {
	case "where":
		path = "/api/v1/where?q=" + url.QueryEscape(name)
	case "impact":
		path = "/api/v1/impact?node=" + url.QueryEscape(name)
	default:
		path = "/api/v1/snapshot"
	}
	client, base, err := newClient(q)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	if tok := os.Getenv("MGMTD_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var p struct{ Title, Detail string }
		_ = json.Unmarshal(body, &p)
		return nil, fmt.Errorf("%s: %s %s", resp.Status, p.Title, p.Detail)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	switch what {
	case "where":
		var a model.WhereAnswer
		return a, json.Unmarshal(env.Data, &a)
	case "impact":
		var a model.ImpactAnswer
		return a, json.Unmarshal(env.Data, &a)
	}
	var sn model.Snapshot
	if err := json.Unmarshal(env.Data, &sn); err != nil {
		return nil, err
	}
	return statusOf(&sn), nil
}

func chainText(p model.Placement) string {
	var parts []string
	for _, h := range p.Chain[1:] {
		parts = append(parts, string(h.Kind)+" "+h.Name)
	}
	return strings.Join(parts, " -> ")
}

func printTable(w io.Writer, what string, result any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch r := result.(type) {
	case model.WhereAnswer:
		fmt.Fprintln(tw, "RESOURCE\tROLE\tNODE\tHOST\tCHAIN")
		for _, p := range r.Instances {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Resource, p.Role, dash(p.Node), dash(p.Host), chainText(p))
		}
		for _, a := range r.Addresses {
			fmt.Fprintf(tw, "address %s\t%s\t%s\t%s\t(%s)\n", a.Address, a.Method, dash(a.Node), dash(a.Host), a.Resource)
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
		for _, s := range r.Simulations {
			fmt.Fprintf(tw, "Pacemaker would do (%s):\n", s.Scenario)
			if s.Error != "" {
				fmt.Fprintf(tw, "  error: %s\n", s.Error)
			}
			for _, a := range s.Actions {
				fmt.Fprintf(tw, "  %s\t%s\t%s -> %s\t%s\n", a.Action, a.Resource, dash(a.Source), dash(a.Dest), a.Reason)
			}
		}
	case Status:
		q := "quorate"
		if !r.Cluster.Quorate {
			q = "NO QUORUM"
		}
		fmt.Fprintf(tw, "cluster %s: %s, DC %s, generation %d, stale %v\n", r.Cluster.Name, q, dash(r.Cluster.DC), r.Generation, r.Stale)
		fmt.Fprintln(tw, "NODE\tTYPE\tSTATE\tRESOURCES")
		for _, n := range r.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", n.Name, n.Type, n.State, n.ResourcesRunning)
		}
		fmt.Fprintln(tw, "RESOURCE\tROLE\tNODE\tHOST")
		for _, in := range r.Instances {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.Resource, in.Role, dash(in.Node), dash(in.Host))
		}
		for _, f := range r.Failures {
			fmt.Fprintf(tw, "FAILED %s %s on %s: rc=%d %s\n", f.Resource, f.Op, f.Node, f.RC, f.ExitReason)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
