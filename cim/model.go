package cim

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mgmtd/action"
	mdl "mgmtd/model"
	"mgmtd/wbem"
	"mgmtd/wbem/cimxml"
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
	// Actuator runs the actions the methods request (the action
	// executor); nil answers every action method with
	// CIM_ERR_NOT_SUPPORTED. It authorizes each request with the caller's
	// *auth.Identity (the wbem.Principal's Identity) and MGMTD_ConcreteJob
	// shows its tasks.
	Actuator action.Actuator
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
	// HTTPClient, QueueSize, RetryMin and RetryMax configure the delivery
	// of indications (wbem.DeliveryOptions: Client, QueueSize, RetryMin,
	// RetryMax; defaults a client with a 10 s timeout, 1000 indications
	// per listener destination, 500 ms and 30 s). Set HTTPClient's
	// Transport's TLSClientConfig for https listeners.
	HTTPClient         *http.Client
	QueueSize          int
	RetryMin, RetryMax time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Subscriptions is the permission and ownership policy of the
	// indication subscriptions (who may create and delete filters,
	// listener destinations and subscriptions: a destination makes the
	// daemon post model data to a URL the caller chooses; whose stay).
	// Required.
	Subscriptions wbem.SubscriptionPolicy
	// Destinations limit the listener destinations (the zero value
	// allows none); MaxSubscriptionsPerOwner and MaxSubscriptions bound
	// the instances of each subscription class per owner and in all
	// (wbem.SubscriptionOptions.MaxPerOwner, MaxTotal: 16 and 256).
	Destinations                               wbem.DestinationRules
	MaxSubscriptionsPerOwner, MaxSubscriptions int
}

// ModelProvider serves the cluster model (namespace root/cimv2) and the
// interop namespace from the current snapshot: instances are built when
// asked for, from names only, so their paths stay the same across
// snapshots. It implements wbem.Provider and wbem.InstanceWriter (the
// indication subscriptions, kept by a wbem.SubscriptionStore) and
// delivers indications with RunIndications.
type ModelProvider struct {
	opts    ModelOptions
	log     *slog.Logger
	model   *wbem.Repository
	interop *wbem.Repository
	props   map[string]*classDefs   // lower class -> property definitions (both repositories)
	classes map[string]*classImpl   // lower class -> implementation
	subs    *wbem.SubscriptionStore // interop subscription instances

	cacheMu sync.Mutex
	cache   *snapIndex

	jobsMu sync.Mutex
	jobs   []string // task ids started through CIM, oldest first

	delivery  *wbem.Delivery
	following atomic.Bool // RunIndications follows the event log

	// unknownProp, when set (tests), is told about a property a builder
	// sets that the class does not declare (such a property is dropped).
	unknownProp func(class, name string)
}

var (
	_ wbem.Provider       = (*ModelProvider)(nil)
	_ wbem.InstanceWriter = (*ModelProvider)(nil)
)

// classImpl enumerates (and optionally looks up) the instances of one
// concrete class.
type classImpl struct {
	ns   string
	each func(x *snapIndex, yield func(*wbem.Instance) bool)
	// get looks an instance up by its normalized path; nil scans each.
	get func(x *snapIndex, p *wbem.InstancePath) *wbem.Instance
	// refs, for large association classes, yields only the instances that
	// may refer to target, and reports false when it cannot narrow the
	// search (References then scans each).
	refs func(x *snapIndex, target *wbem.InstancePath, yield func(*wbem.Instance) bool) bool
}

// subscriptionFile is the name of the subscription file in
// ModelOptions.StateDir.
const subscriptionFile = "cim-subscriptions.json"

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
	for _, r := range []*wbem.Repository{mr, ir} {
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
	p.classes = p.implementations()
	so := wbem.SubscriptionOptions{Namespace: InteropNamespace, Classes: ir, SourceNamespace: ModelNamespace, Source: mr,
		SystemName: o.SystemName, Policy: o.Subscriptions, Destinations: o.Destinations,
		MaxPerOwner: o.MaxSubscriptionsPerOwner, MaxTotal: o.MaxSubscriptions, Now: o.Now, Log: o.Log}
	if o.StateDir != "" {
		so.File = filepath.Join(o.StateDir, subscriptionFile)
	}
	if p.subs, err = wbem.NewSubscriptionStore(so); err != nil {
		return nil, err
	}
	p.delivery = wbem.NewDelivery(wbem.DeliveryOptions{Client: o.HTTPClient, QueueSize: o.QueueSize,
		RetryMin: o.RetryMin, RetryMax: o.RetryMax, Wanted: p.subs.Subscribed, Destinations: &o.Destinations, Log: o.Log})
	return p, nil
}

