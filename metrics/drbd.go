package metrics

import (
	"strconv"

	"mgmtd/model"
)

// DRBD's state names, as drbd-reactor's prometheus plugin enumerates them
// in its enum series (one sample per state, 1 for the current one), so
// that its dashboard's queries work on mgmtd's series. A state the model
// has that is not in the list (a newer DRBD's) is added as one more
// sample, so the current state always has its 1.
var (
	drbdRoles       = []string{"Unknown", "Primary", "Secondary"}
	drbdConnStates  = []string{"StandAlone", "Disconnecting", "Unconnected", "Timeout", "BrokenPipe", "NetworkFailure", "ProtocolError", "TearDown", "Connecting", "Connected"}
	drbdDiskStates  = []string{"Diskless", "Attaching", "Detaching", "Failed", "Negotiating", "Inconsistent", "Outdated", "DUnknown", "Consistent", "UpToDate"}
	drbdReplStates  = []string{"Off", "Established", "StartingSyncS", "StartingSyncT", "WFBitMapS", "WFBitMapT", "WFSyncUUID", "SyncSource", "SyncTarget", "VerifyS", "VerifyT", "PausedSyncS", "PausedSyncT", "Ahead", "Behind"}
	drbdUnknownDisk = "DUnknown"
)

// enum adds one sample per state of states (plus cur when it is not one
// of them, and not empty), labelled label=state, 1 for cur.
func enum(f *Family, states []string, cur, label string, labels ...string) {
	known := false
	for _, st := range states {
		known = known || st == cur
		f.Bool(st == cur, append(append([]string(nil), labels...), label, st)...)
	}
	if !known && cur != "" {
		f.Add(1, append(append([]string(nil), labels...), label, cur)...)
	}
}

// drbdMetrics adds the DRBD series: drbd-reactor's names and labels
// (name, volume, minor, conn_name, peer_node_id; enums as a label named
// like the series) where it has one, plus cluster and node (the node
// whose DRBD view it is: drbd-reactor runs on every node and Prometheus
// tells them apart by instance; mgmtd serves every node's view from one
// endpoint). What drbd-reactor has no series for (replication state, peer
// disk state, resync progress, split brain) is mgmtd_drbd_*. Views from
// Pacemaker alone (no DRBD source reports the resource: Node is empty)
// have no DRBD state and no series.
func drbdMetrics(e *Exposition, s *model.Snapshot, cl string) {
	count := e.Family("drbd_resource_resources", Gauge, "Number of resources")
	role := e.Family("drbd_resource_role", Gauge, "DRBD role of the resource")
	susp := e.Family("drbd_resource_suspended", Gauge, "Boolean whether the resource is suspended")
	mayp := e.Family("drbd_resource_maypromote", Gauge, "Boolean whether the resource may be promoted to Primary")
	score := e.Family("drbd_resource_promotionscore", Gauge, "The promotion score (higher is better) for the resource")
	split := e.Family("mgmtd_drbd_resource_split_brain", Gauge, "Whether DRBD reported a split brain on a connection of the resource (its split-brain helper was called) that has not been resolved")
	connState := e.Family("drbd_connection_state", Gauge, "DRBD connection state")
	connSplit := e.Family("mgmtd_drbd_connection_split_brain", Gauge, "Whether DRBD reported a split brain on this connection")
	peerRole := e.Family("mgmtd_drbd_connection_peer_role", Gauge, "The peer's DRBD role as this node last knew it")
	oos := e.Family("drbd_peerdevice_outofsync_bytes", Gauge, "Number of bytes currently out of sync with this peer, according to the bitmap that DRBD has for it")
	repl := e.Family("mgmtd_drbd_peerdevice_replication_state", Gauge, "DRBD replication state of the volume to this peer")
	peerDisk := e.Family("mgmtd_drbd_peerdevice_peer_disk_state", Gauge, "The peer's disk state of the volume as this node knows it")
	done := e.Family("mgmtd_drbd_peerdevice_sync_done_ratio", Gauge, "Fraction of the running resync done (0 to 1), while one runs")
	eta := e.Family("mgmtd_drbd_peerdevice_sync_eta_seconds", Gauge, "DRBD's estimate of the time the running resync still needs")
	devState := e.Family("drbd_device_state", Gauge, "DRBD device state")
	client := e.Family("drbd_device_client", Gauge, "Boolean whether this device is a client (i.e., intentional diskless)")
	udl := e.Family("drbd_device_unintentionaldiskless", Gauge, "Boolean whether the devices is unintentional diskless")
	quorum := e.Family("drbd_device_quorum", Gauge, "Boolean if this device has DRBD quorum")
	size := e.Family("drbd_device_size_bytes", Gauge, "Device size in bytes")

	perNode := map[string]int{}
	var order []string
	for _, r := range s.DRBD {
		if r.Node == "" {
			continue
		}
		if _, ok := perNode[r.Node]; !ok {
			order = append(order, r.Node)
		}
		perNode[r.Node]++
		rl := []string{"cluster", cl, "node", r.Node, "name", r.Name}
		enum(role, drbdRoles, r.Role, "drbd_resource_role", rl...)
		susp.Bool(r.Suspended != "", rl...)
		if r.MayPromote != nil {
			mayp.Bool(*r.MayPromote, rl...)
		}
		if r.PromotionScore != nil {
			score.Add(float64(*r.PromotionScore), rl...)
		}
		split.Bool(r.SplitBrain, rl...)
		for _, c := range r.Connections {
			cls := append(append([]string(nil), rl...), "conn_name", c.Peer, "peer_node_id", strconv.Itoa(c.PeerNodeID))
			enum(connState, drbdConnStates, c.State, "drbd_connection_state", cls...)
			connSplit.Bool(c.SplitBrain, cls...)
			enum(peerRole, drbdRoles, c.PeerRole, "role", cls...)
			for _, pv := range c.Volumes {
				pls := append(append([]string(nil), cls...), "volume", strconv.Itoa(pv.Volume))
				oos.Add(float64(pv.OutOfSyncKiB)*1024, pls...)
				enum(repl, drbdReplStates, pv.Replication, "replication", pls...)
				pd := pv.PeerDisk
				if pd == "" {
					pd = drbdUnknownDisk
				}
				enum(peerDisk, drbdDiskStates, pd, "peer_disk", pls...)
				if pv.SyncPercent != nil {
					done.Add(*pv.SyncPercent/100, pls...)
				}
				if pv.SyncETA != nil {
					eta.Add(float64(*pv.SyncETA), pls...)
				}
			}
		}
		for _, v := range r.Volumes {
			vls := append(append([]string(nil), rl...), "volume", strconv.Itoa(v.Volume), "minor", strconv.Itoa(v.Minor))
			enum(devState, drbdDiskStates, v.Disk, "drbd_device_state", vls...)
			client.Bool(v.Client, vls...)
			udl.Bool(!v.Client && v.Disk == "Diskless", vls...)
			if v.Quorum != "" {
				quorum.Bool(v.Quorum == "yes", vls...)
			}
			size.Add(float64(v.SizeKiB)*1024, vls...)
		}
	}
	for _, n := range order {
		count.Add(float64(perNode[n]), "cluster", cl, "node", n)
	}
}
