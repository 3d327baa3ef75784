package cimxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound the resources one request may use while it is decoded.
// Zero fields take the value of [DefaultLimits].
type Limits struct {
	MaxBytes     int64 // request body bytes
	MaxDepth     int   // element nesting depth
	MaxElements  int   // elements in the document
	MaxAttrs     int   // attributes on one element
	MaxStringLen int   // bytes of one attribute value or text node
}

// DefaultLimits returns limits generous for every request real clients send
// (the largest captured request is about 2 KB) and small enough to keep one
// request cheap: 1 MiB, depth 32, 20,000 elements, 16 attributes, 64 KiB
// strings.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxElements: 20000, MaxAttrs: 16, MaxStringLen: 64 << 10}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = d.MaxElements
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = d.MaxAttrs
	}
	if l.MaxStringLen <= 0 {
		l.MaxStringLen = d.MaxStringLen
	}
	return l
}

// Kind classifies a decoding error; package wbem maps it to an HTTP status
// and a DSP0200 CIMError header value.
type Kind uint8

// Error kinds.
const (
	// NotWellFormed: the body is not well-formed XML (CIMError
	// request-not-well-formed).
	NotWellFormed Kind = iota + 1
	// NotValid: well-formed but not a valid CIM-XML request
	// (request-not-valid).
	NotValid
	// LimitExceeded: a [Limits] bound was hit.
	LimitExceeded
	// TooLarge: the body exceeds Limits.MaxBytes.
	TooLarge
	// UnsupportedCIMVersion, UnsupportedDTDVersion,
	// UnsupportedProtocolVersion and MultipleRequests are the DSP0200
	// "unsupported-*" and "multiple-requests-unsupported" cases.
	UnsupportedCIMVersion
	UnsupportedDTDVersion
	UnsupportedProtocolVersion
	MultipleRequests
)

var kindNames = [...]string{"", "not well-formed", "not valid", "limit exceeded", "too large",
	"unsupported CIM version", "unsupported DTD version", "unsupported protocol version", "multiple requests"}

// String names the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// SyntaxError is a request decoding error with its position in the body.
type SyntaxError struct {
	Kind   Kind
	Line   int // 1-based; 0 if unknown
	Column int
	Msg    string
	Err    error // underlying error, if any
}

// Error formats the error with its kind and position.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("cim-xml %s at line %d column %d: %s", e.Kind, e.Line, e.Column, e.Msg)
}

// Unwrap returns the underlying error.
func (e *SyntaxError) Unwrap() error { return e.Err }

var errTooLarge = errors.New("request body too large")

// limitReader fails with errTooLarge once more than n bytes were read.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

type parser struct {
	d     *xml.Decoder
	lim   Limits
	depth int
	elems int
}

// DecodeRequest decodes one CIM-XML request (CIM/MESSAGE/SIMPLEREQ) from r
// within lim. The error is always a *SyntaxError.
func DecodeRequest(r io.Reader, lim Limits) (*Request, error) {
	lim = lim.withDefaults()
	d := xml.NewDecoder(&limitReader{r: r, n: lim.MaxBytes})
	d.Strict = true
	d.CharsetReader = func(label string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("unsupported charset %q (only UTF-8)", label)
	}
	p := &parser{d: d, lim: lim}
	req, err := p.document()
	if err != nil {
		return nil, err
	}
	return req, nil
}

