package snmp

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"

	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

// builder turns one snapshot into an OID table.
type builder struct {
	b       agentx.TableBuilder
	seen    map[string]bool // table + index, for duplicate rows
	omitted int
}

func newBuilder() *builder { return &builder{seen: map[string]bool{}} }

// strIndex encodes s as a length-prefixed string index; ok is false when
// s is longer than max octets or shorter than minLen.
func strIndex(s string, minLen, max int) ([]uint32, bool) {
	if len(s) < minLen || len(s) > max {
		return nil, false
	}
	idx := make([]uint32, 0, len(s)+1)
	idx = append(idx, uint32(len(s)))
	for i := 0; i < len(s); i++ {
		idx = append(idx, uint32(s[i]))
	}
	return idx, true
}

// index concatenates string indexes (each a name of 1..48 octets) and
// reports whether all of them fit.
func nameIndex(names ...string) ([]uint32, bool) {
	var idx []uint32
	for _, n := range names {
		p, ok := strIndex(n, 1, maxName)
		if !ok {
			return nil, false
		}
		idx = append(idx, p...)
	}
	return idx, true
}

type cell struct {
	col uint32
	v   agentx.Value
}

// row adds the cells of one row of table t; a row whose index did not fit
// (ok false) or repeats an earlier index is counted as omitted.
func (bd *builder) row(t uint32, idx []uint32, ok bool, cells ...cell) {
	if !ok {
		bd.omitted++
		return
	}
	key := strconv.Itoa(int(t)) + agentx.OID(idx).String()
	if bd.seen[key] {
		bd.omitted++
		return
	}
	bd.seen[key] = true
	for _, c := range cells {
		bd.b.Add(column(t, c.col).Append(idx...), c.v)
	}
}

func (bd *builder) scalar(base agentx.OID, sub uint32, v agentx.Value) {
	o := base.Append(sub)
	bd.b.AddObject(o)
	bd.b.Add(o.Append(0), v)
}

func (bd *builder) declareTables() {
	for t, n := range tableColumns {
		for c := indexColumns[t] + 1; c <= n; c++ {
			bd.b.AddObject(column(t, c))
		}
	}
}

// SNMP value helpers.

func str(s string) agentx.Value {
	if len(s) > 255 {
		s = s[:255]
	}
	return agentx.OctetString(s)
}

func truth(b bool) agentx.Value {
	if b {
		return agentx.Integer(1)
	}
	return agentx.Integer(2)
}

func gauge(n int) agentx.Value {
	if n < 0 {
		n = 0
	}
	return agentx.Gauge32(uint32(min(int64(n), math.MaxUint32)))
}

func gauge64(n uint64) agentx.Value { return agentx.Gauge32(uint32(min(n, math.MaxUint32))) }

func enum(n int) agentx.Value { return agentx.Integer(int32(n)) }

// dateAndTime encodes t as an 11-octet DateAndTime in UTC (RFC 2579), or
// 8 zero octets for the zero time.
func dateAndTime(t time.Time) agentx.Value {
	if t.IsZero() {
		return agentx.Octets(make([]byte, 8))
	}
	t = t.UTC()
	y := t.Year()
	return agentx.Octets([]byte{byte(y >> 8), byte(y), byte(t.Month()), byte(t.Day()),
		byte(t.Hour()), byte(t.Minute()), byte(t.Second()), byte(t.Nanosecond() / 100_000_000),
		'+', 0, 0})
}

// uuidBytes parses a textual UUID; it returns nil when s is not one.
func uuidBytes(s string) []byte {
	h := strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 {
		return nil
	}
	return b
}

// Enumerations of MGMTD-CLUSTER-MIB.

func nodeState(s model.NodeState) int {
	switch s {
	case model.NodeOnline:
		return 1
	case model.NodeStandby:
		return 2
	case model.NodeMaintenance:
		return 3
	case model.NodePending:
		return 4
	case model.NodeOffline:
		return 5
	case model.NodeUnclean:
		return 6
	case model.NodeShutdown:
		return 7
	}
	return 8
}

func nodeType(t model.NodeType) int {
	switch t {
	case model.NodeMember:
		return 1
	case model.NodeRemote:
		return 2
	case model.NodeGuest:
		return 3
	}
	return 4
}

