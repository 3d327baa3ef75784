package wbem

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"mgmtd/wbem/cimxml"
)

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

// MethodFunc implements an extrinsic method for [MemProvider].
type MethodFunc func(ctx context.Context, call *MethodCall) (*MethodResult, error)

// MemProvider is a [Provider] over instances held in memory, indexed by
// class, canonical path and referenced path. It suits data that is rebuilt
// as a whole (a provider per model snapshot) and tests. It is safe for
// concurrent use.
type MemProvider struct {
	mu      sync.RWMutex
	spaces  []*memNamespace
	methods map[string]MethodFunc // "ns\x00class\x00method", lower case
	// Writable, when set, permits CreateInstance and DeleteInstance for
	// the classes it accepts.
	Writable func(ns, className string) bool
}

type memEntry struct {
	path *InstancePath
	inst *Instance
}

type memNamespace struct {
	name    string
	repo    *Repository
	byClass map[string][]*memEntry // lower class
	byPath  map[string]*memEntry   // canonical path
	refs    map[string][]*memEntry // canonical target path -> associations
}

// NewMemProvider returns an empty MemProvider.
func NewMemProvider() *MemProvider {
	return &MemProvider{methods: map[string]MethodFunc{}}
}

// AddNamespace serves namespace name with classes repo. Namespaces may
// share a repository (e.g. the interop classes).
func (m *MemProvider) AddNamespace(name string, repo *Repository) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spaces = append(m.spaces, &memNamespace{name: name, repo: repo,
		byClass: map[string][]*memEntry{}, byPath: map[string]*memEntry{}, refs: map[string][]*memEntry{}})
}

func (m *MemProvider) space(ns string) *memNamespace {
	for _, s := range m.spaces {
		if strings.EqualFold(s.name, ns) {
			return s
		}
	}
	return nil
}

// Namespaces implements Provider.
func (m *MemProvider) Namespaces() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, len(m.spaces))
	for i, s := range m.spaces {
		out[i] = s.name
	}
	return out
}

// Classes implements Provider.
func (m *MemProvider) Classes(ns string) *Repository {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if s := m.space(ns); s != nil {
		return s.repo
	}
	return nil
}

// Add validates in against its class in namespace ns and stores it (a
// property given twice is CIM_ERR_INVALID_PARAMETER). It
// sets the defined case of the class and property names, each property's
// Type, Array, RefClass and ClassOrigin, and coerces values. It returns the
// instance path; an existing path is CIM_ERR_ALREADY_EXISTS.
func (m *MemProvider) Add(ns string, in *Instance) (*InstancePath, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.space(ns)
	if s == nil {
		return nil, Errorf(StatusInvalidNamespace, "namespace %s", ns)
	}
	c, ok := s.repo.Class(in.ClassName)
	if !ok {
		return nil, Errorf(StatusInvalidClass, "class %s", in.ClassName)
	}
	if HasQualifier(c.Qualifiers, "Abstract") {
		return nil, Errorf(StatusInvalidClass, "class %s is abstract", c.Name)
	}
	if err := uniqueProperties(in); err != nil {
		return nil, err
	}
	cp := &Instance{ClassName: c.Name, Properties: make([]Property, 0, len(in.Properties))}
	for _, p := range in.Properties {
		d := propertyOf(c, p.Name)
		if d == nil {
			return nil, Errorf(StatusNoSuchProperty, "class %s has no property %s", c.Name, p.Name)
		}
		p.Name, p.Type, p.Array, p.RefClass, p.ClassOrigin, p.Propagated = d.Name, d.Type, d.Array, d.RefClass, d.ClassOrigin, d.Propagated
		p.Qualifiers = nil
		if !p.Null {
			switch {
			case d.Type == cimxml.TypeReference:
				if p.Ref == nil {
					return nil, Errorf(StatusTypeMismatch, "property %s: want a reference", d.Name)
				}
				ref := *p.Ref
				ref.Host = ""
				if ref.Namespace == "" {
					ref.Namespace = s.name
				}
				p.Ref = &ref
			case d.Array:
				vs := make([]string, len(p.Values))
				for i, v := range p.Values {
					cv, err := Coerce(d.Type, v)
					if err != nil {
						return nil, fmt.Errorf("property %s: %w", d.Name, err)
					}
					vs[i] = cv
				}
				p.Values = vs
			default:
				cv, err := Coerce(d.Type, p.Value)
				if err != nil {
					return nil, fmt.Errorf("property %s: %w", d.Name, err)
				}
				p.Value = cv
			}
		}
		cp.Properties = append(cp.Properties, p)
	}
	// Properties in class declaration order, as clients list them.
	slices.SortStableFunc(cp.Properties, func(a, b Property) int {
		return propertyIndex(c, a.Name) - propertyIndex(c, b.Name)
	})
	path, err := s.repo.PathOf(s.name, cp)
	if err != nil {
		return nil, err
	}
	key := CanonicalPath(path, s.name)
	if _, dup := s.byPath[key]; dup {
		return nil, Errorf(StatusAlreadyExists, "instance %s exists", WBEMURI(path))
	}
	e := &memEntry{path: path, inst: cp}
	s.byPath[key] = e
	lc := strings.ToLower(c.Name)
	s.byClass[lc] = append(s.byClass[lc], e)
	for _, p := range cp.Properties {
		if p.Type == cimxml.TypeReference && p.Ref != nil {
			t := CanonicalPath(p.Ref, s.name)
			s.refs[t] = append(s.refs[t], e)
		}
	}
	return path, nil
}

