package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"mgmtd/model"
)

// Options configure a [Hub].
type Options struct {
	Store Store
	// StaleAfter is how long a cluster may go without a push before the
	// hub marks it stale; default 30 s (three of a sender's default
	// heartbeats).
	StaleAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Hub is one hub process: the fleet's pictures in memory, kept current
// from its own ingests and from the store's notifications of every other
// process, and the fan-out of the fleet's events to streams.
type Hub struct {
	opts Options
	log  *slog.Logger

	mu       sync.RWMutex
	clusters map[string]*entry // snapshots reindexed
	pushes   map[string]uint64 // pushes this process took, per cluster
	stored   map[string]uint64 // events this process stored, per cluster
	ready    bool              // loaded from the store

	subMu  sync.Mutex
	subs   map[*subscription]struct{}
	lastID int64 // the newest event handed to subscribers

	kick chan struct{}
	// catchMu serialises catch-ups (the loop and Stream's backlog do not
	// share it: Stream reads the store itself).
	catchMu sync.Mutex
}

// New returns a hub; Run loads the fleet and follows the store.
func New(opts Options) *Hub {
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Hub{opts: opts, log: opts.Log, clusters: map[string]*entry{}, pushes: map[string]uint64{},
		stored: map[string]uint64{}, subs: map[*subscription]struct{}{}, kick: make(chan struct{}, 1)}
}

// ErrNotReady is returned while the hub has not loaded the fleet yet.
var ErrNotReady = errors.New("hub: the fleet is not loaded yet")

// Load reads every cluster and the newest event ID from the store; Run
// calls it, tests may call it first to know the hub is ready.
func (h *Hub) Load(ctx context.Context) error {
	last, err := h.opts.Store.LastID(ctx)
	if err != nil {
		return fmt.Errorf("hub: load: %w", err)
	}
	recs, err := h.opts.Store.Clusters(ctx)
	if err != nil {
		return fmt.Errorf("hub: load: %w", err)
	}
	h.mu.Lock()
	for i := range recs {
		h.putLocked(recs[i])
	}
	h.ready = true
	h.mu.Unlock()
	h.subMu.Lock()
	if h.lastID == 0 {
		h.lastID = last
	}
	h.subMu.Unlock()
	return nil
}

// entry is a cluster as a hub process holds it: the record, and what the
// list shows of its picture, computed once per picture. An entry is
// replaced, never changed, so readers may use it after the lock.
type entry struct {
	ClusterRecord
	sum ClusterInfo
	// names are the names where and impact find in the picture directly
	// (resources, instances, nodes, services, addresses, VMs, hosts), so
	// that a fleet-wide question asks only the clusters that know it.
	names map[string]struct{}
}

// namesOf indexes a picture's names for where and impact.
func namesOf(s *model.Snapshot) map[string]struct{} {
	m := make(map[string]struct{}, len(s.Resources)+len(s.Instances)+len(s.Nodes)+len(s.VMs)+len(s.Hosts)+len(s.Services))
	add := func(v string) {
		if v != "" {
			m[v] = struct{}{}
		}
	}
	for _, r := range s.Resources {
		add(r.ID)
		add(r.Address)
		add(r.Domain)
		add(r.GuestNode)
	}
	for _, in := range s.Instances {
		add(in.Resource)
		add(in.Primitive)
	}
	for _, n := range s.Nodes {
		add(n.Name)
	}
	for _, v := range s.VMs {
		add(v.Name)
		add(v.GuestNode)
		for _, nic := range v.NICs {
			add(nic.MAC)
		}
	}
	for _, h := range s.Hosts {
		add(h.Name)
		add(h.Node)
	}
	for _, sv := range s.Services {
		add(sv.Name)
		add(sv.Address)
	}
	return m
}

// summarize computes the parts of ClusterInfo that come from the
// picture (health, counts, the cluster's own staleness).
func summarize(s *model.Snapshot) ClusterInfo {
	ci := ClusterInfo{Health: "unknown"}
	if s == nil {
		return ci
	}
	st := s.Status()
	ci.Health, ci.Problems = st.Severity, len(st.Problems)
	ci.Quorate, ci.DC, ci.Generation = s.Cluster.Quorate, s.Cluster.DC, s.Generation
	ci.Nodes, ci.Resources, ci.Failures = len(s.Nodes), len(s.Resources), len(s.Failures)
	for _, n := range s.Nodes {
		if n.Online {
			ci.NodesOnline++
		}
	}
	if s.Stale() {
		var names []string
		for _, src := range s.Sources {
			if src.State != model.SourceOK {
				names = append(names, src.Name)
			}
		}
		ci.Stale, ci.StaleReason = true, "the cluster's own picture is stale: "+strings.Join(names, ", ")
	}
	return ci
}

// putLocked stores rec, indexing its snapshot; a record older than the
// one held (another process's notification arriving late) keeps the
// newer contact time and picture.
func (h *Hub) putLocked(rec ClusterRecord) {
	old := h.clusters[rec.Name]
	e := &entry{ClusterRecord: rec}
	if rec.Snapshot != nil {
		e.Snapshot = model.Reindexed(rec.Snapshot)
		e.sum = summarize(e.Snapshot)
		e.names = namesOf(e.Snapshot)
	}
	if old != nil {
		if e.LastContact.Before(old.LastContact) {
			e.LastContact = old.LastContact
		}
		if e.Snapshot == nil {
			e.Snapshot, e.sum, e.names = old.Snapshot, old.sum, old.names
		}
	}
	if e.Snapshot == nil {
		e.sum = summarize(nil)
	}
	h.clusters[rec.Name] = e
}

// Run loads the fleet, then follows the store's notifications (with
// reconnection) and hands new events to the streams until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	for {
		err := h.Load(ctx)
		if err == nil {
			break
		}
		h.log.Warn("hub: loading the fleet failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	go h.catchUpLoop(ctx)
	backoff := time.Second
	for ctx.Err() == nil {
		err := h.opts.Store.Listen(ctx, func() {
			// Notifications sent while this process did not listen are
			// lost: read every cluster again.
			backoff = time.Second
			if recs, err := h.opts.Store.Clusters(ctx); err == nil {
				h.mu.Lock()
				for i := range recs {
					h.putLocked(recs[i])
				}
				h.mu.Unlock()
			}
			h.Kick()
		}, h.changed(ctx))
		if ctx.Err() != nil {
			return nil
		}
		h.log.Warn("hub: listening for other hub processes failed; reconnecting", "err", err, "dur", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	return nil
}

// changed is the store's notification: another process took a push. A
// heartbeat only moves the contact time; a new picture is read.
func (h *Hub) changed(ctx context.Context) func(Change) {
	return func(c Change) {
		h.mu.Lock()
		e := h.clusters[c.Cluster]
		if e != nil && !c.Snapshot {
			if c.Contact.After(e.LastContact) {
				// Entries are never changed in place: readers hold them
				// without the lock.
				ne := *e
				ne.LastContact = c.Contact
				h.clusters[c.Cluster] = &ne
			}
			h.mu.Unlock()
			h.Kick()
			return
		}
		h.mu.Unlock()
		rec, ok, err := h.opts.Store.Cluster(ctx, c.Cluster)
		if err != nil {
			h.log.Warn("hub: reading a cluster another process updated", "cluster", c.Cluster, "err", err)
		} else if ok {
			h.mu.Lock()
			h.putLocked(rec)
			h.mu.Unlock()
		}
		h.Kick()
	}
}

// Kick asks for the new events to be read and handed to the streams.
func (h *Hub) Kick() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *Hub) catchUpLoop(ctx context.Context) {
	// A safety net for a notification lost with a connection.
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		case <-t.C:
		}
		if err := h.catchUp(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("hub: reading new events failed", "err", err)
		}
	}
}

