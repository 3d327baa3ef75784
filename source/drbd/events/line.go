// Package events parses what DRBD's drbdsetup prints about the state of
// the local DRBD resources: the line-oriented event stream of
// `drbdsetup events2` (DRBD 9: `--full --timestamps --poll`, and the
// older lines of drbd-utils' 8.4 drbdsetup) and the one-shot
// `drbdsetup status --json`. Both become one State: resources with their
// volumes (devices), connections to peers, the peer devices of each
// connection, and the split brains DRBD reported through its helper calls.
//
// The format follows drbdsetup(8) and the code that prints it in
// LINBIT's drbd-utils (user/v9/drbdsetup_events2.c, user/v9/drbdsetup.c,
// user/v84/drbdsetup.c). The DRBD 8.4 inputs of testdata/real84 are real
// output of DRBD 8.4.11 and drbd-utils 9.22, captured in qemu VMs by
// tools/drbdlab/run.sh; every other test input was written by hand from
// that documentation and code (testdata/README.md says which is which).
//
// What DRBD 8.4 gives (seen in testdata/real84): drbd-utils' drbdsetup for
// 8.4 kernels has events2 with --now, --statistics and --timestamps, but
// refuses --poll and --full; no path objects, no may_promote or
// promotion_score, no done: or eta: even during a resync; every
// connection is peer-node-id:0 conn-name:peer, peer-device lines carry no
// minor, and a connection that goes StandAlone (an unresolved split brain,
// drbdadm disconnect or down) is destroyed with its peer devices; lost
// events would be announced as "- skipped N". Its status has no --json.
// This package parses those lines (the State then has what they carry,
// and keeps a split-brained connection through its destroy); the drbd
// source follows them in its 8.4 mode (`events2 all --timestamps
// --statistics`, refreshed by `events2 all --now`).
//
// events is a pure parser: standard library only, no I/O, every limit
// enforced (Limits), every input fuzzed.
package events

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Actions of an events2 line (its first word after the timestamp).
const (
	ActionExists   = "exists"
	ActionCreate   = "create"
	ActionChange   = "change"
	ActionDestroy  = "destroy"
	ActionCall     = "call"
	ActionResponse = "response"
	ActionRename   = "rename"
)

// Objects of an events2 line (its second word). ObjectEnd is the "-" of
// the "exists -" line that ends the initial state dump.
const (
	ObjectResource   = "resource"
	ObjectDevice     = "device"
	ObjectConnection = "connection"
	ObjectPeerDevice = "peer-device"
	ObjectPath       = "path"
	ObjectHelper     = "helper"
	ObjectEnd        = "-"
)

// MaxLine is the longest events2 line accepted. drbdsetup's longest lines
// (a peer device with every statistic, a path with two IPv6 addresses) are
// well under 1 KiB.
const MaxLine = 16 << 10

// maxFields bounds the key:value fields of one line.
const maxFields = 64

// TimeLayout is the timestamp --timestamps puts before each line:
// local time with microseconds and the UTC offset.
const TimeLayout = "2006-01-02T15:04:05.999999-07:00"

// Field is one key:value word of a line. A value may itself contain
// colons (path addresses: local:ipv4:10.0.0.1:7789).
type Field struct {
	Key, Value string
}

// Line is one parsed events2 line.
type Line struct {
	// Time is the --timestamps prefix; zero without one.
	Time   time.Time
	Action string
	Object string
	Fields []Field
	// Skipped is N of an 8.4 "- skipped N" line: events were lost.
	Skipped int
}

// Get returns the value of a field and whether the line has it.
func (l Line) Get(key string) (string, bool) {
	for _, f := range l.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// SyntaxError is a line that is not an events2 line.
type SyntaxError struct {
	// Line is the line number in the input (from 1) when the caller
	// counts lines; 0 otherwise.
	Line int
	Msg  string
	// Text is the start of the offending line.
	Text string
}

func (e *SyntaxError) Error() string {
	s := "events2"
	if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	s += ": " + e.Msg
	if e.Text != "" {
		s += ": " + strconv.Quote(e.Text)
	}
	return s
}

func syntaxErr(b []byte, format string, args ...any) *SyntaxError {
	t := b
	if len(t) > 80 {
		t = t[:80]
	}
	return &SyntaxError{Msg: fmt.Sprintf(format, args...), Text: string(t)}
}

// ParseLine parses one events2 line (without or with its newline). An
// empty line is an error; the caller skips blank lines if it wants to.
func ParseLine(b []byte) (Line, error) {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > MaxLine {
		return Line{}, syntaxErr(b, "line longer than %d bytes", MaxLine)
	}
	var l Line
	words := bytes.Fields(b)
	if len(words) == 0 {
		return l, syntaxErr(b, "empty line")
	}
	if w := words[0]; len(w) >= 10 && w[0] >= '0' && w[0] <= '9' && bytes.IndexByte(w, 'T') == 10 {
		t, err := time.Parse(TimeLayout, string(w))
		if err != nil {
			return l, syntaxErr(b, "bad timestamp")
		}
		l.Time = t
		words = words[1:]
	}
	if len(words) == 0 {
		return l, syntaxErr(b, "timestamp without event")
	}
	if string(words[0]) == "-" {
		// 8.4: "- skipped N" when the kernel's event sequence jumped.
		if len(words) != 3 || string(words[1]) != "skipped" {
			return l, syntaxErr(b, "unknown dash line")
		}
		n, err := strconv.Atoi(string(words[2]))
		if err != nil {
			return l, syntaxErr(b, "bad skipped count")
		}
		l.Skipped = n
		return l, nil
	}
	if len(words) < 2 {
		return l, syntaxErr(b, "no object")
	}
	l.Action = string(words[0])
	switch l.Action {
	case ActionExists, ActionCreate, ActionChange, ActionDestroy, ActionCall, ActionResponse, ActionRename:
	default:
		return l, syntaxErr(b, "unknown action %q", l.Action)
	}
	l.Object = string(words[1])
	if l.Object == ObjectEnd {
		if l.Action != ActionExists || len(words) != 2 {
			return l, syntaxErr(b, "unexpected end marker")
		}
		return l, nil
	}
	if !isWord(l.Object) {
		return l, syntaxErr(b, "bad object")
	}
	if len(words)-2 > maxFields {
		return l, syntaxErr(b, "more than %d fields", maxFields)
	}
	for _, w := range words[2:] {
		k, v, ok := bytes.Cut(w, []byte(":"))
		if !ok || len(k) == 0 || !isWord(string(k)) {
			return l, syntaxErr(b, "field %q is not key:value", truncate(w, 40))
		}
		l.Fields = append(l.Fields, Field{Key: string(k), Value: string(v)})
	}
	if _, ok := l.Get("name"); !ok {
		return l, syntaxErr(b, "no name")
	}
	return l, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n])
	}
	return string(b)
}

// isWord reports whether s is a key or object word: letters, digits, '-'
// and '_'.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
