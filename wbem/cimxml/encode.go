package cimxml

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Encoder writes CIM-XML responses and export requests to a buffered
// writer. Methods record the first write error; [Encoder.Flush] returns it.
// The Start*/End* methods must be balanced by the caller.
type Encoder struct {
	w   *bufio.Writer
	err error
	// Host is written as NAMESPACEPATH/HOST of INSTANCEPATHs whose Host is
	// empty.
	Host string
}

// NewEncoder returns an Encoder writing to w through a 32 KiB buffer.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: bufio.NewWriterSize(w, 32<<10), Host: "localhost"}
}

// Flush writes buffered data and returns the first error seen.
func (e *Encoder) Flush() error {
	if e.err != nil {
		return e.err
	}
	e.err = e.w.Flush()
	return e.err
}

// Err returns the first write error seen.
func (e *Encoder) Err() error { return e.err }

func (e *Encoder) raw(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

// escape writes s escaping with named entities only: & < > always, and " in
// attributes. Characters not allowed in XML 1.0 become U+FFFD.
func (e *Encoder) escape(s string, inAttr bool) {
	if e.err != nil {
		return
	}
	if plain(s) {
		_, e.err = e.w.WriteString(s)
		return
	}
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var rep string
		width := 1
		switch {
		case c == '&':
			rep = "&amp;"
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == '"' && inAttr:
			rep = "&quot;"
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			rep = "\uFFFD"
		case c >= utf8.RuneSelf:
			r, w := utf8.DecodeRuneInString(s[i:])
			width = w
			if (r == utf8.RuneError && w == 1) || r == 0xFFFE || r == 0xFFFF {
				rep = "\uFFFD"
			}
		}
		if rep == "" {
			i += width
			continue
		}
		e.w.WriteString(s[last:i])
		e.w.WriteString(rep)
		i += width
		last = i
	}
	_, e.err = e.w.WriteString(s[last:])
}

// plain reports whether s is printable ASCII without markup characters,
// the common case, which needs no escaping at all.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '&' || c == '<' || c == '>' || c == '"' {
			return false
		}
	}
	return true
}

func (e *Encoder) attr(name, value string) {
	e.raw(" ")
	e.raw(name)
	e.raw(`="`)
	e.escape(value, true)
	e.raw(`"`)
}

func (e *Encoder) start(elem string) {
	e.raw("<")
	e.raw(elem)
}

func (e *Encoder) end(elem string) {
	e.raw("</")
	e.raw(elem)
	e.raw(">")
}

// value writes <VALUE>s</VALUE>; never self-closing.
func (e *Encoder) value(s string) {
	e.raw("<VALUE>")
	e.escape(s, false)
	e.raw("</VALUE>")
}

func (e *Encoder) valueArray(vs []string) {
	e.raw("<VALUE.ARRAY>")
	for _, v := range vs {
		e.value(v)
	}
	e.raw("</VALUE.ARRAY>")
}

func (e *Encoder) header(id string) {
	e.raw(`<?xml version="1.0" encoding="utf-8" ?>` + "\n" + `<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE`)
	e.attr("ID", id)
	e.raw(` PROTOCOLVERSION="1.0">`)
}

// StartIMethodResponse writes the envelope up to IMETHODRESPONSE.
func (e *Encoder) StartIMethodResponse(id, method string) {
	e.header(id)
	e.raw("<SIMPLERSP><IMETHODRESPONSE")
	e.attr("NAME", method)
	e.raw(">")
}

// EndIMethodResponse closes what StartIMethodResponse opened.
func (e *Encoder) EndIMethodResponse() {
	e.raw("</IMETHODRESPONSE></SIMPLERSP></MESSAGE></CIM>\n")
}

// StartMethodResponse writes the envelope up to METHODRESPONSE.
func (e *Encoder) StartMethodResponse(id, method string) {
	e.header(id)
	e.raw("<SIMPLERSP><METHODRESPONSE")
	e.attr("NAME", method)
	e.raw(">")
}

// EndMethodResponse closes what StartMethodResponse opened.
func (e *Encoder) EndMethodResponse() {
	e.raw("</METHODRESPONSE></SIMPLERSP></MESSAGE></CIM>\n")
}

// StartIReturnValue opens IRETURNVALUE.
func (e *Encoder) StartIReturnValue() { e.raw("<IRETURNVALUE>") }

// EndIReturnValue closes IRETURNVALUE.
func (e *Encoder) EndIReturnValue() { e.raw("</IRETURNVALUE>") }

// Error writes an ERROR element (inside a method response).
func (e *Encoder) Error(code int, description string) {
	e.raw("<ERROR")
	e.attr("CODE", strconv.Itoa(code))
	if description != "" {
		e.attr("DESCRIPTION", description)
	}
	e.raw("/>")
}

