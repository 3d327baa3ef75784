package cim

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"mgmtd/wbem/cimxml"
	mdl "mgmtd/model"
)

// Snapshotter hands out the current model snapshot; *model.Store
// implements it.
type Snapshotter interface {
	Snapshot() *mdl.Snapshot
}

// ModelOptions configures a ModelProvider.
type ModelOptions struct {
	// Store supplies the current snapshot. Required.
	Store Snapshotter
	// Events is the model's event log (Store.Events()); without it
	// RunIndications has nothing to deliver.
	Events *mdl.EventLog
	// Actuator performs method calls; nil answers every action method
	// with CIM_ERR_NOT_SUPPORTED.
	Actuator Actuator
	// StateDir, when set, keeps the indication subscriptions in
	// StateDir/cim-subscriptions.json across restarts.
	StateDir string
	// Log receives delivery and persistence problems; nil discards.
	Log *slog.Logger
	// SystemName is the host name in CIM_ObjectManager and CIM_Namespace
	// (default: os.Hostname).
	SystemName string
	// Version is mgmtd's version for CIM_ObjectManager and the software
	// identity (default "0.1.0").
	Version string
	// HTTPClient delivers indications (default: a client with a 10 s
	// timeout). Set its Transport's TLSClientConfig for https listeners.
	HTTPClient *http.Client
	// QueueSize bounds the indications queued per listener destination;
	// the oldest are dropped when it is full (default 1000).
	QueueSize int
	// RetryMin and RetryMax bound the delivery retry backoff (default
	// 500 ms and 30 s).
	RetryMin, RetryMax time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AuthorizeSubscription, when set, is asked before an indication
	// filter, listener destination or subscription is created or deleted
	// (a destination makes the daemon post model data to a URL the caller
	// chooses); an error refuses the operation with CIM_ERR_ACCESS_DENIED.
	// When nil every authenticated caller may subscribe.
	AuthorizeSubscription func(ctx context.Context, p Principal) error
}

// ModelProvider serves the cluster model (namespace root/cimv2) and the
// interop namespace from the current snapshot: instances are built when
// asked for, from names only, so their paths stay the same across
// snapshots. It implements Provider and InstanceWriter (indication
// subscriptions) and delivers indications with RunIndications.
type ModelProvider struct {
	opts    ModelOptions
	log     *slog.Logger
	model   *Repository
	interop *Repository
	props   map[string]*classDefs // lower class -> property definitions (both repositories)
	classes map[string]*classImpl // lower class -> implementation
	subs    *MemProvider          // interop subscription instances
	subMu   sync.Mutex            // serialises subscription changes and their persistence

	cacheMu sync.Mutex
	cache   *snapIndex

	jobsMu sync.Mutex
	jobs   []string // task ids started through CIM, oldest first

	ind *indicationState

	// unknownProp, when set (tests), is told about a property a builder
	// sets that the class does not declare (such a property is dropped).
	unknownProp func(class, name string)
}

// classImpl enumerates (and optionally looks up) the instances of one
// concrete class.
type classImpl struct {
	ns   string
	each func(x *snapIndex, yield func(*Instance) bool)
	// get looks an instance up by its normalized path; nil scans each.
	get func(x *snapIndex, p *InstancePath) *Instance
	// refs, for large association classes, yields only the instances that
	// may refer to target, and reports false when it cannot narrow the
	// search (References then scans each).
	refs func(x *snapIndex, target *InstancePath, yield func(*Instance) bool) bool
}

