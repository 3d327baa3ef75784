package events

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits bound what a State holds, so that a drbdsetup printing nonsense
// cannot grow it without end. DRBD itself allows 31 peers per resource.
const (
	MaxResources = 1024
	MaxVolumes   = 256 // per resource
	MaxPeers     = 32  // connections per resource
	MaxPaths     = 16  // per connection
	maxName      = 256 // resource, connection and device names
)

// Resource is a DRBD resource as the local node sees it.
type Resource struct {
	Name string
	// Role is the local role: Primary, Secondary or Unknown.
	Role string
	// Suspended is "no" or why I/O is suspended (user, no-data,
	// fencing, quorum, joined with commas).
	Suspended       string
	ForceIOFailures bool
	WriteOrdering   string
	// MayPromote and PromotionScore are DRBD 9's promotion hints
	// (events2 only; HasPromotion is false without them).
	HasPromotion   bool
	MayPromote     bool
	PromotionScore int
	Volumes        []*Volume     // sorted by volume number
	Connections    []*Connection // sorted by peer node id
}

// Volume is a DRBD device: one volume of a resource.
type Volume struct {
	Volume int
	Minor  int
	// BackingDev is the lower-level disk ("none" for a diskless volume,
	// empty when drbdsetup did not say).
	BackingDev string
	// Disk is the local disk state: UpToDate, Inconsistent, Outdated,
	// Diskless, DUnknown, ...
	Disk string
	// Client is an intentionally diskless volume.
	Client bool
	// Open is "yes", "no" or "" (unknown).
	Open string
	// Quorum is "yes", "no" or "" (unknown: 8.4 has no quorum).
	Quorum string
	// SizeKiB is the device's size; 0 when unknown.
	SizeKiB             uint64
	ReadKiB, WrittenKiB uint64
	Blocked             string
}

// Connection is the connection to one peer of a resource.
type Connection struct {
	PeerNodeID int
	// Name is the conn-name: the peer's host name in DRBD's
	// configuration.
	Name string
	// State is the connection state: Connected, Connecting, StandAlone,
	// ...
	State string
	// PeerRole is the peer's role as this node sees it.
	PeerRole    string
	Congested   bool
	Paths       []Path
	PeerDevices []*PeerDevice // sorted by volume
	// SplitBrain is set by a "call helper ... helper:split-brain" for
	// this connection and cleared when it is Connected again.
	SplitBrain     bool
	SplitBrainTime time.Time
}

// Path is one network path of a connection (DRBD 9).
type Path struct {
	Local, Peer string // af:address:port as drbdsetup prints them
	Established bool
}

// PeerDevice is the replication of one volume to one peer.
type PeerDevice struct {
	Volume int
	// Replication is the replication state: Established, Off,
	// SyncSource, SyncTarget, PausedSyncS, Ahead, Behind, ...
	Replication string
	// PeerDisk is the peer's disk state as this node knows it.
	PeerDisk        string
	PeerClient      bool
	ResyncSuspended string
	ReceivedKiB     uint64
	SentKiB         uint64
	OutOfSyncKiB    uint64
	// Done is the resync's percent done, and ETA its estimated seconds
	// left; both -1 when no resync is running or drbdsetup did not say.
	Done float64
	ETA  float64
}

// Syncing reports whether a replication state is a resync (or its
// preparation, or a pause of one).
func Syncing(repl string) bool {
	switch repl {
	case "SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT", "StartingSyncS", "StartingSyncT",
		"WFBitMapS", "WFBitMapT", "WFSyncUUID":
		return true
	}
	return false
}

// State is the picture of the local DRBD resources an event stream or a
// status builds. The zero value is empty and ready for Apply.
type State struct {
	res map[string]*Resource
	// Complete is set once the initial dump ended ("exists -").
	Complete bool
	// Skipped counts events 8.4's drbdsetup said were lost.
	Skipped int
	// Last is the time of the last line with a timestamp.
	Last time.Time
}