// Value writes a VALUE.
func (e *Encoder) Value(s string) { e.value(s) }

// ValueArray writes a VALUE.ARRAY.
func (e *Encoder) ValueArray(vs []string) { e.valueArray(vs) }

// ValueReference writes a VALUE.REFERENCE holding an INSTANCEPATH.
func (e *Encoder) ValueReference(p *InstancePath) {
	e.raw("<VALUE.REFERENCE>")
	e.InstancePath(p)
	e.raw("</VALUE.REFERENCE>")
}

// ClassName writes CLASSNAME.
func (e *Encoder) ClassName(name string) {
	e.raw("<CLASSNAME")
	e.attr("NAME", name)
	e.raw("/>")
}

func (e *Encoder) localNamespacePath(ns string) {
	e.raw("<LOCALNAMESPACEPATH>")
	for part := range strings.SplitSeq(ns, "/") {
		if part == "" {
			continue
		}
		e.raw("<NAMESPACE")
		e.attr("NAME", part)
		e.raw("/>")
	}
	e.raw("</LOCALNAMESPACEPATH>")
}

// InstanceName writes INSTANCENAME with KEYBINDINGs. KEYVALUE carries both
// VALUETYPE and TYPE; a missing TYPE is derived from VALUETYPE.
func (e *Encoder) InstanceName(p *InstancePath) {
	e.raw("<INSTANCENAME")
	e.attr("CLASSNAME", p.ClassName)
	e.raw(">")
	for i := range p.Keys {
		k := &p.Keys[i]
		e.raw("<KEYBINDING")
		e.attr("NAME", k.Name)
		e.raw(">")
		if k.Ref != nil {
			e.ValueReference(k.Ref)
		} else {
			vt, t := k.ValueType, k.Type
			if t == "" {
				switch vt {
				case "boolean":
					t = TypeBoolean
				case "numeric":
					t = TypeSint64
				default:
					t = TypeString
				}
			}
			if vt == "" {
				vt = ValueTypeOf(t)
			}
			e.raw(`<KEYVALUE VALUETYPE="`)
			e.raw(vt)
			e.raw(`" TYPE="`)
			e.raw(t)
			e.raw(`">`)
			e.escape(k.Value, false)
			e.raw("</KEYVALUE>")
		}
		e.raw("</KEYBINDING>")
	}
	e.raw("</INSTANCENAME>")
}

// InstancePath writes INSTANCEPATH (NAMESPACEPATH with HOST, INSTANCENAME).
func (e *Encoder) InstancePath(p *InstancePath) {
	host := p.Host
	if host == "" {
		host = e.Host
	}
	e.raw("<INSTANCEPATH><NAMESPACEPATH><HOST>")
	e.escape(host, false)
	e.raw("</HOST>")
	e.localNamespacePath(p.Namespace)
	e.raw("</NAMESPACEPATH>")
	e.InstanceName(p)
	e.raw("</INSTANCEPATH>")
}

// ObjectPath writes OBJECTPATH/INSTANCEPATH (AssociatorNames,
// ReferenceNames).
func (e *Encoder) ObjectPath(p *InstancePath) {
	e.raw("<OBJECTPATH>")
	e.InstancePath(p)
	e.raw("</OBJECTPATH>")
}

// InstanceOptions select what an INSTANCE carries.
type InstanceOptions struct {
	// ClassOrigin writes CLASSORIGIN and PROPAGATED attributes.
	ClassOrigin bool
	// Qualifiers writes instance and property qualifiers.
	Qualifiers bool
	// Include, when non-nil, filters properties by name (PropertyList).
	Include func(name string) bool
}

// Instance writes INSTANCE.
func (e *Encoder) Instance(in *Instance, o InstanceOptions) {
	e.raw("<INSTANCE")
	e.attr("CLASSNAME", in.ClassName)
	e.raw(">")
	if o.Qualifiers {
		for i := range in.Qualifiers {
			e.Qualifier(&in.Qualifiers[i])
		}
	}
	for i := range in.Properties {
		p := &in.Properties[i]
		if o.Include != nil && !o.Include(p.Name) {
			continue
		}
		e.property(p, o.ClassOrigin, o.Qualifiers)
	}
	e.raw("</INSTANCE>")
}

// NamedInstance writes VALUE.NAMEDINSTANCE (EnumerateInstances).
func (e *Encoder) NamedInstance(p *InstancePath, in *Instance, o InstanceOptions) {
	e.raw("<VALUE.NAMEDINSTANCE>")
	e.InstanceName(p)
	e.Instance(in, o)
	e.raw("</VALUE.NAMEDINSTANCE>")
}

