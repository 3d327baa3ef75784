package unpack

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"mgmtd/source/pacemaker/crmmon"
)

// Chunk is one node_state element of a status section, as bytes, with a
// key that two chunks share exactly when they parse to the same tree: the
// SHA-256 of the bytes without the whitespace between tags (which the
// parser drops, and which differs between `cibadmin --query` and
// `cibadmin --query --scope status` because of the indentation).
type Chunk struct {
	Key [sha256.Size]byte
	Raw []byte
}

// StatusChunks splits the status section of data (a whole CIB, or the
// status element alone as `cibadmin --query --scope status` prints it)
// into its node_state elements without parsing them. ok is false when the
// section cannot be split by its bytes alone (comments, CDATA, processing
// instructions, a child that is not a node_state, no status section):
// such a section is parsed whole.
func StatusChunks(data []byte) (chunks []Chunk, ok bool) {
	if bytes.Contains(data, []byte("<!")) {
		return nil, false // a comment or CDATA could hide any text
	}
	rest := data
	if bytes.HasPrefix(rest, []byte("<?")) {
		end := bytes.Index(rest, []byte("?>"))
		if end < 0 {
			return nil, false
		}
		rest = rest[end+2:]
	}
	if bytes.Contains(rest, []byte("<?")) {
		return nil, false
	}
	i := lastTag(rest, "status")
	if i < 0 {
		return nil, false
	}
	end, closed := tagEnd(rest, i)
	if end < 0 {
		return nil, false
	}
	if closed {
		return nil, true // <status/>
	}
	p := end + 1
	for {
		p = skipSpace(rest, p)
		switch {
		case bytes.HasPrefix(rest[p:], []byte("</status")):
			return chunks, true
		case isTag(rest, p, "node_state"):
			e, closed := tagEnd(rest, p)
			if e < 0 {
				return nil, false
			}
			if !closed {
				c := bytes.Index(rest[e:], []byte("</node_state>"))
				if c < 0 {
					return nil, false
				}
				e += c + len("</node_state>") - 1
			}
			raw := rest[p : e+1]
			chunks = append(chunks, Chunk{Key: chunkKey(raw), Raw: raw})
			p = e + 1
		default:
			return nil, false
		}
	}
}

// isTag reports whether an element named name starts at data[i].
func isTag(data []byte, i int, name string) bool {
	if i+1+len(name) >= len(data) || data[i] != '<' || string(data[i+1:i+1+len(name)]) != name {
		return false
	}
	switch data[i+1+len(name)] {
	case ' ', '\t', '\r', '\n', '/', '>':
		return true
	}
	return false
}

// lastTag returns the offset of the last start tag named name, or -1.
// A '<' cannot occur in an attribute value or (outside comments and
// CDATA, which StatusChunks refuses) in text, so every "<name" is a tag.
func lastTag(data []byte, name string) int {
	pat := []byte("<" + name)
	for end := len(data); ; {
		i := bytes.LastIndex(data[:end], pat)
		if i < 0 || isTag(data, i, name) {
			return i
		}
		end = i
	}
}