func resourceKind(k model.ResourceKind) int {
	switch k {
	case model.KindPrimitive:
		return 1
	case model.KindGroup:
		return 2
	case model.KindClone:
		return 3
	case model.KindPromotable:
		return 4
	case model.KindBundle:
		return 5
	}
	return 6
}

func role(r model.Role) int {
	switch r.Normal() {
	case model.RoleStopped, "":
		return 2
	case model.RoleStarted:
		return 3
	case model.RolePromoted:
		return 4
	case model.RoleUnpromoted:
		return 5
	case model.RoleStarting:
		return 6
	case model.RoleStopping:
		return 7
	case model.RolePromoting:
		return 8
	case model.RoleDemoting:
		return 9
	case model.RoleMigrating:
		return 10
	}
	return 1
}

func sourceState(s model.SourceState) int {
	switch s {
	case model.SourceOK:
		return 1
	case model.SourceStale:
		return 2
	}
	return 3
}

func fenceStatus(s string) int {
	switch s {
	case "success":
		return 1
	case "failed":
		return 2
	case "pending":
		return 3
	}
	return 4
}

func addressMethod(m model.AddressMethod, addr string) int {
	if addr == "" {
		return 6
	}
	switch m {
	case model.MethodIPTakeover:
		return 2
	case model.MethodClusterIP:
		return 3
	case model.MethodDNS:
		return 4
	case model.MethodRoute:
		return 5
	}
	return 1
}

func vmState(s model.VMState) int {
	switch s {
	case model.VMRunning:
		return 1
	case model.VMBlocked:
		return 2
	case model.VMPaused:
		return 3
	case model.VMShutdown:
		return 4
	case model.VMShutoff:
		return 5
	case model.VMCrashed:
		return 6
	case model.VMPMSuspended:
		return 7
	}
	return 8
}

func severity(s model.Severity) int {
	switch s {
	case model.SeverityWarning:
		return 2
	case model.SeverityCritical:
		return 3
	}
	return 1
}

// intervalMillis parses a Pacemaker operation interval: plain digits are
// milliseconds, as crm_mon prints them; "10s", "1m" style values with a
// unit are accepted too.
func intervalMillis(s string) uint32 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n)
	}
	if n, ok := strings.CutSuffix(s, "ms"); ok {
		if v, err := strconv.ParseUint(n, 10, 32); err == nil {
			return uint32(v)
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return uint32(min(d.Milliseconds(), math.MaxUint32))
	}
	return 0
}

// agentFacts are the values of MGMTD-CLUSTER-MIB that are the subagent's
// own rather than the snapshot's.
type agentFacts struct {
	changed time.Time // mgmtdLastChange
	counters
}

