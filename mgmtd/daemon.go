package mgmtd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"mgmtd/action/executor"
	"mgmtd/audit"
	"mgmtd/auth"
	"mgmtd/check"
	"mgmtd/cim"
	"mgmtd/demo"
	"mgmtd/history"
	"mgmtd/hub"
	"mgmtd/hub/pghub"
	"mgmtd/internal/unit"
	"mgmtd/metrics"
	"mgmtd/model"
	"mgmtd/notify"
	"mgmtd/rest"
	"mgmtd/snmp"
	"mgmtd/source/corosync"
	"mgmtd/source/drbd"
	"mgmtd/source/iscsi"
	"mgmtd/source/pacemaker"
	"mgmtd/source/virt"
	"mgmtd/toolexec"
	"mgmtd/ui"
	"mgmtd/wbem"
)

// Daemon is one running mgmtd: the store, its sources and its listeners.
type Daemon struct {
	cfg   *Config
	log   *slog.Logger
	Store *model.Store
	REST  *rest.Server

	// units are the daemon's parts in start order (see Run).
	units unit.Group
	sim   rest.Simulator
	// demoPlayer plays the demo's story (nil unless Options.Demo); tests
	// show a step with it.
	demoPlayer *demo.Player
	// refreshNow asks the Pacemaker source to refresh at once (nil in the
	// demo).
	refreshNow func()
	// Ready is closed when every listener is bound; URL, CIMURL and
	// Socket are then valid.
	Ready chan struct{}
	URL   string
	// Socket is the local unix socket for the command line.
	Socket string
	// notify is the systemd notification socket ($NOTIFY_SOCKET).
	notify string
	// watchdogEvery is how often WATCHDOG=1 goes to notify (half of
	// $WATCHDOG_USEC; zero: no watchdog).
	watchdogEvery time.Duration

	actions *executor.Executor
	// history records every event durably (nil when disabled).
	history *history.Recorder
	// explainer explains transitions (the Pacemaker source; nil in the
	// demo).
	explainer rest.Explainer

	cimProvider *cim.ModelProvider
	cimServer   *wbem.Server
	// CIMURL is the CIM-XML endpoint once the CIM listener is bound.
	CIMURL string

	// Virt is the libvirt source, nil without configured hosts.
	Virt *virt.Source

	// Audit is the audit log (journal, or PostgreSQL with the journal as
	// spool).
	Audit *audit.Log

	// Notify routes model events to webhooks, e-mail and syslog.
	Notify *notify.Router
	// snmp is the AgentX subagent, nil without one (for the metrics).
	snmp *snmp.Server
	// tools counts the cluster tool runs (for the metrics).
	tools *metrics.ToolStats
	// started is when the daemon was built.
	started time.Time
	// configFile is read again on SIGHUP for the notification routes;
	// demo says the demo runs (its routes default to sender all).
	configFile string
	demo       bool
	// reloadMu serialises reloads of the notification routes.
	reloadMu sync.Mutex

	Auth            *auth.Service
	TLS             *auth.TLS // nil with plain HTTP
	DemoCredentials auth.DemoCredentials
	authRecorder    auth.Recorder
	// checker runs the configuration health check for REST (nil in the
	// demo); the metrics show its newest report.
	checker *configChecker

	// Pusher sends the cluster to a fleet hub (nil without hub.url).
	Pusher *hub.Pusher
	// Fleet is the fleet of `mgmtd hub` (nil in a cluster's daemon), kept
	// in hubStore.
	Fleet    *hub.Hub
	hubStore *pghub.Store
}

// Options are the choices of the command that runs the daemon.
type Options struct {
	// Demo serves the built-in demo cluster instead of the sources.
	Demo bool
	// DemoSpeed plays the demo story this many times faster.
	DemoSpeed float64
	// Passwords are extra Basic password checkers (tests).
	Passwords []auth.PasswordChecker
	// ConfigFile is the configuration file the daemon was started with;
	// on SIGHUP its notification routes are read again (ReloadNotify).
	ConfigFile string
}

