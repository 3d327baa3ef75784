package snmp

import (
	"context"
	"strings"

	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

// registered sends mgmtdAgentStart after the first registration.
func (s *Server) registered(n uint64) {
	if n != 1 {
		return
	}
	snap := s.snaps.Snapshot()
	s.client.Notify(notifOID.Append(trapAgentStart), []agentx.VarBind{
		{Name: notifyObjs.Append(1, 0), Value: enum(1)},
		{Name: notifyObjs.Append(2, 0), Value: str("mgmtd subagent started")},
		{Name: clusterOID.Append(sClusterName, 0), Value: str(snap.Cluster.Name)},
	})
}

// forwardEvents turns every new event into a notification until ctx is
// done. Events that happened before Run started are not sent.
func (s *Server) forwardEvents(ctx context.Context) {
	seq := s.events.Last()
	for {
		if err := s.events.Wait(ctx, seq); err != nil {
			return
		}
		evs, missed := s.events.Since(seq)
		if missed {
			s.log.Warn("snmp notifications lost: event log overran")
		}
		snap := s.snaps.Snapshot()
		for _, e := range evs {
			seq = max(seq, e.Seq)
			if trap, vbs, ok := Notification(snap, e); ok {
				s.client.Notify(trap, vbs)
			}
			if trap, vbs, ok := vmNotification(snap, s.hypervisor(snap), s.vmIdx, e); ok {
				s.client.Notify(trap, vbs)
			}
		}
	}
}

// Notification maps a model event to a notification OID and its varbinds
// (after snmpTrapOID.0), reading current values from snap. ok is false for
// events MGMTD-CLUSTER-MIB has no notification for.
func Notification(snap *model.Snapshot, e model.Event) (trap agentx.OID, vbs []agentx.VarBind, ok bool) {
	head := []agentx.VarBind{
		{Name: notifyObjs.Append(1, 0), Value: enum(severity(e.Severity))},
		{Name: notifyObjs.Append(2, 0), Value: str(e.Message)},
	}
	add := func(name agentx.OID, v agentx.Value) {
		head = append(head, agentx.VarBind{Name: name, Value: v})
	}
	idx := func(names ...string) []uint32 {
		// Notifications carry an instance even when a name is too long
		// for a table row; cut it so the OID stays valid.
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
	switch e.Type {
	case model.EventNodeJoined, model.EventNodeLeft, model.EventNodeState:
		name := e.Object.Name
		state := model.NodeOffline
		if n, ok := snap.Node(name); ok {
			state = n.State
		}
		add(column(tNode, 5).Append(idx(name)...), enum(nodeState(state)))
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
		r := model.RoleStopped
		for _, in := range snap.InstancesOf(rsc) {
			if in.Node == e.Node && in.Node != "" {
				r = in.Role
			}
		}
		failed := false
		if res, ok := snap.Resource(model.PrimitiveOf(rsc)); ok {
			failed = res.Failed
		}
		add(column(tInstance, 4).Append(idx(rsc, e.Node)...), enum(role(r)))
		add(column(tResource, 8).Append(idx(model.PrimitiveOf(rsc))...), truth(failed))
		return notifOID.Append(trapResourceState), head, true
	case model.EventResourceFailed:
		rsc := e.Object.Name
		count := 0
		for _, in := range snap.InstancesOf(rsc) {
			if in.Node == e.Node {
				count = max(count, in.FailCount)
			}
		}
		inst := rsc
		for _, f := range snap.FailuresOf(rsc) {
			if f.Node == e.Node {
				inst = f.Resource
			}
		}
		failed := true
		if res, ok := snap.Resource(rsc); ok {
			failed = res.Failed
		}
		add(column(tInstance, 7).Append(idx(inst, e.Node)...), gauge(count))
		add(column(tResource, 8).Append(idx(rsc)...), truth(failed))
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
			fi = append(idx(fe.Target), 0)
			fi = append(fi, idx(strings.ToLower(fe.Action))...)
		}
		add(column(tFence, 4).Append(fi...), enum(fenceStatus(fe.Status)))
		return notifOID.Append(trapFencing), head, true
	case model.EventVMAppeared, model.EventVMGone, model.EventVMState, model.EventVMMigrated:
		host := e.Node
		state := model.VMUnknown
		for _, v := range snap.VMsOn(host) {
			if v.Name == e.Object.Name {
				state = v.State
			}
		}
		if e.Type == model.EventVMGone {
			state = model.VMShutoff
		}
		hostNode := ""
		if h, ok := snap.Host(host); ok {
			hostNode = h.Node
		}
		add(column(tVM, 4).Append(idx(host, e.Object.Name)...), enum(vmState(state)))
		add(column(tVM, 5).Append(idx(host, e.Object.Name)...), str(hostNode))
		return notifOID.Append(trapVMState), head, true
	case model.EventSourceStale, model.EventSourceRecovered:
		st, _ := snap.Source(e.Object.Name)
		state := model.SourceState(e.To)
		add(column(tSource, 2).Append(idx(e.Object.Name)...), enum(sourceState(state)))
		if e.Type == model.EventSourceStale {
			add(column(tSource, 5).Append(idx(e.Object.Name)...), str(st.LastError))
			return notifOID.Append(trapSourceDown), head, true
		}
		return notifOID.Append(trapSourceUp), head, true
	}
	return nil, nil, false
}
