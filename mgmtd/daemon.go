package mgmtd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"mgmtd/action/executor"
	"mgmtd/audit"
	"mgmtd/auth"
	"mgmtd/auth/pamauth"
	"mgmtd/cim"
	"mgmtd/demo"
	"mgmtd/model"
	"mgmtd/rest"
	"mgmtd/snmp"
	"mgmtd/source/corosync"
	"mgmtd/source/pacemaker"
	"mgmtd/source/virt"
	"mgmtd/wbem"
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
	// Socket is the local unix socket for the command line.
	Socket string

	actions *executor.Executor

	cimProvider *cim.ModelProvider
	cimServer   *wbem.Server
	cimReady    chan struct{}
	// CIMURL is the CIM-XML endpoint once the CIM listener is bound.
	CIMURL string

	// Virt is the libvirt source, nil without configured hosts.
	Virt *virt.Source

	// Audit is the audit log (journal, or PostgreSQL with the journal as
	// spool).
	Audit *audit.Log

	Auth            *auth.Service
	TLS             *auth.TLS // nil with plain HTTP
	DemoCredentials auth.DemoCredentials
	authRecorder    auth.Recorder
}

// options for a daemon that the subcommands set.
type daemonOptions struct {
	demo      bool
	demoSpeed float64
	// passwords are extra Basic password checkers (tests).
	passwords []auth.PasswordChecker
}

// NewDaemon builds a daemon from the configuration.
func NewDaemon(cfg *Config, log *slog.Logger, o daemonOptions) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: log, Ready: make(chan struct{}), cimReady: make(chan struct{})}
	d.Store = model.NewStore(model.StoreOptions{Cluster: cfg.Cluster, View: cfg.View, VMMappings: cfg.VMMappings, EventBuffer: cfg.EventBuffer,
		ConflictGrace: cfg.ConflictGrace})
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
		if len(cfg.Virt.Hosts) > 0 {
			d.Store.Register(virt.SourceName)
			d.Virt = virt.New(cfg.Virt.options(), d.Store, log)
			d.runners = append(d.runners, d.Virt.Run)
		}
		if *cfg.Corosync.Enabled {
			d.Store.Register(corosync.Name)
			cs := corosync.New(corosync.Options{Interval: cfg.Corosync.Interval, ToolDir: cfg.Corosync.ToolDir}, d.Store, log)
			d.runners = append(d.runners, cs.Run)
		}
	}
	if cfg.SNMP.AgentX != "" {
		srv, err := snmp.New(snmp.Options{AgentX: cfg.SNMP.AgentX, StateDir: cfg.StateDir}, d.Store, d.Store.Events(), log.With("component", "snmp"))
		if err != nil {
			return nil, err
		}
		d.runners = append(d.runners, srv.Run)
	}
	octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.openAudit(octx); err != nil {
		return nil, err
	}
	if err := d.buildAuth(o); err != nil {
		d.closeAudit()
		return nil, err
	}
	d.REST = rest.New(rest.Options{Store: d.Store, Events: d.Store.Events(), Simulator: d.sim, Log: log.With("component", "rest"),
		Guard: rest.AuthGuard(d.Auth, func() string { return d.Store.Snapshot().Cluster.Name })})
	for _, r := range rest.AuthRoutes(d.REST, d.Auth) {
		d.REST.Handle(r)
	}
	for _, r := range rest.AuditRoutes(d.REST, d.Audit) {
		d.REST.Handle(r)
	}
	pageRoutes(d.REST)
	var migrator executor.VMMigrator
	if d.Virt != nil {
		migrator = d.Virt
	}
	ex, err := d.wireActions(ActionOptions{Recorder: d.Audit, Migrator: migrator, UseCIBUser: cfg.Actions.UseCIBUser, Timeout: cfg.Actions.Timeout})
	if err != nil {
		d.closeAudit()
		return nil, err
	}
	d.actions = ex
	if cfg.CIM.Addr != "" {
		if err := d.buildCIM(); err != nil {
			d.closeAudit()
			return nil, err
		}
		d.runners = append(d.runners, d.runCIM)
	}
	return d, nil
}

