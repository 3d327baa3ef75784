// Package transition reads what links a cluster event to the Pacemaker
// transition that caused it and to the scheduler input the DC saved for
// it. It is a pure parser: bytes in, values out, no files and no tools.
//
//   - A resource operation in the CIB's status (lrm_rsc_op) carries the
//     controller's transition-key "ACTION:TRANSITION:TARGET_RC:DC_UUID"
//     and transition-magic "OP_STATUS:RC;KEY": the transition number.
//   - The DC's scheduler saves its input as pe-input-N.bz2 (pe-warn-N,
//     pe-error-N when it had warnings or errors) under
//     /var/lib/pacemaker/pengine and logs "Calculated transition T,
//     saving inputs in PATH" (Pacemaker 2.1: the format string in
//     libpacemaker is "Calculated transition %d%s%s", with " (with
//     errors)" or " (with warnings)"): the link from T to N.
//   - crm_simulate --show-scores prints the allocation scores as
//     <node_weight> elements.
//
// Untrusted XML is read with a token loop and limits (size, depth,
// elements), never unmarshalled into recursive structures.
package transition

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Limits of what is read.
const (
	MaxDepth    = 64
	MaxElements = 5_000_000
)

// Key is a parsed transition-key.
type Key struct {
	Action     int    // the action's id in the transition graph
	Transition int    // the controller's transition number
	TargetRC   int    // the expected result
	DC         string // the UUID of the controller that ran it
}

// ParseKey parses "ACTION:TRANSITION:TARGET_RC:UUID".
func ParseKey(s string) (Key, error) {
	parts := strings.SplitN(s, ":", 4)
	if len(parts) != 4 || parts[3] == "" {
		return Key{}, fmt.Errorf("transition key %q: want ACTION:TRANSITION:RC:UUID", s)
	}
	var k Key
	for i, dst := range []*int{&k.Action, &k.Transition, &k.TargetRC} {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return Key{}, fmt.Errorf("transition key %q: field %d is not a number", s, i+1)
		}
		*dst = n
	}
	k.DC = parts[3]
	return k, nil
}

// ParseMagic parses a transition-magic "OP_STATUS:RC;KEY".
func ParseMagic(s string) (status, rc int, k Key, err error) {
	head, key, ok := strings.Cut(s, ";")
	if !ok {
		return 0, 0, Key{}, fmt.Errorf("transition magic %q: no ';'", s)
	}
	a, b, ok := strings.Cut(head, ":")
	if !ok {
		return 0, 0, Key{}, fmt.Errorf("transition magic %q: want STATUS:RC;KEY", s)
	}
	if status, err = strconv.Atoi(a); err != nil {
		return 0, 0, Key{}, fmt.Errorf("transition magic %q: bad status", s)
	}
	if rc, err = strconv.Atoi(b); err != nil {
		return 0, 0, Key{}, fmt.Errorf("transition magic %q: bad rc", s)
	}
	k, err = ParseKey(key)
	return status, rc, k, err
}

// Op is one recorded resource operation of the CIB's status.
type Op struct {
	Resource   string
	Node       string // the node_state's uname
	ID         string // lrm_rsc_op id (RSC_last_0, RSC_last_failure_0, RSC_monitor_10000)
	Operation  string
	Call       int
	RC         int
	Key        string // transition-key as recorded
	Transition int    // -1 when the key is missing or unreadable
	LastChange int64  // last-rc-change, Unix seconds (0 if absent)
}

// Ops returns every lrm_rsc_op of a CIB (a pe-input or cibadmin's
// answer) with the node and resource it belongs to.
func Ops(data []byte) ([]Op, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var out []Op
	var node, rsc string
	depth, n := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("cib status: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			n++
			if depth > MaxDepth || n > MaxElements {
				return out, errors.New("cib status: document too deep or too large")
			}
			switch t.Name.Local {
			case "node_state":
				node = attr(t, "uname")
			case "lrm_resource":
				rsc = attr(t, "id")
			case "lrm_rsc_op":
				op := Op{Resource: rsc, Node: node, ID: attr(t, "id"), Operation: attr(t, "operation"), Key: attr(t, "transition-key"), Transition: -1}
				op.Call, _ = strconv.Atoi(attr(t, "call-id"))
				op.RC, _ = strconv.Atoi(attr(t, "rc-code"))
				op.LastChange, _ = strconv.ParseInt(attr(t, "last-rc-change"), 10, 64)
				if k, err := ParseKey(op.Key); err == nil {
					op.Transition = k.Transition
				}
				if on := attr(t, "on_node"); on != "" && op.Node == "" {
					op.Node = on
				}
				out = append(out, op)
			}
		case xml.EndElement:
			depth--
			switch t.Name.Local {
			case "node_state":
				node = ""
			case "lrm_resource":
				rsc = ""
			}
		}
	}
	return out, nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// Input is a scheduler input file's name, parsed.
type Input struct {
	Name   string // pe-input-12.bz2
	Kind   string // input, warn or error
	Series int    // 12
}

var inputName = regexp.MustCompile(`^pe-(input|warn|error)-([0-9]{1,9})(\.bz2)?$`)

// ParseInputName parses a pe-input/pe-warn/pe-error file name (no
// directories: anything else is not an input).
func ParseInputName(name string) (Input, bool) {
	m := inputName.FindStringSubmatch(name)
	if m == nil {
		return Input{}, false
	}
	n, _ := strconv.Atoi(m[2])
	return Input{Name: name, Kind: m[1], Series: n}, true
}

// Decode returns the XML of a scheduler input: bzip2-decompressed when
// name ends in .bz2, at most max bytes.
func Decode(name string, data []byte, max int64) ([]byte, error) {
	var r io.Reader = bytes.NewReader(data)
	if strings.HasSuffix(name, ".bz2") {
		r = bzip2.NewReader(r)
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes uncompressed", name, max)
	}
	if !bytes.Contains(b[:min(len(b), 4096)], []byte("<cib")) {
		return nil, fmt.Errorf("%s: not a CIB", name)
	}
	return b, nil
}

var calculated = regexp.MustCompile(`Calculated transition ([0-9]{1,9})(?: \(with (?:errors|warnings)\))?, saving inputs in (\S+)`)

// ParseLog reads Pacemaker's log (or its tail) and returns, for each
// transition number, the scheduler input it was calculated from (the
// input's base name). A later line for the same number (a new DC, a
// restart) wins.
func ParseLog(r io.Reader) (map[int]string, error) {
	out := map[int]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte("Calculated transition")) {
			continue
		}
		m := calculated.FindSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(string(m[1]))
		p := string(m[2])
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			p = p[i+1:]
		}
		if _, ok := ParseInputName(p); ok {
			out[n] = p
		}
	}
	return out, sc.Err()
}

// Score is one allocation score crm_simulate --show-scores printed.
type Score struct {
	Resource string `json:"resource"`
	Node     string `json:"node"`
	Score    string `json:"score"` // a number, INFINITY or -INFINITY
	Function string `json:"function,omitempty"`
}

// Scores returns the <node_weight> elements of crm_simulate's XML.
func Scores(data []byte) ([]Score, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var out []Score
	depth, n := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("crm_simulate scores: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			n++
			if depth > MaxDepth || n > MaxElements {
				return out, errors.New("crm_simulate scores: document too deep or too large")
			}
			if t.Name.Local == "node_weight" {
				out = append(out, Score{Resource: attr(t, "id"), Node: attr(t, "node"), Score: attr(t, "score"), Function: attr(t, "function")})
			}
		case xml.EndElement:
			depth--
		}
	}
}