// ---------------------------------------------------------------------
// Instance building

// classDefs are a class's property definitions by lower-case name.
type classDefs struct {
	c     *wbem.Class
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
	in   *wbem.Instance
}

func (p *ModelProvider) newInst(class string, n int) *ib {
	return &ib{p: p, defs: p.props[strings.ToLower(class)], pos: make([]int, 0, n), in: &wbem.Instance{ClassName: class, Properties: make([]wbem.Property, 0, n)}}
}

func (b *ib) add(name string, set func(*wbem.Property)) *ib {
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
	ps := append(b.in.Properties, wbem.Property{Name: d.Name, Type: d.Type, Array: d.Array, RefClass: d.RefClass, ClassOrigin: d.ClassOrigin, Propagated: d.Propagated, EmbeddedObject: d.EmbeddedObject})
	set(&ps[len(ps)-1]) // in place: a local Property would escape to the heap
	pos := append(b.pos, i)
	for j := len(ps) - 1; j > 0 && pos[j] < pos[j-1]; j-- {
		ps[j], ps[j-1] = ps[j-1], ps[j]
		pos[j], pos[j-1] = pos[j-1], pos[j]
	}
	b.in.Properties, b.pos = ps, pos
	return b
}

func (b *ib) s(name, v string) *ib { return b.add(name, func(p *wbem.Property) { p.Value = v }) }

// so sets a string property unless v is empty.
func (b *ib) so(name, v string) *ib {
	if v == "" {
		return b
	}
	return b.s(name, v)
}

func (b *ib) u(name string, v uint64) *ib {
	return b.add(name, func(p *wbem.Property) { p.Value = strconv.FormatUint(v, 10) })
}

