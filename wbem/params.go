package wbem

import (
	"strconv"
	"strings"

	"mgmtd/wbem/cimxml"
)

// params reads the IPARAMVALUEs of an intrinsic call. Unknown and repeated
// names are CIM_ERR_INVALID_PARAMETER (DSP0200); omitted ones take the
// defaults the callers pass.
type params struct {
	byName map[string]*cimxml.Param
}

func newParams(req *cimxml.Request, allowed ...string) (*params, error) {
	ok := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		ok[strings.ToLower(a)] = true
	}
	p := &params{byName: make(map[string]*cimxml.Param, len(req.Params))}
	for i := range req.Params {
		n := strings.ToLower(req.Params[i].Name)
		if !ok[n] {
			return nil, Errorf(StatusInvalidParameter, "%s has no parameter %s", req.Method, req.Params[i].Name)
		}
		if p.byName[n] != nil {
			return nil, Errorf(StatusInvalidParameter, "parameter %s given twice", req.Params[i].Name)
		}
		p.byName[n] = &req.Params[i]
	}
	return p, nil
}

func (p *params) get(name string) *cimxml.Param { return p.byName[strings.ToLower(name)] }

// boolean returns a boolean parameter or def when omitted or NULL.
func (p *params) boolean(name string, def bool) (bool, error) {
	v := p.get(name)
	if v == nil || v.Value.Kind == cimxml.KindNone {
		return def, nil
	}
	if v.Value.Kind == cimxml.KindValue {
		switch strings.ToLower(strings.TrimSpace(v.Value.Text)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, Errorf(StatusInvalidParameter, "parameter %s must be a boolean", name)
}

// str returns a string parameter and whether it was given non-NULL.
func (p *params) str(name string) (string, bool, error) {
	v := p.get(name)
	if v == nil || v.Value.Kind == cimxml.KindNone {
		return "", false, nil
	}
	if v.Value.Kind != cimxml.KindValue {
		return "", false, Errorf(StatusInvalidParameter, "parameter %s must be a string", name)
	}
	return v.Value.Text, true, nil
}

// uint32 returns an unsigned parameter and whether it was given non-NULL.
func (p *params) uint32(name string) (uint32, bool, error) {
	s, ok, err := p.str(name)
	if err != nil || !ok {
		return 0, ok, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, false, Errorf(StatusInvalidParameter, "parameter %s must be a uint32", name)
	}
	return uint32(n), true, nil
}

// className returns a CLASSNAME parameter ("" when omitted or NULL).
func (p *params) className(name string) (string, error) {
	v := p.get(name)
	if v == nil || v.Value.Kind == cimxml.KindNone {
		return "", nil
	}
	if v.Value.Kind != cimxml.KindClassName {
		return "", Errorf(StatusInvalidParameter, "parameter %s must be a CLASSNAME", name)
	}
	return v.Value.ClassName, nil
}

// instanceName returns a required INSTANCENAME parameter.
func (p *params) instanceName(name string) (*InstancePath, error) {
	v := p.get(name)
	if v == nil || v.Value.Kind != cimxml.KindInstanceName {
		return nil, Errorf(StatusInvalidParameter, "parameter %s must be an INSTANCENAME", name)
	}
	return v.Value.Path, nil
}

// objectName returns ObjectName/InstanceName as an instance path or a class
// name.
func (p *params) objectName(name string) (*InstancePath, string, error) {
	v := p.get(name)
	if v != nil {
		switch v.Value.Kind {
		case cimxml.KindInstanceName:
			return v.Value.Path, "", nil
		case cimxml.KindClassName:
			return nil, v.Value.ClassName, nil
		}
	}
	return nil, "", Errorf(StatusInvalidParameter, "parameter %s must be an INSTANCENAME or CLASSNAME", name)
}

// propertyList returns the PropertyList filter: nil (all properties) when
// omitted or NULL.
func (p *params) propertyList() (func(string) bool, error) {
	v := p.get("PropertyList")
	if v == nil || v.Value.Kind == cimxml.KindNone {
		return nil, nil
	}
	if v.Value.Kind != cimxml.KindArray {
		return nil, Errorf(StatusInvalidParameter, "PropertyList must be a VALUE.ARRAY")
	}
	set := make(map[string]bool, len(v.Value.Items))
	for _, it := range v.Value.Items {
		set[strings.ToLower(strings.TrimSpace(it))] = true
	}
	return func(name string) bool { return set[strings.ToLower(name)] }, nil
}

// both combines two property filters (nil means all).
func both(a, b func(string) bool) func(string) bool {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(n string) bool { return a(n) && b(n) }
}
