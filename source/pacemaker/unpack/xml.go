package unpack

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// element is a minimal XML tree: the CIB has no mixed content mgmtd needs,
// so text is dropped.
type element struct {
	name     string
	attrs    []xml.Attr
	children []*element
}

func (e *element) attr(name string) string {
	v, _ := e.lookup(name)
	return v
}

func (e *element) lookup(name string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// child returns the first child element with that name, or nil.
func (e *element) child(name string) *element {
	if e == nil {
		return nil
	}
	for _, c := range e.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// each calls f for every child element with that name.
func (e *element) each(name string, f func(*element)) {
	if e == nil {
		return
	}
	for _, c := range e.children {
		if c.name == name {
			f(c)
		}
	}
}

// maxDepth bounds element nesting; a CIB is about ten levels deep.
const maxDepth = 64

// parseTree decodes a whole document into a tree. Element nesting is
// checked by hand because RawToken (faster than Token) does not.
func parseTree(data []byte) (*element, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var stack []*element
	var root *element
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &ParseError{Offset: d.InputOffset(), Msg: err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, &ParseError{Offset: d.InputOffset(), Msg: "content after the root element"}
			}
			if len(stack) >= maxDepth {
				return nil, &ParseError{Offset: d.InputOffset(), Msg: fmt.Sprintf("elements nested deeper than %d", maxDepth)}
			}
			e := &element{name: t.Name.Local, attrs: t.Attr}
			if t.Name.Space != "" {
				e.name = t.Name.Space + ":" + t.Name.Local
			}
			if len(stack) == 0 {
				root = e
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			name := t.Name.Local
			if t.Name.Space != "" {
				name = t.Name.Space + ":" + t.Name.Local
			}
			if len(stack) == 0 || stack[len(stack)-1].name != name {
				return nil, &ParseError{Offset: d.InputOffset(), Msg: "unexpected end element </" + name + ">"}
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 && len(bytes.TrimSpace(t)) != 0 {
				return nil, &ParseError{Offset: d.InputOffset(), Msg: "text outside the root element"}
			}
		}
	}
	if root == nil {
		return nil, &ParseError{Msg: "no root element"}
	}
	if len(stack) != 0 {
		return nil, &ParseError{Offset: d.InputOffset(), Msg: "unexpected end of document (truncated?)"}
	}
	return root, nil
}

// ParseError is a document that is not a usable CIB.
type ParseError struct {
	Offset int64
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Offset > 0 {
		return fmt.Sprintf("cib xml at byte %d: %s", e.Offset, e.Msg)
	}
	return "cib xml: " + e.Msg
}

// ErrUnsupported is wrapped by the error Unpack returns for a CIB that
// uses something this package does not model (bundles, resource
// templates, rules in attribute sets): the caller should ask crm_mon.
var ErrUnsupported = errors.New("not supported by the native unpacker")

type xmlAttr = xml.Attr

func mkAttr(name, value string) xml.Attr {
	return xml.Attr{Name: xml.Name{Local: name}, Value: value}
}