// NewModelProvider builds the schema and loads persisted subscriptions.
func NewModelProvider(o ModelOptions) (*ModelProvider, error) {
	if o.Store == nil {
		return nil, fmt.Errorf("cim model provider: Store is required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SystemName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		o.SystemName = h
	}
	if o.Version == "" {
		o.Version = "0.1.0"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 500 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = 30 * time.Second
		if o.RetryMax < o.RetryMin {
			o.RetryMax = o.RetryMin
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	mr, err := newModelRepository()
	if err != nil {
		return nil, err
	}
	ir, err := newInteropRepository()
	if err != nil {
		return nil, err
	}
	p := &ModelProvider{opts: o, log: o.Log, model: mr, interop: ir, props: map[string]*classDefs{}}
	for _, r := range []*Repository{mr, ir} {
		for _, n := range r.Names() {
			c, _ := r.Class(n)
			d := &classDefs{c: c, idx: make(map[string]int, len(c.Properties)), exact: make(map[string]int, len(c.Properties))}
			for i := range c.Properties {
				d.idx[strings.ToLower(c.Properties[i].Name)] = i
				d.exact[c.Properties[i].Name] = i
			}
			p.props[strings.ToLower(n)] = d
		}
	}
	p.subs = NewMemProvider()
	p.subs.AddNamespace(InteropNamespace, ir)
	p.classes = p.implementations()
	p.ind = newIndicationState(p)
	if err := p.loadSubscriptions(); err != nil {
		return nil, err
	}
	return p, nil
}

// ---------------------------------------------------------------------
// Instance building

// classDefs are a class's property definitions by lower-case name.
type classDefs struct {
	c     *Class
	idx   map[string]int // lower-case name
	exact map[string]int // defined name (the builders use it: no folding)
}

// ib builds one instance: properties get their declared type, array flag,
// reference class and class origin, and stay in declaration order (as
// clients list them).
type ib struct {
	p    *ModelProvider
	defs *classDefs
	pos  []int
	in   *Instance
}

func (p *ModelProvider) newInst(class string, n int) *ib {
	return &ib{p: p, defs: p.props[strings.ToLower(class)], pos: make([]int, 0, n), in: &Instance{ClassName: class, Properties: make([]Property, 0, n)}}
}

func (b *ib) add(name string, set func(*Property)) *ib {
	if b.defs == nil {
		if b.p.unknownProp != nil {
			b.p.unknownProp(b.in.ClassName, "")
		}
		return b
	}
	i, ok := b.defs.exact[name]
	if !ok {
		i, ok = b.defs.idx[strings.ToLower(name)]
	}
	if !ok {
		if b.p.unknownProp != nil {
			b.p.unknownProp(b.in.ClassName, name)
		}
		return b
	}
	d := &b.defs.c.Properties[i]
	ps := append(b.in.Properties, Property{Name: d.Name, Type: d.Type, Array: d.Array, RefClass: d.RefClass, ClassOrigin: d.ClassOrigin, Propagated: d.Propagated, EmbeddedObject: d.EmbeddedObject})
	set(&ps[len(ps)-1]) // in place: a local Property would escape to the heap
	pos := append(b.pos, i)
	for j := len(ps) - 1; j > 0 && pos[j] < pos[j-1]; j-- {
		ps[j], ps[j-1] = ps[j-1], ps[j]
		pos[j], pos[j-1] = pos[j-1], pos[j]
	}
	b.in.Properties, b.pos = ps, pos
	return b
}

func (b *ib) s(name, v string) *ib { return b.add(name, func(p *Property) { p.Value = v }) }

// so sets a string property unless v is empty.
func (b *ib) so(name, v string) *ib {
	if v == "" {
		return b
	}
	return b.s(name, v)
}

func (b *ib) u(name string, v uint64) *ib {
	return b.add(name, func(p *Property) { p.Value = strconv.FormatUint(v, 10) })
}

func (b *ib) b(name string, v bool) *ib {
	return b.add(name, func(p *Property) {
		p.Value = "FALSE"
		if v {
			p.Value = "TRUE"
		}
	})
}

func (b *ib) a(name string, vs ...string) *ib {
	if vs == nil {
		vs = []string{}
	}
	return b.add(name, func(p *Property) { p.Values = vs })
}

func (b *ib) ua(name string, vs ...uint16) *ib {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.FormatUint(uint64(v), 10)
	}
	return b.a(name, out...)
}

func (b *ib) ref(name string, path *InstancePath) *ib {
	return b.add(name, func(p *Property) { p.Ref = path })
}

func (b *ib) t(name string, t time.Time) *ib {
	if t.IsZero() {
		return b
	}
	return b.s(name, CIMDatetime(t))
}

// CIMDatetime formats t as a CIM timestamp in UTC
// (yyyymmddhhmmss.mmmmmm+000).
func CIMDatetime(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%04d%02d%02d%02d%02d%02d.%06d+000", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)
}

// ParseCIMInterval parses a CIM interval (ddddddddhhmmss.mmmmmm:000).
func ParseCIMInterval(s string) (time.Duration, error) {
	if len(s) != 25 || s[14] != '.' || s[21] != ':' {
		return 0, fmt.Errorf("not a CIM interval: %q", s)
	}
	num := func(a, b int) (int64, error) { return strconv.ParseInt(s[a:b], 10, 64) }
	d, err1 := num(0, 8)
	h, err2 := num(8, 10)
	m, err3 := num(10, 12)
	sec, err4 := num(12, 14)
	us, err5 := num(15, 21)
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			return 0, fmt.Errorf("not a CIM interval: %q", s)
		}
	}
	return time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond, nil
}