func (p *parser) fail(k Kind, format string, args ...any) *SyntaxError {
	line, col := p.d.InputPos()
	return &SyntaxError{Kind: k, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) wrap(err error) *SyntaxError {
	var se *SyntaxError
	if errors.As(err, &se) {
		return se
	}
	line, col := p.d.InputPos()
	k := NotWellFormed
	if errors.Is(err, errTooLarge) {
		k = TooLarge
	} else if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &SyntaxError{Kind: k, Line: line, Column: col, Msg: err.Error(), Err: err}
}

// raw returns the next token, enforcing the limits and rejecting
// directives. Comments and the XML declaration are skipped.
func (p *parser) raw() (xml.Token, error) {
	for {
		tok, err := p.d.Token()
		if err != nil {
			return nil, p.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			p.depth++
			p.elems++
			if p.depth > p.lim.MaxDepth {
				return nil, p.fail(LimitExceeded, "element depth exceeds %d", p.lim.MaxDepth)
			}
			if p.elems > p.lim.MaxElements {
				return nil, p.fail(LimitExceeded, "more than %d elements", p.lim.MaxElements)
			}
			if len(t.Attr) > p.lim.MaxAttrs {
				return nil, p.fail(LimitExceeded, "element %s has more than %d attributes", t.Name.Local, p.lim.MaxAttrs)
			}
			for _, a := range t.Attr {
				if len(a.Value) > p.lim.MaxStringLen {
					return nil, p.fail(LimitExceeded, "attribute %s longer than %d bytes", a.Name.Local, p.lim.MaxStringLen)
				}
			}
			return t, nil
		case xml.EndElement:
			p.depth--
			return t, nil
		case xml.CharData:
			if len(t) > p.lim.MaxStringLen {
				return nil, p.fail(LimitExceeded, "text longer than %d bytes", p.lim.MaxStringLen)
			}
			return t, nil
		case xml.Directive:
			return nil, p.fail(NotValid, "DOCTYPE and other directives are not accepted")
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, p.fail(NotValid, "processing instruction %q not accepted", t.Target)
			}
		case xml.Comment:
		}
	}
}

// child returns the next child element of the current element, or nil when
// the current element's end tag was consumed. Whitespace between elements is
// skipped; other text is an error.
func (p *parser) child() (*xml.StartElement, error) {
	for {
		tok, err := p.raw()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return &t, nil
		case xml.EndElement:
			return nil, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, p.fail(NotValid, "unexpected text %q", truncate(string(t)))
			}
		}
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// text reads the character content of the current element up to its end
// tag. Child elements are an error.
func (p *parser) text(elem string) (string, error) {
	var sb strings.Builder
	for {
		tok, err := p.raw()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if sb.Len()+len(t) > p.lim.MaxStringLen {
				return "", p.fail(LimitExceeded, "text longer than %d bytes", p.lim.MaxStringLen)
			}
			sb.Write(t)
		case xml.EndElement:
			return sb.String(), nil
		case xml.StartElement:
			return "", p.fail(NotValid, "unexpected element %s in %s", t.Name.Local, elem)
		}
	}
}

// skip consumes the rest of the current element.
func (p *parser) skip() error {
	start := p.depth
	for p.depth >= start {
		if _, err := p.raw(); err != nil {
			return err
		}
	}
	return nil
}

// empty requires the current element to have no children or text.
func (p *parser) empty(elem string) error {
	s, err := p.text(elem)
	if err != nil {
		return err
	}
	if strings.TrimSpace(s) != "" {
		return p.fail(NotValid, "%s must be empty", elem)
	}
	return nil
}

