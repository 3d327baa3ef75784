package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// MaxStatus is the largest `drbdsetup status --json` document accepted
// (about 1 KiB per peer device; MaxResources resources with a few volumes
// and peers each fit).
const MaxStatus = 16 << 20

type jsonResource struct {
	Name             string           `json:"name"`
	NodeID           int              `json:"node-id"`
	Role             string           `json:"role"`
	Suspended        bool             `json:"suspended"`
	SuspendedUser    bool             `json:"suspended-user"`
	SuspendedNoData  bool             `json:"suspended-no-data"`
	SuspendedFencing bool             `json:"suspended-fencing"`
	SuspendedQuorum  bool             `json:"suspended-quorum"`
	ForceIOFailures  bool             `json:"force-io-failures"`
	WriteOrdering    string           `json:"write-ordering"`
	Devices          []jsonDevice     `json:"devices"`
	Connections      []jsonConnection `json:"connections"`
}

type jsonDevice struct {
	Volume    int     `json:"volume"`
	Minor     int     `json:"minor"`
	DiskState string  `json:"disk-state"`
	Client    bool    `json:"client"`
	Open      bool    `json:"open"`
	Quorum    bool    `json:"quorum"`
	Size      *uint64 `json:"size"`
	Read      uint64  `json:"read"`
	Written   uint64  `json:"written"`
}

type jsonConnection struct {
	PeerNodeID      int              `json:"peer-node-id"`
	Name            string           `json:"name"`
	ConnectionState string           `json:"connection-state"`
	Congested       bool             `json:"congested"`
	PeerRole        string           `json:"peer-role"`
	Paths           []jsonPath       `json:"paths"`
	PeerDevices     []jsonPeerDevice `json:"peer_devices"`
}

type jsonPath struct {
	ThisHost    jsonHost `json:"this_host"`
	RemoteHost  jsonHost `json:"remote_host"`
	Established bool     `json:"established"`
}

type jsonHost struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
	Family  string `json:"family"`
}

func (h jsonHost) String() string { return fmt.Sprintf("%s:%s:%d", h.Family, h.Address, h.Port) }

type jsonPeerDevice struct {
	Volume            int      `json:"volume"`
	ReplicationState  string   `json:"replication-state"`
	PeerDiskState     string   `json:"peer-disk-state"`
	PeerClient        bool     `json:"peer-client"`
	ResyncSuspended   string   `json:"resync-suspended"`
	Received          uint64   `json:"received"`
	Sent              uint64   `json:"sent"`
	OutOfSync         uint64   `json:"out-of-sync"`
	HasSyncDetails    bool     `json:"has-sync-details"`
	PercentResyncDone *float64 `json:"percent-resync-done"`
	ETA               *float64 `json:"estimated-seconds-to-finish"`
}

// ParseStatusJSON parses the output of `drbdsetup status --json` (DRBD
// 9's drbd-utils; 8.4's status has no --json) into a complete State. It
// has no promotion hints (HasPromotion is false) and no backing disks:
// status does not print them. drbdsetup writes "nan" for a percentage it
// cannot compute, which is not JSON; such a document is refused.
func ParseStatusJSON(b []byte) (*State, error) {
	if len(b) > MaxStatus {
		return nil, fmt.Errorf("status --json: %d bytes, more than %d", len(b), MaxStatus)
	}
	var doc []jsonResource
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("status --json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("status --json: data after the document")
	}
	s := &State{Complete: true}
	if len(doc) > MaxResources {
		return nil, fmt.Errorf("status --json: more than %d resources", MaxResources)
	}
	for _, jr := range doc {
		if err := s.addJSON(jr); err != nil {
			return nil, fmt.Errorf("status --json: resource %q: %w", jr.Name, err)
		}
	}
	return s, nil
}

