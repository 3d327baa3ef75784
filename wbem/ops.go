package wbem

import (
	"context"
	"iter"
	"strings"

	"mgmtd/wbem/cimxml"
)

// item is one result object: a path and, unless only names were asked
// for, the instance.
type item struct {
	path *InstancePath
	inst *Instance
}

func (s *Server) intrinsics() map[string]opFunc {
	m := map[string]opFunc{
		"getinstance":            opGetInstance,
		"enumerateinstances":     opEnumerateInstances,
		"enumerateinstancenames": opEnumerateInstanceNames,
		"associators":            opAssociators(false),
		"associatornames":        opAssociators(true),
		"references":             opReferences(false),
		"referencenames":         opReferences(true),
		"getclass":               opGetClass,
		"enumerateclasses":       opEnumerateClasses(false),
		"enumerateclassnames":    opEnumerateClasses(true),
		"getproperty":            opGetProperty,
		"execquery":              opExecQuery,
		"createinstance":         opCreateInstance,
		"deleteinstance":         opDeleteInstance,
		"closeenumeration":       opCloseEnumeration,
		"pullinstanceswithpath":  opPull(pullWithPath),
		"pullinstancepaths":      opPull(pullPaths),
		"pullinstances":          opPull(pullInstances),
	}
	for k, v := range openOps() {
		m[k] = v
	}
	return m
}

// classOf resolves a class name in repo (CIM_ERR_INVALID_CLASS).
func classOf(repo *Repository, name string) (*Class, error) {
	if name == "" {
		return nil, Errorf(StatusInvalidParameter, "class name missing")
	}
	c, ok := repo.Class(name)
	if !ok {
		return nil, Errorf(StatusInvalidClass, "class %s", name)
	}
	return c, nil
}

// instances yields the instances of class and all its subclasses with
// their paths, lazily.
func (s *Server) instances(ctx context.Context, ns string, repo *Repository, class string) iter.Seq2[item, error] {
	return func(yield func(item, error) bool) {
		classes := append([]string{class}, repo.Subclasses(class, true)...)
		for _, cn := range classes {
			for in, err := range s.cfg.Provider.Instances(ctx, ns, cn) {
				if err != nil {
					yield(item{}, err)
					return
				}
				p, err := repo.PathOf(ns, in)
				if err != nil {
					yield(item{}, err)
					return
				}
				if !yield(item{path: p, inst: in}, nil) {
					return
				}
			}
		}
	}
}

// instanceOptions reads IncludeQualifiers (ignored for instances: it is
// deprecated and our instances carry none), IncludeClassOrigin and
// PropertyList. LocalOnly is read and treated as false, as DSP0200 advises.
func instanceOptions(p *params) (cimxml.InstanceOptions, error) {
	var o cimxml.InstanceOptions
	if _, err := p.boolean("LocalOnly", true); err != nil {
		return o, err
	}
	if _, err := p.boolean("IncludeQualifiers", false); err != nil {
		return o, err
	}
	origin, err := p.boolean("IncludeClassOrigin", false)
	if err != nil {
		return o, err
	}
	o.ClassOrigin = origin
	o.Include, err = p.propertyList()
	return o, err
}

func opGetInstance(ctx context.Context, c *call) error {
	p, err := newParams(c.req, "InstanceName", "LocalOnly", "IncludeQualifiers", "IncludeClassOrigin", "PropertyList")
	if err != nil {
		return err
	}
	ns, repo, err := c.s.namespace(c.req.Namespace)
	if err != nil {
		return err
	}
	raw, err := p.instanceName("InstanceName")
	if err != nil {
		return err
	}
	o, err := instanceOptions(p)
	if err != nil {
		return err
	}
	if _, err := classOf(repo, raw.ClassName); err != nil {
		return err
	}
	path, err := repo.NormalizePath(ns, raw)
	if err != nil {
		return err
	}
	in, err := c.s.cfg.Provider.GetInstance(ctx, path)
	if err != nil {
		return err
	}
	c.out.ret().Instance(in, o)
	return nil
}

// classRequest reads the parameters of an operation on one class: it
// checks the parameter names, resolves the namespace and the ClassName
// parameter to its class.
func (c *call) classRequest(allowed ...string) (*params, string, *Repository, *Class, error) {
	p, err := newParams(c.req, allowed...)
	if err != nil {
		return nil, "", nil, nil, err
	}
	ns, repo, err := c.s.namespace(c.req.Namespace)
	if err != nil {
		return nil, "", nil, nil, err
	}
	name, err := p.className("ClassName")
	if err != nil {
		return nil, "", nil, nil, err
	}
	cls, err := classOf(repo, name)
	if err != nil {
		return nil, "", nil, nil, err
	}
	return p, ns, repo, cls, nil
}