func propertyIndex(c *Class, name string) int {
	return slices.IndexFunc(c.Properties, func(p Property) bool { return strings.EqualFold(p.Name, name) })
}

// Remove deletes the instance at path.
func (m *MemProvider) Remove(path *InstancePath) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.space(path.Namespace)
	if s == nil {
		return Errorf(StatusInvalidNamespace, "namespace %s", path.Namespace)
	}
	key := CanonicalPath(path, s.name)
	e, ok := s.byPath[key]
	if !ok {
		return Errorf(StatusNotFound, "no instance %s", WBEMURI(path))
	}
	delete(s.byPath, key)
	drop := func(list []*memEntry) []*memEntry {
		return slices.DeleteFunc(slices.Clone(list), func(x *memEntry) bool { return x == e })
	}
	lc := strings.ToLower(e.inst.ClassName)
	s.byClass[lc] = drop(s.byClass[lc])
	for _, p := range e.inst.Properties {
		if p.Type == cimxml.TypeReference && p.Ref != nil {
			t := CanonicalPath(p.Ref, s.name)
			s.refs[t] = drop(s.refs[t])
		}
	}
	return nil
}

// HandleMethod registers fn for method of class (and its subclasses, unless
// they have their own) in namespace ns.
func (m *MemProvider) HandleMethod(ns, className, method string, fn MethodFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.methods[strings.ToLower(ns+"\x00"+className+"\x00"+method)] = fn
}

// Instances implements Provider. It iterates over a snapshot of the class's
// list taken at the start, so it tolerates concurrent Add and Remove.
func (m *MemProvider) Instances(ctx context.Context, ns, className string) iter.Seq2[*Instance, error] {
	return func(yield func(*Instance, error) bool) {
		m.mu.RLock()
		s := m.space(ns)
		var list []*memEntry
		if s != nil {
			list = s.byClass[strings.ToLower(className)]
		}
		m.mu.RUnlock()
		if s == nil {
			yield(nil, Errorf(StatusInvalidNamespace, "namespace %s", ns))
			return
		}
		for _, e := range list {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			if !yield(e.inst, nil) {
				return
			}
		}
	}
}

// GetInstance implements Provider.
func (m *MemProvider) GetInstance(_ context.Context, path *InstancePath) (*Instance, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.space(path.Namespace)
	if s == nil {
		return nil, Errorf(StatusInvalidNamespace, "namespace %s", path.Namespace)
	}
	e, ok := s.byPath[CanonicalPath(path, s.name)]
	if !ok {
		return nil, Errorf(StatusNotFound, "no instance %s", WBEMURI(path))
	}
	return e.inst, nil
}

// References implements Provider.
func (m *MemProvider) References(ctx context.Context, ns string, target *InstancePath) iter.Seq2[*Instance, error] {
	return func(yield func(*Instance, error) bool) {
		m.mu.RLock()
		s := m.space(ns)
		var list []*memEntry
		if s != nil {
			list = s.refs[CanonicalPath(target, s.name)]
		}
		m.mu.RUnlock()
		for _, e := range list {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			if !yield(e.inst, nil) {
				return
			}
		}
	}
}

// InvokeMethod implements Provider: it runs the MethodFunc registered for
// the class or its nearest ancestor.
func (m *MemProvider) InvokeMethod(ctx context.Context, call *MethodCall) (*MethodResult, error) {
	m.mu.RLock()
	s := m.space(call.Namespace)
	var fn MethodFunc
	if s != nil {
		for c, ok := s.repo.Class(call.ClassName); ok; c, ok = s.repo.Class(c.Superclass) {
			if f := m.methods[strings.ToLower(call.Namespace+"\x00"+c.Name+"\x00"+call.Method.Name)]; f != nil {
				fn = f
				break
			}
			if c.Superclass == "" {
				break
			}
		}
	}
	m.mu.RUnlock()
	if fn == nil {
		return nil, Errorf(StatusMethodNotAvailable, "%s.%s is not implemented", call.ClassName, call.Method.Name)
	}
	if call.Instance != nil {
		if _, err := m.GetInstance(ctx, call.Instance); err != nil {
			return nil, err
		}
	}
	return fn(ctx, call)
}

// CreateInstance implements InstanceWriter for classes Writable accepts.
func (m *MemProvider) CreateInstance(_ context.Context, ns string, in *Instance) (*InstancePath, error) {
	if m.Writable == nil || !m.Writable(ns, in.ClassName) {
		return nil, Errorf(StatusNotSupported, "instances of %s cannot be created", in.ClassName)
	}
	return m.Add(ns, in)
}

// DeleteInstance implements InstanceWriter for classes Writable accepts.
func (m *MemProvider) DeleteInstance(_ context.Context, path *InstancePath) error {
	if m.Writable == nil || !m.Writable(path.Namespace, path.ClassName) {
		return Errorf(StatusNotSupported, "instances of %s cannot be deleted", path.ClassName)
	}
	return m.Remove(path)
}