// NewDaemon builds a daemon from the configuration.
func NewDaemon(cfg *Config, log *slog.Logger, o Options) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: log, Ready: make(chan struct{}), notify: os.Getenv("NOTIFY_SOCKET"), tools: metrics.NewToolStats(), started: time.Now()}
	if d.notify != "" {
		every, err := watchdogInterval(os.Getenv)
		if err != nil {
			log.Warn("systemd watchdog not started", "err", err)
		}
		d.watchdogEvery = every
	}
	d.units.Log = log.With("component", "daemon")
	evo, err := d.openHistory()
	if err != nil {
		return nil, err
	}
	// The Pacemaker source links resource events to their transition;
	// it is built below, before anything runs.
	var link func(*model.Event)
	evo.Annotate = func(e *model.Event) {
		if link != nil {
			link(e)
		}
	}
	if d.history != nil {
		d.units.Add(d.historyUnit())
	}
	d.Store = model.NewStore(model.StoreOptions{Cluster: cfg.Cluster, View: cfg.View, VMMappings: cfg.VMMappings, EventBuffer: cfg.EventBuffer,
		ConflictGrace: cfg.ConflictGrace, Events: evo})
	if len(cfg.Services) > 0 {
		d.Store.Report(model.Report{Source: "catalog", Services: cfg.servicesPart()})
	}
	if o.Demo {
		steps, err := demo.Load()
		if err != nil {
			d.closeHistory()
			return nil, err
		}
		if cfg.Cluster != "" && cfg.Cluster != "demo" {
			// Several demos with different names make a fleet.
			demo.Rename(steps, cfg.Cluster)
		}
		p := demo.NewPlayer(steps, d.Store, o.DemoSpeed)
		p.Show(0)
		d.sim, d.demoPlayer = p, p
		d.units.Add(unit.Unit{Name: "demo player", Run: func(ctx context.Context) error {
			// Step 0 was shown already: start the loop at its dwell end.
			t := time.NewTimer(time.Duration(float64(steps[0].Dwell) / max(o.DemoSpeed, 1e-9)))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			return p.RunFrom(ctx, 1)
		}})
	} else {
		// Every log line names its component; a source's also its name.
		srcLog := log.With("component", "source")
		d.Store.Register(pacemaker.Name)
		pm := pacemaker.New(pacemaker.Options{CIBFile: cfg.Pacemaker.CIBFile, Interval: cfg.Pacemaker.Interval, VersionInterval: cfg.Pacemaker.VersionInterval,
			Timeout: cfg.Pacemaker.Timeout, ToolDir: cfg.Pacemaker.ToolDir, ReadConfigFiles: *cfg.Pacemaker.ReadConfigFiles, MaxOutput: cfg.Pacemaker.MaxOutput,
			Status: cfg.Pacemaker.Status, CrossCheckInterval: cfg.Pacemaker.CrossCheckInterval,
			WatchAgent: watchAgent(*cfg.Pacemaker.Watch, srcLog), Observe: d.observeTool,
			PEngineDir: cfg.Pacemaker.PEngineDir, LogFile: cfg.Pacemaker.LogFile}, d.Store, srcLog)
		d.sim = pm
		d.explainer = pm
		link = pm.Link
		d.refreshNow = pm.Trigger
		d.units.Add(unit.Unit{Name: "source " + pacemaker.Name, Run: pm.Run})
		if len(cfg.Virt.Hosts) > 0 {
			d.Store.Register(virt.SourceName)
			d.Virt = virt.New(cfg.Virt.options(), d.Store, srcLog)
			d.units.Add(unit.Unit{Name: "source " + virt.SourceName, Run: d.Virt.Run})
		}
		if *cfg.Corosync.Enabled {
			d.Store.Register(corosync.Name)
			cs := corosync.New(corosync.Options{Interval: cfg.Corosync.Interval, ToolDir: cfg.Corosync.ToolDir, Observe: d.observeTool}, d.Store, srcLog)
			d.units.Add(unit.Unit{Name: "source " + corosync.Name, Run: cs.Run})
		}
		if cfg.DRBD.Enabled {
			d.Store.Register(drbd.Name)
			ds := drbd.New(drbd.Options{Node: cfg.View, ToolDir: cfg.DRBD.ToolDir, RefreshInterval: cfg.DRBD.RefreshInterval,
				CheckInterval: cfg.DRBD.CheckInterval, Timeout: cfg.DRBD.Timeout, Observe: d.observeTool}, d.Store, srcLog)
			d.units.Add(unit.Unit{Name: "source " + drbd.Name, Run: ds.Run})
		}
		if cfg.ISCSI.Enabled {
			d.Store.Register(iscsi.Name)
			is := iscsi.New(iscsi.Options{Node: cfg.View, ToolDir: cfg.ISCSI.ToolDir, ControlPort: cfg.ISCSI.ControlPort,
				Interval: cfg.ISCSI.Interval, Timeout: cfg.ISCSI.Timeout, Observe: d.observeTool}, d.Store, srcLog)
			d.units.Add(unit.Unit{Name: "source " + iscsi.Name, Run: is.Run})
		}
		if cfg.HealthAttribute != "" && cfg.Pacemaker.CIBFile == "" {
			tools := toolexec.Runner{Dir: cfg.Pacemaker.ToolDir, Timeout: 10 * time.Second, Observe: d.observeTool}
			hl := log.With("component", "health")
			d.units.Add(unit.Unit{Name: "health attribute", Run: func(ctx context.Context) error {
				return d.runHealth(ctx, cfg.HealthAttribute, tools, hl)
			}})
		}
	}
	if cfg.SNMP.AgentX != "" {
		// The demo is one mgmtd whose view (hv1) is not the story's DC.
		srv, err := snmp.New(snmp.Options{AgentX: cfg.SNMP.AgentX, StateDir: cfg.StateDir, NotifyAll: cfg.SNMP.Notify == "all" || o.Demo},
			d.Store, d.Store.Events(), log.With("component", "snmp"))
		if err != nil {
			d.closeHistory()
			return nil, err
		}
		// An AgentX master that is away is a degraded unit, not a failed
		// one: the subagent reconnects.
		d.units.Add(unit.Unit{Name: "snmp agentx", Run: srv.Run})
		d.snmp = srv
	}
	router, err := notify.New(notifyConfig(cfg.Notify, o.Demo), notify.Options{Events: d.Store.Events(), Snaps: d.Store, Log: log.With("component", "notify")})
	if err != nil {
		return nil, err
	}
	d.Notify = router
	// A destination that is down is a degraded route, never a failed
	// unit; the routes stop with the daemon (what waits to be retried
	// becomes a dead letter).
	d.configFile = o.ConfigFile
	d.demo = o.Demo
	var hup chan os.Signal
	if d.configFile != "" {
		// Caught from here on, so that a SIGHUP never kills a daemon
		// that is still starting.
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
	}
	d.units.Add(unit.Unit{Name: "notify", Run: func(ctx context.Context) error {
		if hup != nil {
			go d.reloadOnSignal(ctx, hup)
		}
		return router.Run(ctx)
	}})
	if cfg.Hub.URL != "" {
		// The demo's view (hv1) is not its story's DC: it pushes anyway.
		u, err := d.pusherUnit(o.Demo)
		if err != nil {
			d.closeHistory()
			return nil, err
		}
		d.units.Add(u)
	}
	octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.openAudit(octx); err != nil {
		d.closeHistory()
		return nil, err
	}
	if err := d.buildAuth(o); err != nil {
		d.closeAudit()
		d.closeHistory()
		return nil, err
	}
	var hist rest.HistoryReader
	if d.history != nil {
		hist = historyReader{rec: d.history, instance: cfg.View}
	}
	d.REST = rest.New(rest.Options{Store: d.Store, Events: d.Store.Events(), Simulator: d.sim, Log: log.With("component", "rest"),
		History: hist, Guard: rest.AuthGuard(d.Auth, func() string { return d.Store.Snapshot().Cluster.Name })})
	if hist != nil {
		for _, r := range rest.HistoryRoutes(d.REST, hist) {
			d.REST.Handle(r)
		}
	}
	if d.explainer != nil {
		for _, r := range rest.TransitionRoutes(d.REST, d.explainer) {
			d.REST.Handle(r)
		}
	}
	for _, r := range rest.AuthRoutes(d.REST, d.Auth) {
		d.REST.Handle(r)
	}
	if !o.Demo {
		rest.RegisterSchema("CheckReport", check.Report{})
		d.checker = &configChecker{d: d}
		d.REST.Handle(rest.CheckRoute(d.REST, d.checker, "CheckReport"))
	}
	for _, r := range rest.AuditRoutes(d.REST, d.Audit) {
		d.REST.Handle(r)
	}
	for _, r := range rest.MetricsRoutes(d.REST, d.renderMetrics) {
		d.REST.Handle(r)
	}
	for _, r := range rest.NotificationRoutes(d.REST, notifications{d.Notify}) {
		d.REST.Handle(r)
	}
	d.auditRouteChanges(cfg.Notify, "configuration file at start")
	rest.PageRoutes(d.REST, ui.Handler(), ui.Prefix)
	for _, r := range rest.AlertRoutes(d.REST, func(a rest.Alert) {
		d.log.Debug("pacemaker alert", "kind", a.Kind, "node", a.Node, "resource", a.Resource, "task", a.Task)
		if d.refreshNow != nil {
			d.refreshNow()
		}
	}) {
		d.REST.Handle(r)
	}
	var migrator executor.VMMigrator
	if d.Virt != nil {
		migrator = d.Virt
	}
	ex, err := d.wireActions(ActionOptions{Recorder: d.Audit, Migrator: migrator, UseCIBUser: cfg.Actions.UseCIBUser, Timeout: cfg.Actions.Timeout})
	if err != nil {
		d.closeAudit()
		d.closeHistory()
		return nil, err
	}
	d.actions = ex
	if ex != nil {
		// Stopped after the listeners: running tasks end timed_out, with
		// their outcome recorded, while the sources still observe.
		d.units.Add(unit.Unit{Name: "actions",
			Run: func(ctx context.Context) error {
				// Tasks that ran when the daemon last stopped end unknown,
				// with their effect read back; a failure to record that is
				// retried at the next start.
				if err := ex.Recover(ctx); err != nil {
					d.log.Error("ending orphaned tasks", "err", err)
				}
				<-ctx.Done()
				return nil
			},
			Stop: func(context.Context) error { return ex.Close() }})
	}
	if cfg.CIM.Addr != "" {
		if err := d.buildCIM(); err != nil {
			d.closeAudit()
			d.closeHistory()
			return nil, err
		}
		d.units.Add(d.cimUnit())
	}
	d.units.Add(d.restUnit(), d.socketUnit())
	return d, nil
}

