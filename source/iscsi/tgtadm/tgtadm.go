// Package tgtadm parses what `tgtadm --lld iscsi --mode target --op show`
// prints: the targets of a tgtd (the userspace iSCSI target of package
// tgt), their state, the initiators logged in (I_T nexuses with their
// connections' addresses), the logical units with their backing stores,
// and the accounts and ACLs bound to them.
//
// The format (tgt's usr/target.c, tgt_target_show_all; the captures in
// testdata are from tgtd 1.0.85) is indented by four spaces a level:
//
//	Target 1: iqn.2026-12.org.example.demo:store
//	    System information:
//	        Driver: iscsi
//	        State: ready
//	    I_T nexus information:
//	        I_T nexus: 3
//	            Initiator: iqn.2026-12.org.example.client:host1 alias: none
//	            Connection: 0
//	                IP Address: 127.0.0.1
//	    LUN information:
//	        LUN: 1
//	            Type: disk
//	            SCSI ID: IET     00010001
//	            SCSI SN: beaf11
//	            Size: 67 MB, Block size: 512
//	            Online: Yes
//	            ...
//	            Backing store type: rdwr
//	            Backing store path: /srv/store.img
//	            Backing store flags:
//	    Account information:
//	        demo
//	        back (outgoing)
//	    ACL information:
//	        192.168.10.0/24
//	        iqn.2026-12.org.example.client:host2
//
// No target at all prints nothing. The parser is strict about the
// structure (indentation, section and item headers, numbers, Yes/No) and
// tolerant of keys it does not know inside a known item and of sections it
// does not know (newer tgt versions add lines, e.g. the iSCSI NOP settings
// under System information). It is pure and bounded: at most MaxOutput
// bytes, MaxTargets targets, MaxLUNs logical units and MaxNexuses I_T
// nexuses in all, MaxLine bytes a line.
package tgtadm

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Bounds of what Parse accepts.
const (
	// MaxOutput is the largest output Parse reads (bytes).
	MaxOutput = 8 << 20
	// MaxLine is the longest line (bytes).
	MaxLine = 16 << 10
	// MaxTargets is the most targets.
	MaxTargets = 4096
	// MaxLUNs is the most logical units, over all targets (LUN 0, the
	// controller every target has, included).
	MaxLUNs = 65536
	// MaxNexuses is the most I_T nexuses, over all targets; MaxConnections
	// the most connections of one nexus.
	MaxNexuses     = 65536
	MaxConnections = 1024
	// MaxEntries is the most accounts and ACL entries of one target.
	MaxEntries = 4096
	// MaxLUNNumber is the largest LUN number accepted.
	MaxLUNNumber = 1<<32 - 1
)

// Target is one target of tgtd.
type Target struct {
	// TID is tgtd's target id (tgtadm --tid).
	TID int `json:"tid"`
	// Name is the target's name, its IQN for iSCSI.
	Name string `json:"name"`
	// Driver is the low-level driver (iscsi, iser).
	Driver string `json:"driver"`
	// State is the target's state: ready or offline.
	State    string    `json:"state"`
	Nexuses  []Nexus   `json:"nexuses"`
	LUNs     []LUN     `json:"luns"`
	Accounts []Account `json:"accounts"`
	// ACL is the initiator addresses (an address, a CIDR range, ALL) and
	// initiator names allowed, as tgtadm lists them.
	ACL []string `json:"acl"`
}

// Nexus is an I_T nexus: an initiator logged into the target (an iSCSI
// session).
type Nexus struct {
	ID uint64 `json:"id"`
	// Initiator is the initiator's name (IQN), Alias its alias ("" when
	// tgtd says none).
	Initiator   string       `json:"initiator"`
	Alias       string       `json:"alias,omitempty"`
	Connections []Connection `json:"connections"`
}

// Connection is one connection of a nexus.
type Connection struct {
	CID uint32 `json:"cid"`
	// Address is the initiator's IP address ("IP Address", or "RDMA IP
	// Address" for iser).
	Address string `json:"address"`
}

