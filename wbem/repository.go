package wbem

import (
	"fmt"
	"slices"
	"strings"

	"mgmtd/wbem/cimxml"
)

// Class, Property, Method and the other CIM-XML types are shared with the
// codec; these aliases let providers use them without importing cimxml.
type (
	Class        = cimxml.Class
	Property     = cimxml.Property
	Method       = cimxml.Method
	Parameter    = cimxml.Parameter
	Qualifier    = cimxml.Qualifier
	Instance     = cimxml.Instance
	InstancePath = cimxml.InstancePath
	KeyBinding   = cimxml.KeyBinding
	Argument     = cimxml.Argument
)

// Repository holds the class definitions of one namespace. Classes are
// added superclass first; Add resolves inheritance at once, so lookups
// return the full class: inherited properties, methods and qualifiers
// (with CLASSORIGIN and PROPAGATED), overrides applied.
//
// A Repository is built once and then only read: Add must not be called
// concurrently with anything else; all other methods are safe for
// concurrent use after the last Add.
type Repository struct {
	local    map[string]*Class // lower-case name -> class as declared
	resolved map[string]*Class
	children map[string][]string    // lower-case parent ("" for roots) -> child names in Add order
	keys     map[string][]string    // lower-case class -> key property names, in key order
	keyProps map[string][]*Property // lower-case class -> key properties of the resolved class
	exact    map[string]*Class      // name as added -> resolved class (lookup without folding)
	order    []string
}

// NewRepository returns an empty repository.
func NewRepository() *Repository {
	return &Repository{local: map[string]*Class{}, resolved: map[string]*Class{}, children: map[string][]string{}, keys: map[string][]string{},
		keyProps: map[string][]*Property{}, exact: map[string]*Class{}}
}

// qualifiers that never propagate to subclasses (DSP0004 "Restricted").
var restricted = map[string]bool{"abstract": true}

func propagates(q *Qualifier) bool {
	if restricted[strings.ToLower(q.Name)] {
		return false
	}
	return q.ToSubclass == nil || *q.ToSubclass
}

// mergeQualifiers returns the inherited qualifiers (marked propagated)
// overridden by the local ones.
func mergeQualifiers(inherited, local []Qualifier) []Qualifier {
	out := make([]Qualifier, 0, len(inherited)+len(local))
	for _, q := range inherited {
		if !propagates(&q) {
			continue
		}
		if slices.ContainsFunc(local, func(l Qualifier) bool { return strings.EqualFold(l.Name, q.Name) }) {
			continue
		}
		q.Propagated = true
		out = append(out, q)
	}
	for _, q := range local {
		q.Propagated = false
		out = append(out, q)
	}
	return out
}

// Add adds classes in order; each superclass must already be present.
func (r *Repository) Add(classes ...*Class) error {
	for _, c := range classes {
		if err := r.add(c); err != nil {
			return err
		}
	}
	return nil
}

func (r *Repository) add(c *Class) error {
	if c.Name == "" {
		return fmt.Errorf("add class: empty name")
	}
	key := strings.ToLower(c.Name)
	if _, dup := r.local[key]; dup {
		return fmt.Errorf("add class %s: already defined", c.Name)
	}
	var parent *Class
	if c.Superclass != "" {
		parent = r.resolved[strings.ToLower(c.Superclass)]
		if parent == nil {
			return fmt.Errorf("add class %s: superclass %s not defined", c.Name, c.Superclass)
		}
	}
	res := &Class{Name: c.Name, Superclass: c.Superclass}
	if parent != nil {
		res.Superclass = parent.Name
		res.Qualifiers = mergeQualifiers(parent.Qualifiers, c.Qualifiers)
		for _, p := range parent.Properties {
			p.Propagated = true
			p.Qualifiers = mergeQualifiers(p.Qualifiers, nil)
			res.Properties = append(res.Properties, p)
		}
		for _, m := range parent.Methods {
			m.Propagated = true
			m.Qualifiers = mergeQualifiers(m.Qualifiers, nil)
			res.Methods = append(res.Methods, m)
		}
	} else {
		res.Qualifiers = mergeQualifiers(nil, c.Qualifiers)
	}
	for _, p := range c.Properties {
		if p.Name == "" || (p.Type == "" && p.RefClass == "") {
			return fmt.Errorf("add class %s: property %q lacks name or type", c.Name, p.Name)
		}
		if p.RefClass != "" {
			p.Type = cimxml.TypeReference
		}
		p.ClassOrigin, p.Propagated = c.Name, false
		i := slices.IndexFunc(res.Properties, func(q Property) bool { return strings.EqualFold(q.Name, p.Name) })
		if i >= 0 {
			p.Qualifiers = mergeQualifiers(res.Properties[i].Qualifiers, p.Qualifiers)
			res.Properties[i] = p
		} else {
			p.Qualifiers = mergeQualifiers(nil, p.Qualifiers)
			res.Properties = append(res.Properties, p)
		}
	}
	for _, m := range c.Methods {
		m.ClassOrigin, m.Propagated = c.Name, false
		for i := range m.Parameters {
			if m.Parameters[i].RefClass != "" {
				m.Parameters[i].Type = cimxml.TypeReference
			}
		}
		i := slices.IndexFunc(res.Methods, func(q Method) bool { return strings.EqualFold(q.Name, m.Name) })
		if i >= 0 {
			m.Qualifiers = mergeQualifiers(res.Methods[i].Qualifiers, m.Qualifiers)
			if m.Parameters == nil {
				m.Parameters = res.Methods[i].Parameters
			}
			res.Methods[i] = m
		} else {
			m.Qualifiers = mergeQualifiers(nil, m.Qualifiers)
			res.Methods = append(res.Methods, m)
		}
	}
	// Key order: inherited keys first, then keys in the order this class
	// declares them (CreationClassName before Name in CIM_System even
	// though Name is inherited from CIM_ManagedSystemElement).
	var keys []string
	if parent != nil {
		keys = slices.Clone(r.keys[strings.ToLower(parent.Name)])
	}
	for _, p := range c.Properties {
		if HasQualifier(p.Qualifiers, "Key") && !slices.ContainsFunc(keys, func(k string) bool { return strings.EqualFold(k, p.Name) }) {
			keys = append(keys, p.Name)
		}
	}
	r.keys[key] = keys
	var kp []*Property
	for _, k := range keys {
		if p := propertyOf(res, k); p != nil && HasQualifier(p.Qualifiers, "Key") {
			kp = append(kp, p)
		}
	}
	r.keyProps[key] = kp
	r.local[key] = c
	r.resolved[key] = res
	r.exact[c.Name] = res
	pk := ""
	if parent != nil {
		pk = strings.ToLower(parent.Name)
	}
	r.children[pk] = append(r.children[pk], c.Name)
	r.order = append(r.order, c.Name)
	return nil
}

