package metrics

import (
	"sort"
	"sync"
	"time"

	"mgmtd/model"
)

// Internals are the daemon's own numbers at a scrape; the wiring fills
// them from counters (nothing here waits). A nil pointer leaves that part
// out (no SNMP subagent, no audit log).
type Internals struct {
	// Start is when the daemon started.
	Start time.Time
	// Version is mgmtd's version, for mgmtd_build_info.
	Version string
	// EventsPublished is the sequence of the newest event (the event log
	// numbers every event of the daemon's life).
	EventsPublished uint64
	// EventBuffer is how many events the in-memory log keeps.
	EventBuffer int
	// EventStreams is the number of open REST event streams.
	EventStreams int
	// Tools are the tool runs so far.
	Tools *ToolStats
	// SNMP is the AgentX subagent's notification counters.
	SNMP *ChannelStats
	// CIM is the CIM indication delivery's counters, summed over the
	// listener destinations.
	CIM *ChannelStats
	// Notify are the notification routes.
	Notify []RouteStats
	// Audit is the audit log's writer.
	Audit *AuditStats
	// Check is the newest configuration health check (mgmtd check), nil
	// before one ran. Metrics never run it (it runs crm_verify, which
	// costs a crm_mon on a big cluster): it is the report the last caller
	// of GET /api/v1/check, mgmtd check or the page obtained.
	Check *CheckStats
	// Hub is the push to a fleet hub, nil without one.
	Hub *HubStats
}

// HubStats is the push to a fleet hub.
type HubStats struct {
	// Sender is true while this mgmtd is the one that pushes; Connected
	// while the hub answers.
	Sender, Connected bool
	// Pushes succeeded; Lost events were dropped (spool full); Spooled
	// wait; Acked is the hub's last sequence for this mgmtd.
	Pushes, Lost uint64
	Spooled      int
	Acked        uint64
}

// CheckStats is a health check's report reduced to counts.
type CheckStats struct {
	// Time is when the check ran.
	Time time.Time
	// Findings counts the findings per check name and severity.
	Findings map[CheckKey]int
}

// CheckKey names a kind of finding.
type CheckKey struct{ Check, Severity string }

// ChannelStats counts one notification channel's notifications.
type ChannelStats struct {
	Sent, Dropped uint64
	// Failed counts failed delivery attempts (CIM; each is retried).
	Failed uint64
	Queued int
}

// RouteStats are one notification route's counters.
type RouteStats struct {
	Route, Kind                                        string
	Sent, Failed, Retried, Dropped, Deduplicated, Dead uint64
	Queued                                             int
	DeadLetters                                        int
	Degraded                                           bool
}

// AuditStats describe the audit log's writer.
type AuditStats struct {
	// Queued and QueueCapacity: records waiting for the writer.
	Queued, QueueCapacity int
	// Degraded: the log writes to its local spool instead of PostgreSQL.
	Degraded bool
}

