package cimxml

import "strings"

// CIM data type names as they appear in TYPE and PARAMTYPE attributes.
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeChar16    = "char16"
	TypeDatetime  = "datetime"
	TypeReference = "reference"
	TypeUint8     = "uint8"
	TypeUint16    = "uint16"
	TypeUint32    = "uint32"
	TypeUint64    = "uint64"
	TypeSint8     = "sint8"
	TypeSint16    = "sint16"
	TypeSint32    = "sint32"
	TypeSint64    = "sint64"
	TypeReal32    = "real32"
	TypeReal64    = "real64"
)

// IsNumericType reports whether t is one of the integer or real CIM types.
func IsNumericType(t string) bool {
	switch t {
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64,
		TypeSint8, TypeSint16, TypeSint32, TypeSint64, TypeReal32, TypeReal64:
		return true
	}
	return false
}

// ValueTypeOf returns the KEYVALUE VALUETYPE attribute ("string", "boolean"
// or "numeric") for the CIM type t.
func ValueTypeOf(t string) string {
	switch {
	case t == TypeBoolean:
		return "boolean"
	case IsNumericType(t):
		return "numeric"
	}
	return "string"
}

// KeyBinding is one key of an instance name: a KEYBINDING with either a
// KEYVALUE (Value, ValueType, Type) or a VALUE.REFERENCE (Ref).
type KeyBinding struct {
	Name string
	// ValueType is the VALUETYPE attribute: "string", "boolean" or
	// "numeric"; empty on input means "string" (DSP0201 default).
	ValueType string
	// Type is the CIM type (TYPE attribute); clients such as wbemcli omit it.
	Type string
	// Value is the key value text.
	Value string
	// Ref is set for reference-valued keys.
	Ref *InstancePath
}

// InstancePath names an instance: INSTANCEPATH, LOCALINSTANCEPATH or
// INSTANCENAME depending on which of Host and Namespace are set.
type InstancePath struct {
	Host      string
	Namespace string // "root/cimv2"; empty for a bare INSTANCENAME
	ClassName string
	Keys      []KeyBinding
}

// Key returns the binding named name (case-insensitively), or nil.
func (p *InstancePath) Key(name string) *KeyBinding {
	for i := range p.Keys {
		if strings.EqualFold(p.Keys[i].Name, name) {
			return &p.Keys[i]
		}
	}
	return nil
}

// Qualifier is a QUALIFIER on a class, property, method or parameter.
type Qualifier struct {
	Name   string
	Type   string
	Array  bool
	Null   bool
	Value  string
	Values []string
	// Propagated is the PROPAGATED attribute.
	Propagated bool
	// Flavors; nil means the DSP0201 default.
	Overridable  *bool
	ToSubclass   *bool
	Translatable *bool
}

// Property is a PROPERTY, PROPERTY.ARRAY or PROPERTY.REFERENCE of an
// instance or a class (where Value/Values is the default value).
type Property struct {
	Name string
	// Type is the CIM type; TypeReference for PROPERTY.REFERENCE.
	Type string
	// Array selects PROPERTY.ARRAY; ArraySize is its fixed size or 0.
	Array     bool
	ArraySize int
	// RefClass is the REFERENCECLASS of a reference property.
	RefClass string
	// Null marks a NULL value (no VALUE element).
	Null   bool
	Value  string
	Values []string
	// Ref is the value of a reference property.
	Ref            *InstancePath
	ClassOrigin    string
	Propagated     bool
	EmbeddedObject string // "instance" or "object" when the string holds embedded CIM-XML
	Qualifiers     []Qualifier
}

// Instance is an INSTANCE element.
type Instance struct {
	ClassName  string
	Qualifiers []Qualifier
	Properties []Property
}

// Property returns the property named name (case-insensitively), or nil.
func (in *Instance) Property(name string) *Property {
	for i := range in.Properties {
		if strings.EqualFold(in.Properties[i].Name, name) {
			return &in.Properties[i]
		}
	}
	return nil
}

// Parameter is a method parameter declaration: PARAMETER,
// PARAMETER.REFERENCE, PARAMETER.ARRAY or PARAMETER.REFARRAY.
type Parameter struct {
	Name       string
	Type       string // TypeReference for the reference forms
	RefClass   string
	Array      bool
	ArraySize  int
	Qualifiers []Qualifier
}

// Method is a METHOD declaration of a class.
type Method struct {
	Name        string
	Type        string // return type; "" for void
	ClassOrigin string
	Propagated  bool
	Qualifiers  []Qualifier
	Parameters  []Parameter
}

// Class is a CLASS element.
type Class struct {
	Name       string
	Superclass string
	Qualifiers []Qualifier
	Properties []Property
	Methods    []Method
}

// ValueKind tells which form a decoded parameter value took.
type ValueKind uint8

// The value forms of IPARAMVALUE and PARAMVALUE.
const (
	KindNone          ValueKind = iota // empty IPARAMVALUE/PARAMVALUE: NULL
	KindValue                          // VALUE
	KindArray                          // VALUE.ARRAY
	KindReference                      // VALUE.REFERENCE
	KindRefArray                       // VALUE.REFARRAY
	KindInstanceName                   // INSTANCENAME
	KindClassName                      // CLASSNAME
	KindInstance                       // INSTANCE
	KindNamedInstance                  // VALUE.NAMEDINSTANCE
)

// Value is a parameter value of a request in one of the forms of
// [ValueKind]. The text forms are kept as on the wire; package wbem coerces
// them with the class definition.
type Value struct {
	Kind ValueKind
	// Text is the VALUE content for KindValue.
	Text string
	// Items are the VALUE.ARRAY elements; Nulls[i] marks VALUE.NULL (Nulls
	// is nil when no element is NULL).
	Items []string
	Nulls []bool
	// Path is set for KindReference, KindInstanceName and KindNamedInstance;
	// Refs for KindRefArray.
	Path *InstancePath
	Refs []*InstancePath
	// ClassName is set for KindClassName (and for a VALUE.REFERENCE to a class).
	ClassName string
	// Instance is set for KindInstance and KindNamedInstance.
	Instance *Instance
}

// Param is one IPARAMVALUE or PARAMVALUE of a request.
type Param struct {
	Name string
	// ParamType is the PARAMTYPE attribute of a PARAMVALUE; empty when the
	// client sent none (wbemcli never does).
	ParamType      string
	EmbeddedObject string
	Value          Value
}

// Request is a decoded SIMPLEREQ.
type Request struct {
	CIMVersion      string
	DTDVersion      string
	MessageID       string
	ProtocolVersion string
	// Intrinsic is true for IMETHODCALL, false for METHODCALL.
	Intrinsic bool
	// Method is the NAME of the (I)METHODCALL.
	Method string
	// Namespace is the target namespace ("root/cimv2").
	Namespace string
	// For METHODCALL: Instance is the LOCALINSTANCEPATH target, or ClassName
	// the LOCALCLASSPATH target of a static method.
	Instance  *InstancePath
	ClassName string
	Params    []Param
}

// Param returns the parameter named name (case-insensitively), or nil.
func (r *Request) Param(name string) *Param {
	for i := range r.Params {
		if strings.EqualFold(r.Params[i].Name, name) {
			return &r.Params[i]
		}
	}
	return nil
}