// LUN is a logical unit of a target.
type LUN struct {
	LUN uint64 `json:"lun"`
	// Type is the SCSI device type (disk, controller, cd/dvd, tape, ...).
	Type   string `json:"type"`
	SCSIID string `json:"scsi_id,omitempty"`
	SCSISN string `json:"scsi_sn,omitempty"`
	// SizeMB is the size as tgtd prints it: megabytes (10^6 bytes),
	// rounded. BlockSize is the logical block size in bytes.
	SizeMB    uint64 `json:"size_mb"`
	BlockSize uint64 `json:"block_size"`
	Online    bool   `json:"online"`
	Removable bool   `json:"removable"`
	// PreventRemoval is the initiator's PREVENT ALLOW MEDIUM REMOVAL.
	PreventRemoval   bool `json:"prevent_removal"`
	Readonly         bool `json:"readonly"`
	SWP              bool `json:"swp"`
	ThinProvisioning bool `json:"thin_provisioning"`
	// BackingType is the backing store type (rdwr, aio, null, sg, rbd,
	// ...; "" for tgtd's None); BackingPath its path ("" for None);
	// BackingFlags its open flags (sync, direct).
	BackingType  string `json:"backing_type,omitempty"`
	BackingPath  string `json:"backing_path,omitempty"`
	BackingFlags string `json:"backing_flags,omitempty"`
}

// Account is a CHAP account bound to a target.
type Account struct {
	User string `json:"user"`
	// Outgoing is the account the target answers with (mutual CHAP).
	Outgoing bool `json:"outgoing,omitempty"`
}

// Error is a parse error at a line.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("tgtadm output line %d: %s", e.Line, e.Msg) }

// ErrTooLarge is returned for an output over MaxOutput.
var ErrTooLarge = errors.New("tgtadm output too large")

type section int

const (
	secNone section = iota
	secSystem
	secNexus
	secLUN
	secAccount
	secACL
	secUnknown
)

var sections = map[string]section{
	"System information:":    secSystem,
	"I_T nexus information:": secNexus,
	"LUN information:":       secLUN,
	"Account information:":   secAccount,
	"ACL information:":       secACL,
}

type parser struct {
	out     []Target
	tids    map[int]bool
	sec     section
	seen    map[section]bool
	luns    int
	nexuses int
	lunSeen map[string]bool // fields of the current LUN
	lunNums map[uint64]bool // LUNs of the current target
	line    int
}

func (p *parser) errf(format string, a ...any) error {
	return &Error{Line: p.line, Msg: fmt.Sprintf(format, a...)}
}

// Parse parses the output of `tgtadm --lld iscsi --mode target --op
// show`. Empty output is no target (an empty, non-nil slice).
func Parse(b []byte) ([]Target, error) {
	if len(b) > MaxOutput {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxOutput)
	}
	p := &parser{out: []Target{}, tids: map[int]bool{}}
	for len(b) > 0 {
		p.line++
		var ln []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			ln, b = b[:i], b[i+1:]
		} else {
			ln, b = b, nil
		}
		if len(ln) > MaxLine {
			return nil, p.errf("line longer than %d bytes", MaxLine)
		}
		if err := p.parseLine(string(ln)); err != nil {
			return nil, err
		}
	}
	if err := p.finishTarget(); err != nil {
		return nil, err
	}
	return p.out, nil
}