// Add adds the internals' metrics to e, as of now.
func (in Internals) Add(e *Exposition, now time.Time) {
	if in.Version != "" {
		e.Family("mgmtd_build_info", Gauge, "mgmtd's version; value is always 1").Add(1, "version", in.Version)
	}
	if !in.Start.IsZero() {
		e.Family("mgmtd_start_time_seconds", Gauge, "When the daemon started (Unix time)").Add(unixSeconds(in.Start))
	}
	e.Family("mgmtd_events_published_total", Counter, "Model events published since the daemon started").Add(float64(in.EventsPublished))
	if in.EventBuffer > 0 {
		e.Family("mgmtd_event_buffer_capacity", Gauge, "Events the in-memory event log keeps for resuming streams and notification channels").Add(float64(in.EventBuffer))
	}
	e.Family("mgmtd_event_streams", Gauge, "Open REST event streams (server-sent events)").Add(float64(in.EventStreams))
	if in.Tools != nil {
		in.Tools.add(e)
	}
	if in.Check != nil {
		e.Family("mgmtd_check_last_run_timestamp_seconds", Gauge, "When the newest configuration health check (mgmtd check) ran (Unix time); metrics never run it").Add(unixSeconds(in.Check.Time))
		f := e.Family("mgmtd_check_findings", Gauge, "Findings of the newest configuration health check, per check and severity")
		keys := make([]CheckKey, 0, len(in.Check.Findings))
		for k := range in.Check.Findings {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].Check != keys[j].Check {
				return keys[i].Check < keys[j].Check
			}
			return keys[i].Severity < keys[j].Severity
		})
		for _, k := range keys {
			f.Add(float64(in.Check.Findings[k]), "check", k.Check, "severity", k.Severity)
		}
	}
	if in.SNMP != nil {
		e.Family("mgmtd_snmp_notifications_sent_total", Counter, "SNMP notifications the AgentX subagent sent to the master agent").Add(float64(in.SNMP.Sent))
		e.Family("mgmtd_snmp_notifications_dropped_total", Counter, "SNMP notifications dropped: the queue to the master agent overflowed, or events overran the event log before they became notifications").Add(float64(in.SNMP.Dropped))
		e.Family("mgmtd_snmp_notifications_queued", Gauge, "SNMP notifications waiting for the master agent").Add(float64(in.SNMP.Queued))
	}
	if h := in.Hub; h != nil {
		b := func(v bool) float64 {
			if v {
				return 1
			}
			return 0
		}
		e.Family("mgmtd_hub_sender", Gauge, "1 while this mgmtd is the one that pushes the cluster to the fleet hub").Add(b(h.Sender))
		e.Family("mgmtd_hub_connected", Gauge, "1 while the fleet hub answers the pushes").Add(b(h.Connected))
		e.Family("mgmtd_hub_pushes_total", Counter, "Pushes the fleet hub took").Add(float64(h.Pushes))
		e.Family("mgmtd_hub_lost_events_total", Counter, "Events dropped from the spool while the fleet hub was unreachable").Add(float64(h.Lost))
		e.Family("mgmtd_hub_spooled_events", Gauge, "Events waiting for the fleet hub").Add(float64(h.Spooled))
		e.Family("mgmtd_hub_acked_sequence", Gauge, "The fleet hub's last event sequence for this mgmtd").Add(float64(h.Acked))
	}
	if in.CIM != nil {
		e.Family("mgmtd_cim_indications_delivered_total", Counter, "CIM indications delivered to listener destinations").Add(float64(in.CIM.Sent))
		e.Family("mgmtd_cim_indications_dropped_total", Counter, "CIM indications dropped: a destination's queue overflowed or the listener refused them").Add(float64(in.CIM.Dropped))
		e.Family("mgmtd_cim_indications_failed_attempts_total", Counter, "CIM indication delivery attempts that failed (each is retried)").Add(float64(in.CIM.Failed))
		e.Family("mgmtd_cim_indications_queued", Gauge, "CIM indications waiting for their listener").Add(float64(in.CIM.Queued))
	}
	if len(in.Notify) > 0 {
		sent := e.Family("mgmtd_notify_sent_total", Counter, "Notifications the route delivered")
		failed := e.Family("mgmtd_notify_failed_attempts_total", Counter, "Delivery attempts of the route that failed (each retry counts)")
		retried := e.Family("mgmtd_notify_retries_total", Counter, "Retries of the route")
		dropped := e.Family("mgmtd_notify_dropped_total", Counter, "Notifications the route dropped because its queue was full")
		dedup := e.Family("mgmtd_notify_deduplicated_total", Counter, "Notifications the route suppressed as duplicates within its window")
		dead := e.Family("mgmtd_notify_dead_lettered_total", Counter, "Notifications the route gave up on after its retries (dead letters)")
		queued := e.Family("mgmtd_notify_queued", Gauge, "Notifications waiting in the route's queue")
		letters := e.Family("mgmtd_notify_dead_letters", Gauge, "Dead letters the route keeps for inspection over REST")
		degraded := e.Family("mgmtd_notify_route_degraded", Gauge, "Whether the route keeps failing (1) or delivers (0)")
		for _, r := range in.Notify {
			lbl := []string{"route", r.Route, "kind", r.Kind}
			sent.Add(float64(r.Sent), lbl...)
			failed.Add(float64(r.Failed), lbl...)
			retried.Add(float64(r.Retried), lbl...)
			dropped.Add(float64(r.Dropped), lbl...)
			dedup.Add(float64(r.Deduplicated), lbl...)
			dead.Add(float64(r.Dead), lbl...)
			queued.Add(float64(r.Queued), lbl...)
			letters.Add(float64(r.DeadLetters), lbl...)
			degraded.Bool(r.Degraded, lbl...)
		}
	}
	if in.Audit != nil {
		e.Family("mgmtd_audit_queue_length", Gauge, "Audit records waiting for the audit writer").Add(float64(in.Audit.Queued))
		e.Family("mgmtd_audit_queue_capacity", Gauge, "Audit records the writer's queue holds before Record waits").Add(float64(in.Audit.QueueCapacity))
		e.Family("mgmtd_audit_degraded", Gauge, "Whether the audit log writes to its local spool because PostgreSQL is unreachable").Bool(in.Audit.Degraded)
	}
}

