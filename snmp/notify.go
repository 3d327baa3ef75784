package snmp

import (
	"context"
	"strings"
	"time"

	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

// Notify objects under mgmtdNotifyObjects.
const (
	nSeverity = 1
	nMessage  = 2
	nObject   = 3
	nNode     = 4
)

// settled reports whether every registered source has attempted its
// first refresh, so that the snapshot is the picture to start from.
func settled(snap *model.Snapshot) bool {
	for _, st := range snap.Sources {
		if st.LastAttempt.IsZero() {
			return false
		}
	}
	return true
}

// awaitStart waits until the subagent is registered for the first time
// and the snapshot has settled (or StartGrace has passed); false when ctx
// ended first.
func (s *Server) awaitStart(ctx context.Context) bool {
	grace := time.NewTimer(s.opts.StartGrace)
	defer grace.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	ready, registered := false, s.firstRegistration
	for {
		ready = ready || settled(s.snaps.Snapshot())
		if ready && registered == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-registered:
			registered = nil
		case <-grace.C:
			if !ready {
				s.log.Warn("snmp: sources have not refreshed yet; sending the start notification anyway", "dur", s.opts.StartGrace)
			}
			ready = true
		case <-poll.C:
		}
	}
}

// forwardEvents sends mgmtdAgentStart once the subagent is registered and
// the snapshot has settled, then turns every new event into notifications
// until ctx is done. The picture at the start is the baseline: events
// from before Run, and the events of a source's first picture
// (model.Event.Baseline), are not sent. Cluster-wide notifications are
// sent only by the subagent whose view is the DC (see clusterSender)
// unless Options.NotifyAll; notifications about this mgmtd's own sources,
// its node's DRBD view and the VM-MIB's hypervisor are sent by every
// subagent.
func (s *Server) forwardEvents(ctx context.Context) {
	var seq uint64
	if s.events != nil {
		seq = s.events.Last()
	}
	if !s.awaitStart(ctx) {
		return
	}
	snap := s.snaps.Snapshot()
	s.client.Notify(notifOID.Append(trapAgentStart), []agentx.VarBind{
		{Name: notifyObjs.Append(nSeverity, 0), Value: enum(1)},
		{Name: notifyObjs.Append(nMessage, 0), Value: str("mgmtd subagent started")},
		{Name: clusterOID.Append(sClusterName, 0), Value: str(snap.Cluster.Name)},
	})
	if s.events == nil {
		return
	}
	// The DC as of the event being forwarded: the snapshot's at the
	// start, then as dc.changed events tell.
	dc := snap.Cluster.DC
	warned := false
	for {
		if err := s.events.Wait(ctx, seq); err != nil {
			return
		}
		evs, missed := s.events.Since(seq)
		snap := s.snaps.Snapshot()
		if missed {
			lost := uint64(1)
			if len(evs) > 0 && evs[0].Seq > seq+1 {
				lost = evs[0].Seq - seq - 1
			}
			s.lost.Add(lost)
			s.log.Warn("snmp: events lost before they became notifications: the event log overran", "events", lost)
			dc = snap.Cluster.DC
		}
		if !warned && !s.opts.NotifyAll && len(snap.Nodes) > 0 && snap.View != "" {
			if _, ok := snap.Node(snap.View); !ok {
				warned = true
				s.log.Warn("snmp: the view is not a cluster node; this subagent sends every notification", "view", snap.View)
			}
		}
		for _, e := range evs {
			seq = max(seq, e.Seq)
			if e.Type == model.EventDCChanged {
				dc = e.To
			}
			if e.Baseline {
				continue
			}
			if trap, vbs, ok := Notification(snap, e); ok && (s.opts.NotifyAll || nodeLocal(e) || clusterSender(snap, dc)) {
				s.client.Notify(trap, vbs)
			}
			if trap, vbs, ok := vmNotification(snap, s.hypervisor(snap), s.vmIdx, e); ok {
				s.client.Notify(trap, vbs)
			}
		}
	}
}