func (p *parser) parseLine(s string) error {
	s = strings.TrimRight(s, " \r")
	if s == "" {
		return nil
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return p.errf("control character %#x", c)
		}
	}
	n := len(s) - len(strings.TrimLeft(s, " "))
	if n%4 != 0 || n > 16 {
		return p.errf("unexpected indentation of %d spaces", n)
	}
	level, s := n/4, s[n:]
	if s[0] == '\t' {
		return p.errf("unexpected tab")
	}
	if level == 0 {
		return p.target(s)
	}
	if len(p.out) == 0 {
		return p.errf("%q before the first \"Target N:\" line", s)
	}
	t := &p.out[len(p.out)-1]
	if level == 1 {
		sec, ok := sections[s]
		if !ok {
			if !strings.HasSuffix(s, ":") || strings.Contains(s, ": ") {
				return p.errf("expected a section header, got %q", s)
			}
			sec = secUnknown
		} else if p.seen[sec] {
			return p.errf("section %q twice", s)
		}
		if err := p.finishLUN(t); err != nil {
			return err
		}
		p.sec = sec
		p.seen[sec] = true
		return nil
	}
	switch p.sec {
	case secNone:
		return p.errf("%q outside a section", s)
	case secUnknown:
		return nil
	case secSystem:
		if level != 2 {
			return p.errf("unexpected indentation in System information: %q", s)
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok {
			return p.errf("expected Key: value in System information, got %q", s)
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Driver":
			t.Driver = v
		case "State":
			if v == "" {
				return p.errf("empty target state")
			}
			t.State = v
		}
		return nil
	case secAccount, secACL:
		if level != 2 {
			return p.errf("unexpected indentation in an account or ACL list: %q", s)
		}
		if len(t.Accounts)+len(t.ACL) >= MaxEntries {
			return p.errf("more than %d accounts and ACL entries in target %d", MaxEntries, t.TID)
		}
		if p.sec == secACL {
			t.ACL = append(t.ACL, s)
			return nil
		}
		u, out := strings.CutSuffix(s, " (outgoing)")
		t.Accounts = append(t.Accounts, Account{User: u, Outgoing: out})
		return nil
	case secNexus:
		return p.nexus(t, level, s)
	case secLUN:
		return p.lun(t, level, s)
	}
	return p.errf("unexpected line %q", s)
}

func (p *parser) target(s string) error {
	rest, ok := strings.CutPrefix(s, "Target ")
	if !ok {
		return p.errf("expected \"Target N: NAME\", got %q", s)
	}
	id, name, ok := strings.Cut(rest, ": ")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return p.errf("expected \"Target N: NAME\", got %q", s)
	}
	tid, err := strconv.Atoi(id)
	if err != nil || tid < 0 || id != strconv.Itoa(tid) {
		return p.errf("bad target id %q", id)
	}
	if p.tids[tid] {
		return p.errf("target id %d twice", tid)
	}
	if err := p.finishTarget(); err != nil {
		return err
	}
	if len(p.out) >= MaxTargets {
		return p.errf("more than %d targets", MaxTargets)
	}
	p.tids[tid] = true
	p.out = append(p.out, Target{TID: tid, Name: name, Nexuses: []Nexus{}, LUNs: []LUN{}, Accounts: []Account{}, ACL: []string{}})
	p.sec, p.seen, p.lunNums = secNone, map[section]bool{}, map[uint64]bool{}
	return nil
}

// finishTarget checks the last target is complete.
func (p *parser) finishTarget() error {
	if len(p.out) == 0 {
		return nil
	}
	t := &p.out[len(p.out)-1]
	if err := p.finishLUN(t); err != nil {
		return err
	}
	for _, sec := range []section{secSystem, secNexus, secLUN} {
		if !p.seen[sec] {
			return p.errf("target %d has no %s section", t.TID, sectionName(sec))
		}
	}
	if t.State == "" {
		return p.errf("target %d has no state", t.TID)
	}
	for _, n := range t.Nexuses {
		if n.Initiator == "" {
			return p.errf("I_T nexus %d of target %d has no initiator", n.ID, t.TID)
		}
	}
	return nil
}

func sectionName(sec section) string {
	for k, v := range sections {
		if v == sec {
			return strings.TrimSuffix(k, ":")
		}
	}
	return "?"
}

func (p *parser) nexus(t *Target, level int, s string) error {
	if level == 2 {
		v, ok := strings.CutPrefix(s, "I_T nexus: ")
		if !ok {
			return p.errf("expected \"I_T nexus: N\", got %q", s)
		}
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return p.errf("bad I_T nexus id %q", v)
		}
		if p.nexuses >= MaxNexuses {
			return p.errf("more than %d I_T nexuses", MaxNexuses)
		}
		p.nexuses++
		t.Nexuses = append(t.Nexuses, Nexus{ID: id, Connections: []Connection{}})
		return nil
	}
	if len(t.Nexuses) == 0 {
		return p.errf("%q outside an I_T nexus", s)
	}
	nx := &t.Nexuses[len(t.Nexuses)-1]
	k, v, ok := strings.Cut(s, ": ")
	if !ok {
		return p.errf("expected Key: value in an I_T nexus, got %q", s)
	}
	if level == 3 {
		switch k {
		case "Initiator":
			name, alias, _ := strings.Cut(v, " alias: ")
			if name == "" || strings.ContainsAny(name, " \t") {
				return p.errf("bad initiator %q", v)
			}
			if alias == "none" {
				alias = ""
			}
			nx.Initiator, nx.Alias = name, alias
		case "Connection":
			cid, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return p.errf("bad connection id %q", v)
			}
			if len(nx.Connections) >= MaxConnections {
				return p.errf("more than %d connections in an I_T nexus", MaxConnections)
			}
			nx.Connections = append(nx.Connections, Connection{CID: uint32(cid)})
		}
		return nil
	}
	if level != 4 || len(nx.Connections) == 0 {
		return p.errf("%q outside a connection", s)
	}
	if k == "IP Address" || k == "RDMA IP Address" {
		if v == "" || strings.ContainsAny(v, " \t") {
			return p.errf("bad address %q", v)
		}
		nx.Connections[len(nx.Connections)-1].Address = v
	}
	return nil
}