// buildCluster adds MGMTD-CLUSTER-MIB for snap at time now.
func (bd *builder) buildCluster(s *model.Snapshot, now time.Time, agent agentFacts) {
	bd.declareTables()
	c := s.Cluster

	// Nodes.
	corosyncID := map[string]uint32{}
	for _, m := range s.Membership.Members {
		corosyncID[m.Name] = m.NodeID
	}
	var online, standby, maint, offline, unclean int
	for _, n := range s.Nodes {
		switch n.State {
		case model.NodeOnline:
			online++
		case model.NodeStandby:
			standby++
		case model.NodeMaintenance:
			maint++
		case model.NodeUnclean:
			unclean++
		default:
			offline++
		}
		host := n.Name
		if n.Type != model.NodeMember {
			host = s.PhysicalNode(n.Name)
		}
		idx, ok := nameIndex(n.Name)
		bd.row(tNode, idx, ok,
			cell{2, str(n.ID)},
			cell{3, agentx.Gauge32(corosyncID[n.Name])},
			cell{4, enum(nodeType(n.Type))},
			cell{5, enum(nodeState(n.State))},
			cell{6, truth(n.DC)},
			cell{7, gauge(n.Votes)},
			cell{8, gauge(n.ResourcesRunning)},
			cell{9, str(n.Container)},
			cell{10, str(host)},
		)
	}

	// Links.
	for _, m := range s.Membership.Members {
		for _, l := range m.Links {
			idx, ok := nameIndex(m.Name)
			if ok && (l.Link < 0 || l.Link > 255) {
				ok = false
			}
			idx = append(idx, uint32(l.Link))
			bd.row(tLink, idx, ok,
				cell{3, agentx.Gauge32(m.NodeID)},
				cell{4, truth(l.Connected)},
				cell{5, truth(l.Enabled)},
				cell{6, gauge(l.DownCount)},
				cell{7, agentx.Gauge32(l.LatencyAvg)},
			)
		}
	}

	// Resources and instances.
	activeByPrimitive := map[string]int{}
	for _, in := range s.Instances {
		if in.Active {
			activeByPrimitive[in.Primitive]++
		}
	}
	var rActive, rStopped, rFailed, rUnmanaged, rBlocked int
	for _, r := range s.Resources {
		active := 0
		for _, in := range s.InstancesOf(r.ID) {
			if in.Active {
				active++
			}
		}
		if r.Kind == model.KindPrimitive {
			if activeByPrimitive[r.ID] > 0 {
				rActive++
			} else {
				rStopped++
			}
		}
		if r.Failed {
			rFailed++
		}
		if !r.Managed {
			rUnmanaged++
		}
		if r.Blocked {
			rBlocked++
		}
		idx, ok := nameIndex(r.ID)
		bd.row(tResource, idx, ok,
			cell{2, enum(resourceKind(r.Kind))},
			cell{3, str(r.Agent)},
			cell{4, str(r.Parent)},
			cell{5, str(r.TargetRole)},
			cell{6, truth(r.Managed)},
			cell{7, truth(r.Blocked)},
			cell{8, truth(r.Failed)},
			cell{9, gauge(active)},
		)
	}
	for _, in := range s.Instances {
		idx, ok := instanceIndex(in.Resource, in.Node)
		bd.row(tInstance, idx, ok,
			cell{3, str(in.Primitive)},
			cell{4, enum(role(in.Role))},
			cell{5, truth(in.Active)},
			cell{6, truth(in.Failed)},
			cell{7, gauge(in.FailCount)},
			cell{8, str(in.Host)},
		)
	}

	// Failed operations.
	for _, f := range s.Failures {
		idx, ok := nameIndex(f.Resource, f.Node)
		if ok {
			var op []uint32
			op, ok = strIndex(f.Op, 1, maxShort)
			idx = append(append(idx, op...), intervalMillis(f.Interval))
		}
		bd.row(tFail, idx, ok,
			cell{5, agentx.Integer(int32(f.RC))},
			cell{6, str(f.RCText)},
			cell{7, str(f.Status)},
			cell{8, str(f.ExitReason)},
			cell{9, agentx.Integer(int32(f.Call))},
			cell{10, dateAndTime(f.Time)},
		)
	}

	// Fencing history.
	for _, f := range s.Fencing {
		idx, ok := fenceIndex(f)
		bd.row(tFence, idx, ok,
			cell{4, enum(fenceStatus(f.Status))},
			cell{5, str(f.Delegate)},
			cell{6, str(f.Client)},
			cell{7, str(f.Origin)},
			cell{8, dateAndTime(f.Completed)},
			cell{9, str(f.ExitReason)},
		)
	}

	// Services.
	for _, sv := range s.Services {
		svIdx, svOK := nameIndex(sv.Name)
		where := s.Where(sv.Name)
		var addrRsc, node, host string
		for _, a := range where.Addresses {
			if a.Address == sv.Address || sv.Address == "" {
				addrRsc, node, host = a.Resource, a.Node, a.Host
				if node != "" {
					break
				}
			}
		}
		allActive := len(sv.Resources) > 0
		for _, r := range sv.Resources {
			active := false
			for _, in := range s.InstancesOf(r) {
				active = active || in.Active
			}
			allActive = allActive && active
			rIdx, rOK := nameIndex(r)
			bd.row(tServiceRes, append(append([]uint32(nil), svIdx...), rIdx...), svOK && rOK,
				cell{2, truth(active)})
		}
		bd.row(tService, svIdx, svOK,
			cell{2, str(sv.Address)},
			cell{3, enum(addressMethod(sv.Method, sv.Address))},
			cell{4, str(addrRsc)},
			cell{5, str(node)},
			cell{6, str(host)},
			cell{7, truth(allActive)},
			cell{8, truth(sv.Derived)},
		)
	}

	// VMs.
	vmActive := 0
	for _, v := range s.VMs {
		if v.State.Active() {
			vmActive++
		}
		hostNode := ""
		if h, ok := s.Host(v.Host); ok {
			hostNode = h.Node
		}
		idx, ok := nameIndex(v.Host, v.Name)
		bd.row(tVM, idx, ok,
			cell{3, agentx.Octets(uuidBytes(v.UUID))},
			cell{4, enum(vmState(v.State))},
			cell{5, str(hostNode)},
			cell{6, str(v.Resource)},
			cell{7, truth(v.Managed)},
			cell{8, str(v.GuestNode)},
			cell{9, gauge(v.VCPUs)},
			cell{10, gauge64(v.MemoryKiB)},
			cell{11, truth(v.Persistent)},
			cell{12, truth(v.Autostart)},
		)
	}

	bd.buildDRBD(s)

	// Sources.
	for _, st := range s.Sources {
		idx, ok := nameIndex(st.Name)
		bd.row(tSource, idx, ok,
			cell{2, enum(sourceState(st.State))},
			cell{3, dateAndTime(st.LastSuccess)},
			cell{4, dateAndTime(st.LastAttempt)},
			cell{5, str(st.LastError)},
			cell{6, dateAndTime(st.ErrorTime)},
			cell{7, gauge(int(st.Age(now) / time.Second))},
		)
	}

	// Scalars last: they include the omitted-row count.
	sc := func(n uint32, v agentx.Value) { bd.scalar(clusterOID, n, v) }
	sc(sClusterName, str(c.Name))
	sc(sClusterStack, str(c.Stack))
	sc(sPacemakerVersion, str(c.PacemakerVersion))
	sc(sCorosyncVersion, str(c.CorosyncVersion))
	sc(sQuorate, truth(c.Quorate))
	sc(sExpectedVotes, gauge(c.ExpectedVotes))
	sc(sTotalVotes, gauge(c.TotalVotes))
	sc(sQuorum, gauge(s.Membership.Quorum))
	sc(sDCName, str(c.DC))
	sc(sMaintenance, truth(c.MaintenanceMode))
	sc(sStonith, truth(c.StonithEnabled))
	sc(sSymmetric, truth(c.SymmetricCluster))
	sc(sNoQuorumPolicy, str(c.NoQuorumPolicy))
	sc(sCIBEpoch, str(c.CIBEpoch))
	sc(sClusterLastChange, dateAndTime(c.LastChange))
	sc(sNodesConfigured, gauge(len(s.Nodes)))
	sc(sNodesOnline, gauge(online))
	sc(sNodesStandby, gauge(standby))
	sc(sNodesMaintenance, gauge(maint))
	sc(sNodesOffline, gauge(offline))
	sc(sNodesUnclean, gauge(unclean))
	sc(sResourcesConfigured, gauge(max(c.ResourcesConfigured, 0)))
	sc(sResourcesActive, gauge(rActive))
	sc(sResourcesStopped, gauge(rStopped))
	sc(sResourcesFailed, gauge(rFailed))
	sc(sResourcesUnmanaged, gauge(rUnmanaged))
	sc(sResourcesBlocked, gauge(rBlocked))
	sc(sLastChange, dateAndTime(agent.changed))
	sc(sSnapshotStale, truth(s.Stale()))
	sc(sSnapshotView, str(s.View))
	sc(sRowsOmitted, gauge(bd.omitted))
	sc(sVMsConfigured, gauge(len(s.VMs)))
	sc(sVMsActive, gauge(vmActive))
	sc(sNotificationsSent, agentx.Counter32(uint32(agent.sent)))
	sc(sNotificationsDropped, agentx.Counter32(uint32(agent.dropped)))
	sc(sNotificationsQueued, gauge(agent.queued))
}

// instanceIndex is {mgmtdInstanceResource, mgmtdInstanceNode}; the node
// is empty for a stopped instance.
func instanceIndex(rsc, node string) ([]uint32, bool) {
	idx, ok := nameIndex(rsc)
	if !ok {
		return nil, false
	}
	n, ok := strIndex(node, 0, maxName)
	return append(idx, n...), ok
}

// fenceIndex is {mgmtdFenceTarget, mgmtdFenceTime, mgmtdFenceAction}.
func fenceIndex(f model.FenceEvent) ([]uint32, bool) {
	idx, ok := nameIndex(f.Target)
	if !ok {
		return nil, false
	}
	var secs uint32
	if !f.Completed.IsZero() && f.Completed.Unix() > 0 {
		secs = uint32(min(f.Completed.Unix(), math.MaxUint32))
	}
	act, ok := strIndex(f.Action, 1, maxShort)
	return append(append(idx, secs), act...), ok
}
