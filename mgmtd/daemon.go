package mgmtd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"mgmtd/demo"
	"mgmtd/model"
	"mgmtd/rest"
	"mgmtd/source/corosync"
	"mgmtd/source/pacemaker"
)

// Daemon is one running mgmtd: the store, its sources and its listeners.
type Daemon struct {
	cfg   *Config
	log   *slog.Logger
	Store *model.Store
	REST  *rest.Server

	runners  []func(context.Context) error
	sim      rest.Simulator
	listener net.Listener
	server   *http.Server
	// Ready is closed when the listener is bound; URL is then valid.
	Ready chan struct{}
	URL   string
}

// options for a daemon that the subcommands set.
type daemonOptions struct {
	demo      bool
	demoSpeed float64
}

// NewDaemon builds a daemon from the configuration.
func NewDaemon(cfg *Config, log *slog.Logger, o daemonOptions) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: log, Ready: make(chan struct{})}
	d.Store = model.NewStore(model.StoreOptions{Cluster: cfg.Cluster, View: cfg.View, VMMappings: cfg.VMMappings, EventBuffer: cfg.EventBuffer})
	if len(cfg.Services) > 0 {
		d.Store.Report(model.Report{Source: "catalog", Services: cfg.servicesPart()})
	}
	if o.demo {
		steps, err := demo.Load()
		if err != nil {
			return nil, err
		}
		p := demo.NewPlayer(steps, d.Store, o.demoSpeed)
		p.Show(0)
		d.sim = p
		d.runners = append(d.runners, func(ctx context.Context) error {
			// Step 0 was shown already: start the loop at its dwell end.
			t := time.NewTimer(time.Duration(float64(steps[0].Dwell) / max(o.demoSpeed, 1e-9)))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			return p.RunFrom(ctx, 1)
		})
	} else {
		d.Store.Register(pacemaker.Name)
		pm := pacemaker.New(pacemaker.Options{CIBFile: cfg.Pacemaker.CIBFile, Interval: cfg.Pacemaker.Interval,
			Timeout: cfg.Pacemaker.Timeout, ToolDir: cfg.Pacemaker.ToolDir, ReadConfigFiles: *cfg.Pacemaker.ReadConfigFiles}, d.Store, log)
		d.sim = pm
		d.runners = append(d.runners, pm.Run)
		if *cfg.Corosync.Enabled {
			d.Store.Register(corosync.Name)
			cs := corosync.New(corosync.Options{Interval: cfg.Corosync.Interval, ToolDir: cfg.Corosync.ToolDir}, d.Store, log)
			d.runners = append(d.runners, cs.Run)
		}
	}
	d.REST = rest.New(rest.Options{Store: d.Store, Events: d.Store.Events(), Simulator: d.sim, Log: log.With("component", "rest")})
	return d, nil
}

// Run binds the listener, starts the sources and serves until ctx is done.
// Shutdown order: stop accepting and finish requests (10 s at most, event
// streams are cut), then stop the sources.
func (d *Daemon) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", d.cfg.Listen, err)
	}
	d.listener = ln
	d.URL = "http://" + ln.Addr().String()
	d.server = &http.Server{Handler: d.REST, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
	close(d.Ready)
	srcCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSources()
	g, gctx := errgroup.WithContext(srcCtx)
	for _, r := range d.runners {
		g.Go(func() error { return r(gctx) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- d.server.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := d.server.Shutdown(shCtx); serr != nil {
		_ = d.server.Close()
	}
	stopSources()
	if gerr := g.Wait(); gerr != nil && err == nil {
		err = gerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