func attr(se *xml.StartElement, name string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (p *parser) need(se *xml.StartElement, name string) (string, error) {
	v, ok := attr(se, name)
	if !ok {
		return "", p.fail(NotValid, "%s lacks attribute %s", se.Name.Local, name)
	}
	return v, nil
}

func (p *parser) expect(se *xml.StartElement, names ...string) error {
	if se == nil {
		return p.fail(NotValid, "missing element %s", strings.Join(names, " or "))
	}
	for _, n := range names {
		if se.Name.Local == n {
			return nil
		}
	}
	return p.fail(NotValid, "unexpected element %s, want %s", se.Name.Local, strings.Join(names, " or "))
}

// majorIs reports whether version v ("2.0", "2.4", "1.4") has major m.
func majorIs(v string, m string) bool {
	major, _, _ := strings.Cut(strings.TrimSpace(v), ".")
	return major == m
}

func (p *parser) document() (*Request, error) {
	se, err := p.child()
	if err != nil {
		return nil, err
	}
	if err := p.expect(se, "CIM"); err != nil {
		return nil, err
	}
	req := &Request{}
	if req.CIMVersion, err = p.need(se, "CIMVERSION"); err != nil {
		return nil, err
	}
	if req.DTDVersion, err = p.need(se, "DTDVERSION"); err != nil {
		return nil, err
	}
	if !majorIs(req.CIMVersion, "2") {
		return nil, p.fail(UnsupportedCIMVersion, "CIMVERSION %q", req.CIMVersion)
	}
	if !majorIs(req.DTDVersion, "2") {
		return nil, p.fail(UnsupportedDTDVersion, "DTDVERSION %q", req.DTDVersion)
	}
	msg, err := p.child()
	if err != nil {
		return nil, err
	}
	if err := p.expect(msg, "MESSAGE"); err != nil {
		return nil, err
	}
	if req.MessageID, err = p.need(msg, "ID"); err != nil {
		return nil, err
	}
	if req.ProtocolVersion, err = p.need(msg, "PROTOCOLVERSION"); err != nil {
		return nil, err
	}
	if !majorIs(req.ProtocolVersion, "1") {
		return nil, p.fail(UnsupportedProtocolVersion, "PROTOCOLVERSION %q", req.ProtocolVersion)
	}
	body, err := p.child()
	if err != nil {
		return nil, err
	}
	if body != nil && body.Name.Local == "MULTIREQ" {
		return nil, p.fail(MultipleRequests, "MULTIREQ is not supported")
	}
	if err := p.expect(body, "SIMPLEREQ"); err != nil {
		return nil, err
	}
	if err := p.simpleReq(req); err != nil {
		return nil, err
	}
	for _, e := range []string{"MESSAGE", "CIM"} {
		if extra, err := p.child(); err != nil {
			return nil, err
		} else if extra != nil {
			return nil, p.fail(NotValid, "unexpected element %s in %s", extra.Name.Local, e)
		}
	}
	// Nothing but whitespace and comments may follow the root.
	for {
		tok, err := p.d.Token()
		if err == io.EOF {
			return req, nil
		}
		if err != nil {
			return nil, p.wrap(err)
		}
		switch t := tok.(type) {
		case xml.Comment:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, p.fail(NotValid, "text after the document element")
			}
		default:
			return nil, p.fail(NotValid, "content after the document element")
		}
	}
}

func (p *parser) simpleReq(req *Request) error {
	for {
		se, err := p.child()
		if err != nil {
			return err
		}
		if se == nil {
			return p.fail(NotValid, "SIMPLEREQ without METHODCALL or IMETHODCALL")
		}
		switch se.Name.Local {
		case "CORRELATOR":
			if err := p.skip(); err != nil {
				return err
			}
			continue
		case "IMETHODCALL":
			req.Intrinsic = true
			if err := p.imethodCall(se, req); err != nil {
				return err
			}
		case "METHODCALL":
			if err := p.methodCall(se, req); err != nil {
				return err
			}
		default:
			return p.fail(NotValid, "unexpected element %s in SIMPLEREQ", se.Name.Local)
		}
		if extra, err := p.child(); err != nil {
			return err
		} else if extra != nil {
			return p.fail(NotValid, "unexpected element %s after the method call", extra.Name.Local)
		}
		return nil
	}
}

func (p *parser) imethodCall(se *xml.StartElement, req *Request) error {
	var err error
	if req.Method, err = p.need(se, "NAME"); err != nil {
		return err
	}
	ns, err := p.child()
	if err != nil {
		return err
	}
	if err := p.expect(ns, "LOCALNAMESPACEPATH"); err != nil {
		return err
	}
	if req.Namespace, err = p.localNamespacePath(); err != nil {
		return err
	}
	for {
		c, err := p.child()
		if err != nil {
			return err
		}
		if c == nil {
			return nil
		}
		if err := p.expect(c, "IPARAMVALUE"); err != nil {
			return err
		}
		prm, err := p.paramValue(c, false)
		if err != nil {
			return err
		}
		req.Params = append(req.Params, prm)
	}
}

func (p *parser) methodCall(se *xml.StartElement, req *Request) error {
	var err error
	if req.Method, err = p.need(se, "NAME"); err != nil {
		return err
	}
	target, err := p.child()
	if err != nil {
		return err
	}
	if err := p.expect(target, "LOCALINSTANCEPATH", "LOCALCLASSPATH"); err != nil {
		return err
	}
	if target.Name.Local == "LOCALINSTANCEPATH" {
		ip, err := p.localInstancePath()
		if err != nil {
			return err
		}
		req.Namespace, req.Instance = ip.Namespace, ip
	} else {
		ns, cls, err := p.localClassPath()
		if err != nil {
			return err
		}
		req.Namespace, req.ClassName = ns, cls
	}
	for {
		c, err := p.child()
		if err != nil {
			return err
		}
		if c == nil {
			return nil
		}
		if err := p.expect(c, "PARAMVALUE"); err != nil {
			return err
		}
		prm, err := p.paramValue(c, true)
		if err != nil {
			return err
		}
		req.Params = append(req.Params, prm)
	}
}