// buildAuth opens the token store, the TLS material and the password
// checkers (demo users, PAM) and builds the one auth service every
// front-end uses.
func (d *Daemon) buildAuth(o Options) error {
	cfg := d.cfg
	tokens, err := auth.OpenTokenStore(filepath.Join(cfg.StateDir, auth.TokenFile), nil)
	if err != nil {
		return err
	}
	passwords := o.Passwords
	if o.Demo {
		users := auth.NewUserStore(0)
		creds, err := auth.CreateDemoCredentials(tokens, users, 7*24*time.Hour)
		if err != nil {
			return err
		}
		d.DemoCredentials = creds
		passwords = append(passwords, users)
	}
	pam, err := pamChecker(cfg.Auth.PAM, d.log.With("component", "pam"))
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
	if o.Demo {
		// Demo users and tokens carry their grants. The user who runs the
		// demo is admin on its local socket (root always is): it is their
		// own demo, and the socket is how the README's first commands
		// reach it.
		if me, err := user.Current(); err == nil && me.Username != "root" {
			bindings = append(slices.Clip(bindings), auth.LocalAdmin(me.Username))
		}
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

// Run runs the daemon until ctx is done or one of its units fails.
//
// Start: the units are prepared in order - the sources, the SNMP
// subagent, the action executor, then the listeners: CIM, REST, and last
// the local socket, whose presence tells the command line that the daemon
// is up. Only when every listener is bound is the daemon ready: Ready is
// closed, daemon.start is recorded, and systemd is notified (READY=1 on
// $NOTIFY_SOCKET), and when systemd runs a watchdog for the daemon
// ($WATCHDOG_USEC) WATCHDOG=1 is sent at half its interval until the
// daemon stops.
//
// Stop, in the reverse order: the local socket, REST and CIM stop
// accepting and finish their requests (10 s at most; event streams are
// cut); the executor ends running tasks timed_out with their outcome
// recorded; the SNMP subagent and the sources stop; last, daemon.stop is
// recorded and the audit log is closed, so that everything that records
// has stopped before it.
//
// The first unit that fails (a port taken, a listener that dies) stops the
// daemon; Run returns its error, naming the unit. A unit that is degraded
// but running (a stale source, an AgentX master that is away) is data, not
// a failure.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.closeHub()
	defer d.closeHistory()
	defer d.closeAudit()
	wctx, stopWatchdog := context.WithCancel(ctx)
	watchdogDone := make(chan struct{})
	started := false
	err := d.units.Run(ctx, func() {
		close(d.Ready)
		d.system(audit.ActionDaemonStart, "listening on "+d.URL)
		if err := sdNotify(d.notify, "READY=1"); err != nil {
			d.log.Warn("systemd notification failed", "err", err)
		}
		if d.watchdogEvery > 0 {
			started = true
			go func() {
				defer close(watchdogDone)
				watchdog(wctx, d.log, d.notify, d.watchdogEvery)
			}()
		}
	})
	stopWatchdog()
	if started {
		<-watchdogDone
	}
	if d.notify != "" {
		_ = sdNotify(d.notify, "STOPPING=1")
	}
	return err
}

// restUnit is the REST API (and the page) on the configured TCP address.
func (d *Daemon) restUnit() unit.Unit {
	srv := d.httpServer()
	var ln net.Listener
	return unit.Unit{Name: "rest",
		Prepare: func(ctx context.Context) error {
			l, err := net.Listen("tcp", d.cfg.Listen)
			if err != nil {
				return err
			}
			d.URL = "http://" + l.Addr().String()
			if d.TLS != nil {
				d.URL = "https://" + l.Addr().String()
				srv.TLSConfig = d.TLS.ServerConfig()
				l = tls.NewListener(l, srv.TLSConfig)
			}
			ln = l
			return nil
		},
		Run: func(ctx context.Context) error {
			if d.TLS != nil {
				auth.ReloadOnSignal(ctx, d.log, d.TLS)
			}
			return serve(srv, ln)
		},
		Stop: func(ctx context.Context) error { return shutdown(ctx, srv, ln) },
	}
}

// socketUnit is the local unix socket of the command line: callers are
// identified by their peer credentials.
func (d *Daemon) socketUnit() unit.Unit {
	srv := d.httpServer()
	d.Socket = d.cfg.Socket
	if d.Socket == "" {
		d.Socket = filepath.Join(d.cfg.StateDir, "mgmtd.sock")
	}
	var ln net.Listener
	return unit.Unit{Name: "socket",
		Prepare: func(context.Context) error {
			_ = os.Remove(d.Socket)
			l, err := net.Listen("unix", d.Socket)
			if err != nil {
				return err
			}
			if err := os.Chmod(d.Socket, 0o666); err != nil {
				l.Close()
				return err
			}
			ln = l
			return nil
		},
		Run: func(context.Context) error { return serve(srv, ln) },
		Stop: func(ctx context.Context) error {
			err := shutdown(ctx, srv, ln)
			_ = os.Remove(d.Socket)
			return err
		},
	}
}

// serve serves HTTP on ln until the server is shut down.
func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// shutdown stops srv gracefully within ctx (closing it when ctx ends
// first) and closes ln, which Serve may never have taken over.
func shutdown(ctx context.Context, srv *http.Server, ln net.Listener) error {
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	if ln != nil {
		_ = ln.Close()
	}
	return err
}

// closeAudit records the stop and closes the audit log last: everything
// else that records has stopped by then.
func (d *Daemon) closeAudit() {
	if d.Audit == nil {
		return
	}
	if d.Auth != nil {
		d.Auth.FlushSummaries() // the last window's summaries, queued before the close
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
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug), ConnContext: auth.ConnContext}
}

// watchAgent is the program the Pacemaker source's crm_mon watcher runs
// for every operation: this binary (see pacemaker.IsWatchAgent), or ""
// when watching is off or the binary cannot name itself.
func watchAgent(on bool, log *slog.Logger) string {
	if !on {
		return ""
	}
	self, err := os.Executable()
	if err != nil {
		log.Warn("no crm_mon watcher: cannot find this binary", "err", err)
		return ""
	}
	return self
}