// catchUp hands the events stored after the last one handed out to
// every subscriber, in ID order.
func (h *Hub) catchUp(ctx context.Context) error {
	h.catchMu.Lock()
	defer h.catchMu.Unlock()
	for {
		h.subMu.Lock()
		after := h.lastID
		h.subMu.Unlock()
		evs, err := h.opts.Store.EventsAfter(ctx, after, 1000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		h.subMu.Lock()
		for i := range evs {
			for s := range h.subs {
				s.offer(&evs[i])
			}
		}
		h.lastID = evs[len(evs)-1].ID
		h.subMu.Unlock()
		if len(evs) < 1000 {
			return nil
		}
	}
}

// Ingest takes one push: it is checked, stored, applied to this
// process's picture of the fleet and announced to the streams.
func (h *Hub) Ingest(ctx context.Context, p *Push) (PushReply, error) {
	if err := p.Validate(); err != nil {
		return PushReply{}, err
	}
	now := h.opts.Now()
	res, err := h.opts.Store.Ingest(ctx, p, now)
	if err != nil {
		return PushReply{}, err
	}
	h.mu.Lock()
	h.putLocked(ClusterRecord{Name: p.Cluster, Instance: p.Instance, URL: p.URL, LastContact: now, Lost: p.Lost, Snapshot: p.Snapshot})
	h.pushes[p.Cluster]++
	h.stored[p.Cluster] += uint64(res.Stored)
	h.mu.Unlock()
	if res.Stored > 0 {
		h.Kick()
	}
	return res.PushReply, nil
}

// ClusterInfo is a cluster as the fleet list shows it.
type ClusterInfo struct {
	Name     string `json:"name"`
	Instance string `json:"instance"`
	// URL is the cluster's own mgmtd: act there, not through the hub.
	URL         string    `json:"url,omitempty"`
	LastContact time.Time `json:"last_contact"`
	// Age is the time since the last contact, in seconds.
	Age float64 `json:"age_seconds"`
	// Stale is true when the hub has not heard from the cluster for
	// longer than the stale limit, or the cluster's own picture is
	// stale; StaleReason says which.
	Stale       bool   `json:"stale"`
	StaleReason string `json:"stale_reason,omitempty"`
	// ContactLost is the first reason: no push within the stale limit.
	ContactLost bool `json:"contact_lost"`
	// Health is the cluster's status severity (ok, warning, critical),
	// "unknown" before its first picture.
	Health      model.Severity `json:"health"`
	Problems    int            `json:"problems"`
	Quorate     bool           `json:"quorate"`
	DC          string         `json:"dc,omitempty"`
	Nodes       int            `json:"nodes"`
	NodesOnline int            `json:"nodes_online"`
	Resources   int            `json:"resources"`
	Failures    int            `json:"failures"`
	Generation  uint64         `json:"generation"`
	// Lost is how many events the cluster's sender dropped from its
	// spool while the hub was unreachable.
	Lost uint64 `json:"lost_events"`
}

// Visible says whether the caller may read a cluster.
type Visible func(cluster string) bool

func all(string) bool { return true }

func (h *Hub) info(r *entry, now time.Time) ClusterInfo {
	ci := r.sum
	ci.Name, ci.Instance, ci.URL, ci.LastContact, ci.Lost = r.Name, r.Instance, r.URL, r.LastContact, r.Lost
	ci.Age = now.Sub(r.LastContact).Seconds()
	if age := now.Sub(r.LastContact); age > h.opts.StaleAfter {
		ci.Stale, ci.ContactLost, ci.StaleReason = true, true, fmt.Sprintf("no contact for %s (stale after %s)", age.Round(time.Second), h.opts.StaleAfter)
	}
	return ci
}

// Clusters lists the clusters the caller may see, by name.
func (h *Hub) Clusters(visible Visible) []ClusterInfo {
	if visible == nil {
		visible = all
	}
	now := h.opts.Now()
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := []ClusterInfo{}
	for _, r := range h.clusters {
		if visible(r.Name) {
			out = append(out, h.info(r, now))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Cluster returns one cluster's information and picture.
func (h *Hub) Cluster(name string) (ClusterInfo, *model.Snapshot, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r, ok := h.clusters[name]
	if !ok {
		return ClusterInfo{}, nil, false
	}
	return h.info(r, h.opts.Now()), r.Snapshot, true
}

// snapshots returns the visible clusters' records (with a picture), by
// name.
func (h *Hub) snapshots(visible Visible, cluster string) []*entry {
	if visible == nil {
		visible = all
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*entry
	for _, r := range h.clusters {
		if r.Snapshot != nil && visible(r.Name) && (cluster == "" || r.Name == cluster) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Object is one object of some cluster of the fleet.
type Object struct {
	Cluster string     `json:"cluster"`
	Kind    model.Kind `json:"kind"`
	Name    string     `json:"name"`
	// State is the object's state in a word (online, failed, running...).
	State string `json:"state"`
	// Nodes are where it runs (resources), or its host (VMs).
	Nodes []string `json:"nodes,omitempty"`
}

// ObjectQuery selects objects; empty fields match everything.
type ObjectQuery struct {
	Cluster string
	Kind    model.Kind
	Name    string
}

// Kinds the object list knows.
var objectKinds = []model.Kind{model.KindNode, model.KindResource, model.KindVM, model.KindHost, model.KindService}

// ValidKind reports whether k is a kind the object list serves.
func ValidKind(k model.Kind) bool { return k == "" || slices.Contains(objectKinds, k) }

// Objects lists the objects q selects in the clusters the caller may see.
func (h *Hub) Objects(q ObjectQuery, visible Visible) []Object {
	out := []Object{}
	for _, r := range h.snapshots(visible, q.Cluster) {
		for _, o := range SnapshotObjects(r.Name, r.Snapshot) {
			if (q.Kind == "" || q.Kind == o.Kind) && (q.Name == "" || q.Name == o.Name) {
				out = append(out, o)
			}
		}
	}
	return out
}

// SnapshotObjects lists the objects of one cluster's picture: nodes,
// top-level resources, VMs, hypervisor hosts, services. s must be
// indexed (a Store's, or model.Reindexed).
func SnapshotObjects(cluster string, s *model.Snapshot) []Object {
	var out []Object
	for _, n := range s.Nodes {
		out = append(out, Object{Cluster: cluster, Kind: model.KindNode, Name: n.Name, State: string(n.State)})
	}
	for _, res := range s.Resources {
		if res.Parent != "" {
			continue
		}
		o := Object{Cluster: cluster, Kind: model.KindResource, Name: res.ID, State: "stopped"}
		failed := res.Failed
		for _, in := range s.InstancesOf(res.ID) {
			if in.Active && in.Node != "" && !slices.Contains(o.Nodes, in.Node) {
				o.Nodes = append(o.Nodes, in.Node)
			}
			failed = failed || in.Failed
		}
		switch {
		case failed:
			o.State = "failed"
		case res.Blocked:
			o.State = "blocked"
		case len(o.Nodes) > 0:
			o.State = "running"
		case res.Disabled:
			o.State = "disabled"
		}
		out = append(out, o)
	}
	for _, v := range s.VMs {
		out = append(out, Object{Cluster: cluster, Kind: model.KindVM, Name: v.Name, State: string(v.State), Nodes: []string{v.Host}})
	}
	for _, hst := range s.Hosts {
		st := "reachable"
		if !hst.Reachable {
			st = "unreachable"
		}
		out = append(out, Object{Cluster: cluster, Kind: model.KindHost, Name: hst.Name, State: st})
	}
	for _, sv := range s.Services {
		out = append(out, Object{Cluster: cluster, Kind: model.KindService, Name: sv.Name, State: "configured"})
	}
	return out
}

// ClusterWhere is one cluster's answer to a fleet-wide where.
type ClusterWhere struct {
	Cluster string            `json:"cluster"`
	URL     string            `json:"url,omitempty"`
	Stale   bool              `json:"stale"`
	Answer  model.WhereAnswer `json:"answer"`
}

// knowing narrows rs to the clusters whose pictures name name directly;
// when none does (a MAC address, "rsc:N", a name no cluster has), every
// cluster is asked.
func knowing(rs []*entry, name string) []*entry {
	mac, _ := model.NormalizeMAC(name) // as the model keeps a VM's interfaces
	var out []*entry
	for _, r := range rs {
		_, ok := r.names[name]
		if _, m := r.names[mac]; ok || (mac != "" && m) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return rs
	}
	return out
}

// Where asks every visible cluster where name runs and returns the
// clusters that know it.
func (h *Hub) Where(name string, visible Visible) []ClusterWhere {
	out := []ClusterWhere{}
	now := h.opts.Now()
	for _, r := range knowing(h.snapshots(visible, ""), name) {
		a := r.Snapshot.Where(name)
		if len(a.Matches) == 0 {
			continue
		}
		out = append(out, ClusterWhere{Cluster: r.Name, URL: r.URL, Stale: h.info(r, now).Stale, Answer: a})
	}
	return out
}

// ClusterImpact is one cluster's answer to a fleet-wide impact.
type ClusterImpact struct {
	Cluster string             `json:"cluster"`
	URL     string             `json:"url,omitempty"`
	Stale   bool               `json:"stale"`
	Answer  model.ImpactAnswer `json:"answer"`
}

// Impact asks every visible cluster what goes away with node (a node
// or hypervisor host) and returns the clusters that know it.
func (h *Hub) Impact(node string, visible Visible) []ClusterImpact {
	out := []ClusterImpact{}
	now := h.opts.Now()
	for _, r := range knowing(h.snapshots(visible, ""), node) {
		a := r.Snapshot.Impact(node)
		if !a.Known {
			continue
		}
		out = append(out, ClusterImpact{Cluster: r.Name, URL: r.URL, Stale: h.info(r, now).Stale, Answer: a})
	}
	return out
}

// subscription is one stream's queue of live events.
type subscription struct {
	c       chan *FleetEvent
	overrun bool
}

func (s *subscription) offer(e *FleetEvent) {
	if s.overrun {
		return
	}
	select {
	case s.c <- e:
	default:
		s.overrun = true
		close(s.c)
	}
}

// ErrOverrun ends a stream that could not keep up; the client resumes
// with the last ID it saw (from the store).
var ErrOverrun = errors.New("hub: the stream fell behind; resume with the last event ID")

// streamQueue bounds a stream's live queue.
const streamQueue = 4096

// Stream sends the fleet's events in ID order: those stored after
// after (negative: only new ones) and then every new one, until ctx ends
// (nil) or send fails (its error). Every heartbeat with nothing to send,
// send gets nil. Events of clusters the caller may not see are skipped.
func (h *Hub) Stream(ctx context.Context, after int64, heartbeat time.Duration, visible Visible, send func(*FleetEvent) error) error {
	if visible == nil {
		visible = all
	}
	sub := &subscription{c: make(chan *FleetEvent, streamQueue)}
	h.subMu.Lock()
	h.subs[sub] = struct{}{}
	cur := h.lastID
	h.subMu.Unlock()
	defer func() {
		h.subMu.Lock()
		delete(h.subs, sub)
		h.subMu.Unlock()
	}()
	if after >= 0 {
		// The backlog from the store, up to what the live queue starts
		// after.
		limit := cur
		cur = after
		for cur < limit {
			evs, err := h.opts.Store.EventsAfter(ctx, cur, 1000)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				break
			}
			for i := range evs {
				if evs[i].ID > limit {
					break
				}
				cur = evs[i].ID
				if visible(evs[i].Cluster) {
					if err := send(&evs[i]); err != nil {
						return err
					}
				}
			}
		}
	}
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := send(nil); err != nil {
				return err
			}
		case e, ok := <-sub.c:
			if !ok {
				return ErrOverrun
			}
			if e.ID <= cur {
				continue
			}
			cur = e.ID
			if visible(e.Cluster) {
				if err := send(e); err != nil {
					return err
				}
			}
		}
	}
}

// LastID is the newest event ID this process handed to its streams.
func (h *Hub) LastID() int64 {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	return h.lastID
}

// Ready reports whether the fleet is loaded.
func (h *Hub) Ready() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.ready
}

// WriteMetrics writes the Prometheus text exposition of the fleet: per
// cluster (label cluster) its contact, staleness, health and counts, and
// what this hub process took from it.
func (h *Hub) WriteMetrics(w io.Writer, visible Visible) error {
	infos := h.Clusters(visible)
	h.mu.RLock()
	pushes, stored := map[string]uint64{}, map[string]uint64{}
	for _, ci := range infos {
		pushes[ci.Name], stored[ci.Name] = h.pushes[ci.Name], h.stored[ci.Name]
	}
	h.mu.RUnlock()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	health := map[model.Severity]float64{model.SeverityOK: 0, model.SeverityInfo: 0, model.SeverityWarning: 1, model.SeverityCritical: 2}
	type metric struct {
		name, typ, help string
		val             func(ClusterInfo) float64
	}
	ms := []metric{
		{"mgmtd_fleet_cluster_last_contact_timestamp_seconds", "gauge", "When the cluster's mgmtd last pushed (hub clock).", func(c ClusterInfo) float64 { return float64(c.LastContact.UnixMilli()) / 1000 }},
		{"mgmtd_fleet_cluster_stale", "gauge", "1 when the hub has not heard from the cluster within the stale limit or its own picture is stale.", func(c ClusterInfo) float64 { return b(c.Stale) }},
		{"mgmtd_fleet_cluster_contact_lost", "gauge", "1 when the hub has not heard from the cluster within the stale limit.", func(c ClusterInfo) float64 { return b(c.ContactLost) }},
		{"mgmtd_fleet_cluster_health", "gauge", "The cluster's worst problem: 0 none, 1 warning, 2 critical, -1 unknown.", func(c ClusterInfo) float64 {
			if v, ok := health[c.Health]; ok {
				return v
			}
			return -1
		}},
		{"mgmtd_fleet_cluster_quorate", "gauge", "1 when the cluster has quorum.", func(c ClusterInfo) float64 { return b(c.Quorate) }},
		{"mgmtd_fleet_cluster_nodes", "gauge", "Nodes of the cluster.", func(c ClusterInfo) float64 { return float64(c.Nodes) }},
		{"mgmtd_fleet_cluster_nodes_online", "gauge", "Online nodes of the cluster.", func(c ClusterInfo) float64 { return float64(c.NodesOnline) }},
		{"mgmtd_fleet_cluster_resources", "gauge", "Configured resources of the cluster.", func(c ClusterInfo) float64 { return float64(c.Resources) }},
		{"mgmtd_fleet_cluster_failures", "gauge", "Failed operations of the cluster.", func(c ClusterInfo) float64 { return float64(c.Failures) }},
		{"mgmtd_fleet_cluster_lost_events_total", "counter", "Events the cluster's sender dropped from its spool, as it reported.", func(c ClusterInfo) float64 { return float64(c.Lost) }},
		{"mgmtd_fleet_pushes_total", "counter", "Pushes this hub process took from the cluster.", func(c ClusterInfo) float64 { return float64(pushes[c.Name]) }},
		{"mgmtd_fleet_events_stored_total", "counter", "New events this hub process stored for the cluster.", func(c ClusterInfo) float64 { return float64(stored[c.Name]) }},
	}
	var sb strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&sb, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, c := range infos {
			// %q escapes a quote and a backslash as the exposition
			// format does; cluster names have no newline (validName).
			fmt.Fprintf(&sb, "%s{cluster=%q} %g\n", m.name, c.Name, m.val(c))
		}
	}
	fmt.Fprintf(&sb, "# HELP mgmtd_fleet_clusters Clusters the hub knows (that the caller may see).\n# TYPE mgmtd_fleet_clusters gauge\nmgmtd_fleet_clusters %d\n", len(infos))
	_, err := io.WriteString(w, sb.String())
	return err
}
