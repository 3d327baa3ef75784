package mgmtd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"mgmtd/hub"
	"mgmtd/hub/pghub"
	"mgmtd/internal/unit"
	"mgmtd/metrics"
	"mgmtd/rest"
	"mgmtd/ui"
)

// HubConfig is a cluster's side of the fleet hub (the configuration's
// hub section): where to push, with which client certificate. Off
// without a URL. Only the mgmtd that sends the cluster-wide notifications
// (model.Snapshot.ClusterSender: the DC's) pushes.
type HubConfig struct {
	// URL is the hub, or the load balancer in front of its processes:
	// https://HOST:PORT.
	URL string `json:"url,omitempty"`
	// CertFile and KeyFile are this cluster's client certificate (PEM);
	// the hub binds its subject to the sender role for this cluster.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// CAFile holds the CAs that sign the hub's certificate; empty: the
	// system's.
	CAFile string `json:"ca_file,omitempty"`
	// SnapshotInterval is the shortest time between two full pictures
	// (default 2s); HeartbeatInterval how often an idle sender says it is
	// alive (default 10s).
	SnapshotInterval  time.Duration `json:"snapshot_interval,omitempty"`
	HeartbeatInterval time.Duration `json:"heartbeat_interval,omitempty"`
	// Spool bounds the events kept while the hub is unreachable (default
	// 100000); past it the oldest are dropped, counted and logged.
	Spool int `json:"spool,omitempty"`
	// All pushes from every node's mgmtd, not only the elected one's.
	All bool `json:"all,omitempty"`
}

func (c HubConfig) validate() error {
	if c.URL == "" {
		if c.CertFile != "" || c.KeyFile != "" {
			return errors.New("config key hub.url: required with hub.cert_file")
		}
		return nil
	}
	if !strings.HasPrefix(c.URL, "https://") {
		return fmt.Errorf("config key hub.url: %q: the hub is reached over HTTPS (https://HOST:PORT)", c.URL)
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return errors.New("config key hub.cert_file, hub.key_file: a cluster authenticates to the hub with its client certificate")
	}
	if c.Spool < 0 || c.Spool > 10_000_000 {
		return fmt.Errorf("config key hub.spool: %d is outside 0..10000000", c.Spool)
	}
	if c.SnapshotInterval < 0 || (c.SnapshotInterval > 0 && c.SnapshotInterval < 100*time.Millisecond) {
		return fmt.Errorf("config key hub.snapshot_interval: %s is below 100ms", c.SnapshotInterval)
	}
	if c.HeartbeatInterval < 0 || (c.HeartbeatInterval > 0 && c.HeartbeatInterval < 100*time.Millisecond) {
		return fmt.Errorf("config key hub.heartbeat_interval: %s is below 100ms", c.HeartbeatInterval)
	}
	return nil
}