// localNamespacePath reads NAMESPACE+ up to the end of LOCALNAMESPACEPATH
// and returns them joined by "/".
func (p *parser) localNamespacePath() (string, error) {
	var parts []string
	for {
		c, err := p.child()
		if err != nil {
			return "", err
		}
		if c == nil {
			break
		}
		if err := p.expect(c, "NAMESPACE"); err != nil {
			return "", err
		}
		name, err := p.need(c, "NAME")
		if err != nil {
			return "", err
		}
		if name == "" {
			return "", p.fail(NotValid, "empty NAMESPACE NAME")
		}
		if err := p.empty("NAMESPACE"); err != nil {
			return "", err
		}
		parts = append(parts, name)
	}
	if len(parts) == 0 {
		return "", p.fail(NotValid, "LOCALNAMESPACEPATH without NAMESPACE")
	}
	return strings.Join(parts, "/"), nil
}

func (p *parser) localInstancePath() (*InstancePath, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	if err := p.expect(c, "LOCALNAMESPACEPATH"); err != nil {
		return nil, err
	}
	ns, err := p.localNamespacePath()
	if err != nil {
		return nil, err
	}
	c, err = p.child()
	if err != nil {
		return nil, err
	}
	if err := p.expect(c, "INSTANCENAME"); err != nil {
		return nil, err
	}
	ip, err := p.instanceName(c)
	if err != nil {
		return nil, err
	}
	ip.Namespace = ns
	return ip, p.end("LOCALINSTANCEPATH")
}

func (p *parser) localClassPath() (ns, class string, err error) {
	c, err := p.child()
	if err != nil {
		return "", "", err
	}
	if err := p.expect(c, "LOCALNAMESPACEPATH"); err != nil {
		return "", "", err
	}
	if ns, err = p.localNamespacePath(); err != nil {
		return "", "", err
	}
	c, err = p.child()
	if err != nil {
		return "", "", err
	}
	if err := p.expect(c, "CLASSNAME"); err != nil {
		return "", "", err
	}
	if class, err = p.className(c); err != nil {
		return "", "", err
	}
	return ns, class, p.end("LOCALCLASSPATH")
}

// end requires the current element to end now.
func (p *parser) end(elem string) error {
	c, err := p.child()
	if err != nil {
		return err
	}
	if c != nil {
		return p.fail(NotValid, "unexpected element %s in %s", c.Name.Local, elem)
	}
	return nil
}

func (p *parser) className(se *xml.StartElement) (string, error) {
	name, err := p.need(se, "NAME")
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", p.fail(NotValid, "empty CLASSNAME")
	}
	return name, p.empty("CLASSNAME")
}

// instanceName reads an INSTANCENAME: KEYBINDING*, or a single KEYVALUE or
// VALUE.REFERENCE (keyless form, kept as one binding with an empty name).
func (p *parser) instanceName(se *xml.StartElement) (*InstancePath, error) {
	cls, err := p.need(se, "CLASSNAME")
	if err != nil {
		return nil, err
	}
	ip := &InstancePath{ClassName: cls}
	for {
		c, err := p.child()
		if err != nil {
			return nil, err
		}
		if c == nil {
			return ip, nil
		}
		switch c.Name.Local {
		case "KEYBINDING":
			name, err := p.need(c, "NAME")
			if err != nil {
				return nil, err
			}
			kv, err := p.child()
			if err != nil {
				return nil, err
			}
			if err := p.expect(kv, "KEYVALUE", "VALUE.REFERENCE"); err != nil {
				return nil, err
			}
			kb, err := p.keyValue(kv)
			if err != nil {
				return nil, err
			}
			kb.Name = name
			ip.Keys = append(ip.Keys, kb)
			if err := p.end("KEYBINDING"); err != nil {
				return nil, err
			}
		case "KEYVALUE", "VALUE.REFERENCE":
			if len(ip.Keys) > 0 {
				return nil, p.fail(NotValid, "%s mixed with other keys", c.Name.Local)
			}
			kb, err := p.keyValue(c)
			if err != nil {
				return nil, err
			}
			ip.Keys = append(ip.Keys, kb)
		default:
			return nil, p.fail(NotValid, "unexpected element %s in INSTANCENAME", c.Name.Local)
		}
	}
}