func (p *parser) lun(t *Target, level int, s string) error {
	if level == 2 {
		v, ok := strings.CutPrefix(s, "LUN: ")
		if !ok {
			return p.errf("expected \"LUN: N\", got %q", s)
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > MaxLUNNumber {
			return p.errf("bad LUN %q", v)
		}
		if p.lunNums[n] {
			return p.errf("LUN %d twice in target %d", n, t.TID)
		}
		p.lunNums[n] = true
		if err := p.finishLUN(t); err != nil {
			return err
		}
		if p.luns >= MaxLUNs {
			return p.errf("more than %d LUNs", MaxLUNs)
		}
		p.luns++
		t.LUNs = append(t.LUNs, LUN{LUN: n})
		p.lunSeen = map[string]bool{}
		return nil
	}
	if level != 3 || len(t.LUNs) == 0 {
		return p.errf("unexpected line %q in LUN information", s)
	}
	l := &t.LUNs[len(t.LUNs)-1]
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return p.errf("expected Key: value in a LUN, got %q", s)
	}
	v = strings.TrimPrefix(v, " ")
	if p.lunSeen[k] {
		return p.errf("%q twice in LUN %d", k, l.LUN)
	}
	p.lunSeen[k] = true
	var err error
	yes := func(f *bool) {
		switch v {
		case "Yes":
			*f = true
		case "No":
		default:
			err = p.errf("%s: expected Yes or No, got %q", k, v)
		}
	}
	switch k {
	case "Type":
		if v == "" {
			return p.errf("empty LUN type")
		}
		l.Type = v
	case "SCSI ID":
		l.SCSIID = v
	case "SCSI SN":
		l.SCSISN = v
	case "Size":
		l.SizeMB, l.BlockSize, err = size(v)
		if err != nil {
			return p.errf("%v", err)
		}
	case "Online":
		yes(&l.Online)
	case "Removable media":
		yes(&l.Removable)
	case "Prevent removal":
		yes(&l.PreventRemoval)
	case "Readonly":
		yes(&l.Readonly)
	case "SWP":
		yes(&l.SWP)
	case "Thin-provisioning":
		yes(&l.ThinProvisioning)
	case "Backing store type":
		if v != "None" {
			l.BackingType = v
		}
	case "Backing store path":
		if v != "None" {
			l.BackingPath = v
		}
	case "Backing store flags":
		l.BackingFlags = v
	}
	return err
}

// size parses "67 MB, Block size: 512".
func size(v string) (mb, block uint64, err error) {
	a, b, ok := strings.Cut(v, ", Block size: ")
	num, ok2 := strings.CutSuffix(a, " MB")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("expected \"N MB, Block size: N\", got %q", v)
	}
	if mb, err = strconv.ParseUint(num, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad size %q", num)
	}
	if block, err = strconv.ParseUint(b, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad block size %q", b)
	}
	return mb, block, nil
}

// finishLUN checks the current LUN (if any) has a type.
func (p *parser) finishLUN(t *Target) error {
	if p.lunSeen == nil {
		return nil
	}
	defer func() { p.lunSeen = nil }()
	if l := t.LUNs[len(t.LUNs)-1]; l.Type == "" {
		return p.errf("LUN %d of target %d has no type", l.LUN, t.TID)
	}
	return nil
}