func opEnumerateInstances(ctx context.Context, c *call) error {
	p, ns, repo, cls, err := c.classRequest("ClassName", "LocalOnly", "DeepInheritance", "IncludeQualifiers", "IncludeClassOrigin", "PropertyList")
	if err != nil {
		return err
	}
	o, err := instanceOptions(p)
	if err != nil {
		return err
	}
	deep, err := p.boolean("DeepInheritance", true)
	if err != nil {
		return err
	}
	if !deep {
		// Only the properties of the requested class (DSP0200).
		o.Include = both(o.Include, func(n string) bool { return propertyOf(cls, n) != nil })
	}
	e := c.out.ret()
	for it, err := range c.s.instances(ctx, ns, repo, cls.Name) {
		if err != nil {
			return err
		}
		e.NamedInstance(it.path, it.inst, o)
	}
	return nil
}

func opEnumerateInstanceNames(ctx context.Context, c *call) error {
	_, ns, repo, cls, err := c.classRequest("ClassName")
	if err != nil {
		return err
	}
	e := c.out.ret()
	for it, err := range c.s.instances(ctx, ns, repo, cls.Name) {
		if err != nil {
			return err
		}
		e.InstanceName(it.path)
	}
	return nil
}

// assocFilter holds the association traversal parameters.
type assocFilter struct {
	assocClass, resultClass, role, resultRole string
}

func readAssocFilter(p *params, refs bool) (assocFilter, error) {
	var f assocFilter
	var err error
	if refs {
		// References: ResultClass filters the association class.
		if f.assocClass, err = p.className("ResultClass"); err != nil {
			return f, err
		}
	} else {
		if f.assocClass, err = p.className("AssocClass"); err != nil {
			return f, err
		}
		if f.resultClass, err = p.className("ResultClass"); err != nil {
			return f, err
		}
		if f.resultRole, _, err = p.str("ResultRole"); err != nil {
			return f, err
		}
	}
	f.role, _, err = p.str("Role")
	return f, err
}

// target resolves the source object of an association operation; only
// instance-level traversal is supported.
func (c *call) target(ctx context.Context, p *params, param string) (string, *Repository, *InstancePath, error) {
	ns, repo, err := c.s.namespace(c.req.Namespace)
	if err != nil {
		return "", nil, nil, err
	}
	raw, className, err := p.objectName(param)
	if err != nil {
		return "", nil, nil, err
	}
	if raw == nil {
		if _, err := classOf(repo, className); err != nil {
			return "", nil, nil, err
		}
		return "", nil, nil, Errorf(StatusNotSupported, "class-level association traversal is not supported")
	}
	if _, err := classOf(repo, raw.ClassName); err != nil {
		return "", nil, nil, err
	}
	path, err := repo.NormalizePath(ns, raw)
	if err != nil {
		return "", nil, nil, err
	}
	if _, err := c.s.cfg.Provider.GetInstance(ctx, path); err != nil {
		return "", nil, nil, err
	}
	return ns, repo, path, nil
}

func checkFilterClasses(repo *Repository, f assocFilter) error {
	for _, n := range []string{f.assocClass, f.resultClass} {
		if n != "" {
			if _, ok := repo.Class(n); !ok {
				return Errorf(StatusInvalidParameter, "class %s", n)
			}
		}
	}
	return nil
}

// repoFor returns the repository of namespace ns, or nil.
func (s *Server) repoFor(ns string) *Repository {
	if _, repo, err := s.namespace(ns); err == nil {
		return repo
	}
	return nil
}