// tlsConfig loads the client certificate and the hub's CAs.
func (c HubConfig) tlsConfig() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("hub client certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("hub CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("hub CA %s: no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// HubServerConfig configures `mgmtd hub` (the hub_server section).
type HubServerConfig struct {
	// DSN is the PostgreSQL database every hub process of the fleet
	// shares (required).
	DSN string `json:"dsn,omitempty"`
	// Migrate applies the hub schema (the DSN must then be a superuser;
	// the hub still writes as mgmtd_hub_writer).
	Migrate bool `json:"migrate,omitempty"`
	// StaleAfter marks a cluster stale when it has not pushed for this
	// long (default 30s: three heartbeats).
	StaleAfter time.Duration `json:"stale_after_interval,omitempty"`
	// Retention deletes fleet events older than this (default 720h;
	// negative keeps everything).
	Retention time.Duration `json:"retention,omitempty"`
}

func (c HubServerConfig) validate() error {
	if c.StaleAfter < 0 {
		return errors.New("config key hub_server.stale_after_interval: negative")
	}
	if c.Retention > 0 && c.Retention < time.Hour {
		return fmt.Errorf("config key hub_server.retention: %s is below 1h", c.Retention)
	}
	return nil
}

// pusherUnit is the push to the fleet hub; it starts after the sources
// and stops before them.
func (d *Daemon) pusherUnit(all bool) (unit.Unit, error) {
	c := d.cfg.Hub
	tc, err := c.tlsConfig()
	if err != nil {
		return unit.Unit{}, err
	}
	p, err := hub.NewPusher(hub.PusherOptions{URL: c.URL, TLS: tc, Snapshots: d.Store, Events: d.Store.Events(),
		Self: func() string { return d.URL }, All: all || c.All, SnapshotInterval: c.SnapshotInterval, Heartbeat: c.HeartbeatInterval,
		Spool: c.Spool, Log: d.log.With("component", "hub")})
	if err != nil {
		return unit.Unit{}, err
	}
	d.Pusher = p
	return unit.Unit{Name: "hub push", Run: p.Run}, nil
}

// NewHub builds `mgmtd hub`: one hub process of a fleet. It shares the
// daemon's audit log, auth (TLS with client certificates, bindings,
// tokens) and REST listener; the model is the fleet (package hub) kept in
// PostgreSQL (package hub/pghub). Run it with Daemon.Run.
//
// Units in start order: the fleet follower (loads the fleet, LISTENs to
// the other hub processes), the retention, the REST listener, the local
// socket (root is admin there: tokens). Stop: the listeners finish their
// requests (streams are cut), then the follower; the database pool
// closes last.
func NewHub(cfg *Config, log *slog.Logger) (*Daemon, error) {
	c := cfg.HubServer
	if c.DSN == "" {
		return nil, errors.New("config key hub_server.dsn: mgmtd hub keeps the fleet in PostgreSQL; give its DSN")
	}
	d := &Daemon{cfg: cfg, log: log, Ready: make(chan struct{}), notify: os.Getenv("NOTIFY_SOCKET"), tools: metrics.NewToolStats(), started: time.Now()}
	d.units.Log = log.With("component", "daemon")
	st, err := pghub.Open(pghub.Options{DSN: c.DSN, Migrate: c.Migrate}, log.With("component", "hub"))
	if err != nil {
		return nil, err
	}
	d.hubStore = st
	d.Fleet = hub.New(hub.Options{Store: st, StaleAfter: c.StaleAfter, Log: log.With("component", "hub")})
	d.units.Add(unit.Unit{Name: "hub fleet", Run: d.Fleet.Run})
	retention := c.Retention
	switch {
	case retention == 0:
		retention = defaultRetention
	case retention < 0:
		retention = 0
	}
	if retention > 0 {
		d.units.Add(unit.Unit{Name: "hub retention", Run: func(ctx context.Context) error {
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				if n, err := st.Purge(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
					log.Warn("hub retention failed", "component", "hub", "err", err)
				} else if n > 0 {
					log.Info("hub retention", "component", "hub", "deleted", n)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		}})
	}
	octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.openAudit(octx); err != nil {
		st.Close()
		return nil, err
	}
	if err := d.buildAuth(Options{}); err != nil {
		d.closeAudit()
		st.Close()
		return nil, err
	}
	d.REST = rest.NewFleet(rest.Options{Log: log.With("component", "rest"), Guard: rest.AuthGuard(d.Auth, func() string { return "" })})
	for _, r := range rest.FleetRoutes(d.REST, d.Fleet, d.Auth.Authorize) {
		d.REST.Handle(r)
	}
	// Logins and API tokens (scoped viewer tokens for the fleet: `mgmtd
	// token create` on the hub's socket), and the hub's audit log.
	for _, r := range rest.AuthRoutes(d.REST, d.Auth) {
		d.REST.Handle(r)
	}
	for _, r := range rest.AuditRoutes(d.REST, d.Audit) {
		d.REST.Handle(r)
	}
	// The fleet overview page (ui/static/fleet.html).
	rest.PageRoutesHome(d.REST, ui.Handler(), ui.Prefix, ui.Prefix+"fleet.html")
	d.units.Add(d.restUnit(), d.socketUnit())
	return d, nil
}

// closeHub closes the hub's database pool (after every unit stopped).
func (d *Daemon) closeHub() {
	if d.hubStore != nil {
		d.hubStore.Close()
		d.hubStore = nil
	}
}