func kb(name, v string) KeyBinding {
	return KeyBinding{Name: name, Type: cimxml.TypeString, ValueType: "string", Value: v}
}

// ---------------------------------------------------------------------
// Paths

func clusterName(s *mdl.Snapshot) string {
	if s.Cluster.Name != "" {
		return s.Cluster.Name
	}
	return "cluster"
}

func systemPath(class, name string) *InstancePath {
	return &InstancePath{Namespace: ModelNamespace, ClassName: class, Keys: []KeyBinding{kb("CreationClassName", class), kb("Name", name)}}
}

func servicePath(cluster, class, name string) *InstancePath {
	return &InstancePath{Namespace: ModelNamespace, ClassName: class, Keys: []KeyBinding{
		kb("SystemCreationClassName", ClassCluster), kb("SystemName", cluster), kb("CreationClassName", class), kb("Name", name)}}
}

func instanceIDPath(ns, class, id string) *InstancePath {
	return &InstancePath{Namespace: ns, ClassName: class, Keys: []KeyBinding{kb("InstanceID", id)}}
}

// ClusterPath returns the instance path of the cluster.
func ClusterPath(cluster string) *InstancePath { return systemPath(ClassCluster, cluster) }

// SystemPath returns the instance path of a node, host or VM.
func SystemPath(name string) *InstancePath { return systemPath(ClassComputerSystem, name) }

// ResourcePath returns the instance path of a resource of the given kind
// (its class follows the kind and agent: see resourceClass).
func ResourcePath(cluster string, r mdl.Resource) *InstancePath {
	return servicePath(cluster, resourceClass(r), r.ID)
}

func resourceClass(r mdl.Resource) string {
	switch r.Kind {
	case mdl.KindGroup:
		return ClassResourceGroup
	case mdl.KindClone, mdl.KindPromotable:
		return ClassResourceClone
	case mdl.KindBundle:
		return ClassResourceBundle
	}
	if strings.HasPrefix(r.Agent, "stonith:") {
		return ClassFencingDevice
	}
	return ClassResource
}

func keyValue(p *InstancePath, name string) string {
	if k := p.Key(name); k != nil {
		return k.Value
	}
	return ""
}

// ---------------------------------------------------------------------
// Per-snapshot index

// snapIndex is what the provider derives from one snapshot besides the
// instances: the computer systems (the union of nodes, hosts and VMs by
// name). It is rebuilt when the snapshot changes.
type snapIndex struct {
	s       *mdl.Snapshot
	cluster string
	systems []string
	sys     map[string]*system
	members []string // member nodes (fence targets by default)
}

type system struct {
	name string
	node *mdl.Node
	host *mdl.Host
	vm   *mdl.VM
}

func (p *ModelProvider) index() *snapIndex {
	s := p.opts.Store.Snapshot()
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	if p.cache != nil && p.cache.s == s {
		return p.cache
	}
	x := buildIndex(s)
	p.cache = x
	return x
}

func buildIndex(s *mdl.Snapshot) *snapIndex {
	x := &snapIndex{s: s, cluster: clusterName(s), sys: map[string]*system{}}
	get := func(n string) *system {
		if y := x.sys[n]; y != nil {
			return y
		}
		y := &system{name: n}
		x.sys[n] = y
		x.systems = append(x.systems, n)
		return y
	}
	for i := range s.Nodes {
		get(s.Nodes[i].Name).node = &s.Nodes[i]
		if s.Nodes[i].Type == mdl.NodeMember {
			x.members = append(x.members, s.Nodes[i].Name)
		}
	}
	for i := range s.Hosts {
		h := &s.Hosts[i]
		n := h.Name
		if h.Node != "" {
			n = h.Node
		}
		get(n).host = h
	}
	for i := range s.VMs {
		v := &s.VMs[i]
		y := get(v.Name)
		if y.vm == nil || (!y.vm.State.Active() && v.State.Active()) {
			y.vm = v
		}
	}
	sort.Strings(x.systems)
	return x
}

// hostSystem returns the computer system name of a VM's host.
func (x *snapIndex) hostSystem(host string) string {
	if h, ok := x.s.Host(host); ok && h.Node != "" {
		return h.Node
	}
	return host
}

// ---------------------------------------------------------------------
// Provider

// Namespaces implements Provider.
func (p *ModelProvider) Namespaces() []string { return []string{InteropNamespace, ModelNamespace} }

