package virt

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DomainXML is the part of a libvirt domain description this package
// reads: identity, size, and the test driver's state extensions.
type DomainXML struct {
	Type      string // the domain type attribute: kvm, qemu, test ...
	Name      string
	UUID      string // canonical lower-case 8-4-4-4-12 form; empty when absent
	VCPUs     int    // current vCPUs (vcpu@current, else the vcpu value)
	MemoryKiB uint64 // currentMemory, else memory
	// RunState is the test driver's <test:runstate> (a virDomainState
	// number), -1 when absent (the test driver then starts it running).
	RunState int
	// Transient is the test driver's <test:transient/>.
	Transient bool
	// File is set instead of the rest for a <domain file="..."/> reference
	// inside a test-driver host description.
	File string
}

// NodeXML is a libvirt test-driver host description: the file named by a
// test:///path.xml URI.
type NodeXML struct {
	CPUs      int    // cpu/active
	MemoryKiB uint64 // memory
	Domains   []DomainXML
}

// XMLError is a parse error with the input offset it was found at.
type XMLError struct {
	Offset int64
	Msg    string
}

// Error renders the error with its offset.
func (e *XMLError) Error() string { return fmt.Sprintf("libvirt XML at byte %d: %s", e.Offset, e.Msg) }

// Decoding limits: libvirt XML is small; anything beyond these is not a
// domain or host description mgmtd should spend memory on.
const (
	maxXMLBytes    = 8 << 20
	maxXMLDepth    = 32
	maxXMLElements = 200000
	maxXMLText     = 64 << 10
)

// testNS is the namespace of the test driver's domain extensions.
const testNS = "http://libvirt.org/schemas/domain/test/1.0"

type xmlReader struct {
	d        *xml.Decoder
	depth    int
	elements int
}

func newXMLReader(b []byte) (*xmlReader, error) {
	if len(b) > maxXMLBytes {
		return nil, &XMLError{Msg: fmt.Sprintf("document of %d bytes exceeds the %d-byte limit", len(b), maxXMLBytes)}
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	return &xmlReader{d: d}, nil
}

func (r *xmlReader) errorf(format string, args ...any) error {
	return &XMLError{Offset: r.d.InputOffset(), Msg: fmt.Sprintf(format, args...)}
}

// next returns the next token, enforcing the limits. It returns io.EOF
// only at the end of the document.
func (r *xmlReader) next() (xml.Token, error) {
	tok, err := r.d.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, &XMLError{Offset: r.d.InputOffset(), Msg: err.Error()}
	}
	switch tok.(type) {
	case xml.StartElement:
		r.depth++
		r.elements++
		if r.depth > maxXMLDepth {
			return nil, r.errorf("nesting deeper than %d", maxXMLDepth)
		}
		if r.elements > maxXMLElements {
			return nil, r.errorf("more than %d elements", maxXMLElements)
		}
	case xml.EndElement:
		r.depth--
	}
	return tok, nil
}

// root returns the document's root element.
func (r *xmlReader) root() (xml.StartElement, error) {
	for {
		tok, err := r.next()
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, r.errorf("no root element")
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, r.errorf("text before the root element")
			}
		}
	}
}

// text reads the character data of the current element up to its end;
// child elements are an error.
func (r *xmlReader) text(name string) (string, error) {
	var sb strings.Builder
	for {
		tok, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", r.errorf("unexpected end inside <%s>", name)
			}
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if sb.Len()+len(t) > maxXMLText {
				return "", r.errorf("text of <%s> longer than %d bytes", name, maxXMLText)
			}
			sb.Write(t)
		case xml.StartElement:
			return "", r.errorf("unexpected element <%s> inside <%s>", t.Name.Local, name)
		case xml.EndElement:
			return strings.TrimSpace(sb.String()), nil
		}
	}
}

// skip consumes the current element and everything inside it.
func (r *xmlReader) skip() error {
	for n := 1; n > 0; {
		tok, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return r.errorf("unexpected end of document")
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			n++
		case xml.EndElement:
			n--
		}
	}
	return nil
}

