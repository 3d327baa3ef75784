package snmp

import (
	"math"

	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

// drbdRow is one row of mgmtdDrbdTable: a volume of a DRBD resource on
// the reporting node, towards one peer (conn and peer are the zero value
// for the row of a volume without a connection).
type drbdRow struct {
	res  model.DRBDResource
	vol  model.DRBDVolume
	slot uint32 // peer node-id + 1; 0 without a peer
	conn model.DRBDConnection
	peer model.DRBDPeerVolume
}

// maxDRBDNodeID is the largest DRBD node-id (DRBD 9 allows 32 nodes).
const maxDRBDNodeID = 31

// drbdRows are the rows of a DRBD view, in index order of volumes (as
// the view lists them) and peers. A view from Pacemaker alone (no
// reporting node) has none.
func drbdRows(r model.DRBDResource) []drbdRow {
	if r.Node == "" {
		return nil
	}
	var out []drbdRow
	for _, v := range r.Volumes {
		n := 0
		for _, c := range r.Connections {
			for _, pv := range c.Volumes {
				if pv.Volume != v.Volume {
					continue
				}
				slot := uint32(math.MaxUint32) // out of range: the row is omitted
				if c.PeerNodeID >= 0 && c.PeerNodeID <= maxDRBDNodeID {
					slot = uint32(c.PeerNodeID + 1)
				}
				out = append(out, drbdRow{res: r, vol: v, slot: slot, conn: c, peer: pv})
				n++
			}
		}
		if n == 0 {
			out = append(out, drbdRow{res: r, vol: v})
		}
	}
	return out
}

// index is {mgmtdDrbdResource, mgmtdDrbdNode, mgmtdDrbdVolume,
// mgmtdDrbdPeerSlot}; ok is false when a name or number does not fit.
func (w drbdRow) index() ([]uint32, bool) {
	idx, ok := nameIndex(w.res.Name, w.res.Node)
	if !ok || w.vol.Volume < 0 || w.vol.Volume > 65535 || w.slot > maxDRBDNodeID+1 {
		return nil, false
	}
	return append(idx, uint32(w.vol.Volume), w.slot), true
}

// cutIndex is the index even when it does not fit, cut so that the OID
// stays valid (for a notification about a row that is omitted).
func (w drbdRow) cutIndex() []uint32 {
	return append(cutIndex(w.res.Name, w.res.Node), uint32(min(max(w.vol.Volume, 0), 65535)), min(w.slot, maxDRBDNodeID+1))
}

// drbdRole maps a DRBD role to MgmtdReplicaRole.
func drbdRole(r string) int {
	switch r {
	case "Primary":
		return 2
	case "Secondary":
		return 3
	}
	return 1
}

// state is a DRBD state name as the MIB's SIZE(0..32) allows.
func state(s string) agentx.Value {
	if len(s) > 32 {
		s = s[:32]
	}
	return agentx.OctetString(s)
}

// Columns of mgmtdDrbdTable.
const (
	cDRBDPeer = iota + 5
	cDRBDMinor
	cDRBDRole
	cDRBDDisk
	cDRBDConn
	cDRBDRepl
	cDRBDPeerRole
	cDRBDPeerDisk
	cDRBDSyncDone
	cDRBDOutOfSync
	cDRBDSplitBrain
	cDRBDClone
)

func (w drbdRow) syncDone() agentx.Value {
	if w.peer.SyncPercent == nil {
		return gauge(0)
	}
	return gauge(int(min(max(math.Round(*w.peer.SyncPercent*100), 0), 10000)))
}

func (w drbdRow) minor() agentx.Value {
	return agentx.Integer(int32(min(max(w.vol.Minor, 0), 1048575)))
}

func (w drbdRow) peerRole() int {
	if w.slot == 0 {
		return 1
	}
	return drbdRole(w.conn.PeerRole)
}

// buildDRBD adds mgmtdDrbdTable.
func (bd *builder) buildDRBD(s *model.Snapshot) {
	for _, r := range s.DRBD {
		for _, w := range drbdRows(r) {
			idx, ok := w.index()
			bd.row(tDRBD, idx, ok,
				cell{cDRBDPeer, str(w.conn.Peer)},
				cell{cDRBDMinor, w.minor()},
				cell{cDRBDRole, enum(drbdRole(r.Role))},
				cell{cDRBDDisk, state(w.vol.Disk)},
				cell{cDRBDConn, state(w.conn.State)},
				cell{cDRBDRepl, state(w.peer.Replication)},
				cell{cDRBDPeerRole, enum(w.peerRole())},
				cell{cDRBDPeerDisk, state(w.peer.PeerDisk)},
				cell{cDRBDSyncDone, w.syncDone()},
				cell{cDRBDOutOfSync, gauge64(w.peer.OutOfSyncKiB)},
				cell{cDRBDSplitBrain, truth(w.conn.SplitBrain)},
				cell{cDRBDClone, str(r.Clone)},
			)
		}
	}
}

// drbdEventRow picks the row a drbd.* event is about, from the view the
// snapshot has of the resource on the event's node (else the view the
// event carries): the connection whose state the event gives (lost), the
// connection in split brain, the volume whose replication state it gives
// (resync started or finished); else the view's first row. ok is false
// when the view has no row at all.
func drbdEventRow(snap *model.Snapshot, e model.Event) (drbdRow, bool) {
	var view model.DRBDResource
	found := false
	for _, r := range snap.DRBD {
		if r.Name == e.Object.Name && r.Node == e.Node {
			view, found = r, true
			break
		}
	}
	if !found {
		if r, ok := e.Data.(model.DRBDResource); ok {
			view, found = r, true
		}
	}
	if !found {
		return drbdRow{}, false
	}
	rows := drbdRows(view)
	match := func(w drbdRow) bool {
		switch e.Type {
		case model.EventDRBDConnectionLost:
			return w.slot != 0 && w.conn.State == e.To
		case model.EventDRBDSplitBrain:
			return w.conn.SplitBrain
		case model.EventDRBDSyncStarted, model.EventDRBDSyncFinished:
			return w.slot != 0 && w.peer.Replication == e.To
		}
		return false
	}
	for _, w := range rows {
		if _, ok := w.index(); ok && match(w) {
			return w, true
		}
	}
	for _, w := range rows {
		if _, ok := w.index(); ok {
			return w, true
		}
	}
	if len(rows) > 0 {
		return rows[0], true
	}
	return drbdRow{}, false
}

// drbdNotification is mgmtdDrbdReplicationChange's varbinds after head:
// the row's role, connection, replication and peer disk state and split
// brain, and the resource and node as values.
func drbdNotification(snap *model.Snapshot, e model.Event) []agentx.VarBind {
	w, ok := drbdEventRow(snap, e)
	var idx []uint32
	if ok {
		if i, fits := w.index(); fits {
			idx = i
		} else {
			idx = w.cutIndex()
		}
	} else {
		// No row, and no view in the event: the index the resource's
		// first row would have.
		w = drbdRow{res: model.DRBDResource{Name: e.Object.Name, Node: e.Node}}
		idx = w.cutIndex()
	}
	col := func(c uint32) agentx.OID { return column(tDRBD, c).Append(idx...) }
	return []agentx.VarBind{
		{Name: col(cDRBDRole), Value: enum(drbdRole(w.res.Role))},
		{Name: col(cDRBDConn), Value: state(w.conn.State)},
		{Name: col(cDRBDRepl), Value: state(w.peer.Replication)},
		{Name: col(cDRBDPeerDisk), Value: state(w.peer.PeerDisk)},
		{Name: col(cDRBDSplitBrain), Value: truth(w.conn.SplitBrain)},
		{Name: notifyObjs.Append(nObject, 0), Value: str(e.Object.Name)},
		{Name: notifyObjs.Append(nNode, 0), Value: str(e.Node)},
	}
}
