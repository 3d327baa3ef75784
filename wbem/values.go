package wbem

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"mgmtd/wbem/cimxml"
)

// Coerce checks the text s against CIM type typ and returns its canonical
// CIM-XML form: booleans TRUE/FALSE (any case accepted), integers in
// decimal without sign or leading zeros, reals in shortest form. Strings are
// returned unchanged.
func Coerce(typ, s string) (string, error) {
	t := strings.TrimSpace(s)
	switch typ {
	case cimxml.TypeString, "":
		return s, nil
	case cimxml.TypeBoolean:
		switch strings.ToLower(t) {
		case "true":
			return "TRUE", nil
		case "false":
			return "FALSE", nil
		}
	case cimxml.TypeUint8, cimxml.TypeUint16, cimxml.TypeUint32, cimxml.TypeUint64:
		bits, _ := strconv.Atoi(typ[4:])
		if v, err := strconv.ParseUint(strings.TrimPrefix(t, "+"), 10, bits); err == nil {
			return strconv.FormatUint(v, 10), nil
		}
	case cimxml.TypeSint8, cimxml.TypeSint16, cimxml.TypeSint32, cimxml.TypeSint64:
		bits, _ := strconv.Atoi(typ[4:])
		if v, err := strconv.ParseInt(t, 10, bits); err == nil {
			return strconv.FormatInt(v, 10), nil
		}
	case cimxml.TypeReal32, cimxml.TypeReal64:
		bits, _ := strconv.Atoi(typ[4:])
		if v, err := strconv.ParseFloat(t, bits); err == nil && !math.IsNaN(v) {
			return strconv.FormatFloat(v, 'g', -1, bits), nil
		}
	case cimxml.TypeChar16:
		if utf8.RuneCountInString(s) == 1 {
			return s, nil
		}
	case cimxml.TypeDatetime:
		if validDatetime(t) {
			return t, nil
		}
	}
	return "", Errorf(StatusTypeMismatch, "%q is not a valid %s", truncate(s), typ)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// validDatetime accepts the CIM datetime forms yyyymmddhhmmss.mmmmmmsUUU
// (timestamp) and ddddddddhhmmss.mmmmmm:000 (interval), with '*' wildcards.
func validDatetime(s string) bool {
	if len(s) != 25 || s[14] != '.' {
		return false
	}
	switch s[21] {
	case '+', '-', ':':
	default:
		return false
	}
	for i, c := range []byte(s) {
		if i == 14 || i == 21 {
			continue
		}
		if (c < '0' || c > '9') && c != '*' {
			return false
		}
	}
	return true
}

// canonicalKeyValue is the comparison form of a key value.
func canonicalKeyValue(k *KeyBinding, defaultNS string) string {
	if k.Ref != nil {
		return "{" + canonicalPath(k.Ref, defaultNS) + "}"
	}
	typ := k.Type
	if typ == "" {
		switch k.ValueType {
		case "numeric":
			typ = cimxml.TypeSint64
			if !strings.HasPrefix(strings.TrimSpace(k.Value), "-") {
				typ = cimxml.TypeUint64
			}
		case "boolean":
			typ = cimxml.TypeBoolean
		}
	}
	if v, err := Coerce(typ, k.Value); err == nil {
		return v
	}
	return k.Value
}

// CanonicalPath returns the comparison form of an instance path: host
// ignored, namespace (defaultNS when empty), class and key names folded to
// lower case, keys sorted by name, values in canonical form (references
// recursively). Two paths denote the same instance iff their canonical
// forms are equal.
func CanonicalPath(p *InstancePath, defaultNS string) string { return canonicalPath(p, defaultNS) }

func canonicalPath(p *InstancePath, defaultNS string) string {
	ns := p.Namespace
	if ns == "" {
		ns = defaultNS
	}
	keys := make([]string, len(p.Keys))
	for i := range p.Keys {
		keys[i] = strings.ToLower(p.Keys[i].Name) + "=" + strconv.Quote(canonicalKeyValue(&p.Keys[i], ns))
	}
	slices.Sort(keys)
	return strings.ToLower(strings.Trim(ns, "/")) + ":" + strings.ToLower(p.ClassName) + "." + strings.Join(keys, ",")
}

// PathOf builds the instance path of in from the key properties of its
// class in namespace ns. Keys appear in class declaration order with
// VALUETYPE and TYPE set.
func (r *Repository) PathOf(ns string, in *Instance) (*InstancePath, error) {
	c, ok := r.Class(in.ClassName)
	if !ok {
		return nil, Errorf(StatusInvalidClass, "class %s", in.ClassName)
	}
	keys := r.KeyProperties(c.Name)
	p := &InstancePath{Namespace: ns, ClassName: c.Name, Keys: make([]KeyBinding, 0, len(keys))}
	for _, kp := range keys {
		v := in.Property(kp.Name)
		if v == nil || v.Null {
			return nil, Errorf(StatusInvalidParameter, "instance of %s lacks key %s", c.Name, kp.Name)
		}
		kb := KeyBinding{Name: kp.Name, Type: kp.Type, ValueType: cimxml.ValueTypeOf(kp.Type), Value: v.Value}
		if kp.Type == cimxml.TypeReference {
			if v.Ref == nil {
				return nil, Errorf(StatusInvalidParameter, "reference key %s of %s is not a reference", kp.Name, c.Name)
			}
			ref := *v.Ref
			if ref.Namespace == "" {
				ref.Namespace = ns
			}
			kb = KeyBinding{Name: kp.Name, Type: cimxml.TypeReference, Ref: &ref}
		}
		p.Keys = append(p.Keys, kb)
	}
	return p, nil
}

// NormalizePath resolves a client's instance path in namespace ns against
// the class definition: class and key names take the defined case, key
// values are coerced to the key property types (wbemcli sends no TYPE),
// keys are put in declaration order, the host is dropped and references
// are normalized recursively (in their own namespace when it is ours).
func (r *Repository) NormalizePath(ns string, p *InstancePath) (*InstancePath, error) {
	c, ok := r.Class(p.ClassName)
	if !ok {
		return nil, Errorf(StatusInvalidClass, "class %s", p.ClassName)
	}
	out := &InstancePath{Namespace: ns, ClassName: c.Name}
	keys := r.KeyProperties(c.Name)
	if len(p.Keys) != len(keys) {
		return nil, Errorf(StatusNotFound, "%s has %d keys, the path gives %d", c.Name, len(keys), len(p.Keys))
	}
	for _, kp := range keys {
		k := p.Key(kp.Name)
		if k == nil {
			return nil, Errorf(StatusNotFound, "path lacks key %s of %s", kp.Name, c.Name)
		}
		kb := KeyBinding{Name: kp.Name, Type: kp.Type, ValueType: cimxml.ValueTypeOf(kp.Type)}
		if kp.Type == cimxml.TypeReference {
			if k.Ref == nil {
				return nil, Errorf(StatusNotFound, "key %s of %s must be a reference", kp.Name, c.Name)
			}
			ref := *k.Ref
			ref.Host = ""
			refNS := ref.Namespace
			if refNS == "" || strings.EqualFold(refNS, ns) {
				refNS = ns
				if n, err := r.NormalizePath(ns, &ref); err == nil {
					ref = *n
				}
			}
			ref.Namespace = refNS
			kb.Ref = &ref
		} else {
			if k.Ref != nil {
				return nil, Errorf(StatusNotFound, "key %s of %s is not a reference", kp.Name, c.Name)
			}
			v, err := Coerce(kp.Type, k.Value)
			if err != nil {
				return nil, Errorf(StatusNotFound, "key %s: %s", kp.Name, err.(*Error).Description)
			}
			kb.Value = v
		}
		out.Keys = append(out.Keys, kb)
	}
	return out, nil
}

// coerceArgument converts a decoded parameter value to the declared type of
// parameter d.
func (r *Repository) coerceArgument(ns string, d *Parameter, v *cimxml.Value) (Argument, error) {
	a := Argument{Name: d.Name, Type: d.Type, Array: d.Array}
	bad := func(why string) (Argument, error) {
		return Argument{}, Errorf(StatusInvalidParameter, "parameter %s: %s", d.Name, why)
	}
	ref := func(p *InstancePath) (*InstancePath, error) {
		cp := *p
		cp.Host = ""
		if cp.Namespace == "" || strings.EqualFold(cp.Namespace, ns) {
			if n, err := r.NormalizePath(ns, &cp); err == nil {
				return n, nil
			}
			cp.Namespace = ns
		}
		return &cp, nil
	}
	switch {
	case v.Kind == cimxml.KindNone:
		a.Null = true
	case d.Type == cimxml.TypeReference && !d.Array:
		if v.Kind != cimxml.KindReference && v.Kind != cimxml.KindInstanceName || v.Path == nil {
			return bad("want a reference")
		}
		p, _ := ref(v.Path)
		a.Ref = p
	case d.Type == cimxml.TypeReference:
		if v.Kind != cimxml.KindRefArray {
			return bad("want a reference array")
		}
		for _, p := range v.Refs {
			if p == nil {
				a.Refs = append(a.Refs, nil)
				continue
			}
			np, _ := ref(p)
			a.Refs = append(a.Refs, np)
		}
	case d.Array:
		if v.Kind != cimxml.KindArray {
			return bad("want an array")
		}
		a.Values = make([]string, len(v.Items))
		for i, it := range v.Items {
			c, err := Coerce(d.Type, it)
			if err != nil {
				return bad(err.(*Error).Description)
			}
			a.Values[i] = c
		}
	default:
		if v.Kind != cimxml.KindValue {
			return bad("want a single value")
		}
		c, err := Coerce(d.Type, v.Text)
		if err != nil {
			return bad(err.(*Error).Description)
		}
		a.Value = c
	}
	return a, nil
}