// associations yields the association instances referencing target that
// pass f (assocClass, role) with their paths; with objects set it yields
// the associated objects instead (resultClass, resultRole applied, each
// once), fetching their instances unless names is set.
func (s *Server) associations(ctx context.Context, ns string, repo *Repository, target *InstancePath, f assocFilter, objects, names bool) iter.Seq2[item, error] {
	return func(yield func(item, error) bool) {
		tkey := CanonicalPath(target, ns)
		seen := map[string]bool{}
		for a, err := range s.cfg.Provider.References(ctx, ns, target) {
			if err != nil {
				yield(item{}, err)
				return
			}
			if !repo.IsAssociation(a.ClassName) || (f.assocClass != "" && !repo.IsA(a.ClassName, f.assocClass)) {
				continue
			}
			var roles []int
			for i := range a.Properties {
				pr := &a.Properties[i]
				if pr.Type == cimxml.TypeReference && pr.Ref != nil && CanonicalPath(pr.Ref, ns) == tkey &&
					(f.role == "" || strings.EqualFold(f.role, pr.Name)) {
					roles = append(roles, i)
				}
			}
			if len(roles) == 0 {
				continue
			}
			if !objects {
				p, err := repo.PathOf(ns, a)
				if err != nil {
					yield(item{}, err)
					return
				}
				if !yield(item{path: p, inst: a}, nil) {
					return
				}
				continue
			}
			for i := range a.Properties {
				pr := &a.Properties[i]
				if pr.Type != cimxml.TypeReference || pr.Ref == nil || (len(roles) == 1 && roles[0] == i) {
					continue
				}
				if f.resultRole != "" && !strings.EqualFold(f.resultRole, pr.Name) {
					continue
				}
				rns := pr.Ref.Namespace
				if rns == "" {
					rns = ns
				}
				rrepo := s.repoFor(rns)
				if rrepo == nil {
					continue
				}
				if f.resultClass != "" && !rrepo.IsA(pr.Ref.ClassName, f.resultClass) {
					continue
				}
				np, err := rrepo.NormalizePath(rns, pr.Ref)
				if err != nil {
					continue
				}
				key := CanonicalPath(np, rns)
				if key == tkey || seen[key] {
					continue
				}
				seen[key] = true
				it := item{path: np}
				if !names {
					in, err := s.cfg.Provider.GetInstance(ctx, np)
					if err != nil {
						if IsNotFound(err) {
							continue // dangling reference
						}
						yield(item{}, err)
						return
					}
					it.inst = in
				}
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// IsNotFound reports whether err carries CIM_ERR_NOT_FOUND.
func IsNotFound(err error) bool { return err != nil && statusOf(err).Status == StatusNotFound }

// opAssociators answers Associators and AssociatorNames.
func opAssociators(names bool) opFunc {
	return opAssoc(true, names, "ObjectName", "AssocClass", "ResultClass", "Role", "ResultRole")
}

// opReferences answers References and ReferenceNames.
func opReferences(names bool) opFunc {
	return opAssoc(false, names, "ObjectName", "ResultClass", "Role")
}

// opAssoc is the common part of the four association operations: the
// parameters they accept, the filter, and the objects or their paths.
func opAssoc(associators, names bool, allowed ...string) opFunc {
	return func(ctx context.Context, c *call) error {
		allowed := allowed
		if !names {
			allowed = append(allowed[:len(allowed):len(allowed)], "IncludeQualifiers", "IncludeClassOrigin", "PropertyList")
		}
		p, err := newParams(c.req, allowed...)
		if err != nil {
			return err
		}
		f, err := readAssocFilter(p, !associators)
		if err != nil {
			return err
		}
		var o cimxml.InstanceOptions
		if !names {
			if o, err = instanceOptions(p); err != nil {
				return err
			}
		}
		ns, repo, target, err := c.target(ctx, p, "ObjectName")
		if err != nil {
			return err
		}
		if err := checkFilterClasses(repo, f); err != nil {
			return err
		}
		e := c.out.ret()
		for it, err := range c.s.associations(ctx, ns, repo, target, f, associators, names) {
			if err != nil {
				return err
			}
			if names {
				e.ObjectPath(it.path)
			} else {
				e.ObjectWithPath(it.path, it.inst, o)
			}
		}
		return nil
	}
}

// classView applies LocalOnly to a resolved class: only the properties and
// methods it defines or overrides.
func classView(c *Class, localOnly bool) *Class {
	if !localOnly {
		return c
	}
	v := &Class{Name: c.Name, Superclass: c.Superclass, Qualifiers: c.Qualifiers}
	for _, p := range c.Properties {
		if !p.Propagated {
			v.Properties = append(v.Properties, p)
		}
	}
	for _, m := range c.Methods {
		if !m.Propagated {
			v.Methods = append(v.Methods, m)
		}
	}
	return v
}

func opGetClass(_ context.Context, c *call) error {
	p, _, _, cls, err := c.classRequest("ClassName", "LocalOnly", "IncludeQualifiers", "IncludeClassOrigin", "PropertyList")
	if err != nil {
		if ce := statusOf(err); ce.Status == StatusInvalidClass {
			// DSP0200 GetClass: a class that does not exist is
			// CIM_ERR_NOT_FOUND (INVALID_CLASS is for instance operations
			// naming an unknown class).
			return &Error{Status: StatusNotFound, Description: ce.Description}
		}
		return err
	}
	local, err := p.boolean("LocalOnly", true)
	if err != nil {
		return err
	}
	var o cimxml.ClassOptions
	if o.Qualifiers, err = p.boolean("IncludeQualifiers", true); err != nil {
		return err
	}
	if o.ClassOrigin, err = p.boolean("IncludeClassOrigin", false); err != nil {
		return err
	}
	if o.Include, err = p.propertyList(); err != nil {
		return err
	}
	c.out.ret().Class(classView(cls, local), o)
	return nil
}

func opEnumerateClasses(names bool) opFunc {
	return func(_ context.Context, c *call) error {
		allowed := []string{"ClassName", "DeepInheritance"}
		if !names {
			allowed = append(allowed, "LocalOnly", "IncludeQualifiers", "IncludeClassOrigin")
		}
		p, err := newParams(c.req, allowed...)
		if err != nil {
			return err
		}
		_, repo, err := c.s.namespace(c.req.Namespace)
		if err != nil {
			return err
		}
		name, err := p.className("ClassName")
		if err != nil {
			return err
		}
		if name != "" {
			cls, err := classOf(repo, name)
			if err != nil {
				return err
			}
			name = cls.Name
		}
		deep, err := p.boolean("DeepInheritance", false)
		if err != nil {
			return err
		}
		var o cimxml.ClassOptions
		local := true
		if !names {
			if local, err = p.boolean("LocalOnly", true); err != nil {
				return err
			}
			if o.Qualifiers, err = p.boolean("IncludeQualifiers", true); err != nil {
				return err
			}
			if o.ClassOrigin, err = p.boolean("IncludeClassOrigin", false); err != nil {
				return err
			}
		}
		e := c.out.ret()
		for _, cn := range repo.Subclasses(name, deep) {
			if names {
				e.ClassName(cn)
				continue
			}
			cls, _ := repo.Class(cn)
			e.Class(classView(cls, local), o)
		}
		return nil
	}
}

func opGetProperty(ctx context.Context, c *call) error {
	p, err := newParams(c.req, "InstanceName", "PropertyName")
	if err != nil {
		return err
	}
	ns, repo, err := c.s.namespace(c.req.Namespace)
	if err != nil {
		return err
	}
	raw, err := p.instanceName("InstanceName")
	if err != nil {
		return err
	}
	pname, ok, err := p.str("PropertyName")
	if err != nil || !ok {
		return Errorf(StatusInvalidParameter, "PropertyName missing")
	}
	cls, err := classOf(repo, raw.ClassName)
	if err != nil {
		return err
	}
	if propertyOf(cls, pname) == nil {
		return Errorf(StatusNoSuchProperty, "class %s has no property %s", cls.Name, pname)
	}
	path, err := repo.NormalizePath(ns, raw)
	if err != nil {
		return err
	}
	in, err := c.s.cfg.Provider.GetInstance(ctx, path)
	if err != nil {
		return err
	}
	e := c.out.ret()
	if pr := in.Property(pname); pr != nil && !pr.Null {
		switch {
		case pr.Type == cimxml.TypeReference:
			e.ValueReference(pr.Ref)
		case pr.Array:
			e.ValueArray(pr.Values)
		default:
			e.Value(pr.Value)
		}
	}
	return nil
}

func opCreateInstance(ctx context.Context, c *call) error {
	p, err := newParams(c.req, "NewInstance")
	if err != nil {
		return err
	}
	ns, repo, err := c.s.namespace(c.req.Namespace)
	if err != nil {
		return err
	}
	v := p.get("NewInstance")
	if v == nil || v.Value.Kind != cimxml.KindInstance {
		return Errorf(StatusInvalidParameter, "NewInstance must be an INSTANCE")
	}
	in := v.Value.Instance
	if _, err := classOf(repo, in.ClassName); err != nil {
		return err
	}
	if err := uniqueProperties(in); err != nil {
		return err
	}
	w, ok := c.s.cfg.Provider.(InstanceWriter)
	if !ok {
		return Errorf(StatusNotSupported, "CreateInstance is not supported")
	}
	done, err := c.audit(ctx, &Operation{Name: "CreateInstance", Namespace: ns, Target: ns + ":" + in.ClassName})
	if err != nil {
		return err
	}
	path, err := w.CreateInstance(ctx, ns, in)
	done(err)
	if err != nil {
		return err
	}
	c.out.ret().InstanceName(path)
	return nil
}

// uniqueProperties refuses an instance that names a property twice (CIM
// names are case-insensitive). The DTD cannot say that PROPERTY names are
// unique, so such a request is valid CIM-XML; DSP0200 answers an
// incorrect parameter of an operation with CIM_ERR_INVALID_PARAMETER.
func uniqueProperties(in *Instance) error {
	seen := make(map[string]bool, len(in.Properties))
	for _, p := range in.Properties {
		k := strings.ToLower(p.Name)
		if seen[k] {
			return Errorf(StatusInvalidParameter, "instance of %s: property %s given twice", in.ClassName, p.Name)
		}
		seen[k] = true
	}
	return nil
}

func opDeleteInstance(ctx context.Context, c *call) error {
	p, err := newParams(c.req, "InstanceName")
	if err != nil {
		return err
	}
	ns, repo, err := c.s.namespace(c.req.Namespace)
	if err != nil {
		return err
	}
	raw, err := p.instanceName("InstanceName")
	if err != nil {
		return err
	}
	if _, err := classOf(repo, raw.ClassName); err != nil {
		return err
	}
	path, err := repo.NormalizePath(ns, raw)
	if err != nil {
		return err
	}
	w, ok := c.s.cfg.Provider.(InstanceWriter)
	if !ok {
		return Errorf(StatusNotSupported, "DeleteInstance is not supported")
	}
	done, err := c.audit(ctx, &Operation{Name: "DeleteInstance", Namespace: ns, Target: WBEMURI(path)})
	if err != nil {
		return err
	}
	err = w.DeleteInstance(ctx, path)
	done(err)
	return err
}

// invokeMethod runs an extrinsic METHODCALL.
func (s *Server) invokeMethod(ctx context.Context, c *call) error {
	req := c.req
	ns, repo, err := s.namespace(req.Namespace)
	if err != nil {
		return err
	}
	className := req.ClassName
	if req.Instance != nil {
		className = req.Instance.ClassName
	}
	cls, err := classOf(repo, className)
	if err != nil {
		return err
	}
	m := methodOf(cls, req.Method)
	if m == nil {
		return Errorf(StatusMethodNotFound, "class %s has no method %s", cls.Name, req.Method)
	}
	mc := &MethodCall{Namespace: ns, ClassName: cls.Name, Method: m}
	target := ns + ":" + cls.Name
	if req.Instance != nil {
		if mc.Instance, err = repo.NormalizePath(ns, req.Instance); err != nil {
			return err
		}
		target = WBEMURI(mc.Instance)
	}
	for i := range req.Params {
		in := &req.Params[i]
		var d *Parameter
		for j := range m.Parameters {
			if strings.EqualFold(m.Parameters[j].Name, in.Name) {
				d = &m.Parameters[j]
			}
		}
		if d == nil {
			return Errorf(StatusInvalidParameter, "method %s has no parameter %s", m.Name, in.Name)
		}
		if mc.Arg(d.Name) != nil {
			return Errorf(StatusInvalidParameter, "parameter %s given twice", d.Name)
		}
		if in.ParamType != "" && !strings.EqualFold(in.ParamType, d.Type) {
			return Errorf(StatusInvalidParameter, "parameter %s is %s, not %s", d.Name, d.Type, in.ParamType)
		}
		a, err := repo.coerceArgument(ns, d, &in.Value)
		if err != nil {
			return err
		}
		mc.Args = append(mc.Args, a)
	}
	done, err := c.audit(ctx, &Operation{Name: m.Name, Namespace: ns, Target: target, Args: mc.Args})
	if err != nil {
		return err
	}
	res, err := s.cfg.Provider.InvokeMethod(ctx, mc)
	switch {
	case err != nil:
		done(err)
		return err
	case res.ReturnValue != "0" && res.ReturnValue != "4096":
		done(&ReturnValueError{Method: m.Name, ReturnValue: res.ReturnValue})
	default:
		done(nil)
	}
	e := c.out.begin()
	typ := m.Type
	if typ == "" {
		typ = cimxml.TypeUint32
	}
	e.ReturnValue(typ, res.ReturnValue)
	for i := range res.Out {
		a := res.Out[i]
		if a.Ref != nil && a.Ref.Namespace == "" {
			r := *a.Ref
			r.Namespace = ns
			a.Ref = &r
		}
		if a.Type == "" {
			for _, d := range m.Parameters {
				if strings.EqualFold(d.Name, a.Name) {
					a.Type, a.Array = d.Type, d.Array
				}
			}
		}
		e.ParamValue(&a)
	}
	return nil
}