// tagEnd returns the offset of the '>' ending the tag that starts at
// data[i] (skipping quoted attribute values), and whether it is
// self-closing; -1 if it does not end.
func tagEnd(data []byte, i int) (int, bool) {
	var quote byte
	for j := i + 1; j < len(data); j++ {
		c := data[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j, data[j-1] == '/'
		}
	}
	return -1, false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// chunkKey hashes raw without the whitespace between a '>' and the next
// '<' (never inside an attribute value, where '<' cannot occur).
func chunkKey(raw []byte) [sha256.Size]byte {
	h := sha256.New()
	start := 0
	for i := 0; i < len(raw); i++ {
		if raw[i] != '>' {
			continue
		}
		j := skipSpace(raw, i+1)
		if j > i+1 && j < len(raw) && raw[j] == '<' {
			h.Write(raw[start : i+1])
			start = j
			i = j - 1
		}
	}
	h.Write(raw[start:])
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// ErrConfigChanged is returned by Cache.Status when the cib element says
// the configuration is no longer the one the cache holds (admin_epoch or
// epoch moved), or the cache holds none: read the whole CIB with Full.
var ErrConfigChanged = errors.New("the CIB's configuration changed since the last full read")

// Cache unpacks one cluster's CIB again and again, reusing what did not
// change. Full reads a whole CIB; Status then follows the cluster by its
// status section alone (the configuration is the same while admin_epoch
// and epoch are), and re-parses only the node_state elements whose bytes
// changed: every other node's tree is the one parsed before. The unpack
// itself runs on the whole tree each time, so the result is always the
// same as Unpack of the whole document (the differential test in
// source/pacemaker checks exactly that on crm_simulate's histories).
// A Cache is not safe for concurrent use.
type Cache struct {
	root   *element
	states map[[sha256.Size]byte]*element
	chunks []Chunk
	stats  CacheStats
}

// CacheStats counts what a Cache did.
type CacheStats struct {
	Full        int // whole documents parsed
	Incremental int // status sections applied to the cached configuration
	Parsed      int // node_state elements parsed by Status
	Reused      int // node_state elements Status took from the cache
}

// Stats returns the counters.
func (c *Cache) Stats() CacheStats { return c.stats }

// Chunks returns the node_state chunks of the last status unpacked, or nil
// when it could not be split.
func (c *Cache) Chunks() []Chunk { return c.chunks }

// Version returns admin_epoch and epoch of the cached configuration, or
// "" when the cache holds none.
func (c *Cache) Version() string {
	if c.root == nil {
		return ""
	}
	return c.root.attr("admin_epoch") + "." + c.root.attr("epoch")
}

// Reset forgets everything; the next Status fails with ErrConfigChanged.
func (c *Cache) Reset() { c.root, c.states, c.chunks = nil, nil, nil }

// Full unpacks a whole CIB document, as Unpack does, and keeps its parts.
// On an error the cache is reset.
func (c *Cache) Full(data []byte, opts Options) (*crmmon.Result, error) {
	c.Reset()
	if len(data) > MaxSize {
		return nil, &ParseError{Msg: fmt.Sprintf("document of %d bytes exceeds %d", len(data), MaxSize)}
	}
	root, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	res, err := unpackRoot(root, opts)
	if err != nil {
		return nil, err
	}
	c.stats.Full++
	c.root = root
	chunks, ok := StatusChunks(data)
	st := root.child("status")
	if !ok || st == nil || !sameStates(st, chunks) {
		return res, nil
	}
	c.keep(st, chunks)
	return res, nil
}

// sameStates reports whether the parsed status st has exactly the
// node_state elements the chunks were cut from, in order.
func sameStates(st *element, chunks []Chunk) bool {
	if len(st.children) != len(chunks) {
		return false
	}
	for i, e := range st.children {
		if e.name != "node_state" || !bytes.Contains(chunks[i].Raw[:min(len(chunks[i].Raw), 4096)], []byte(`id="`+e.attr("id")+`"`)) {
			return false
		}
	}
	return true
}

func (c *Cache) keep(st *element, chunks []Chunk) {
	c.chunks = chunks
	c.states = make(map[[sha256.Size]byte]*element, len(chunks))
	for i, ch := range chunks {
		c.states[ch.Key] = st.children[i]
	}
}

// Status unpacks the cached configuration with a new status section.
// cibTag is the cib element with the CIB's current version, quorum and DC
// attributes (what `cibadmin --query --xpath /cib --no-children`
// prints); status is the status element (`cibadmin --query --scope
// status`). It returns ErrConfigChanged when the cache holds no
// configuration or cibTag's admin_epoch or epoch differs from it; on any
// other error the cache is reset, so the caller's next read is a full one.
func (c *Cache) Status(cibTag, status []byte, opts Options) (*crmmon.Result, error) {
	if c.root == nil {
		return nil, ErrConfigChanged
	}
	if len(cibTag) > MaxSize || len(status) > MaxSize {
		return nil, &ParseError{Msg: fmt.Sprintf("status of %d bytes exceeds %d", len(status), MaxSize)}
	}
	tag, err := parseTree(cibTag)
	if err != nil {
		return nil, err
	}
	if tag.name != "cib" {
		return nil, &ParseError{Msg: "version query returned <" + tag.name + ">, not <cib>"}
	}
	if tag.attr("admin_epoch")+"."+tag.attr("epoch") != c.Version() {
		return nil, ErrConfigChanged
	}
	st, chunks, parsed, reused, err := c.parseStatus(status)
	if err != nil {
		c.Reset()
		return nil, err
	}
	children := make([]*element, 0, len(c.root.children)+1)
	for _, e := range c.root.children {
		if e.name != "status" {
			children = append(children, e)
		}
	}
	root := &element{name: "cib", attrs: tag.attrs, children: append(children, st)}
	res, err := unpackRoot(root, opts)
	if err != nil {
		c.Reset()
		return nil, err
	}
	c.stats.Incremental++
	c.stats.Parsed += parsed
	c.stats.Reused += reused
	c.root = root
	if chunks != nil {
		c.keep(st, chunks)
	} else {
		c.chunks, c.states = nil, nil
	}
	return res, nil
}

// parseStatus parses a status element, taking every node_state whose
// bytes are unchanged from the cache; chunks is nil when the section had
// to be parsed whole.
func (c *Cache) parseStatus(status []byte) (st *element, chunks []Chunk, parsed, reused int, err error) {
	chunks, ok := StatusChunks(status)
	if ok {
		st = &element{name: "status", children: make([]*element, 0, len(chunks))}
		for _, ch := range chunks {
			e := c.states[ch.Key]
			if e != nil {
				reused++
			} else {
				e, err = parseTree(ch.Raw)
				if err != nil || e.name != "node_state" {
					ok = false
					break
				}
				parsed++
			}
			st.children = append(st.children, e)
		}
		if ok {
			return st, chunks, parsed, reused, nil
		}
	}
	st, err = parseTree(status)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	if st.name != "status" {
		return nil, nil, 0, 0, &ParseError{Msg: "status query returned <" + st.name + ">, not <status>"}
	}
	return st, nil, len(st.children), 0, nil
}
