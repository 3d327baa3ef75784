package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"mgmtd/mgmtd"
)

func serveCommand() *command {
	return &command{name: "serve", synopsis: "", summary: "run the daemon on a cluster node (or on a CIB file with --cib)",
		detail: `The daemon reads the local node's view of the cluster (crm_mon, cibadmin,
corosync, libvirt) and serves it over REST (HTTPS), the local socket, and,
when configured, SNMP (AgentX) and CIM. It exits non-zero when a listener
cannot be bound.`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc { return daemonSetup(fs, s, false) }}
}

func demoCommand() *command {
	return &command{name: "demo", synopsis: "", summary: "run the daemon on the built-in demo cluster (no root, no database)",
		detail: `The demo replays a failover story recorded from Pacemaker's own tools on a
loop and prints demo credentials for every role.`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc { return daemonSetup(fs, s, true) }}
}

func daemonSetup(fs *flag.FlagSet, s *streams, isDemo bool) runFunc {
	cfgFile := fs.String("config", "", "configuration file (YAML)")
	addr := fs.String("addr", "", "listen address HOST:PORT (default 127.0.0.1:8443; demo 127.0.0.1:8080)")
	stateDir := fs.String("state-dir", "", "state directory")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	plain := fs.Bool("plain-http", false, "serve plain HTTP (only on a loopback address)")
	agentx := fs.String("agentx", "", "serve SNMP as an AgentX subagent of the master at unix:PATH or tcp:HOST:PORT")
	cimAddr := fs.String("cim-addr", "", "serve CIM-XML (WBEM) over HTTPS at HOST:PORT, e.g. 127.0.0.1:5989")
	var cibFile, credFile, clusterName *string
	var speed *float64
	if isDemo {
		clusterName = fs.String("cluster", "", "name the demo's cluster (default demo; demos with different names make a fleet for a hub)")
		speed = fs.Float64("speed", 1, "play the story this many times faster")
		credFile = fs.String("credentials", "", "also write the demo credentials (JSON) to this file")
	} else {
		cibFile = fs.String("cib", "", "serve a CIB file instead of the live cluster")
	}
	name := fs.Name()
	return func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return usagef("%s: unexpected argument %s", name, pos[0])
		}
		log, err := newLogger(s.err, *logLevel)
		if err != nil {
			return err
		}
		cfg, err := mgmtd.LoadConfig(*cfgFile)
		if err != nil {
			return err
		}
		o := mgmtd.Options{}
		if isDemo {
			o.Demo, o.DemoSpeed = true, *speed
			cfg.Listen = "127.0.0.1:8080"
			if *clusterName != "" {
				cfg.Cluster = *clusterName
			}
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
		if cibFile != nil && *cibFile != "" {
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
		o.ConfigFile = *cfgFile
		d, err := mgmtd.NewDaemon(cfg, log, o)
		if err != nil {
			return err
		}
		go func() {
			select {
			case <-d.Ready:
				if isDemo {
					// The credentials file tells scripts the demo is
					// ready (the README's first commands wait for it):
					// write it once the model has its first picture.
					firstPicture(ctx, d)
				}
				printReady(s, name, d, cfg.StateDir, credFile)
			case <-ctx.Done():
			}
		}()
		return d.Run(ctx)
	}
}

// firstPicture waits (30 s at most) until the daemon's model has nodes.
func firstPicture(ctx context.Context, d *mgmtd.Daemon) {
	deadline := time.Now().Add(30 * time.Second)
	for len(d.Store.Snapshot().Nodes) == 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// printReady tells the operator where the daemon serves, once every
// listener is bound.
func printReady(s *streams, name string, d *mgmtd.Daemon, stateDir string, credFile *string) {
	w := s.out
	fmt.Fprintf(w, "mgmtd %s: serving %s\n", name, d.URL)
	fmt.Fprintf(w, "  API:     %s/api/v1/clusters\n  events:  %s/api/v1/events\n  OpenAPI: %s/api/v1/openapi.json\n  socket:  %s\n  state:   %s\n",
		d.URL, d.URL, d.URL, d.Socket, stateDir)
	fmt.Fprintf(w, "  command line: export MGMTD_SERVER=unix:%s; mgmtd status\n", d.Socket)
	if d.CIMURL != "" {
		fmt.Fprintf(w, "  CIM:     %s (namespaces root/cimv2 and interop)\n", d.CIMURL)
	}
	if d.TLS != nil {
		fmt.Fprintf(w, "  TLS certificate %s, SHA-256 fingerprint %s\n", d.TLS.CertFile(), d.TLS.Fingerprint())
	}
	if d.DemoCredentials == nil {
		return
	}
	fmt.Fprintln(w, "demo credentials (one per role; bearer token or Basic user/password):")
	_ = d.DemoCredentials.Print(w)
	if credFile != nil && *credFile != "" {
		if err := d.DemoCredentials.WriteFile(*credFile); err != nil {
			fmt.Fprintln(s.err, "mgmtd:", err)
		} else {
			fmt.Fprintf(w, "  (also written to %s)\n", *credFile)
		}
	}
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