// ObjectWithPath writes VALUE.OBJECTWITHPATH (Associators, References,
// ExecQuery).
func (e *Encoder) ObjectWithPath(p *InstancePath, in *Instance, o InstanceOptions) {
	e.raw("<VALUE.OBJECTWITHPATH>")
	e.InstancePath(p)
	e.Instance(in, o)
	e.raw("</VALUE.OBJECTWITHPATH>")
}

// InstanceWithPath writes VALUE.INSTANCEWITHPATH (pull operations).
func (e *Encoder) InstanceWithPath(p *InstancePath, in *Instance, o InstanceOptions) {
	e.raw("<VALUE.INSTANCEWITHPATH>")
	e.InstancePath(p)
	e.Instance(in, o)
	e.raw("</VALUE.INSTANCEWITHPATH>")
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (e *Encoder) property(p *Property, origin, quals bool) {
	elem := "PROPERTY"
	switch {
	case p.Type == TypeReference:
		elem = "PROPERTY.REFERENCE"
	case p.Array:
		elem = "PROPERTY.ARRAY"
	}
	e.start(elem)
	e.attr("NAME", p.Name)
	if p.Type == TypeReference {
		if p.RefClass != "" {
			e.attr("REFERENCECLASS", p.RefClass)
		}
	} else {
		e.attr("TYPE", p.Type)
	}
	if p.Array && p.ArraySize > 0 {
		e.attr("ARRAYSIZE", strconv.Itoa(p.ArraySize))
	}
	if origin && p.ClassOrigin != "" {
		e.attr("CLASSORIGIN", p.ClassOrigin)
		if p.Propagated {
			e.raw(` PROPAGATED="true"`)
		}
	}
	if p.EmbeddedObject != "" {
		e.attr("EmbeddedObject", p.EmbeddedObject)
	}
	e.raw(">")
	if quals {
		for i := range p.Qualifiers {
			e.Qualifier(&p.Qualifiers[i])
		}
	}
	if !p.Null {
		switch {
		case p.Type == TypeReference:
			if p.Ref != nil {
				e.ValueReference(p.Ref)
			}
		case p.Array:
			e.valueArray(p.Values)
		default:
			e.value(p.Value)
		}
	}
	e.end(elem)
}

// Qualifier writes QUALIFIER with its flavors; never self-closing.
func (e *Encoder) Qualifier(q *Qualifier) {
	e.raw("<QUALIFIER")
	e.attr("NAME", q.Name)
	e.attr("TYPE", q.Type)
	if q.Propagated {
		e.raw(` PROPAGATED="true"`)
	}
	if q.Overridable != nil {
		e.attr("OVERRIDABLE", boolText(*q.Overridable))
	}
	if q.ToSubclass != nil {
		e.attr("TOSUBCLASS", boolText(*q.ToSubclass))
	}
	if q.Translatable != nil {
		e.attr("TRANSLATABLE", boolText(*q.Translatable))
	}
	e.raw(">")
	if !q.Null {
		if q.Array {
			e.valueArray(q.Values)
		} else {
			e.value(q.Value)
		}
	}
	e.raw("</QUALIFIER>")
}

// ClassOptions select what a CLASS carries.
type ClassOptions struct {
	Qualifiers  bool
	ClassOrigin bool
	// Include, when non-nil, filters properties by name (PropertyList).
	Include func(name string) bool
}

// Class writes CLASS with qualifiers, properties, methods and parameters.
func (e *Encoder) Class(c *Class, o ClassOptions) {
	e.raw("<CLASS")
	e.attr("NAME", c.Name)
	if c.Superclass != "" {
		e.attr("SUPERCLASS", c.Superclass)
	}
	e.raw(">")
	if o.Qualifiers {
		for i := range c.Qualifiers {
			e.Qualifier(&c.Qualifiers[i])
		}
	}
	for i := range c.Properties {
		p := &c.Properties[i]
		if o.Include != nil && !o.Include(p.Name) {
			continue
		}
		e.property(p, o.ClassOrigin, o.Qualifiers)
	}
	for i := range c.Methods {
		e.method(&c.Methods[i], o)
	}
	e.raw("</CLASS>")
}

func (e *Encoder) method(m *Method, o ClassOptions) {
	e.raw("<METHOD")
	e.attr("NAME", m.Name)
	if m.Type != "" {
		e.attr("TYPE", m.Type)
	}
	if o.ClassOrigin && m.ClassOrigin != "" {
		e.attr("CLASSORIGIN", m.ClassOrigin)
		if m.Propagated {
			e.raw(` PROPAGATED="true"`)
		}
	}
	e.raw(">")
	if o.Qualifiers {
		for i := range m.Qualifiers {
			e.Qualifier(&m.Qualifiers[i])
		}
	}
	for i := range m.Parameters {
		p := &m.Parameters[i]
		elem := "PARAMETER"
		switch {
		case p.Type == TypeReference && p.Array:
			elem = "PARAMETER.REFARRAY"
		case p.Type == TypeReference:
			elem = "PARAMETER.REFERENCE"
		case p.Array:
			elem = "PARAMETER.ARRAY"
		}
		e.start(elem)
		e.attr("NAME", p.Name)
		if p.Type == TypeReference {
			if p.RefClass != "" {
				e.attr("REFERENCECLASS", p.RefClass)
			}
		} else {
			e.attr("TYPE", p.Type)
		}
		if p.Array && p.ArraySize > 0 {
			e.attr("ARRAYSIZE", strconv.Itoa(p.ArraySize))
		}
		e.raw(">")
		if o.Qualifiers {
			for j := range p.Qualifiers {
				e.Qualifier(&p.Qualifiers[j])
			}
		}
		e.end(elem)
	}
	e.raw("</METHOD>")
}

// ReturnValue writes RETURNVALUE with PARAMTYPE and a VALUE.
func (e *Encoder) ReturnValue(typ, value string) {
	e.raw("<RETURNVALUE")
	if typ != "" {
		e.attr("PARAMTYPE", typ)
	}
	e.raw(">")
	e.value(value)
	e.raw("</RETURNVALUE>")
}

// Argument is a typed parameter value: an input of an extrinsic method
// after package wbem coerced it with the method declaration, or an output
// parameter written by [Encoder.ParamValue].
type Argument struct {
	Name string
	Type string // CIM type; TypeReference for Ref/Refs
	// Null writes an empty PARAMVALUE.
	Null   bool
	Array  bool
	Value  string
	Values []string
	Ref    *InstancePath
	Refs   []*InstancePath
	// EmbeddedObject is "instance" or "object" for embedded-object strings.
	EmbeddedObject string
}

// ParamValue writes a PARAMVALUE with PARAMTYPE.
func (e *Encoder) ParamValue(p *Argument) {
	e.raw("<PARAMVALUE")
	e.attr("NAME", p.Name)
	if p.Type != "" {
		e.attr("PARAMTYPE", p.Type)
	}
	if p.EmbeddedObject != "" {
		e.attr("EmbeddedObject", p.EmbeddedObject)
	}
	e.raw(">")
	if !p.Null {
		switch {
		case p.Type == TypeReference && p.Array:
			e.raw("<VALUE.REFARRAY>")
			for _, r := range p.Refs {
				if r == nil {
					e.raw("<VALUE.NULL/>")
				} else {
					e.ValueReference(r)
				}
			}
			e.raw("</VALUE.REFARRAY>")
		case p.Type == TypeReference:
			if p.Ref != nil {
				e.ValueReference(p.Ref)
			}
		case p.Array:
			e.valueArray(p.Values)
		default:
			e.value(p.Value)
		}
	}
	e.raw("</PARAMVALUE>")
}

// PullTrailer writes the EndOfSequence and EnumerationContext PARAMVALUEs
// that follow IRETURNVALUE in Open*/Pull* responses.
func (e *Encoder) PullTrailer(endOfSequence bool, context string) {
	eos := "FALSE"
	if endOfSequence {
		eos = "TRUE"
	}
	e.ParamValue(&Argument{Name: "EndOfSequence", Type: TypeBoolean, Value: eos})
	e.ParamValue(&Argument{Name: "EnumerationContext", Type: TypeString, Value: context})
}

// ExportIndication writes a complete ExportIndication request
// (SIMPLEEXPREQ/EXPMETHODCALL/EXPPARAMVALUE NewIndication/INSTANCE) with
// message id id; the HTTP headers (CIMExport: MethodRequest,
// CIMExportMethod: ExportIndication) are the caller's.
func (e *Encoder) ExportIndication(id string, indication *Instance) {
	e.header(id)
	e.raw(`<SIMPLEEXPREQ><EXPMETHODCALL NAME="ExportIndication"><EXPPARAMVALUE NAME="NewIndication">`)
	e.Instance(indication, InstanceOptions{})
	e.raw("</EXPPARAMVALUE></EXPMETHODCALL></SIMPLEEXPREQ></MESSAGE></CIM>\n")
}

// EmbedInstance returns the CIM-XML of in as a string, for a string
// property or parameter with EmbeddedObject="instance" (for example
// CIM_InstModification.SourceInstance). The encoder escapes it again when
// it writes the property.
func EmbedInstance(in *Instance) string {
	var b strings.Builder
	e := NewEncoder(&b)
	e.Instance(in, InstanceOptions{})
	_ = e.Flush() // strings.Builder does not fail
	return b.String()
}