// end checks that nothing but whitespace, comments and processing
// instructions follows the root element.
func (r *xmlReader) end() error {
	for {
		tok, err := r.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return r.errorf("second root element <%s>", t.Name.Local)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return r.errorf("text after the root element")
			}
		}
	}
}

func attr(se xml.StartElement, name string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// ParseDomainXML parses a libvirt domain description (virsh dumpxml, or a
// VirtualDomain resource's config file).
func ParseDomainXML(b []byte) (DomainXML, error) {
	r, err := newXMLReader(b)
	if err != nil {
		return DomainXML{}, err
	}
	root, err := r.root()
	if err != nil {
		return DomainXML{}, err
	}
	if root.Name.Local != "domain" {
		return DomainXML{}, r.errorf("root element is <%s>, want <domain>", root.Name.Local)
	}
	d, err := r.domain(root)
	if err != nil {
		return DomainXML{}, err
	}
	if d.File != "" {
		return DomainXML{}, r.errorf("a domain reference (file=%q) is not a domain description", d.File)
	}
	return d, r.end()
}

// ParseNodeXML parses a libvirt test-driver host description.
func ParseNodeXML(b []byte) (NodeXML, error) {
	r, err := newXMLReader(b)
	if err != nil {
		return NodeXML{}, err
	}
	root, err := r.root()
	if err != nil {
		return NodeXML{}, err
	}
	if root.Name.Local != "node" {
		return NodeXML{}, r.errorf("root element is <%s>, want <node>", root.Name.Local)
	}
	var n NodeXML
	for {
		tok, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return NodeXML{}, r.errorf("unexpected end inside <node>")
			}
			return NodeXML{}, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return n, r.end()
		case xml.StartElement:
			switch t.Name.Local {
			case "domain":
				d, err := r.domain(t)
				if err != nil {
					return NodeXML{}, err
				}
				n.Domains = append(n.Domains, d)
			case "memory":
				if n.MemoryKiB, err = r.memory(t); err != nil {
					return NodeXML{}, err
				}
			case "cpu":
				if n.CPUs, err = r.nodeCPU(); err != nil {
					return NodeXML{}, err
				}
			default:
				if err := r.skip(); err != nil {
					return NodeXML{}, err
				}
			}
		}
	}
}

func (r *xmlReader) nodeCPU() (int, error) {
	cpus := 0
	for {
		tok, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, r.errorf("unexpected end inside <cpu>")
			}
			return 0, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return cpus, nil
		case xml.StartElement:
			if t.Name.Local != "active" {
				if err := r.skip(); err != nil {
					return 0, err
				}
				continue
			}
			s, err := r.text("active")
			if err != nil {
				return 0, err
			}
			if cpus, err = r.count(s, "cpu/active"); err != nil {
				return 0, err
			}
		}
	}
}

func (r *xmlReader) count(s, what string) (int, error) {
	v, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, r.errorf("%s: %q is not a count", what, s)
	}
	return int(v), nil
}

