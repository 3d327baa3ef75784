package model

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

// EventType names what changed between two snapshots.
type EventType string

// Event types produced by Diff.
const (
	EventNodeJoined        EventType = "node.joined"
	EventNodeLeft          EventType = "node.left"
	EventNodeState         EventType = "node.state"
	EventQuorumGained      EventType = "quorum.gained"
	EventQuorumLost        EventType = "quorum.lost"
	EventDCChanged         EventType = "dc.changed"
	EventResourceStarted   EventType = "resource.started"
	EventResourceStopped   EventType = "resource.stopped"
	EventResourceMoved     EventType = "resource.moved"
	EventResourcePromoted  EventType = "resource.promoted"
	EventResourceDemoted   EventType = "resource.demoted"
	EventResourceFailed    EventType = "resource.failed"
	EventResourceRecovered EventType = "resource.recovered"
	EventFencing           EventType = "fencing"
	EventSourceStale       EventType = "source.stale"
	EventSourceRecovered   EventType = "source.recovered"
	EventVMAppeared        EventType = "vm.appeared"
	EventVMGone            EventType = "vm.gone"
	EventVMState           EventType = "vm.state"
	EventVMMigrated        EventType = "vm.migrated"
	EventHostUnreachable   EventType = "host.unreachable"
	EventHostReachable     EventType = "host.reachable"
	EventConflict          EventType = "conflict"
	EventConflictResolved  EventType = "conflict.resolved"
	EventTask              EventType = "task"
	// DRBD replication, as a node's DRBD source sees it.
	EventDRBDConnectionLost EventType = "drbd.connection.lost"
	EventDRBDSyncStarted    EventType = "drbd.sync.started"
	EventDRBDSyncFinished   EventType = "drbd.sync.finished"
	EventDRBDSplitBrain     EventType = "drbd.split-brain"
	EventDRBDMayPromote     EventType = "drbd.may-promote"
)