func (s *State) addJSON(jr jsonResource) error {
	if jr.Name == "" || len(jr.Name) > maxName {
		return fmt.Errorf("bad name")
	}
	if _, dup := s.res[jr.Name]; dup {
		return fmt.Errorf("listed twice")
	}
	if len(jr.Devices) > MaxVolumes || len(jr.Connections) > MaxPeers {
		return fmt.Errorf("more than %d volumes or %d connections", MaxVolumes, MaxPeers)
	}
	if s.res == nil {
		s.res = map[string]*Resource{}
	}
	r := &Resource{Name: jr.Name, Role: jr.Role, Suspended: "no", ForceIOFailures: jr.ForceIOFailures, WriteOrdering: jr.WriteOrdering}
	var why []string
	for _, x := range []struct {
		on   bool
		name string
	}{{jr.SuspendedUser, "user"}, {jr.SuspendedNoData, "no-data"}, {jr.SuspendedFencing, "fencing"}, {jr.SuspendedQuorum, "quorum"}} {
		if x.on {
			why = append(why, x.name)
		}
	}
	if len(why) > 0 {
		r.Suspended = strings.Join(why, ",")
	} else if jr.Suspended {
		r.Suspended = "yes"
	}
	seen := map[int]bool{}
	for _, d := range jr.Devices {
		if seen[d.Volume] {
			return fmt.Errorf("volume %d listed twice", d.Volume)
		}
		seen[d.Volume] = true
		v := &Volume{Volume: d.Volume, Minor: d.Minor, Disk: d.DiskState, Client: d.Client, Open: yn(d.Open), Quorum: yn(d.Quorum),
			ReadKiB: d.Read, WrittenKiB: d.Written}
		if d.Size != nil {
			v.SizeKiB = *d.Size
		}
		r.Volumes = append(r.Volumes, v)
	}
	peers := map[int]bool{}
	for _, jc := range jr.Connections {
		if peers[jc.PeerNodeID] {
			return fmt.Errorf("peer %d listed twice", jc.PeerNodeID)
		}
		peers[jc.PeerNodeID] = true
		if len(jc.Paths) > MaxPaths || len(jc.PeerDevices) > MaxVolumes {
			return fmt.Errorf("connection %q: too many paths or peer devices", jc.Name)
		}
		c := &Connection{PeerNodeID: jc.PeerNodeID, Name: jc.Name, State: jc.ConnectionState, PeerRole: jc.PeerRole, Congested: jc.Congested}
		for _, p := range jc.Paths {
			c.Paths = append(c.Paths, Path{Local: p.ThisHost.String(), Peer: p.RemoteHost.String(), Established: p.Established})
		}
		for _, jp := range jc.PeerDevices {
			p := &PeerDevice{Volume: jp.Volume, Replication: jp.ReplicationState, PeerDisk: jp.PeerDiskState, PeerClient: jp.PeerClient,
				ResyncSuspended: jp.ResyncSuspended, ReceivedKiB: jp.Received, SentKiB: jp.Sent, OutOfSyncKiB: jp.OutOfSync, Done: -1, ETA: -1}
			if Syncing(p.Replication) {
				if jp.PercentResyncDone != nil && *jp.PercentResyncDone >= 0 && *jp.PercentResyncDone <= 100 {
					p.Done = *jp.PercentResyncDone
				}
				// 987654321 is drbdsetup's "cannot estimate".
				if jp.ETA != nil && *jp.ETA >= 0 && *jp.ETA != 987654321 && !math.IsInf(*jp.ETA, 0) {
					p.ETA = *jp.ETA
				}
			}
			c.PeerDevices = append(c.PeerDevices, p)
		}
		r.Connections = append(r.Connections, c)
	}
	sort.Slice(r.Volumes, func(i, j int) bool { return r.Volumes[i].Volume < r.Volumes[j].Volume })
	sort.Slice(r.Connections, func(i, j int) bool { return r.Connections[i].PeerNodeID < r.Connections[j].PeerNodeID })
	s.res[jr.Name] = r
	return nil
}

func yn(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
