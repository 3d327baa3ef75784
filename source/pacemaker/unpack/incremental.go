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
	_, _, chunks, ok = splitStatus(data)
	return chunks, ok
}

// splitStatus is StatusChunks; start and end are the offsets of the
// status element in data (end just past it).
func splitStatus(data []byte) (start, end int, chunks []Chunk, ok bool) {
	if bytes.Contains(data, []byte("<!")) {
		return 0, 0, nil, false // a comment or CDATA could hide any text
	}
	skip := 0
	if bytes.HasPrefix(data, []byte("<?")) {
		e := bytes.Index(data, []byte("?>"))
		if e < 0 {
			return 0, 0, nil, false
		}
		skip = e + 2
	}
	if bytes.Contains(data[skip:], []byte("<?")) {
		return 0, 0, nil, false
	}
	rest := data
	i := firstTag(rest[skip:], "status")
	if i < 0 {
		return 0, 0, nil, false
	}
	i += skip
	e, closed := tagEnd(rest, i)
	if e < 0 {
		return 0, 0, nil, false
	}
	if closed {
		return i, e + 1, nil, true // <status/>
	}
	p := e + 1
	for {
		p = skipSpace(rest, p)
		switch {
		case bytes.HasPrefix(rest[p:], []byte("</status>")):
			return i, p + len("</status>"), chunks, true
		case isTag(rest, p, "node_state"):
			e, closed := tagEnd(rest, p)
			if e < 0 {
				return 0, 0, nil, false
			}
			if !closed {
				c := bytes.Index(rest[e:], []byte("</node_state>"))
				if c < 0 {
					return 0, 0, nil, false
				}
				e += c + len("</node_state>") - 1
			}
			raw := rest[p : e+1]
			chunks = append(chunks, Chunk{Key: chunkKey(raw), Raw: raw})
			p = e + 1
		default:
			return 0, 0, nil, false
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

// firstTag returns the offset of the first start tag named name, or -1.
// A '<' cannot occur in an attribute value or (outside comments and
// CDATA, which StatusChunks refuses) in text, so every "<name" is a tag;
// the CIB has one status element, after the configuration, which has
// none.
func firstTag(data []byte, name string) int {
	pat := []byte("<" + name)
	for off := 0; ; {
		i := bytes.Index(data[off:], pat)
		if i < 0 {
			return -1
		}
		if isTag(data, off+i, name) {
			return off + i
		}
		off += i + 1
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

// Configuration returns a whole CIB without its status section (the cib
// element with the configuration, closed), for a parser that needs only
// the configuration and should not read the status's bytes; ok is false
// when the status cannot be cut out by its bytes (see StatusChunks) or
// something follows it but the end of the cib element.
func Configuration(data []byte) (conf []byte, ok bool) {
	conf, _, ok = configuration(data)
	return conf, ok
}

// configuration is Configuration and the status's chunks.
func configuration(data []byte) (conf []byte, chunks []Chunk, ok bool) {
	start, end, chunks, ok := splitStatus(data)
	if !ok || !bytes.Equal(bytes.TrimSpace(data[end:]), []byte("</cib>")) {
		return nil, nil, false
	}
	conf = make([]byte, 0, start+len("</cib>"))
	return append(append(conf, data[:start]...), "</cib>"...), chunks, true
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
	conf   []byte // the configuration of the last full read, cut out of it
	root   *element
	states map[[sha256.Size]byte]*element
	chunks []Chunk
	stats  CacheStats
}

// CacheStats counts what a Cache did.
type CacheStats struct {
	Full        int // whole documents read
	Incremental int // status sections applied to the cached configuration
	Parsed      int // node_state elements parsed again (their bytes changed)
	Reused      int // node_state elements taken from the last read
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
func (c *Cache) Reset() { c.conf, c.root, c.states, c.chunks = nil, nil, nil, nil }

// Configuration returns the last full read's document without its status
// (see the function Configuration), or nil.
func (c *Cache) Configuration() []byte { return c.conf }

// Full unpacks a whole CIB document, as Unpack does, and keeps its parts.
// It parses the configuration and only the node_state elements whose
// bytes changed since the last read (the others keep their trees), so a
// full read of an unchanged cluster parses little more than its
// configuration. On an error the cache is reset.
func (c *Cache) Full(data []byte, opts Options) (*crmmon.Result, error) {
	states := c.states
	c.Reset()
	if len(data) > MaxSize {
		return nil, &ParseError{Msg: fmt.Sprintf("document of %d bytes exceeds %d", len(data), MaxSize)}
	}
	// The configuration is parsed; each node_state is taken from the last
	// read when its bytes are unchanged. Anything unusual: the whole
	// document is parsed.
	root, chunks, parsed, reused := c.parseSplit(data, states)
	if root == nil {
		var err error
		if root, err = parseTree(data); err != nil {
			return nil, err
		}
	}
	res, err := unpackRoot(root, opts)
	if err != nil {
		return nil, err
	}
	c.stats.Full++
	c.stats.Parsed += parsed
	c.stats.Reused += reused
	c.root = root
	if st := root.child("status"); st != nil && chunks != nil {
		c.keep(st, chunks)
	}
	return res, nil
}

// parseSplit parses a whole CIB as its configuration and its node_state
// chunks, taking unchanged chunks' trees from states; root is nil when
// the document cannot be read that way.
func (c *Cache) parseSplit(data []byte, states map[[sha256.Size]byte]*element) (root *element, chunks []Chunk, parsed, reused int) {
	conf, chunks, ok := configuration(data)
	if !ok {
		return nil, nil, 0, 0
	}
	root, err := parseTree(conf)
	if err != nil || root.name != "cib" || root.child("status") != nil {
		return nil, nil, 0, 0
	}
	c.conf = conf
	st := &element{name: "status", children: make([]*element, 0, len(chunks))}
	for _, ch := range chunks {
		e := states[ch.Key]
		if e != nil {
			reused++
		} else {
			if e, err = parseTree(ch.Raw); err != nil || e.name != "node_state" {
				return nil, nil, 0, 0
			}
			parsed++
		}
		st.children = append(st.children, e)
	}
	root.children = append(root.children, st)
	return root, chunks, parsed, reused
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