// nodeLocal reports whether every subagent sends e's notification: it is
// about this mgmtd's own data sources, or about the DRBD view of its own
// node (each node's DRBD source reports only that node's view, so the
// subagent of the node that saw the change is the one that can tell).
func nodeLocal(e model.Event) bool {
	switch e.Type {
	case model.EventSourceStale, model.EventSourceRecovered,
		model.EventDRBDConnectionLost, model.EventDRBDSyncStarted, model.EventDRBDSyncFinished,
		model.EventDRBDSplitBrain, model.EventDRBDMayPromote:
		return true
	}
	return false
}

// clusterSender reports whether this subagent sends the cluster-wide
// notifications when dc is the Designated Controller. With mgmtd on every
// node, exactly one does: the one whose view is the DC (in a partition,
// each partition's DC); while there is no DC, the first online member
// node by name. A subagent whose view is not a node of the cluster (mgmtd
// watching from outside) sends them all.
func clusterSender(snap *model.Snapshot, dc string) bool {
	view := snap.View
	if _, ok := snap.Node(view); view == "" || !ok {
		return true
	}
	if dc != "" {
		return dc == view
	}
	for _, n := range snap.Nodes {
		if n.Type == model.NodeMember && n.Online {
			return n.Name == view
		}
	}
	return true
}

// instanceRow picks the row of mgmtdInstanceTable a notification about
// resource rsc on node points at, so that it names a row that exists: the
// instance on node; else (it stopped there) the stopped instance; else an
// active one (for a group: of a member); else any. Without a node the
// active instances come first. ok is false when the resource has no row.
func instanceRow(snap *model.Snapshot, rsc, node string) (model.Instance, []uint32, bool) {
	ins := snap.InstancesOf(rsc)
	on := func(in model.Instance) bool { return in.Node == node }
	stopped := func(in model.Instance) bool { return in.Node == "" }
	active := func(in model.Instance) bool { return in.Active }
	anyRow := func(model.Instance) bool { return true }
	order := []func(model.Instance) bool{active, stopped, anyRow}
	if node != "" {
		order = []func(model.Instance) bool{on, stopped, active, anyRow}
	}
	for _, match := range order {
		for _, in := range ins {
			if !match(in) {
				continue
			}
			if idx, ok := instanceIndex(in.Resource, in.Node); ok {
				return in, idx, true
			}
		}
	}
	return model.Instance{}, nil, false
}

// cutIndex encodes names as an index even when one is longer than a
// table row allows (such a row is omitted): a notification still names
// the object, cut so that the OID stays valid.
func cutIndex(names ...string) []uint32 {
	var out []uint32
	for _, n := range names {
		if len(n) > maxName {
			n = n[:maxName]
		}
		p, _ := strIndex(n, 0, maxName)
		out = append(out, p...)
	}
	return out
}

