package corosync

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"mgmtd/model"
)

// CmapValue is one typed key of corosync-cmapctl output.
type CmapValue struct {
	Type  string // u8, u32, str, ...
	Value string
}

// MaxLines bounds the lines the parsers accept.
const MaxLines = 1 << 20

// ParseCmap parses corosync-cmapctl output: one "key (type) = value" line
// per key. A line that does not have that shape is an error with its line
// number.
func ParseCmap(data []byte) (map[string]CmapValue, error) {
	out := map[string]CmapValue{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if line > MaxLines {
			return nil, fmt.Errorf("cmap: more than %d lines", MaxLines)
		}
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		open := strings.Index(t, " (")
		closeIdx := strings.Index(t, ") = ")
		if open <= 0 || closeIdx < open {
			// A key with an empty string value ends in ") =".
			if strings.HasSuffix(t, ") =") && open > 0 {
				closeIdx = len(t) - 3
				out[t[:open]] = CmapValue{Type: t[open+2 : closeIdx]}
				continue
			}
			return nil, fmt.Errorf("cmap line %d: not key (type) = value: %q", line, truncate(t))
		}
		out[t[:open]] = CmapValue{Type: t[open+2 : closeIdx], Value: t[closeIdx+4:]}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cmap: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cmap: no keys")
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Quorum is what corosync-quorumtool -s -p prints.
type Quorum struct {
	Provider      string
	Nodes         int
	NodeID        uint32
	RingID        string
	Quorate       bool
	ExpectedVotes int
	TotalVotes    int
	Quorum        int
	Flags         []string
	Members       []QuorumMember
}

// QuorumMember is a row of the membership table.
type QuorumMember struct {
	NodeID uint32
	Votes  int
	Name   string
	Local  bool
}

// ParseQuorum parses `corosync-quorumtool -s` (with or without -p) output.
func ParseQuorum(data []byte) (*Quorum, error) {
	q := &Quorum{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	inMembers := false
	seen := false
	hasQdevice := false
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "---") {
			continue
		}
		if strings.HasPrefix(t, "Nodeid") {
			inMembers = true
			hasQdevice = strings.Contains(t, "Qdevice")
			continue
		}
		if inMembers {
			f := strings.Fields(t)
			min := 3
			if hasQdevice {
				min = 4
			}
			if len(f) < min {
				return nil, fmt.Errorf("quorumtool: bad membership row %q", truncate(t))
			}
			id, err := parseNodeID(f[0])
			if err != nil {
				return nil, fmt.Errorf("quorumtool: bad node id in %q", truncate(t))
			}
			votes, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("quorumtool: bad votes in %q", truncate(t))
			}
			rest := f[2:]
			if hasQdevice {
				rest = f[3:]
			}
			m := QuorumMember{NodeID: id, Votes: votes, Name: rest[0]}
			for _, x := range rest[1:] {
				if x == "(local)" {
					m.Local = true
				}
			}
			q.Members = append(q.Members, m)
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			continue // section titles
		}
		v = strings.TrimSpace(v)
		seen = true
		switch strings.TrimSpace(k) {
		case "Quorum provider":
			q.Provider = v
		case "Nodes":
			q.Nodes, _ = strconv.Atoi(v)
		case "Node ID":
			id, _ := parseNodeID(v)
			q.NodeID = id
		case "Ring ID":
			q.RingID = v
		case "Quorate":
			q.Quorate = strings.EqualFold(v, "yes")
		case "Expected votes":
			q.ExpectedVotes, _ = strconv.Atoi(v)
		case "Total votes":
			q.TotalVotes, _ = strconv.Atoi(v)
		case "Quorum":
			f := strings.Fields(v)
			if len(f) > 0 {
				q.Quorum, _ = strconv.Atoi(f[0])
			}
		case "Flags":
			q.Flags = strings.Fields(v)
		}
	}
	if !seen {
		return nil, fmt.Errorf("quorumtool: no quorum information")
	}
	return q, nil
}

func parseNodeID(s string) (uint32, error) {
	base := 10
	if strings.HasPrefix(s, "0x") {
		s, base = s[2:], 16
	}
	n, err := strconv.ParseUint(s, base, 32)
	return uint32(n), err
}