// ToolBuckets are the upper bounds (seconds) of the tool run histogram:
// crm_mon on a small cluster takes tens of milliseconds, a large CIB
// seconds, a timeout 30 s.
var ToolBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// ToolStats counts cluster tool runs (crm_mon, cibadmin, corosync-*,
// crm_resource ...) per tool: a histogram of their durations and the
// failed ones. Its Observe is the toolexec hook; it is safe for
// concurrent use.
type ToolStats struct {
	mu    sync.Mutex
	tools map[string]*toolHist
}

type toolHist struct {
	buckets []uint64 // per bound, not cumulative
	count   uint64
	sum     float64
	errors  uint64
}

// NewToolStats returns empty tool statistics.
func NewToolStats() *ToolStats { return &ToolStats{tools: map[string]*toolHist{}} }

// Observe records one run of tool that took dur and failed when failed.
func (t *ToolStats) Observe(tool string, dur time.Duration, failed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.tools[tool]
	if h == nil {
		if len(t.tools) >= 64 {
			tool = "other" // tools are few; bound the label anyway
			if h = t.tools[tool]; h == nil {
				h = &toolHist{buckets: make([]uint64, len(ToolBuckets))}
				t.tools[tool] = h
			}
		} else {
			h = &toolHist{buckets: make([]uint64, len(ToolBuckets))}
			t.tools[tool] = h
		}
	}
	s := dur.Seconds()
	for i, b := range ToolBuckets {
		if s <= b {
			h.buckets[i]++
			break
		}
	}
	h.count++
	h.sum += s
	if failed {
		h.errors++
	}
}

func (t *ToolStats) add(e *Exposition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.tools))
	for n := range t.tools {
		names = append(names, n)
	}
	sort.Strings(names)
	dur := e.Family("mgmtd_tool_run_duration_seconds", Histogram, "Duration of cluster tool runs (a source's refresh is its crm_mon and cibadmin, or corosync-* runs)")
	errs := e.Family("mgmtd_tool_run_errors_total", Counter, "Cluster tool runs that failed (exit status, timeout, output limit)")
	for _, n := range names {
		h := t.tools[n]
		cum := make([]uint64, len(h.buckets))
		var c uint64
		for i, b := range h.buckets {
			c += b
			cum[i] = c
		}
		dur.AddHistogram(ToolBuckets, cum, h.sum, h.count, "tool", n)
		errs.Add(float64(h.errors), "tool", n)
	}
}

// Render is one scrape: the snapshot's metrics (none for a nil
// snapshot) and the internals'.
func Render(snap *model.Snapshot, in Internals, now time.Time) *Exposition {
	e := NewExposition()
	if snap != nil {
		Snapshot(e, snap, now)
	}
	in.Add(e, now)
	return e
}
