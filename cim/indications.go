package cim

import (
	"context"
	"strconv"

	mdl "mgmtd/model"
	"mgmtd/wbem"
	"mgmtd/wbem/cimxml"
)

// Indications generated from model events. The subscriptions (CreateInstance
// and DeleteInstance in interop), the matching of filters and the delivery
// to listeners are package wbem's; this file turns events into
// MGMTD_InstModification and MGMTD_AlertIndication instances and hands
// them over.

// DeliveryStats returns the delivery statistics of every listener
// destination indications were queued for.
func (p *ModelProvider) DeliveryStats() []wbem.DestinationStats { return p.delivery.Stats() }

// RunIndications delivers the model's events to the subscribed listeners
// until ctx is done: each event becomes a MGMTD_InstModification (for
// nodes, resources, VMs, hosts and the cluster) and, for failover,
// fencing, quorum and failure events, a MGMTD_AlertIndication; every
// subscription whose filter selects it queues it for its destination.
// Events already in the log when it starts are not delivered.
func (p *ModelProvider) RunIndications(ctx context.Context) error {
	if p.opts.Events == nil {
		<-ctx.Done()
		return nil
	}
	seq := p.opts.Events.Last()
	prev := p.opts.Store.Snapshot()
	p.following.Store(true)
	defer p.delivery.Wait()
	for {
		if err := p.opts.Events.Wait(ctx, seq); err != nil {
			return nil
		}
		evs, missed := p.opts.Events.Since(seq)
		if missed {
			p.log.Warn("cim: indication delivery missed events (event log overflow)", "after", seq)
		}
		if len(evs) == 0 {
			continue
		}
		seq = evs[len(evs)-1].Seq
		cur := p.opts.Store.Snapshot()
		for _, e := range evs {
			for _, ind := range p.indicationsFor(e, prev, cur) {
				p.delivery.Publish(ctx, p.subs.Match(ctx, ind), ind)
			}
		}
		prev = cur
	}
}

// alertType gives the CIM_AlertIndication AlertType of the events that
// are alerts (failover, fencing, quorum, failures).
var alertType = map[mdl.EventType]uint64{
	mdl.EventQuorumLost:      2, // Communications Alert
	mdl.EventQuorumGained:    2,
	mdl.EventFencing:         5, // Device Alert
	mdl.EventResourceMoved:   3, // Quality of Service Alert (failover)
	mdl.EventResourceFailed:  4, // Processing Error
	mdl.EventNodeLeft:        2,
	mdl.EventHostUnreachable: 2,
	mdl.EventConflict:        7, // Model Change
	// Replicated storage: a peer lost and a split brain are alerts; a
	// resync's start and end are modifications of the DRBD resource only.
	mdl.EventDRBDConnectionLost: 2, // Communications Alert
	mdl.EventDRBDSplitBrain:     5, // Device Alert
}

// perceivedSeverity gives the CIM_Indication PerceivedSeverity of an
// event's severity (Information, Degraded/Warning, Critical; 0 Unknown
// for any other).
var perceivedSeverity = map[mdl.Severity]uint64{mdl.SeverityInfo: 2, mdl.SeverityWarning: 3, mdl.SeverityCritical: 6}

// objectPath returns the instance path an event's object maps to.
func (p *ModelProvider) objectPath(x *snapIndex, id mdl.ID) *wbem.InstancePath {
	switch id.Kind {
	case mdl.KindCluster:
		return ClusterPath(x.cluster)
	case mdl.KindNode, mdl.KindHost, mdl.KindVM:
		if x.sys[id.Name] != nil {
			return SystemPath(id.Name)
		}
		if id.Kind == mdl.KindHost {
			if h := x.hostSystem(id.Name); x.sys[h] != nil {
				return SystemPath(h)
			}
		}
	case mdl.KindResource:
		if r, ok := x.s.Resource(id.Name); ok {
			return ResourcePath(x.cluster, r)
		}
	case mdl.KindDRBD:
		if p := DRBDPath(id.Name); drbdView(x, p) != nil {
			return p
		}
	}
	return nil
}

// indicationsFor maps one event to its indications, built from the
// current snapshot (SourceInstance) and the one before the batch
// (PreviousInstance).
func (p *ModelProvider) indicationsFor(e mdl.Event, prev, cur *mdl.Snapshot) []*wbem.Instance {
	x := p.indexOf(cur)
	px := p.indexOf(prev)
	var out []*wbem.Instance
	now := p.opts.Now()
	path := p.objectPath(x, e.Object)
	common := func(b *ib) *ib {
		return b.s("IndicationIdentifier", "mgmtd:"+strconv.FormatUint(e.Seq, 10)).t("IndicationTime", now).
			u("PerceivedSeverity", perceivedSeverity[e.Severity]).s("EventType", string(e.Type)).u("EventSequence", e.Seq)
	}
	if path != nil {
		if src := p.getFrom(x, path); src != nil {
			b := common(p.newInst(ClassInstModification, 10)).s("SourceInstance", cimxml.EmbedInstance(src)).
				s("SourceInstanceModelPath", wbem.WBEMURI(path)).s("SourceInstanceHost", p.opts.SystemName)
			if pp := p.objectPath(px, e.Object); pp != nil {
				if old := p.getFrom(px, pp); old != nil {
					b.s("PreviousInstance", cimxml.EmbedInstance(old))
				}
			}
			out = append(out, b.in)
		}
	}
	if at, ok := alertType[e.Type]; ok {
		b := common(p.newInst(ClassAlertIndication, 24)).s("Description", e.Message).u("AlertType", at).
			s("EventID", string(e.Type)).t("EventTime", e.Time).s("SystemCreationClassName", ClassCluster).
			s("SystemName", x.cluster).s("ProviderName", "mgmtd").s("OwningEntity", "mgmtd").
			s("MessageID", "MGMTD:"+string(e.Type)).s("Message", e.Message).
			s("ObjectKind", string(e.Object.Kind)).s("ObjectName", e.Object.Name).so("Node", e.Node).
			so("FromState", e.From).so("ToState", e.To)
		if path != nil {
			b.s("AlertingManagedElement", wbem.WBEMURI(path)).u("AlertingElementFormat", 2)
		}
		out = append(out, b.in)
	}
	return out
}

// indexOf returns the index of a given snapshot (the cached one when it
// is current).
func (p *ModelProvider) indexOf(s *mdl.Snapshot) *snapIndex {
	if x := p.index(); x.s == s {
		return x
	}
	return buildIndex(s)
}

func (p *ModelProvider) getFrom(x *snapIndex, path *wbem.InstancePath) *wbem.Instance {
	c := p.impl(ModelNamespace, path.ClassName)
	if c == nil || c.get == nil {
		return nil
	}
	return c.get(x, path)
}