// Membership builds the model's membership from the cmap keys and, when
// available, the quorum tool's view (which has the live votes).
func Membership(cmap map[string]CmapValue, q *Quorum) model.Membership {
	m := model.Membership{}
	get := func(k string) string { return cmap[k].Value }
	m.ClusterName = get("totem.cluster_name")
	m.Transport = get("totem.transport")
	if v, err := strconv.ParseUint(get("runtime.votequorum.this_node_id"), 10, 32); err == nil {
		m.LocalNodeID = uint32(v)
	}
	m.TwoNode = get("runtime.votequorum.two_node") == "1" || get("quorum.two_node") == "1"
	m.WaitForAll = get("runtime.votequorum.wait_for_all_status") == "1" || get("quorum.wait_for_all") == "1"

	members := map[uint32]*model.Member{}
	memberOf := func(id uint32) *model.Member {
		mm := members[id]
		if mm == nil {
			mm = &model.Member{NodeID: id, Status: "configured"}
			members[id] = mm
		}
		return mm
	}
	// nodelist.node.N.{name,nodeid,ringX_addr,quorum_votes}
	idx := map[string]uint32{}
	for k, v := range cmap {
		if rest, ok := strings.CutPrefix(k, "nodelist.node."); ok {
			n, field, ok := strings.Cut(rest, ".")
			if ok && field == "nodeid" {
				id, _ := strconv.ParseUint(v.Value, 10, 32)
				idx[n] = uint32(id)
			}
		}
	}
	for k, v := range cmap {
		if rest, ok := strings.CutPrefix(k, "nodelist.node."); ok {
			n, field, ok := strings.Cut(rest, ".")
			id, known := idx[n]
			if !ok || !known {
				continue
			}
			mm := memberOf(id)
			switch {
			case field == "name":
				mm.Name = v.Value
			case field == "quorum_votes":
				mm.Votes, _ = strconv.Atoi(v.Value)
			case strings.HasPrefix(field, "ring") && strings.HasSuffix(field, "_addr"):
				mm.Addrs = append(mm.Addrs, v.Value)
			}
		}
		if rest, ok := strings.CutPrefix(k, "runtime.members."); ok {
			n, field, ok := strings.Cut(rest, ".")
			id, err := strconv.ParseUint(n, 10, 32)
			if !ok || err != nil {
				continue
			}
			mm := memberOf(uint32(id))
			if field == "status" {
				mm.Status = v.Value
			}
		}
		// stats.knet.nodeN.linkL.field
		if rest, ok := strings.CutPrefix(k, "stats.knet.node"); ok {
			parts := strings.SplitN(rest, ".", 3)
			if len(parts) != 3 || !strings.HasPrefix(parts[1], "link") {
				continue
			}
			id, err1 := strconv.ParseUint(parts[0], 10, 32)
			l, err2 := strconv.Atoi(strings.TrimPrefix(parts[1], "link"))
			if err1 != nil || err2 != nil {
				continue
			}
			mm := memberOf(uint32(id))
			lk := link(mm, l)
			switch parts[2] {
			case "connected":
				lk.Connected = v.Value == "1"
			case "enabled":
				lk.Enabled = v.Value == "1"
			case "down_count":
				lk.DownCount, _ = strconv.Atoi(v.Value)
			case "latency_ave":
				x, _ := strconv.ParseUint(v.Value, 10, 32)
				lk.LatencyAvg = uint32(x)
			}
		}
	}
	if q != nil {
		m.Quorate = q.Quorate
		m.ExpectedVotes = q.ExpectedVotes
		m.TotalVotes = q.TotalVotes
		m.Quorum = q.Quorum
		m.RingID = q.RingID
		if m.LocalNodeID == 0 {
			m.LocalNodeID = q.NodeID
		}
		for _, qm := range q.Members {
			mm := memberOf(qm.NodeID)
			mm.Votes = qm.Votes
			if mm.Name == "" {
				mm.Name = qm.Name
			}
			if mm.Status == "configured" {
				mm.Status = "joined"
			}
		}
	}
	for _, mm := range members {
		mm.Local = mm.NodeID == m.LocalNodeID && m.LocalNodeID != 0
		if mm.Name == "" {
			mm.Name = "node" + strconv.FormatUint(uint64(mm.NodeID), 10)
		}
		sort.Strings(mm.Addrs)
		sort.Slice(mm.Links, func(i, j int) bool { return mm.Links[i].Link < mm.Links[j].Link })
		m.Members = append(m.Members, *mm)
	}
	sort.Slice(m.Members, func(i, j int) bool { return m.Members[i].NodeID < m.Members[j].NodeID })
	return m
}

func link(m *model.Member, l int) *model.Link {
	for i := range m.Links {
		if m.Links[i].Link == l {
			return &m.Links[i]
		}
	}
	m.Links = append(m.Links, model.Link{Link: l})
	return &m.Links[len(m.Links)-1]
}