// Resources returns the resources sorted by name. The values are the
// State's own: callers copy what they keep.
func (s *State) Resources() []*Resource {
	out := make([]*Resource, 0, len(s.res))
	for _, r := range s.res {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Resource returns a resource by name.
func (s *State) Resource(name string) (*Resource, bool) {
	r, ok := s.res[name]
	return r, ok
}

// ApplyError is a line that parses but cannot apply: a bad value, a
// limit exceeded.
type ApplyError struct {
	Line Line
	Msg  string
}

func (e *ApplyError) Error() string {
	return "events2 " + e.Line.Action + " " + e.Line.Object + ": " + e.Msg
}

// Apply applies one parsed line. Lines about objects not known yet create
// them (drbdsetup prints exists/create before change, but a stream joined
// late must not fail); a change of an unknown resource's child creates the
// resource. Unknown objects and keys are ignored, so that a newer
// drbdsetup's additions do not break the State.
func (s *State) Apply(l Line) error {
	if !l.Time.IsZero() {
		s.Last = l.Time
	}
	if l.Skipped > 0 {
		s.Skipped += l.Skipped
		return nil
	}
	if l.Object == ObjectEnd {
		s.Complete = true
		return nil
	}
	name, _ := l.Get("name")
	if len(name) > maxName {
		return &ApplyError{l, "name too long"}
	}
	switch l.Object {
	case ObjectResource, ObjectDevice, ObjectConnection, ObjectPeerDevice, ObjectPath, ObjectHelper:
	default:
		return nil
	}
	if l.Action == ActionRename {
		nn, ok := l.Get("new_name")
		if !ok || nn == "" || len(nn) > maxName {
			return &ApplyError{l, "rename without new_name"}
		}
		if r, ok := s.res[name]; ok && l.Object == ObjectResource {
			delete(s.res, name)
			r.Name = nn
			s.res[nn] = r
		}
		return nil
	}
	if l.Action == ActionDestroy && l.Object == ObjectResource {
		delete(s.res, name)
		return nil
	}
	if l.Action == ActionResponse {
		return nil
	}
	r, err := s.resource(l, name, l.Action != ActionDestroy)
	if err != nil || r == nil {
		return err
	}
	switch l.Object {
	case ObjectResource:
		return r.apply(l)
	case ObjectDevice:
		v, err := r.volume(l, l.Action != ActionDestroy)
		if err != nil || v == nil {
			return err
		}
		if l.Action == ActionDestroy {
			r.Volumes = remove(r.Volumes, v)
			return nil
		}
		return v.apply(l)
	}
	c, err := r.connection(l, l.Action != ActionDestroy)
	if err != nil || c == nil {
		return err
	}
	switch l.Object {
	case ObjectConnection:
		if l.Action == ActionDestroy {
			if c.SplitBrain {
				// DRBD 8.4 destroys the connection (and its peer
				// devices) as soon as it is StandAlone, which is
				// where an unresolved split brain leaves it (seen
				// in testdata/real84). Keep it, StandAlone, so the
				// split brain stays visible until the connection
				// is created again and Connected.
				c.State, c.PeerRole, c.Congested = "StandAlone", "Unknown", false
				c.PeerDevices = nil
				return nil
			}
			r.Connections = remove(r.Connections, c)
			return nil
		}
		return c.apply(l)
	case ObjectPeerDevice:
		p, err := c.peerDevice(l, l.Action != ActionDestroy)
		if err != nil || p == nil {
			return err
		}
		if l.Action == ActionDestroy {
			c.PeerDevices = remove(c.PeerDevices, p)
			return nil
		}
		return p.apply(l)
	case ObjectPath:
		return c.applyPath(l)
	case ObjectHelper:
		h, _ := l.Get("helper")
		if l.Action == ActionCall && h == "split-brain" {
			c.SplitBrain = true
			c.SplitBrainTime = l.Time
		}
	}
	return nil
}

func remove[T comparable](list []T, x T) []T {
	for i, y := range list {
		if y == x {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

func (s *State) resource(l Line, name string, create bool) (*Resource, error) {
	if r, ok := s.res[name]; ok {
		return r, nil
	}
	if !create {
		return nil, nil
	}
	if len(s.res) >= MaxResources {
		return nil, &ApplyError{l, fmt.Sprintf("more than %d resources", MaxResources)}
	}
	if s.res == nil {
		s.res = map[string]*Resource{}
	}
	r := &Resource{Name: name, Role: "Unknown", Suspended: "no"}
	s.res[name] = r
	return r, nil
}

func intField(l Line, key string) (int, bool, error) {
	v, ok := l.Get(key)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1<<20 {
		return 0, true, &ApplyError{l, "bad " + key + " " + strconv.Quote(v)}
	}
	return n, true, nil
}

func (r *Resource) volume(l Line, create bool) (*Volume, error) {
	n, ok, err := intField(l, "volume")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &ApplyError{l, "no volume"}
	}
	for _, v := range r.Volumes {
		if v.Volume == n {
			return v, nil
		}
	}
	if !create {
		return nil, nil
	}
	if len(r.Volumes) >= MaxVolumes {
		return nil, &ApplyError{l, fmt.Sprintf("more than %d volumes", MaxVolumes)}
	}
	v := &Volume{Volume: n, Minor: -1, Disk: "DUnknown"}
	r.Volumes = append(r.Volumes, v)
	sort.Slice(r.Volumes, func(i, j int) bool { return r.Volumes[i].Volume < r.Volumes[j].Volume })
	return v, nil
}

func (r *Resource) connection(l Line, create bool) (*Connection, error) {
	id, ok, err := intField(l, "peer-node-id")
	if err != nil {
		return nil, err
	}
	if !ok {
		if l.Object == ObjectHelper {
			return nil, nil // a helper for the resource or a device
		}
		return nil, &ApplyError{l, "no peer-node-id"}
	}
	name, _ := l.Get("conn-name")
	for _, c := range r.Connections {
		if c.PeerNodeID == id {
			if name != "" {
				c.Name = name
			}
			return c, nil
		}
	}
	if !create {
		return nil, nil
	}
	if len(r.Connections) >= MaxPeers {
		return nil, &ApplyError{l, fmt.Sprintf("more than %d connections", MaxPeers)}
	}
	c := &Connection{PeerNodeID: id, Name: name, State: "Unknown", PeerRole: "Unknown"}
	r.Connections = append(r.Connections, c)
	sort.Slice(r.Connections, func(i, j int) bool { return r.Connections[i].PeerNodeID < r.Connections[j].PeerNodeID })
	return c, nil
}

func (c *Connection) peerDevice(l Line, create bool) (*PeerDevice, error) {
	n, ok, err := intField(l, "volume")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &ApplyError{l, "no volume"}
	}
	for _, p := range c.PeerDevices {
		if p.Volume == n {
			return p, nil
		}
	}
	if !create {
		return nil, nil
	}
	if len(c.PeerDevices) >= MaxVolumes {
		return nil, &ApplyError{l, fmt.Sprintf("more than %d peer devices", MaxVolumes)}
	}
	p := &PeerDevice{Volume: n, Replication: "Off", PeerDisk: "DUnknown", Done: -1, ETA: -1}
	c.PeerDevices = append(c.PeerDevices, p)
	sort.Slice(c.PeerDevices, func(i, j int) bool { return c.PeerDevices[i].Volume < c.PeerDevices[j].Volume })
	return p, nil
}

// yesNo parses drbdsetup's yes/no values.
func yesNo(l Line, key, v string) (bool, error) {
	switch v {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, &ApplyError{l, "bad " + key + " " + strconv.Quote(v)}
}

func uintVal(l Line, key, v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, &ApplyError{l, "bad " + key + " " + strconv.Quote(v)}
	}
	return n, nil
}

// stateWord checks a state name (role, disk, connection, replication):
// a word, as drbdsetup prints them; color escapes (--color) are refused.
func stateWord(l Line, key, v string) (string, error) {
	if !isWord(v) || len(v) > 32 {
		return "", &ApplyError{l, "bad " + key + " " + strconv.Quote(v)}
	}
	return v, nil
}

func (r *Resource) apply(l Line) error {
	var err error
	for _, f := range l.Fields {
		switch f.Key {
		case "role":
			r.Role, err = stateWord(l, f.Key, f.Value)
		case "suspended":
			r.Suspended = f.Value
		case "force-io-failures":
			r.ForceIOFailures, err = yesNo(l, f.Key, f.Value)
		case "write-ordering":
			r.WriteOrdering = f.Value
		case "may_promote":
			r.HasPromotion = true
			r.MayPromote, err = yesNo(l, f.Key, f.Value)
		case "promotion_score":
			r.HasPromotion = true
			r.PromotionScore, err = strconv.Atoi(f.Value)
			if err != nil {
				err = &ApplyError{l, "bad promotion_score " + strconv.Quote(f.Value)}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *Volume) apply(l Line) error {
	var err error
	for _, f := range l.Fields {
		switch f.Key {
		case "minor":
			var n int
			n, _, err = intField(l, "minor")
			v.Minor = n
		case "backing_dev":
			v.BackingDev = f.Value
		case "disk":
			v.Disk, err = stateWord(l, f.Key, f.Value)
		case "client":
			v.Client, err = yesNo(l, f.Key, f.Value)
		case "open":
			v.Open = f.Value
		case "quorum":
			v.Quorum = f.Value
		case "size":
			v.SizeKiB, err = uintVal(l, f.Key, f.Value)
		case "read":
			v.ReadKiB, err = uintVal(l, f.Key, f.Value)
		case "written":
			v.WrittenKiB, err = uintVal(l, f.Key, f.Value)
		case "blocked":
			v.Blocked = f.Value
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Connection) apply(l Line) error {
	var err error
	for _, f := range l.Fields {
		switch f.Key {
		case "connection":
			c.State, err = stateWord(l, f.Key, f.Value)
			if c.State == "Connected" {
				c.SplitBrain = false
			}
		case "role":
			c.PeerRole, err = stateWord(l, f.Key, f.Value)
		case "congested":
			c.Congested, err = yesNo(l, f.Key, f.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Connection) applyPath(l Line) error {
	local, _ := l.Get("local")
	peer, _ := l.Get("peer")
	if local == "" || peer == "" {
		return &ApplyError{l, "path without local and peer"}
	}
	for i, p := range c.Paths {
		if p.Local == local && p.Peer == peer {
			if l.Action == ActionDestroy {
				c.Paths = append(c.Paths[:i], c.Paths[i+1:]...)
				return nil
			}
			if v, ok := l.Get("established"); ok {
				e, err := yesNo(l, "established", v)
				c.Paths[i].Established = e
				return err
			}
			return nil
		}
	}
	if l.Action == ActionDestroy {
		return nil
	}
	if len(c.Paths) >= MaxPaths {
		return &ApplyError{l, fmt.Sprintf("more than %d paths", MaxPaths)}
	}
	p := Path{Local: local, Peer: peer}
	if v, ok := l.Get("established"); ok {
		e, err := yesNo(l, "established", v)
		if err != nil {
			return err
		}
		p.Established = e
	}
	c.Paths = append(c.Paths, p)
	return nil
}

func (p *PeerDevice) apply(l Line) error {
	var err error
	done, eta := false, false
	for _, f := range l.Fields {
		switch f.Key {
		case "replication":
			p.Replication, err = stateWord(l, f.Key, f.Value)
		case "peer-disk":
			p.PeerDisk, err = stateWord(l, f.Key, f.Value)
		case "peer-client":
			p.PeerClient, err = yesNo(l, f.Key, f.Value)
		case "resync-suspended":
			p.ResyncSuspended = f.Value
		case "received":
			p.ReceivedKiB, err = uintVal(l, f.Key, f.Value)
		case "sent":
			p.SentKiB, err = uintVal(l, f.Key, f.Value)
		case "out-of-sync":
			p.OutOfSyncKiB, err = uintVal(l, f.Key, f.Value)
		case "done":
			p.Done, err = percent(l, f.Value)
			done = true
		case "eta":
			p.ETA = seconds(f.Value)
			eta = true
		}
		if err != nil {
			return err
		}
	}
	// drbdsetup prints done and eta only while a resync has details; a
	// full line without them, or a replication state that is no resync,
	// means none runs.
	if _, full := l.Get("received"); full || !Syncing(p.Replication) {
		if !done || !Syncing(p.Replication) {
			p.Done = -1
		}
		if !eta || !Syncing(p.Replication) {
			p.ETA = -1
		}
	}
	return nil
}

// percent parses done. drbdsetup computes it from counters that move
// while it reads them (out-of-sync can outgrow the resync's total), so a
// number outside 0..100 is clamped; nan (no estimate) is -1; anything
// else is an error.
func percent(l Line, v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	switch {
	case err != nil && !strings.Contains(strings.ToLower(v), "nan"):
		return 0, &ApplyError{l, "bad done " + strconv.Quote(v)}
	case err != nil || math.IsNaN(f):
		return -1, nil
	}
	return max(0, min(100, f)), nil
}

// seconds parses eta, which drbdsetup prints with %.0f: a number, or
// nan/-nan/inf when it cannot estimate (then -1).
func seconds(v string) float64 {
	f, err := strconv.ParseFloat(strings.TrimPrefix(v, "-"), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.HasPrefix(v, "-") {
		return -1
	}
	return f
}

// Clone returns a deep copy of the state, for a caller that hands the
// picture to another goroutine while the stream goes on.
func (s *State) Clone() *State {
	c := &State{Complete: s.Complete, Skipped: s.Skipped, Last: s.Last, res: make(map[string]*Resource, len(s.res))}
	for k, r := range s.res {
		nr := *r
		nr.Volumes = make([]*Volume, len(r.Volumes))
		for i, v := range r.Volumes {
			nv := *v
			nr.Volumes[i] = &nv
		}
		nr.Connections = make([]*Connection, len(r.Connections))
		for i, cn := range r.Connections {
			nc := *cn
			nc.Paths = append([]Path(nil), cn.Paths...)
			nc.PeerDevices = make([]*PeerDevice, len(cn.PeerDevices))
			for j, p := range cn.PeerDevices {
				np := *p
				nc.PeerDevices[j] = &np
			}
			nr.Connections[i] = &nc
		}
		c.res[k] = &nr
	}
	return c
}