func (b *ib) b(name string, v bool) *ib {
	return b.add(name, func(p *wbem.Property) {
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
	return b.add(name, func(p *wbem.Property) { p.Values = vs })
}

func (b *ib) ua(name string, vs ...uint16) *ib {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.FormatUint(uint64(v), 10)
	}
	return b.a(name, out...)
}

func (b *ib) ref(name string, path *wbem.InstancePath) *ib {
	return b.add(name, func(p *wbem.Property) { p.Ref = path })
}

func (b *ib) t(name string, t time.Time) *ib {
	if t.IsZero() {
		return b
	}
	return b.s(name, wbem.CIMDatetime(t))
}

func kb(name, v string) wbem.KeyBinding {
	return wbem.KeyBinding{Name: name, Type: cimxml.TypeString, ValueType: "string", Value: v}
}

// ---------------------------------------------------------------------
// Paths

func clusterName(s *mdl.Snapshot) string {
	if s.Cluster.Name != "" {
		return s.Cluster.Name
	}
	return "cluster"
}

func systemPath(class, name string) *wbem.InstancePath {
	return &wbem.InstancePath{Namespace: ModelNamespace, ClassName: class, Keys: []wbem.KeyBinding{kb("CreationClassName", class), kb("Name", name)}}
}

func servicePath(cluster, class, name string) *wbem.InstancePath {
	return &wbem.InstancePath{Namespace: ModelNamespace, ClassName: class, Keys: []wbem.KeyBinding{
		kb("SystemCreationClassName", ClassCluster), kb("SystemName", cluster), kb("CreationClassName", class), kb("Name", name)}}
}

func instanceIDPath(ns, class, id string) *wbem.InstancePath {
	return &wbem.InstancePath{Namespace: ns, ClassName: class, Keys: []wbem.KeyBinding{kb("InstanceID", id)}}
}

// ClusterPath returns the instance path of the cluster.
func ClusterPath(cluster string) *wbem.InstancePath { return systemPath(ClassCluster, cluster) }

// SystemPath returns the instance path of a node, host or VM.
func SystemPath(name string) *wbem.InstancePath { return systemPath(ClassComputerSystem, name) }

// ResourcePath returns the instance path of a resource of the given kind
// (its class follows the kind and agent: see resourceClass).
func ResourcePath(cluster string, r mdl.Resource) *wbem.InstancePath {
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

func keyValue(p *wbem.InstancePath, name string) string {
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
func (p *ModelProvider) Classes(ns string) *wbem.Repository {
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
func (p *ModelProvider) Instances(ctx context.Context, ns, className string) iter.Seq2[*wbem.Instance, error] {
	return func(yield func(*wbem.Instance, error) bool) {
		if p.subs.Handles(ns, className) {
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
		c.each(x, func(in *wbem.Instance) bool {
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
func (p *ModelProvider) GetInstance(ctx context.Context, path *wbem.InstancePath) (*wbem.Instance, error) {
	ns := path.Namespace
	if ns == "" {
		ns = ModelNamespace
	}
	if p.subs.Handles(ns, path.ClassName) {
		return p.subs.GetInstance(ctx, path)
	}
	c := p.impl(ns, path.ClassName)
	if c == nil {
		return nil, wbem.Errorf(wbem.StatusNotFound, "no instance %s", wbem.WBEMURI(path))
	}
	x := p.index()
	if c.get != nil {
		if in := c.get(x, path); in != nil {
			return in, nil
		}
		return nil, wbem.Errorf(wbem.StatusNotFound, "no instance %s", wbem.WBEMURI(path))
	}
	repo := p.Classes(ns)
	want := wbem.CanonicalPath(path, ns)
	var found *wbem.Instance
	c.each(x, func(in *wbem.Instance) bool {
		ip, err := repo.PathOf(ns, in)
		if err == nil && wbem.CanonicalPath(ip, ns) == want {
			found = in
			return false
		}
		return true
	})
	if found == nil {
		return nil, wbem.Errorf(wbem.StatusNotFound, "no instance %s", wbem.WBEMURI(path))
	}
	return found, nil
}

// CreateInstance implements wbem.InstanceWriter: indication filters,
// listener destinations and subscriptions in interop (the subscription
// store); everything else is CIM_ERR_NOT_SUPPORTED.
func (p *ModelProvider) CreateInstance(ctx context.Context, ns string, in *wbem.Instance) (*wbem.InstancePath, error) {
	return p.subs.CreateInstance(ctx, ns, in)
}

// DeleteInstance implements wbem.InstanceWriter for the subscription
// instances.
func (p *ModelProvider) DeleteInstance(ctx context.Context, path *wbem.InstancePath) error {
	return p.subs.DeleteInstance(ctx, path)
}

// References implements Provider: it walks the association classes of ns
// and yields those referring to target.
func (p *ModelProvider) References(ctx context.Context, ns string, target *wbem.InstancePath) iter.Seq2[*wbem.Instance, error] {
	return func(yield func(*wbem.Instance, error) bool) {
		repo := p.Classes(ns)
		if repo == nil {
			return
		}
		want := wbem.CanonicalPath(target, ns)
		tclass := target.ClassName
		for _, cn := range repo.Names() {
			if !repo.IsAssociation(cn) {
				continue
			}
			c, _ := repo.Class(cn)
			if wbem.HasQualifier(c.Qualifiers, "Abstract") {
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
			refers := func(in *wbem.Instance) bool {
				for i := range in.Properties {
					pr := &in.Properties[i]
					if pr.Type == cimxml.TypeReference && pr.Ref != nil && strings.EqualFold(pr.Ref.ClassName, tclass) && wbem.CanonicalPath(pr.Ref, ns) == want {
						return true
					}
				}
				return false
			}
			if c := p.impl(ns, cn); c != nil && c.refs != nil {
				stopped := false
				if c.refs(p.index(), target, func(in *wbem.Instance) bool {
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