// Severity grades an event for notification consumers (SNMP, CIM).
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Event is one typed change between two generations. Seq is assigned by
// the EventLog and orders all events of a daemon's life (and, with a
// durable history, of every life before it: the log then continues the
// stored sequence).
type Event struct {
	Seq        uint64 `json:"seq"`
	Generation uint64 `json:"generation"`
	// Time is when the source saw the change: the end of the refresh
	// whose picture shows it.
	Time time.Time `json:"time"`
	// Published is when mgmtd published the event (the EventLog's append).
	Published time.Time `json:"published,omitzero"`
	Type      EventType `json:"type"`
	Severity  Severity  `json:"severity"`
	Object    ID        `json:"object"`
	Node      string    `json:"node,omitempty"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Message   string    `json:"message"`
	// Baseline marks an event that describes what a source reported the
	// first time (its first successful refresh, a hypervisor host's first
	// picture) rather than a change: at that moment every node "joins"
	// and every resource "starts". The log keeps such events; a
	// notification channel skips them, as its baseline.
	Baseline bool `json:"baseline,omitempty"`
	// Data carries type-specific details (for tasks: the task as JSON).
	Data any `json:"data,omitempty"`
	// Transition is the Pacemaker transition that caused the event, when
	// the source can tell (EventLogOptions.Annotate).
	Transition *TransitionRef `json:"transition,omitempty"`
}

// Diff returns the typed events that lead from snapshot a to snapshot b,
// in a deterministic order.
func Diff(a, b *Snapshot) []Event {
	d := differ{b: b}
	d.cluster(a, b)
	d.nodes(a, b)
	d.resources(a, b)
	d.failures(a, b)
	d.fencing(a, b)
	d.sources(a, b)
	d.vms(a, b)
	d.conflicts(a, b)
	d.drbd(a, b)
	return d.out
}

type differ struct {
	b   *Snapshot
	out []Event
}

func (d *differ) add(t EventType, sev Severity, kind Kind, name, msg string, set func(*Event)) {
	e := Event{Generation: d.b.Generation, Time: d.b.Time, Type: t, Severity: sev, Object: d.b.ID(kind, name), Message: msg}
	if set != nil {
		set(&e)
	}
	d.out = append(d.out, e)
}

func (d *differ) cluster(a, b *Snapshot) {
	// An empty generation-0 snapshot has no quorum to lose.
	if a.Generation == 0 && len(a.Nodes) == 0 {
		return
	}
	if a.Cluster.Quorate != b.Cluster.Quorate && len(b.Nodes) > 0 {
		if b.Cluster.Quorate {
			d.add(EventQuorumGained, SeverityInfo, KindCluster, b.Cluster.Name, "cluster "+b.Cluster.Name+" gained quorum", nil)
		} else {
			d.add(EventQuorumLost, SeverityCritical, KindCluster, b.Cluster.Name, "cluster "+b.Cluster.Name+" lost quorum", nil)
		}
	}
	if a.Cluster.DC != b.Cluster.DC && len(b.Nodes) > 0 {
		d.add(EventDCChanged, SeverityInfo, KindCluster, b.Cluster.Name, "DC changed from "+orNone(a.Cluster.DC)+" to "+orNone(b.Cluster.DC),
			func(e *Event) { e.From, e.To = a.Cluster.DC, b.Cluster.DC })
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (d *differ) nodes(a, b *Snapshot) {
	for _, n := range b.Nodes {
		o, ok := a.Node(n.Name)
		switch {
		case !ok || (!o.Online && n.Online):
			if n.Online {
				d.add(EventNodeJoined, SeverityInfo, KindNode, n.Name, "node "+n.Name+" joined ("+string(n.State)+")",
					func(e *Event) { e.Node, e.To = n.Name, string(n.State) })
			} else if !ok && len(a.Nodes) > 0 {
				d.add(EventNodeState, SeverityInfo, KindNode, n.Name, "node "+n.Name+" configured ("+string(n.State)+")",
					func(e *Event) { e.Node, e.To = n.Name, string(n.State) })
			}
		case o.Online && !n.Online:
			sev := SeverityWarning
			if n.Unclean {
				sev = SeverityCritical
			}
			d.add(EventNodeLeft, sev, KindNode, n.Name, "node "+n.Name+" left ("+string(n.State)+")",
				func(e *Event) { e.Node, e.From, e.To = n.Name, string(o.State), string(n.State) })
		case o.State != n.State:
			sev := SeverityInfo
			if n.State == NodeUnclean {
				sev = SeverityCritical
			}
			d.add(EventNodeState, sev, KindNode, n.Name, "node "+n.Name+" is "+string(n.State)+" (was "+string(o.State)+")",
				func(e *Event) { e.Node, e.From, e.To = n.Name, string(o.State), string(n.State) })
		}
	}
	for _, o := range a.Nodes {
		if _, ok := b.Node(o.Name); !ok {
			d.add(EventNodeLeft, SeverityWarning, KindNode, o.Name, "node "+o.Name+" removed",
				func(e *Event) { e.Node, e.From = o.Name, string(o.State) })
		}
	}
}

type placement map[string]Role // node -> role of active instances

func placements(s *Snapshot) (map[string]placement, []string) {
	m := map[string]placement{}
	var ids []string
	for _, in := range s.Instances {
		p, ok := m[in.Resource]
		if !ok {
			p = placement{}
			m[in.Resource] = p
			ids = append(ids, in.Resource)
		}
		if in.Active && in.Node != "" {
			p[in.Node] = in.Role.Normal()
		}
	}
	return m, ids
}

func (d *differ) resources(a, b *Snapshot) {
	pa, _ := placements(a)
	pb, ids := placements(b)
	for _, id := range ids {
		old, nw := pa[id], pb[id]
		var gone, came []string
		for n := range old {
			if _, ok := nw[n]; !ok {
				gone = append(gone, n)
			}
		}
		for n := range nw {
			if _, ok := old[n]; !ok {
				came = append(came, n)
			}
		}
		sort.Strings(gone)
		sort.Strings(came)
		if len(gone) == 1 && len(came) == 1 && len(old) == 1 && len(nw) == 1 {
			from, to := gone[0], came[0]
			d.add(EventResourceMoved, SeverityWarning, KindResource, id, "resource "+id+" moved from "+from+" to "+to,
				func(e *Event) { e.Node, e.From, e.To = to, from, to })
		} else {
			for _, n := range gone {
				d.add(EventResourceStopped, SeverityWarning, KindResource, id, "resource "+id+" stopped on "+n,
					func(e *Event) { e.Node, e.From = n, n })
			}
			for _, n := range came {
				d.add(EventResourceStarted, SeverityInfo, KindResource, id, "resource "+id+" started on "+n,
					func(e *Event) { e.Node, e.To = n, n })
			}
		}
		for _, n := range sortedRoleKeys(nw) {
			r, ok := old[n]
			if !ok || r == nw[n] {
				continue
			}
			switch {
			case nw[n] == RolePromoted:
				d.add(EventResourcePromoted, SeverityInfo, KindResource, id, "resource "+id+" promoted on "+n,
					func(e *Event) { e.Node, e.From, e.To = n, string(r), string(nw[n]) })
			case r == RolePromoted:
				d.add(EventResourceDemoted, SeverityWarning, KindResource, id, "resource "+id+" demoted on "+n,
					func(e *Event) { e.Node, e.From, e.To = n, string(r), string(nw[n]) })
			}
		}
		// Moves of promotion inside a clone: a Promoted that changed node
		// shows as demote + promote above when both nodes stay active.
		for _, n := range came {
			if nw[n] == RolePromoted {
				d.add(EventResourcePromoted, SeverityInfo, KindResource, id, "resource "+id+" promoted on "+n,
					func(e *Event) { e.Node, e.To = n, string(RolePromoted) })
			}
		}
	}
	// Failed flag transitions on configured resources.
	for _, r := range b.Resources {
		o, ok := a.Resource(r.ID)
		if ok && o.Failed && !r.Failed {
			d.add(EventResourceRecovered, SeverityInfo, KindResource, r.ID, "resource "+r.ID+" recovered", nil)
		}
	}
}

func sortedRoleKeys(m placement) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// failures announces every failure record that is new in b: a failure
// of an operation that had none, and a new occurrence (call id, time) of
// one that had. A resource whose records all went away and that is not
// failed gets one "failures cleared" event carrying the cleared records
// (Data []Failure; Node when they were all on one node). The Store uses
// those to announce a cleared failure again when it comes back.
func (d *differ) failures(a, b *Snapshot) {
	seen := make(map[string]bool, len(a.Failures))
	for _, f := range a.Failures {
		seen[f.Occurrence()] = true
	}
	for _, f := range b.Failures {
		if seen[f.Occurrence()] {
			continue
		}
		msg := "resource " + f.Resource + " failed " + f.Op + " on " + f.Node
		if f.ExitReason != "" {
			msg += ": " + f.ExitReason
		} else if f.RCText != "" {
			msg += ": " + f.RCText
		}
		d.add(EventResourceFailed, SeverityCritical, KindResource, PrimitiveOf(f.Resource), msg,
			func(e *Event) { e.Node, e.Data = f.Node, f })
	}
	now := make(map[string]bool, len(b.Failures))
	for _, f := range b.Failures {
		now[PrimitiveOf(f.Resource)] = true
	}
	var ids []string
	cleared := map[string][]Failure{}
	for _, f := range a.Failures {
		id := PrimitiveOf(f.Resource)
		if now[id] {
			continue
		}
		if cleared[id] == nil {
			ids = append(ids, id)
		}
		cleared[id] = append(cleared[id], f)
	}
	for _, id := range ids {
		if r, ok := b.Resource(id); ok && !r.Failed {
			fs := cleared[id]
			d.add(EventResourceRecovered, SeverityInfo, KindResource, id, "resource "+id+" failures cleared", func(e *Event) {
				e.Data = fs
				if onOneNode(fs) {
					e.Node = fs[0].Node
				}
			})
		}
	}
}

func onOneNode(fs []Failure) bool {
	for _, f := range fs {
		if f.Node != fs[0].Node {
			return false
		}
	}
	return len(fs) > 0
}

func (d *differ) fencing(a, b *Snapshot) {
	seen := make(map[string]bool, len(a.Fencing))
	for _, f := range a.Fencing {
		seen[f.Key()] = true
	}
	for _, f := range b.Fencing {
		if seen[f.Key()] {
			continue
		}
		sev := SeverityCritical
		if f.Status == "pending" {
			sev = SeverityWarning
		}
		d.add(EventFencing, sev, KindNode, f.Target, "fencing "+f.Action+" of "+f.Target+": "+f.Status,
			func(e *Event) { e.Node, e.To = f.Target, f.Status })
	}
}

func (d *differ) sources(a, b *Snapshot) {
	for _, s := range b.Sources {
		o, ok := a.Source(s.Name)
		wasOK := ok && o.State == SourceOK
		switch {
		case s.State != SourceOK && (wasOK || !ok && s.LastError != "no refresh yet"):
			d.add(EventSourceStale, SeverityWarning, KindSource, s.Name, "source "+s.Name+" is "+string(s.State)+": "+s.LastError,
				func(e *Event) { e.To = string(s.State) })
		case s.State == SourceOK && ok && !wasOK:
			d.add(EventSourceRecovered, SeverityInfo, KindSource, s.Name, "source "+s.Name+" recovered",
				func(e *Event) { e.From, e.To = string(o.State), string(s.State) })
		}
	}
}

func (d *differ) vms(a, b *Snapshot) {
	for _, h := range b.Hosts {
		o, ok := a.Host(h.Name)
		if ok && o.Reachable && !h.Reachable {
			d.add(EventHostUnreachable, SeverityCritical, KindHost, h.Name, "host "+h.Name+" unreachable: "+h.Error, nil)
		} else if ok && !o.Reachable && h.Reachable {
			d.add(EventHostReachable, SeverityInfo, KindHost, h.Name, "host "+h.Name+" reachable", nil)
		}
	}
	activeOld := map[string]string{} // vm name -> host where active
	for _, v := range a.VMs {
		if v.State.Active() {
			activeOld[v.Name] = v.Host
		}
	}
	activeNew := map[string]string{}
	for _, v := range b.VMs {
		if v.State.Active() {
			activeNew[v.Name] = v.Host
		}
	}
	migrated := map[string]bool{}
	for name, h := range activeNew {
		if oh, ok := activeOld[name]; ok && oh != h {
			if _, still := hostHas(b, oh, name); !still || !stateActive(b, oh, name) {
				migrated[name] = true
				d.add(EventVMMigrated, SeverityWarning, KindVM, name, "VM "+name+" moved from "+oh+" to "+h,
					func(e *Event) { e.From, e.To, e.Node = oh, h, h })
			}
		}
	}
	for _, v := range b.VMs {
		o, ok := hostHas(a, v.Host, v.Name)
		switch {
		case !ok:
			if migrated[v.Name] && v.State.Active() {
				continue
			}
			d.add(EventVMAppeared, SeverityInfo, KindVM, v.Name, "VM "+v.Name+" appeared on "+v.Host+" ("+string(v.State)+")",
				func(e *Event) { e.Node, e.To = v.Host, string(v.State) })
		case o.State != v.State:
			if migrated[v.Name] {
				continue
			}
			sev := SeverityInfo
			if v.State == VMCrashed || (o.State.Active() && !v.State.Active()) {
				sev = SeverityWarning
			}
			d.add(EventVMState, sev, KindVM, v.Name, "VM "+v.Name+" on "+v.Host+" is "+string(v.State)+" (was "+string(o.State)+")",
				func(e *Event) { e.Node, e.From, e.To = v.Host, string(o.State), string(v.State) })
		}
	}
	for _, o := range a.VMs {
		if _, ok := hostHas(b, o.Host, o.Name); !ok && !migrated[o.Name] {
			d.add(EventVMGone, SeverityWarning, KindVM, o.Name, "VM "+o.Name+" gone from "+o.Host,
				func(e *Event) { e.Node, e.From = o.Host, string(o.State) })
		}
	}
}

func hostHas(s *Snapshot, host, name string) (VM, bool) { return s.VMOn(host, name) }

func stateActive(s *Snapshot, host, name string) bool {
	v, ok := hostHas(s, host, name)
	return ok && v.State.Active()
}

func (d *differ) conflicts(a, b *Snapshot) {
	old := map[string]bool{}
	for _, c := range a.Conflicts {
		old[c.Key()] = true
	}
	nw := map[string]bool{}
	for _, c := range b.Conflicts {
		nw[c.Key()] = true
		if !old[c.Key()] {
			k, n := c.Object()
			d.add(EventConflict, SeverityCritical, k, n, c.Detail, func(e *Event) { e.To = c.Type })
		}
	}
	for _, c := range a.Conflicts {
		if !nw[c.Key()] {
			k, n := c.Object()
			d.add(EventConflictResolved, SeverityInfo, k, n, "resolved: "+c.Detail, func(e *Event) { e.From = c.Type })
		}
	}
}

// EventLog is a bounded, in-memory log of events with sequence numbers, so
// that a client of the event stream can resume with the last sequence it
// saw. Appending never blocks; readers wait on Wait.
type EventLog struct {
	mu       sync.Mutex
	buf      []Event
	start    int    // index of the oldest event in buf
	n        int    // number of events held
	next     uint64 // sequence of the next event
	changed  chan struct{}
	now      func() time.Time
	tap      func([]Event)
	annotate func(*Event)
	out      []Event // the batch handed to tap, reused
}

// NewEventLog returns an empty log that keeps the last size events.
func NewEventLog(size int) *EventLog {
	return &EventLog{buf: make([]Event, size), next: 1, changed: make(chan struct{}), now: time.Now}
}

// EventLogOptions continue a log where an earlier one (a durable history)
// left off and hand every appended event on.
type EventLogOptions struct {
	// FirstSeq is the sequence of the first event (0 means 1).
	FirstSeq uint64
	// Tap, when set, is called with each appended batch, in order, under
	// the log's lock: it must not block (a durable history enqueues the
	// batch and drops what does not fit) and must not keep the slice.
	Tap func([]Event)
	// Now is the clock stamping Published; nil means time.Now.
	Now func() time.Time
	// Annotate, when set, may add to each event before it is stored (the
	// Pacemaker source links events to transitions); it runs under the
	// log's lock and must be quick.
	Annotate func(*Event)
}

// NewEventLogWith returns an empty log of size events configured by o.
func NewEventLogWith(size int, o EventLogOptions) *EventLog {
	l := NewEventLog(size)
	if o.FirstSeq > 0 {
		l.next = o.FirstSeq
	}
	if o.Now != nil {
		l.now = o.Now
	}
	l.tap = o.Tap
	l.annotate = o.Annotate
	return l
}

// MaxEventLog bounds an event log's growth (see Append).
const MaxEventLog = 1_000_000

// Append assigns sequence numbers and the publication time to the events
// and stores them, overwriting the oldest when full, and wakes every
// waiter. A batch is one change of the model (a first picture of a
// thousand nodes is twelve thousand events): a batch larger than the log
// grows it to twice the batch, up to MaxEventLog, so that a reader that
// had seen everything before the batch misses none of it.
func (l *EventLog) Append(evs []Event) {
	if len(evs) == 0 {
		return
	}
	l.mu.Lock()
	if len(evs) > len(l.buf) && len(l.buf) < MaxEventLog {
		l.grow(min(2*len(evs), MaxEventLog))
	}
	now := l.now()
	l.out = l.out[:0]
	for _, e := range evs {
		e.Seq = l.next
		e.Published = now
		if l.annotate != nil {
			l.annotate(&e)
		}
		l.next++
		if l.tap != nil {
			l.out = append(l.out, e)
		}
		if l.n < len(l.buf) {
			l.buf[(l.start+l.n)%len(l.buf)] = e
			l.n++
		} else {
			l.buf[l.start] = e
			l.start = (l.start + 1) % len(l.buf)
		}
	}
	if l.tap != nil {
		l.tap(l.out)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// grow makes room for size events, keeping the ones held in order.
func (l *EventLog) grow(size int) {
	buf := make([]Event, size)
	for i := range l.n {
		buf[i] = l.buf[(l.start+i)%len(l.buf)]
	}
	l.buf, l.start = buf, 0
}

// Since returns the events with a sequence greater than seq, and whether
// some of them were already dropped (the caller missed events).
func (l *EventLog) Since(seq uint64) (evs []Event, missed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return nil, seq+1 < l.next
	}
	oldest := l.buf[l.start].Seq
	if seq+1 < oldest {
		missed = true
	}
	for i := range l.n {
		e := l.buf[(l.start+i)%len(l.buf)]
		if e.Seq > seq {
			evs = append(evs, e)
		}
	}
	return evs, missed
}

// Oldest returns the sequence of the oldest event the log still holds, or
// the sequence the next event will get when it holds none: a reader that
// has seen everything before it misses nothing.
func (l *EventLog) Oldest() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return l.next
	}
	return l.buf[l.start].Seq
}

// Cap returns how many events the log keeps now (its size, grown by a
// batch larger than it; see Append).
func (l *EventLog) Cap() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buf)
}

// Last returns the sequence of the newest event (0 when there is none).
func (l *EventLog) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next - 1
}

// Wait blocks until an event with a sequence greater than seq exists or
// ctx is done.
func (l *EventLog) Wait(ctx context.Context, seq uint64) error {
	for {
		l.mu.Lock()
		if l.next-1 > seq {
			l.mu.Unlock()
			return nil
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Publish appends events that do not come from a snapshot diff, such as
// task progress, stamped with the given snapshot's generation.
func (l *EventLog) Publish(e Event) { l.Append([]Event{e}) }

// Matches reports whether the event concerns the object name (for
// filtering streams by resource, node or VM).
func (e Event) Matches(name string) bool {
	return e.Object.Name == name || e.Node == name || strings.EqualFold(string(e.Type), name)
}