// Notification maps a model event to a notification OID and its varbinds
// (after snmpTrapOID.0), reading current values from snap. Varbinds that
// point into a table name a row that exists in snap's table wherever the
// object still has one, and carry that row's values; the object and node
// the event is about are carried as values too. ok is false for events
// MGMTD-CLUSTER-MIB has no notification for.
func Notification(snap *model.Snapshot, e model.Event) (trap agentx.OID, vbs []agentx.VarBind, ok bool) {
	head := []agentx.VarBind{
		{Name: notifyObjs.Append(nSeverity, 0), Value: enum(severity(e.Severity))},
		{Name: notifyObjs.Append(nMessage, 0), Value: str(e.Message)},
	}
	add := func(name agentx.OID, v agentx.Value) {
		head = append(head, agentx.VarBind{Name: name, Value: v})
	}
	about := func(object, node string) {
		add(notifyObjs.Append(nObject, 0), str(object))
		add(notifyObjs.Append(nNode, 0), str(node))
	}
	switch e.Type {
	case model.EventNodeJoined, model.EventNodeLeft, model.EventNodeState:
		name := e.Object.Name
		state := model.NodeOffline
		if n, ok := snap.Node(name); ok {
			state = n.State
		}
		add(column(tNode, 5).Append(cutIndex(name)...), enum(nodeState(state)))
		add(notifyObjs.Append(nObject, 0), str(name))
		return notifOID.Append(trapNodeState), head, true
	case model.EventQuorumGained, model.EventQuorumLost:
		add(clusterOID.Append(sQuorate, 0), truth(e.Type == model.EventQuorumGained))
		return notifOID.Append(trapQuorum), head, true
	case model.EventDCChanged:
		add(clusterOID.Append(sDCName, 0), str(e.To))
		return notifOID.Append(trapDC), head, true
	case model.EventResourceStarted, model.EventResourceStopped, model.EventResourceMoved,
		model.EventResourcePromoted, model.EventResourceDemoted, model.EventResourceRecovered:
		rsc := e.Object.Name
		in, idx, ok := instanceRow(snap, rsc, e.Node)
		if !ok {
			// The resource left the configuration: no row is left.
			in, idx = model.Instance{Role: model.RoleStopped}, cutIndex(rsc, e.Node)
		}
		failed := false
		if res, ok := snap.Resource(model.PrimitiveOf(rsc)); ok {
			failed = res.Failed
		}
		add(column(tInstance, 4).Append(idx...), enum(role(in.Role)))
		add(column(tResource, 8).Append(cutIndex(model.PrimitiveOf(rsc))...), truth(failed))
		add(column(tInstance, 5).Append(idx...), truth(in.Active))
		about(rsc, e.Node)
		return notifOID.Append(trapResourceState), head, true
	case model.EventResourceFailed:
		rsc := e.Object.Name
		inst := rsc
		if f, ok := e.Data.(model.Failure); ok {
			inst = f.Resource
		}
		in, idx, ok := instanceRow(snap, inst, e.Node)
		if !ok {
			in, idx = model.Instance{}, cutIndex(inst, e.Node)
		}
		failed := true
		if res, ok := snap.Resource(rsc); ok {
			failed = res.Failed
		}
		add(column(tInstance, 7).Append(idx...), gauge(in.FailCount))
		add(column(tResource, 8).Append(cutIndex(rsc)...), truth(failed))
		about(rsc, e.Node)
		return notifOID.Append(trapResourceFail), head, true
	case model.EventFencing:
		var fe model.FenceEvent
		found := false
		for _, f := range snap.Fencing {
			if f.Target == e.Node && f.Status == e.To && (!found || f.Completed.After(fe.Completed)) {
				fe, found = f, true
			}
		}
		if !found {
			fe = model.FenceEvent{Target: e.Node, Status: e.To, Action: "reboot"}
		}
		fi, ok := fenceIndex(fe)
		if !ok {
			fi = append(cutIndex(fe.Target), 0)
			fi = append(fi, cutIndex(strings.ToLower(fe.Action))...)
		}
		add(column(tFence, 4).Append(fi...), enum(fenceStatus(fe.Status)))
		return notifOID.Append(trapFencing), head, true
	case model.EventVMAppeared, model.EventVMGone, model.EventVMState, model.EventVMMigrated:
		host, name := e.Node, e.Object.Name
		vm, ok := snap.VMOn(host, name)
		if !ok {
			// Gone from its host: point at its row on another host, if
			// it has one.
			vm = model.VM{Name: name, Host: host, State: model.VMShutoff}
			if other := snap.VMsNamed(name); len(other) > 0 {
				vm = other[0]
			}
		}
		hostNode := ""
		if h, ok := snap.Host(vm.Host); ok {
			hostNode = h.Node
		}
		add(column(tVM, 4).Append(cutIndex(vm.Host, name)...), enum(vmState(vm.State)))
		add(column(tVM, 5).Append(cutIndex(vm.Host, name)...), str(hostNode))
		about(name, host)
		return notifOID.Append(trapVMState), head, true
	case model.EventSourceStale, model.EventSourceRecovered:
		st, _ := snap.Source(e.Object.Name)
		state := model.SourceState(e.To)
		add(column(tSource, 2).Append(cutIndex(e.Object.Name)...), enum(sourceState(state)))
		if e.Type == model.EventSourceStale {
			add(column(tSource, 5).Append(cutIndex(e.Object.Name)...), str(st.LastError))
			return notifOID.Append(trapSourceDown), head, true
		}
		return notifOID.Append(trapSourceUp), head, true
	case model.EventDRBDConnectionLost, model.EventDRBDSyncStarted, model.EventDRBDSyncFinished,
		model.EventDRBDSplitBrain, model.EventDRBDMayPromote:
		return notifOID.Append(trapDRBD), append(head, drbdNotification(snap, e)...), true
	}
	return nil, nil, false
}