func (p *parser) keyValue(se *xml.StartElement) (KeyBinding, error) {
	if se.Name.Local == "VALUE.REFERENCE" {
		ref, cls, err := p.valueReference()
		if err != nil {
			return KeyBinding{}, err
		}
		if ref == nil {
			return KeyBinding{}, p.fail(NotValid, "class reference %s used as key", cls)
		}
		return KeyBinding{Type: TypeReference, Ref: ref}, nil
	}
	vt, _ := attr(se, "VALUETYPE")
	switch vt {
	case "", "string", "boolean", "numeric":
	default:
		return KeyBinding{}, p.fail(NotValid, "KEYVALUE VALUETYPE %q", vt)
	}
	t, _ := attr(se, "TYPE")
	v, err := p.text("KEYVALUE")
	if err != nil {
		return KeyBinding{}, err
	}
	if vt == "" {
		vt = "string"
	}
	return KeyBinding{ValueType: vt, Type: t, Value: v}, nil
}

// valueReference reads the content of VALUE.REFERENCE. A reference to an
// instance returns the path; a reference to a class returns the class name.
func (p *parser) valueReference() (*InstancePath, string, error) {
	c, err := p.child()
	if err != nil {
		return nil, "", err
	}
	if c == nil {
		return nil, "", p.fail(NotValid, "empty VALUE.REFERENCE")
	}
	var ip *InstancePath
	var cls string
	switch c.Name.Local {
	case "INSTANCEPATH":
		if ip, err = p.instancePath(); err != nil {
			return nil, "", err
		}
	case "LOCALINSTANCEPATH":
		if ip, err = p.localInstancePath(); err != nil {
			return nil, "", err
		}
	case "INSTANCENAME":
		if ip, err = p.instanceName(c); err != nil {
			return nil, "", err
		}
	case "CLASSNAME":
		if cls, err = p.className(c); err != nil {
			return nil, "", err
		}
	case "LOCALCLASSPATH":
		if _, cls, err = p.localClassPath(); err != nil {
			return nil, "", err
		}
	case "CLASSPATH":
		if err := p.skip(); err != nil {
			return nil, "", err
		}
		return nil, "", p.fail(NotValid, "CLASSPATH references are not supported")
	default:
		return nil, "", p.fail(NotValid, "unexpected element %s in VALUE.REFERENCE", c.Name.Local)
	}
	return ip, cls, p.end("VALUE.REFERENCE")
}

// instancePath reads NAMESPACEPATH, INSTANCENAME of an INSTANCEPATH.
func (p *parser) instancePath() (*InstancePath, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	if err := p.expect(c, "NAMESPACEPATH"); err != nil {
		return nil, err
	}
	h, err := p.child()
	if err != nil {
		return nil, err
	}
	if err := p.expect(h, "HOST"); err != nil {
		return nil, err
	}
	host, err := p.text("HOST")
	if err != nil {
		return nil, err
	}
	l, err := p.child()
	if err != nil {
		return nil, err
	}
	if err := p.expect(l, "LOCALNAMESPACEPATH"); err != nil {
		return nil, err
	}
	ns, err := p.localNamespacePath()
	if err != nil {
		return nil, err
	}
	if err := p.end("NAMESPACEPATH"); err != nil {
		return nil, err
	}
	in, err := p.child()
	if err != nil {
		return nil, err
	}
	if err := p.expect(in, "INSTANCENAME"); err != nil {
		return nil, err
	}
	ip, err := p.instanceName(in)
	if err != nil {
		return nil, err
	}
	ip.Host, ip.Namespace = strings.TrimSpace(host), ns
	return ip, p.end("INSTANCEPATH")
}