// domain reads a <domain> element whose start tag was just read.
func (r *xmlReader) domain(start xml.StartElement) (DomainXML, error) {
	d := DomainXML{RunState: -1}
	d.Type, _ = attr(start, "type")
	if f, ok := attr(start, "file"); ok {
		d.File = f
		return d, r.skip()
	}
	var mem, cur uint64
	var haveName, haveUUID bool
	for {
		tok, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return d, r.errorf("unexpected end inside <domain>")
			}
			return d, err
		}
		var t xml.StartElement
		switch tt := tok.(type) {
		case xml.EndElement:
			if !haveName || d.Name == "" {
				return d, r.errorf("domain without a name")
			}
			d.MemoryKiB = mem
			if cur != 0 {
				d.MemoryKiB = cur
			}
			return d, nil
		case xml.StartElement:
			t = tt
		default:
			continue
		}
		switch {
		case t.Name.Space == testNS && t.Name.Local == "runstate":
			s, err := r.text("runstate")
			if err != nil {
				return d, err
			}
			v, err := strconv.ParseUint(s, 10, 8)
			if err != nil || v > statePMSuspended {
				return d, r.errorf("test:runstate %q is not a domain state", s)
			}
			d.RunState = int(v)
		case t.Name.Space == testNS && t.Name.Local == "transient":
			d.Transient = true
			if err := r.skip(); err != nil {
				return d, err
			}
		case t.Name.Space != "":
			// Only un-namespaced elements are libvirt's own (libvirt reads
			// them with XPath ./name and so on); skip the rest.
			if err := r.skip(); err != nil {
				return d, err
			}
		case t.Name.Local == "name":
			if haveName {
				return d, r.errorf("domain with two names")
			}
			haveName = true
			if d.Name, err = r.text("name"); err != nil {
				return d, err
			}
		case t.Name.Local == "uuid":
			if haveUUID {
				return d, r.errorf("domain with two UUIDs")
			}
			haveUUID = true
			s, err := r.text("uuid")
			if err != nil {
				return d, err
			}
			if d.UUID, err = canonicalUUID(s); err != nil {
				return d, r.errorf("%v", err)
			}
		case t.Name.Local == "vcpu":
			s, err := r.text("vcpu")
			if err != nil {
				return d, err
			}
			if d.VCPUs, err = r.count(s, "vcpu"); err != nil {
				return d, err
			}
			if c, ok := attr(t, "current"); ok {
				if d.VCPUs, err = r.count(c, "vcpu@current"); err != nil {
					return d, err
				}
			}
		case t.Name.Local == "memory":
			if mem, err = r.memory(t); err != nil {
				return d, err
			}
		case t.Name.Local == "currentMemory":
			if cur, err = r.memory(t); err != nil {
				return d, err
			}
		default:
			if err := r.skip(); err != nil {
				return d, err
			}
		}
	}
}

// memory reads a scaled memory element (unit attribute, default KiB) as KiB.
func (r *xmlReader) memory(t xml.StartElement) (uint64, error) {
	s, err := r.text(t.Name.Local)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, r.errorf("<%s>: %q is not a number", t.Name.Local, s)
	}
	unit, _ := attr(t, "unit")
	kib, err := toKiB(v, unit)
	if err != nil {
		return 0, r.errorf("<%s>: %v", t.Name.Local, err)
	}
	return kib, nil
}

// toKiB scales v in unit (libvirt's scaled integers: b, KB, KiB, MB, MiB
// ... EiB; k, M, G, T, P, E are powers of 1024) to KiB, rounding up.
func toKiB(v uint64, unit string) (uint64, error) {
	var bytesPer uint64
	switch unit {
	case "b", "bytes":
		bytesPer = 1
	case "", "k", "K", "KiB":
		return v, nil
	case "KB":
		bytesPer = 1000
	case "M", "MiB":
		bytesPer = 1 << 20
	case "MB":
		bytesPer = 1000 * 1000
	case "G", "GiB":
		bytesPer = 1 << 30
	case "GB":
		bytesPer = 1000 * 1000 * 1000
	case "T", "TiB":
		bytesPer = 1 << 40
	case "TB":
		bytesPer = 1000 * 1000 * 1000 * 1000
	default:
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	if v != 0 && bytesPer > ^uint64(0)/v {
		return 0, fmt.Errorf("%d %s overflows", v, unit)
	}
	b := v * bytesPer
	return b/1024 + min(b%1024, 1), nil
}

// canonicalUUID accepts a UUID as libvirt does (32 hex digits, dashes
// anywhere between them) and returns the 8-4-4-4-12 lower-case form.
func canonicalUUID(s string) (string, error) {
	var hex []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-':
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
			hex = append(hex, c)
		case 'A' <= c && c <= 'F':
			hex = append(hex, c+'a'-'A')
		default:
			return "", fmt.Errorf("uuid %q: invalid character %q", s, c)
		}
		if len(hex) > 32 {
			break
		}
	}
	if len(hex) != 32 {
		return "", fmt.Errorf("uuid %q: want 32 hex digits", s)
	}
	h := string(hex)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