// buildAuth opens the token store, the TLS material and the password
// checkers (demo users, PAM) and builds the one auth service every
// front-end uses.
func (d *Daemon) buildAuth(o daemonOptions) error {
	cfg := d.cfg
	tokens, err := auth.OpenTokenStore(filepath.Join(cfg.StateDir, auth.TokenFile), nil)
	if err != nil {
		return err
	}
	passwords := o.passwords
	if o.demo {
		users := auth.NewUserStore(0)
		creds, err := auth.CreateDemoCredentials(tokens, users, 7*24*time.Hour)
		if err != nil {
			return err
		}
		d.DemoCredentials = creds
		passwords = append(passwords, users)
	}
	pam, err := pamauth.FromConfig(cfg.Auth.PAM, d.log.With("component", "pam"))
	if err != nil {
		return err
	}
	if pam != nil {
		passwords = append(passwords, pam)
	}
	var oidc *auth.OIDC
	if cfg.Auth.OIDC != nil {
		if oidc, err = auth.NewOIDC(*cfg.Auth.OIDC, nil, nil); err != nil {
			return err
		}
	}
	bindings := cfg.Auth.Bindings
	if o.demo && bindings == nil {
		// Demo users and tokens carry their grants; root on the local
		// socket stays admin.
		bindings = auth.DefaultBindings()
	}
	d.Auth, err = auth.New(auth.Options{Bindings: bindings, Tokens: tokens, OIDC: oidc, Passwords: passwords,
		Limits: cfg.Auth.Limits, Recorder: d.authRecorder, Logger: d.log.With("component", "auth")})
	if err != nil {
		return err
	}
	if !cfg.PlainHTTP {
		d.TLS, err = auth.NewTLS(cfg.Auth.TLS, cfg.StateDir, time.Now())
		if err != nil {
			return err
		}
	}
	return nil
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
	d.server = d.httpServer()
	if d.TLS != nil {
		d.URL = "https://" + ln.Addr().String()
		d.server.TLSConfig = d.TLS.ServerConfig()
		ln = tls.NewListener(ln, d.server.TLSConfig)
		auth.ReloadOnSignal(ctx, d.log, d.TLS)
	}
	// The local socket: callers are identified by their peer credentials.
	d.Socket = filepath.Join(d.cfg.StateDir, "mgmtd.sock")
	_ = os.Remove(d.Socket)
	uln, err := net.Listen("unix", d.Socket)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen %s: %w", d.Socket, err)
	}
	if err := os.Chmod(d.Socket, 0o666); err != nil {
		ln.Close()
		uln.Close()
		return err
	}
	usrv := d.httpServer()
	usrv.ConnContext = auth.ConnContext
	close(d.Ready)
	d.system(audit.ActionDaemonStart, "listening on "+d.URL)
	srcCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSources()
	g, gctx := errgroup.WithContext(srcCtx)
	for _, r := range d.runners {
		g.Go(func() error { return r(gctx) })
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- d.server.Serve(ln) }()
	go func() { serveErr <- usrv.Serve(uln) }()
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range []*http.Server{d.server, usrv} {
		if serr := srv.Shutdown(shCtx); serr != nil {
			_ = srv.Close()
		}
	}
	_ = os.Remove(d.Socket)
	if d.actions != nil {
		// Running tasks end timed_out, with their outcome recorded.
		_ = d.actions.Close()
	}
	stopSources()
	defer d.closeAudit()
	if gerr := g.Wait(); gerr != nil && err == nil {
		err = gerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// closeAudit records the stop and closes the audit log last: everything
// else that records has stopped by then.
func (d *Daemon) closeAudit() {
	if d.Audit == nil {
		return
	}
	d.system(audit.ActionDaemonStop, "shutdown")
	if r, ok := d.authRecorder.(*authRecorder); ok {
		r.close()
	}
	if err := d.Audit.Close(); err != nil {
		d.log.Error("close audit log", "err", err)
	}
	d.Audit = nil
}

func (d *Daemon) httpServer() *http.Server {
	return &http.Server{Handler: d.REST, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
