package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"mgmtd/mgmtd"
)

func hubCommand() *command {
	return &command{name: "hub", synopsis: "", summary: "run a fleet hub process: clusters push to it, it answers across the fleet",
		detail: `Each cluster's mgmtd (the one elected to send cluster-wide notifications)
pushes its picture and events to the hub over HTTPS with a client
certificate (configuration section hub). The hub keeps the fleet in
PostgreSQL (hub_server.dsn); several hub processes on one database serve
the same fleet behind a load balancer. Fleet API: /api/v1/fleet/clusters,
/objects, /where, /impact, /events (SSE) and /metrics. Actions are not
proxied: each cluster's answer links to its own mgmtd.`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			cfgFile := fs.String("config", "", "configuration file (YAML): listen, state_dir, auth (tls, bindings), audit, hub_server")
			addr := fs.String("addr", "", "listen address HOST:PORT (default 127.0.0.1:8443)")
			stateDir := fs.String("state-dir", "", "state directory")
			dsn := fs.String("dsn", "", "the fleet's PostgreSQL database (overrides hub_server.dsn)")
			logLevel := fs.String("log-level", "info", "debug, info, warn or error")
			return func(ctx context.Context, pos []string) error {
				if len(pos) > 0 {
					return usagef("hub: unexpected argument %s", pos[0])
				}
				log, err := newLogger(s.err, *logLevel)
				if err != nil {
					return err
				}
				cfg, err := mgmtd.LoadConfig(*cfgFile)
				if err != nil {
					return err
				}
				if *addr != "" {
					cfg.Listen = *addr
				}
				if *stateDir != "" {
					cfg.StateDir = *stateDir
				}
				if *dsn != "" {
					cfg.HubServer.DSN = *dsn
				}
				if err := cfg.Validate(); err != nil {
					return err
				}
				if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
					return fmt.Errorf("state dir: %w", err)
				}
				d, err := mgmtd.NewHub(cfg, log)
				if err != nil {
					return err
				}
				go func() {
					select {
					case <-d.Ready:
						fmt.Fprintf(s.out, "mgmtd hub: serving %s\n  fleet: %s/api/v1/fleet/clusters\n  push:  %s/api/v1/hub/push\n", d.URL, d.URL, d.URL)
						if d.TLS != nil {
							fmt.Fprintf(s.out, "  TLS certificate %s, SHA-256 fingerprint %s\n", d.TLS.CertFile(), d.TLS.Fingerprint())
						}
					case <-ctx.Done():
					}
				}()
				return d.Run(ctx)
			}
		}}
}