// Classes implements Provider.
func (p *ModelProvider) Classes(ns string) *Repository {
	switch {
	case strings.EqualFold(ns, ModelNamespace):
		return p.model
	case strings.EqualFold(ns, InteropNamespace):
		return p.interop
	}
	return nil
}

func (p *ModelProvider) impl(ns, class string) *classImpl {
	c := p.classes[strings.ToLower(class)]
	if c == nil || (c.ns != "" && !strings.EqualFold(c.ns, ns)) {
		return nil
	}
	return c
}

// Instances implements Provider.
func (p *ModelProvider) Instances(ctx context.Context, ns, className string) iter.Seq2[*Instance, error] {
	return func(yield func(*Instance, error) bool) {
		if strings.EqualFold(ns, InteropNamespace) && isSubscriptionClass(className) {
			for in, err := range p.subs.Instances(ctx, ns, className) {
				if !yield(in, err) {
					return
				}
			}
			return
		}
		c := p.impl(ns, className)
		if c == nil {
			return
		}
		x := p.index()
		var ctxErr error
		c.each(x, func(in *Instance) bool {
			if ctxErr = ctx.Err(); ctxErr != nil {
				return false
			}
			return yield(in, nil)
		})
		if ctxErr != nil {
			yield(nil, ctxErr)
		}
	}
}

// GetInstance implements Provider.
func (p *ModelProvider) GetInstance(ctx context.Context, path *InstancePath) (*Instance, error) {
	ns := path.Namespace
	if ns == "" {
		ns = ModelNamespace
	}
	if strings.EqualFold(ns, InteropNamespace) && isSubscriptionClass(path.ClassName) {
		return p.subs.GetInstance(ctx, path)
	}
	c := p.impl(ns, path.ClassName)
	if c == nil {
		return nil, Errorf(StatusNotFound, "no instance %s", WBEMURI(path))
	}
	x := p.index()
	if c.get != nil {
		if in := c.get(x, path); in != nil {
			return in, nil
		}
		return nil, Errorf(StatusNotFound, "no instance %s", WBEMURI(path))
	}
	repo := p.Classes(ns)
	want := CanonicalPath(path, ns)
	var found *Instance
	c.each(x, func(in *Instance) bool {
		ip, err := repo.PathOf(ns, in)
		if err == nil && CanonicalPath(ip, ns) == want {
			found = in
			return false
		}
		return true
	})
	if found == nil {
		return nil, Errorf(StatusNotFound, "no instance %s", WBEMURI(path))
	}
	return found, nil
}

// References implements Provider: it walks the association classes of ns
// and yields those referring to target.
func (p *ModelProvider) References(ctx context.Context, ns string, target *InstancePath) iter.Seq2[*Instance, error] {
	return func(yield func(*Instance, error) bool) {
		repo := p.Classes(ns)
		if repo == nil {
			return
		}
		want := CanonicalPath(target, ns)
		tclass := target.ClassName
		for _, cn := range repo.Names() {
			if !repo.IsAssociation(cn) {
				continue
			}
			c, _ := repo.Class(cn)
			if HasQualifier(c.Qualifiers, "Abstract") {
				continue
			}
			// Skip associations none of whose references can point at
			// the target's class.
			possible := false
			for _, pr := range c.Properties {
				if pr.Type == cimxml.TypeReference && (repo.IsA(tclass, pr.RefClass) || p.model.IsA(tclass, pr.RefClass) || p.interop.IsA(tclass, pr.RefClass)) {
					possible = true
				}
			}
			if !possible {
				continue
			}
			refers := func(in *Instance) bool {
				for i := range in.Properties {
					pr := &in.Properties[i]
					if pr.Type == cimxml.TypeReference && pr.Ref != nil && strings.EqualFold(pr.Ref.ClassName, tclass) && CanonicalPath(pr.Ref, ns) == want {
						return true
					}
				}
				return false
			}
			if c := p.impl(ns, cn); c != nil && c.refs != nil {
				stopped := false
				if c.refs(p.index(), target, func(in *Instance) bool {
					if err := ctx.Err(); err != nil {
						yield(nil, err)
						stopped = true
						return false
					}
					if refers(in) && !yield(in, nil) {
						stopped = true
						return false
					}
					return true
				}) {
					if stopped {
						return
					}
					continue
				}
			}
			for in, err := range p.Instances(ctx, ns, cn) {
				if err != nil {
					yield(nil, err)
					return
				}
				if refers(in) && !yield(in, nil) {
					return
				}
			}
		}
	}
}
