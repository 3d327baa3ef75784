package mgmtd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"time"

	"mgmtd/audit"
	"mgmtd/metrics"
	"mgmtd/model"
	"mgmtd/notify"
	"mgmtd/rest"
	"mgmtd/toolexec"
)

// Version is mgmtd's version as the metrics show it (mgmtd_build_info).
var Version = "dev"

// observeTool counts a cluster tool run for the metrics.
func (d *Daemon) observeTool(r toolexec.Run) {
	if d.tools != nil {
		d.tools.Observe(r.Tool, r.Dur, r.Err != nil)
	}
}

// renderMetrics is GET /metrics: the snapshot (cut to the caller's scope)
// and, for callers who see the whole cluster, the daemon's internals -
// all read from memory, nothing run.
func (d *Daemon) renderMetrics(buf *bytes.Buffer, snap *model.Snapshot, internals bool) error {
	now := time.Now()
	e := metrics.NewExposition()
	metrics.Snapshot(e, snap, now)
	if internals {
		d.internals().Add(e, now)
	}
	_, err := e.WriteTo(buf)
	if e.Duplicates > 0 {
		d.log.Warn("metrics: duplicate series dropped", "series", e.Duplicates)
	}
	return err
}

func (d *Daemon) internals() metrics.Internals {
	in := metrics.Internals{Start: d.started, Version: Version, EventsPublished: d.Store.Events().Last(), EventBuffer: d.Store.Events().Cap(), Tools: d.tools}
	if d.REST != nil {
		in.EventStreams = d.REST.EventStreams()
	}
	if d.checker != nil {
		in.Check = d.checker.stats()
	}
	if d.Pusher != nil {
		st := d.Pusher.Status()
		in.Hub = &metrics.HubStats{Sender: st.Sender, Connected: st.Connected, Pushes: st.Sent, Lost: st.Lost, Spooled: st.Spooled, Acked: st.Acked}
	}
	if d.snmp != nil {
		st := d.snmp.Stats()
		in.SNMP = &metrics.ChannelStats{Sent: st.NotifiesSent, Dropped: st.NotifiesDropped, Queued: st.NotifiesQueued}
	}
	if d.cimProvider != nil {
		c := &metrics.ChannelStats{}
		for _, st := range d.cimProvider.DeliveryStats() {
			c.Sent += st.Delivered
			c.Dropped += st.Dropped
			c.Failed += st.Failures
			c.Queued += st.Queued
		}
		in.CIM = c
	}
	if d.Notify != nil {
		for _, r := range d.Notify.Status() {
			in.Notify = append(in.Notify, metrics.RouteStats{Route: r.Name, Kind: r.Kind, Sent: r.Sent, Failed: r.FailedAttempts, Retried: r.Retries,
				Dropped: r.Dropped, Deduplicated: r.Deduplicated, Dead: r.DeadLettered, Queued: r.Queued, DeadLetters: r.DeadLetters, Degraded: r.Degraded})
		}
	}
	if d.Audit != nil {
		q, c := d.Audit.QueueStats()
		in.Audit = &metrics.AuditStats{Queued: q, QueueCapacity: c, Degraded: d.Audit.Degraded()}
	}
	return in
}

// notifications adapts the router to rest.Notifications.
type notifications struct{ r *notify.Router }

func (n notifications) Routes() []rest.NotifyRoute {
	var out []rest.NotifyRoute
	for _, s := range n.r.Status() {
		out = append(out, rest.NotifyRoute(s))
	}
	return out
}

func (n notifications) DeadLetters(route string) ([]rest.DeadLetter, bool) {
	ds, ok := n.r.DeadLetters(route)
	out := make([]rest.DeadLetter, len(ds))
	for i, x := range ds {
		out[i] = rest.DeadLetter(x)
	}
	return out, ok
}

// routesFile keeps the notification routes of the last start (secrets
// only as fingerprints), so that the next start can audit what changed.
const routesFile = "notify-routes.json"

type routeRecord struct {
	// Config is the route without its secrets.
	Config notify.RouteConfig `json:"config"`
	// Fingerprint is the SHA-256 of the whole route, secrets included:
	// a changed password or webhook secret changes it.
	Fingerprint string `json:"fingerprint"`
}

func routeRecords(cfg notify.Config) map[string]routeRecord {
	out := map[string]routeRecord{}
	for _, r := range cfg.Routes {
		full, _ := json.Marshal(r)
		sum := sha256.Sum256(full)
		out[r.Name] = routeRecord{Config: r.Redacted(), Fingerprint: hex.EncodeToString(sum[:])}
	}
	return out
}