// Class returns the resolved class named name (case-insensitively). The
// result is shared: callers must not modify it.
func (r *Repository) Class(name string) (*Class, bool) {
	if c, ok := r.exact[name]; ok {
		return c, true
	}
	c, ok := r.resolved[strings.ToLower(name)]
	return c, ok
}

// LocalClass returns the class as declared, without inherited elements.
func (r *Repository) LocalClass(name string) (*Class, bool) {
	c, ok := r.local[strings.ToLower(name)]
	return c, ok
}

// Names returns all class names in the order they were added.
func (r *Repository) Names() []string { return slices.Clone(r.order) }

// Subclasses returns the names of the direct subclasses of name (of the
// root classes when name is ""), or of all descendants when deep is true,
// parents before children.
func (r *Repository) Subclasses(name string, deep bool) []string {
	var out []string
	var walk func(string)
	walk = func(n string) {
		for _, c := range r.children[strings.ToLower(n)] {
			out = append(out, c)
			if deep {
				walk(c)
			}
		}
	}
	walk(name)
	return out
}

// IsA reports whether class is ancestor or one of its subclasses.
func (r *Repository) IsA(class, ancestor string) bool {
	for c, ok := r.resolved[strings.ToLower(class)]; ok; c, ok = r.resolved[strings.ToLower(c.Superclass)] {
		if strings.EqualFold(c.Name, ancestor) {
			return true
		}
		if c.Superclass == "" {
			break
		}
	}
	return false
}

// HasQualifier reports whether the qualifier list has a boolean qualifier
// name set to true.
func HasQualifier(qs []Qualifier, name string) bool {
	for _, q := range qs {
		if strings.EqualFold(q.Name, name) {
			return !q.Null && strings.EqualFold(q.Value, "true")
		}
	}
	return false
}

// IsAssociation reports whether class carries the Association qualifier.
func (r *Repository) IsAssociation(class string) bool {
	c, ok := r.Class(class)
	return ok && HasQualifier(c.Qualifiers, "Association")
}

// KeyProperties returns the key properties of class: inherited keys
// first, then each class's keys in the order it declares them. The result
// is shared: callers must not modify it.
func (r *Repository) KeyProperties(class string) []*Property {
	c, ok := r.Class(class)
	if !ok {
		return nil
	}
	if c2, ok := r.exact[c.Name]; ok && c2 == c {
		return r.keyProps[strings.ToLower(c.Name)]
	}
	return nil
}

func propertyOf(c *Class, name string) *Property {
	for i := range c.Properties {
		if strings.EqualFold(c.Properties[i].Name, name) {
			return &c.Properties[i]
		}
	}
	return nil
}

func methodOf(c *Class, name string) *Method {
	for i := range c.Methods {
		if strings.EqualFold(c.Methods[i].Name, name) {
			return &c.Methods[i]
		}
	}
	return nil
}

func ptrBool(b bool) *bool { return &b }

// BoolQualifier returns a boolean qualifier set to TRUE (Key, Abstract,
// Association, In, Out, Required ...). Key gets OVERRIDABLE="false" as in
// the DMTF qualifier declarations.
func BoolQualifier(name string) Qualifier {
	q := Qualifier{Name: name, Type: cimxml.TypeBoolean, Value: "TRUE"}
	if strings.EqualFold(name, "Key") {
		q.Overridable = ptrBool(false)
	}
	return q
}

// StringQualifier returns a string qualifier (Description, Version ...).
func StringQualifier(name, value string) Qualifier {
	q := Qualifier{Name: name, Type: cimxml.TypeString, Value: value}
	if strings.EqualFold(name, "Description") {
		q.Translatable = ptrBool(true)
	}
	return q
}

// ArrayQualifier returns a string array qualifier (ValueMap, Values ...).
func ArrayQualifier(name string, values ...string) Qualifier {
	q := Qualifier{Name: name, Type: cimxml.TypeString, Array: true, Values: values}
	if strings.EqualFold(name, "Values") {
		q.Translatable = ptrBool(true)
	}
	return q
}

// ValueMap returns the ValueMap and Values qualifiers of an enumeration
// given as alternating value, text pairs: ValueMap("2", "Enabled", "3",
// "Disabled"). It panics on an odd argument count (a programming error).
func ValueMap(pairs ...string) []Qualifier {
	if len(pairs)%2 != 0 {
		panic("wbem.ValueMap: odd number of arguments")
	}
	var vm, vs []string
	for i := 0; i < len(pairs); i += 2 {
		vm = append(vm, pairs[i])
		vs = append(vs, pairs[i+1])
	}
	return []Qualifier{ArrayQualifier("ValueMap", vm...), ArrayQualifier("Values", vs...)}
}