func (p *parser) paramValue(se *xml.StartElement, extrinsic bool) (Param, error) {
	name, err := p.need(se, "NAME")
	if err != nil {
		return Param{}, err
	}
	prm := Param{Name: name}
	if extrinsic {
		prm.ParamType, _ = attr(se, "PARAMTYPE")
		prm.EmbeddedObject, _ = attr(se, "EmbeddedObject")
	}
	c, err := p.child()
	if err != nil {
		return Param{}, err
	}
	if c == nil {
		return prm, nil
	}
	v := &prm.Value
	switch c.Name.Local {
	case "VALUE":
		v.Kind = KindValue
		if v.Text, err = p.text("VALUE"); err != nil {
			return Param{}, err
		}
	case "VALUE.ARRAY":
		v.Kind = KindArray
		if v.Items, v.Nulls, err = p.valueArray(); err != nil {
			return Param{}, err
		}
	case "VALUE.REFERENCE":
		v.Kind = KindReference
		if v.Path, v.ClassName, err = p.valueReference(); err != nil {
			return Param{}, err
		}
	case "VALUE.REFARRAY":
		v.Kind = KindRefArray
		for {
			r, err := p.child()
			if err != nil {
				return Param{}, err
			}
			if r == nil {
				break
			}
			switch r.Name.Local {
			case "VALUE.REFERENCE":
				ip, cls, err := p.valueReference()
				if err != nil {
					return Param{}, err
				}
				if ip == nil {
					return Param{}, p.fail(NotValid, "class reference %s in VALUE.REFARRAY", cls)
				}
				v.Refs = append(v.Refs, ip)
			case "VALUE.NULL":
				if err := p.empty("VALUE.NULL"); err != nil {
					return Param{}, err
				}
				v.Refs = append(v.Refs, nil)
			default:
				return Param{}, p.fail(NotValid, "unexpected element %s in VALUE.REFARRAY", r.Name.Local)
			}
		}
	case "INSTANCENAME":
		v.Kind = KindInstanceName
		if v.Path, err = p.instanceName(c); err != nil {
			return Param{}, err
		}
	case "CLASSNAME":
		v.Kind = KindClassName
		if v.ClassName, err = p.className(c); err != nil {
			return Param{}, err
		}
	case "INSTANCE":
		v.Kind = KindInstance
		if v.Instance, err = p.instance(c); err != nil {
			return Param{}, err
		}
	case "VALUE.NAMEDINSTANCE":
		v.Kind = KindNamedInstance
		in, err := p.child()
		if err != nil {
			return Param{}, err
		}
		if err := p.expect(in, "INSTANCENAME"); err != nil {
			return Param{}, err
		}
		if v.Path, err = p.instanceName(in); err != nil {
			return Param{}, err
		}
		inst, err := p.child()
		if err != nil {
			return Param{}, err
		}
		if err := p.expect(inst, "INSTANCE"); err != nil {
			return Param{}, err
		}
		if v.Instance, err = p.instance(inst); err != nil {
			return Param{}, err
		}
		if err := p.end("VALUE.NAMEDINSTANCE"); err != nil {
			return Param{}, err
		}
	default:
		return Param{}, p.fail(NotValid, "unsupported value element %s in %s", c.Name.Local, se.Name.Local)
	}
	return prm, p.end(se.Name.Local)
}

// valueArray reads (VALUE | VALUE.NULL)* up to the end of VALUE.ARRAY.
func (p *parser) valueArray() ([]string, []bool, error) {
	items := []string{}
	var nulls []bool
	for {
		c, err := p.child()
		if err != nil {
			return nil, nil, err
		}
		if c == nil {
			return items, nulls, nil
		}
		switch c.Name.Local {
		case "VALUE":
			s, err := p.text("VALUE")
			if err != nil {
				return nil, nil, err
			}
			items = append(items, s)
			if nulls != nil {
				nulls = append(nulls, false)
			}
		case "VALUE.NULL":
			if err := p.empty("VALUE.NULL"); err != nil {
				return nil, nil, err
			}
			if nulls == nil {
				nulls = make([]bool, len(items), len(items)+1)
			}
			items = append(items, "")
			nulls = append(nulls, true)
		default:
			return nil, nil, p.fail(NotValid, "unexpected element %s in VALUE.ARRAY", c.Name.Local)
		}
	}
}

func parseBoolAttr(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }

func (p *parser) qualifier(se *xml.StartElement) (Qualifier, error) {
	var q Qualifier
	var err error
	if q.Name, err = p.need(se, "NAME"); err != nil {
		return q, err
	}
	if q.Type, err = p.need(se, "TYPE"); err != nil {
		return q, err
	}
	if s, ok := attr(se, "PROPAGATED"); ok {
		q.Propagated = parseBoolAttr(s)
	}
	for _, f := range []struct {
		name string
		dst  **bool
	}{{"OVERRIDABLE", &q.Overridable}, {"TOSUBCLASS", &q.ToSubclass}, {"TRANSLATABLE", &q.Translatable}} {
		if s, ok := attr(se, f.name); ok {
			b := parseBoolAttr(s)
			*f.dst = &b
		}
	}
	c, err := p.child()
	if err != nil {
		return q, err
	}
	if c == nil {
		q.Null = true
		return q, nil
	}
	switch c.Name.Local {
	case "VALUE":
		if q.Value, err = p.text("VALUE"); err != nil {
			return q, err
		}
	case "VALUE.ARRAY":
		q.Array = true
		if q.Values, _, err = p.valueArray(); err != nil {
			return q, err
		}
	default:
		return q, p.fail(NotValid, "unexpected element %s in QUALIFIER", c.Name.Local)
	}
	return q, p.end("QUALIFIER")
}

// instance reads an INSTANCE element (as sent in CreateInstance and
// ModifyInstance).
func (p *parser) instance(se *xml.StartElement) (*Instance, error) {
	cls, err := p.need(se, "CLASSNAME")
	if err != nil {
		return nil, err
	}
	in := &Instance{ClassName: cls}
	for {
		c, err := p.child()
		if err != nil {
			return nil, err
		}
		if c == nil {
			return in, nil
		}
		switch c.Name.Local {
		case "QUALIFIER":
			q, err := p.qualifier(c)
			if err != nil {
				return nil, err
			}
			in.Qualifiers = append(in.Qualifiers, q)
		case "PROPERTY", "PROPERTY.ARRAY", "PROPERTY.REFERENCE":
			pr, err := p.property(c)
			if err != nil {
				return nil, err
			}
			in.Properties = append(in.Properties, pr)
		default:
			return nil, p.fail(NotValid, "unexpected element %s in INSTANCE", c.Name.Local)
		}
	}
}

func (p *parser) property(se *xml.StartElement) (Property, error) {
	var pr Property
	var err error
	if pr.Name, err = p.need(se, "NAME"); err != nil {
		return pr, err
	}
	kind := se.Name.Local
	if kind == "PROPERTY.REFERENCE" {
		pr.Type = TypeReference
		pr.RefClass, _ = attr(se, "REFERENCECLASS")
	} else if pr.Type, err = p.need(se, "TYPE"); err != nil {
		return pr, err
	}
	pr.Array = kind == "PROPERTY.ARRAY"
	if s, ok := attr(se, "ARRAYSIZE"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return pr, p.fail(NotValid, "ARRAYSIZE %q", s)
		}
		pr.ArraySize = n
	}
	pr.ClassOrigin, _ = attr(se, "CLASSORIGIN")
	if s, ok := attr(se, "PROPAGATED"); ok {
		pr.Propagated = parseBoolAttr(s)
	}
	pr.EmbeddedObject, _ = attr(se, "EmbeddedObject")
	pr.Null = true
	for {
		c, err := p.child()
		if err != nil {
			return pr, err
		}
		if c == nil {
			return pr, nil
		}
		switch {
		case c.Name.Local == "QUALIFIER":
			q, err := p.qualifier(c)
			if err != nil {
				return pr, err
			}
			pr.Qualifiers = append(pr.Qualifiers, q)
		case c.Name.Local == "VALUE" && kind == "PROPERTY" && pr.Null:
			if pr.Value, err = p.text("VALUE"); err != nil {
				return pr, err
			}
			pr.Null = false
		case c.Name.Local == "VALUE.ARRAY" && kind == "PROPERTY.ARRAY" && pr.Null:
			if pr.Values, _, err = p.valueArray(); err != nil {
				return pr, err
			}
			pr.Null = false
		case c.Name.Local == "VALUE.REFERENCE" && kind == "PROPERTY.REFERENCE" && pr.Null:
			ref, cls, err := p.valueReference()
			if err != nil {
				return pr, err
			}
			if ref == nil {
				return pr, p.fail(NotValid, "class reference %s as property value", cls)
			}
			pr.Ref, pr.Null = ref, false
		default:
			return pr, p.fail(NotValid, "unexpected element %s in %s", c.Name.Local, kind)
		}
	}
}