// notifyConfig is the notification configuration the router runs: in
// the demo, whose one mgmtd (view hv1) is not the story's DC, every
// mgmtd sends unless the file says otherwise.
func notifyConfig(c notify.Config, demo bool) notify.Config {
	if demo && c.Sender == "" {
		c.Sender = "all"
	}
	return c
}

// reloadOnSignal reads the notification routes again on every SIGHUP
// (received on ch) until ctx ends.
func (d *Daemon) reloadOnSignal(ctx context.Context, ch chan os.Signal) {
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			if err := d.ReloadNotify(); err != nil {
				d.log.Error("reload of the notification routes failed; keeping the previous routes", "err", err)
			}
		}
	}
}

// ReloadNotify reads the configuration file again and replaces the
// notification routes (the only part of the configuration reloaded
// without a restart; TLS certificates reload on the same SIGHUP). A file
// that does not load or validate changes nothing. The reload is recorded
// as config.reload, each route added, changed or removed as
// notify.routes.changed.
func (d *Daemon) ReloadNotify() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.configFile == "" {
		return errors.New("no configuration file to reload")
	}
	cfg, err := LoadConfig(d.configFile)
	if err == nil {
		_, err = d.Notify.Reload(notifyConfig(cfg.Notify, d.demo))
	}
	outcome, reason := audit.OutcomeSuccess, "notification routes reloaded from "+d.configFile
	if err != nil {
		outcome, reason = audit.OutcomeFailure, "notification routes not reloaded: "+err.Error()
	}
	if d.Audit != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, aerr := d.Audit.Record(ctx, audit.Event{Actor: "mgmtd", AuthMethod: "none", Action: audit.ActionConfigReload, Channel: audit.ChannelSystem,
			Time: time.Now(), ObjectType: "config", ObjectID: d.configFile, Outcome: outcome, Reason: reason})
		cancel()
		if aerr != nil {
			d.log.Error("audit record failed", "action", audit.ActionConfigReload, "err", aerr)
		}
	}
	if err != nil {
		return err
	}
	d.auditRouteChanges(cfg.Notify, "configuration file reloaded")
	d.log.Info("notification routes reloaded", "routes", len(cfg.Notify.Routes))
	return nil
}

// auditRouteChanges records, for every notification route added, changed
// or removed since the routes were last recorded (at the last start or
// reload; routes change only with the configuration file), one
// notify.routes.changed record with the route before and after (without
// secrets), and then remembers the routes. A first start with no file
// records the routes as added. When the audit log cannot record, the
// file is left as it was, so the next start or reload records the change.
// how says where the routes came from.
func (d *Daemon) auditRouteChanges(routes notify.Config, how string) {
	if d.Audit == nil || d.cfg.StateDir == "" {
		return
	}
	path := filepath.Join(d.cfg.StateDir, routesFile)
	old := map[string]routeRecord{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &old); err != nil {
			d.log.Warn("notify: unreadable record of the last routes; every route is recorded as added", "err", err)
			old = map[string]routeRecord{}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("notify: cannot read the record of the last routes", "err", err)
	}
	cur := routeRecords(routes)
	names := map[string]bool{}
	for n := range old {
		names[n] = true
	}
	for n := range cur {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		o, had := old[n]
		c, has := cur[n]
		if had && has && o.Fingerprint == c.Fingerprint {
			continue
		}
		ev := audit.Event{Actor: "mgmtd", AuthMethod: "none", Action: audit.ActionNotifyRoutesChanged, Channel: audit.ChannelSystem, Time: time.Now(),
			ObjectType: "notify.route", ObjectID: n, Outcome: audit.OutcomeSuccess}
		switch {
		case !had:
			ev.Reason = "route added (" + how + ")"
		case !has:
			ev.Reason = "route removed (" + how + ")"
		default:
			ev.Reason = "route changed (" + how + ")"
			if b1, _ := json.Marshal(o.Config); bytes.Equal(b1, mustJSON(c.Config)) {
				ev.Reason = "route's secret changed (" + how + ")"
			}
		}
		if had {
			ev.Before = mustJSON(o.Config)
		}
		if has {
			ev.After = mustJSON(c.Config)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := d.Audit.Record(ctx, ev)
		cancel()
		if err != nil {
			d.log.Error("audit record failed", "action", ev.Action, "route", n, "err", err)
			return
		}
	}
	b, err := json.MarshalIndent(cur, "", "  ")
	if err == nil {
		err = os.WriteFile(path+".tmp", b, 0o600)
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		d.log.Error("notify: cannot record the routes", "err", err)
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
