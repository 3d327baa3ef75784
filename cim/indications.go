package cim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"mgmtd/wbem/cimxml"
	mdl "mgmtd/model"
)

// Indication subscriptions (DSP1054 as used by pywbem's subscription
// manager): CIM_IndicationFilter, CIM_ListenerDestinationCIMXML and
// CIM_IndicationSubscription instances created and deleted in interop,
// kept in memory and, with ModelOptions.StateDir, in a JSON file.

const subscriptionFile = "cim-subscriptions.json"

func isSubscriptionClass(class string) bool {
	switch strings.ToLower(class) {
	case "cim_indicationfilter", "cim_listenerdestination", "cim_listenerdestinationcimxml", "cim_indicationsubscription":
		return true
	}
	return false
}

// CreateInstance implements InstanceWriter for the subscription classes
// in interop.
func (p *ModelProvider) CreateInstance(ctx context.Context, ns string, in *Instance) (*InstancePath, error) {
	if !strings.EqualFold(ns, InteropNamespace) || !isSubscriptionClass(in.ClassName) {
		return nil, Errorf(StatusNotSupported, "instances of %s cannot be created", in.ClassName)
	}
	if err := p.authorizeSubscription(ctx); err != nil {
		return nil, err
	}
	p.subMu.Lock()
	defer p.subMu.Unlock()
	cp := &Instance{ClassName: in.ClassName, Properties: append([]Property(nil), in.Properties...)}
	c, ok := p.interop.Class(cp.ClassName)
	if !ok || HasQualifier(c.Qualifiers, "Abstract") {
		return nil, Errorf(StatusInvalidClass, "class %s cannot be instantiated", in.ClassName)
	}
	cp.ClassName = c.Name
	setDefault := func(name, v string) {
		if pr := cp.Property(name); pr == nil || (pr.Null && !pr.Array) {
			cp.Properties = dropNamed(cp.Properties, name)
			cp.Properties = append(cp.Properties, Property{Name: name, Value: v})
		}
	}
	now := CIMDatetime(p.opts.Now())
	switch strings.ToLower(c.Name) {
	case "cim_indicationfilter":
		setDefault("SystemCreationClassName", "CIM_ComputerSystem")
		setDefault("SystemName", p.opts.SystemName)
		setDefault("CreationClassName", c.Name)
		setDefault("Name", "mgmtd:filter:"+randomID())
		setDefault("QueryLanguage", "WQL")
		setDefault("SourceNamespace", ModelNamespace)
		q := cp.Property("Query")
		if q == nil || q.Null {
			return nil, Errorf(StatusInvalidParameter, "Query is required")
		}
		if _, err := p.parseFilter(cp.Property("QueryLanguage").Value, q.Value); err != nil {
			return nil, err
		}
	case "cim_listenerdestinationcimxml":
		setDefault("SystemCreationClassName", "CIM_ComputerSystem")
		setDefault("SystemName", p.opts.SystemName)
		setDefault("CreationClassName", c.Name)
		setDefault("Name", "mgmtd:destination:"+randomID())
		setDefault("Protocol", "2")
		setDefault("PersistenceType", "2")
		d := cp.Property("Destination")
		if d == nil || d.Null {
			return nil, Errorf(StatusInvalidParameter, "Destination is required")
		}
		if _, err := listenerURL(d.Value); err != nil {
			return nil, Errorf(StatusInvalidParameter, "Destination: %v", err)
		}
	case "cim_indicationsubscription":
		for _, r := range []string{"Filter", "Handler"} {
			pr := cp.Property(r)
			if pr == nil || pr.Null || pr.Ref == nil {
				return nil, Errorf(StatusInvalidParameter, "%s is required", r)
			}
			rp := *pr.Ref
			rp.Host = ""
			if rp.Namespace == "" {
				rp.Namespace = InteropNamespace
			}
			np, err := p.interop.NormalizePath(InteropNamespace, &rp)
			if err != nil {
				return nil, Errorf(StatusInvalidParameter, "%s: %v", r, err)
			}
			if _, err := p.subs.GetInstance(ctx, np); err != nil {
				return nil, Errorf(StatusInvalidParameter, "%s %s does not exist", r, WBEMURI(np))
			}
			pr.Ref = np
		}
		setDefault("SubscriptionState", "2")
		setDefault("OnFatalErrorPolicy", "2")
		setDefault("SubscriptionStartTime", now)
		setDefault("TimeOfLastStateChange", now)
	}
	path, err := p.subs.Add(InteropNamespace, cp)
	if err != nil {
		return nil, err
	}
	if err := p.saveSubscriptions(ctx); err != nil {
		_ = p.subs.Remove(path)
		return nil, Errorf(StatusFailed, "saving subscriptions: %v", err)
	}
	return path, nil
}

func (p *ModelProvider) authorizeSubscription(ctx context.Context) error {
	if p.opts.AuthorizeSubscription == nil {
		return nil
	}
	pr, _ := PrincipalFrom(ctx)
	if err := p.opts.AuthorizeSubscription(ctx, pr); err != nil {
		return Errorf(StatusAccessDenied, "%s may not manage indication subscriptions: %v", pr.Name, err)
	}
	return nil
}

func dropNamed(ps []Property, name string) []Property {
	out := ps[:0]
	for _, p := range ps {
		if !strings.EqualFold(p.Name, name) {
			out = append(out, p)
		}
	}
	return out
}

// DeleteInstance implements InstanceWriter. A filter or destination still
// used by a subscription is refused (CIM_ERR_FAILED).
func (p *ModelProvider) DeleteInstance(ctx context.Context, path *InstancePath) error {
	if !strings.EqualFold(path.Namespace, InteropNamespace) || !isSubscriptionClass(path.ClassName) {
		return Errorf(StatusNotSupported, "instances of %s cannot be deleted", path.ClassName)
	}
	if err := p.authorizeSubscription(ctx); err != nil {
		return err
	}
	p.subMu.Lock()
	defer p.subMu.Unlock()
	in, err := p.subs.GetInstance(ctx, path)
	if err != nil {
		return err
	}
	if !strings.EqualFold(path.ClassName, "CIM_IndicationSubscription") {
		for ref, err := range p.subs.References(ctx, InteropNamespace, path) {
			if err != nil {
				return err
			}
			if strings.EqualFold(ref.ClassName, "CIM_IndicationSubscription") {
				return Errorf(StatusFailed, "%s is used by a subscription", WBEMURI(path))
			}
		}
	}
	if err := p.subs.Remove(path); err != nil {
		return err
	}
	if err := p.saveSubscriptions(ctx); err != nil {
		if _, aerr := p.subs.Add(InteropNamespace, in); aerr != nil {
			p.log.Error("cim: restoring subscription instance", "err", aerr)
		}
		return Errorf(StatusFailed, "saving subscriptions: %v", err)
	}
	return nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func listenerURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http or https URL", s)
	}
	return u, nil
}

// parseFilter checks a filter query: WQL or DMTF:CQL selecting from an
// indication class of the model namespace.
func (p *ModelProvider) parseFilter(lang, text string) (*query, error) {
	q, err := parseQuery(lang, text, p.model)
	if err != nil {
		return nil, err
	}
	if !p.model.IsA(q.class, "CIM_Indication") {
		return nil, Errorf(StatusInvalidQuery, "%s is not an indication class", q.class)
	}
	return q, nil
}

// persisted is the JSON form of the subscription instances: class and
// property values as text; references as namespace, class and string keys
// (the subscription classes have no other kind of key).
type persisted struct {
	Version   int             `json:"version"`
	Instances []savedInstance `json:"instances"`
}

type savedInstance struct {
	Class      string      `json:"class"`
	Properties []savedProp `json:"properties"`
}

type savedProp struct {
	Name   string    `json:"name"`
	Value  *string   `json:"value,omitempty"`
	Values []string  `json:"values,omitempty"`
	Ref    *savedRef `json:"ref,omitempty"`
}

type savedRef struct {
	Namespace string            `json:"namespace"`
	Class     string            `json:"class"`
	Keys      map[string]string `json:"keys"`
}

func saveInstance(in *Instance) savedInstance {
	out := savedInstance{Class: in.ClassName}
	for _, p := range in.Properties {
		if p.Null {
			continue
		}
		sp := savedProp{Name: p.Name}
		switch {
		case p.Ref != nil:
			r := &savedRef{Namespace: p.Ref.Namespace, Class: p.Ref.ClassName, Keys: map[string]string{}}
			for _, k := range p.Ref.Keys {
				r.Keys[k.Name] = k.Value
			}
			sp.Ref = r
		case p.Array:
			sp.Values = append([]string{}, p.Values...)
		default:
			v := p.Value
			sp.Value = &v
		}
		out.Properties = append(out.Properties, sp)
	}
	return out
}

func (s savedInstance) instance() *Instance {
	in := &Instance{ClassName: s.Class}
	for _, sp := range s.Properties {
		p := Property{Name: sp.Name}
		switch {
		case sp.Ref != nil:
			r := &InstancePath{Namespace: sp.Ref.Namespace, ClassName: sp.Ref.Class}
			for k, v := range sp.Ref.Keys {
				r.Keys = append(r.Keys, kb(k, v))
			}
			p.Type, p.Ref = cimxml.TypeReference, r
		case sp.Values != nil:
			p.Array, p.Values = true, sp.Values
		case sp.Value != nil:
			p.Value = *sp.Value
		default:
			p.Null = true
		}
		in.Properties = append(in.Properties, p)
	}
	return in
}

func (p *ModelProvider) subscriptionInstances(ctx context.Context) []*Instance {
	var out []*Instance
	for _, c := range []string{"CIM_IndicationFilter", "CIM_ListenerDestinationCIMXML", "CIM_IndicationSubscription"} {
		for in, err := range p.subs.Instances(ctx, InteropNamespace, c) {
			if err == nil {
				out = append(out, in)
			}
		}
	}
	return out
}

func (p *ModelProvider) saveSubscriptions(ctx context.Context) error {
	if p.opts.StateDir == "" {
		return nil
	}
	st := persisted{Version: 1, Instances: []savedInstance{}}
	for _, in := range p.subscriptionInstances(ctx) {
		st.Instances = append(st.Instances, saveInstance(in))
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode subscriptions: %w", err)
	}
	fn := filepath.Join(p.opts.StateDir, subscriptionFile)
	tmp := fn + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write subscriptions: %w", err)
	}
	if err := os.Rename(tmp, fn); err != nil {
		return fmt.Errorf("write subscriptions: %w", err)
	}
	return nil
}

// loadSubscriptions restores the persisted subscriptions; instances that
// no longer validate (or whose filter or destination is gone) are skipped
// with a warning.
func (p *ModelProvider) loadSubscriptions() error {
	if p.opts.StateDir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(p.opts.StateDir, subscriptionFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read subscriptions: %w", err)
	}
	return p.restoreSubscriptions(b)
}

func (p *ModelProvider) restoreSubscriptions(b []byte) error {
	var st persisted
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("read subscriptions %s: %w", subscriptionFile, err)
	}
	ctx := context.Background()
	for _, si := range st.Instances {
		in := si.instance()
		if !isSubscriptionClass(in.ClassName) {
			p.log.Warn("cim: skipping persisted instance of a non-subscription class", "class", in.ClassName)
			continue
		}
		if err := p.validSubscription(ctx, in); err != nil {
			p.log.Warn("cim: skipping persisted subscription instance", "class", in.ClassName, "err", err)
			continue
		}
		if _, err := p.subs.Add(InteropNamespace, in); err != nil {
			p.log.Warn("cim: skipping persisted subscription instance", "class", in.ClassName, "err", err)
		}
	}
	return nil
}

// validSubscription checks a restored instance as CreateInstance would.
func (p *ModelProvider) validSubscription(ctx context.Context, in *Instance) error {
	switch strings.ToLower(in.ClassName) {
	case "cim_indicationfilter":
		q, l := in.Property("Query"), in.Property("QueryLanguage")
		if q == nil || l == nil || q.Null || l.Null {
			return errors.New("filter without query")
		}
		_, err := p.parseFilter(l.Value, q.Value)
		return err
	case "cim_listenerdestinationcimxml":
		d := in.Property("Destination")
		if d == nil || d.Null {
			return errors.New("destination without URL")
		}
		_, err := listenerURL(d.Value)
		return err
	case "cim_indicationsubscription":
		for _, r := range []string{"Filter", "Handler"} {
			pr := in.Property(r)
			if pr == nil || pr.Ref == nil {
				return fmt.Errorf("subscription without %s", r)
			}
			np, err := p.interop.NormalizePath(InteropNamespace, pr.Ref)
			if err != nil {
				return err
			}
			if _, err := p.subs.GetInstance(ctx, np); err != nil {
				return err
			}
			pr.Ref = np
		}
		return nil
	}
	return fmt.Errorf("class %s cannot be restored", in.ClassName)
}

// ---------------------------------------------------------------------
// Delivery

// DestinationStats reports the delivery to one listener destination.
type DestinationStats struct {
	Destination string
	Queued      int
	Delivered   uint64
	Dropped     uint64 // dropped from the full queue (oldest first) or refused by the listener
	Failures    uint64 // failed delivery attempts (each retried)
	LastError   string
}

type indicationState struct {
	p       *ModelProvider
	mu      sync.Mutex
	dests   map[string]*destination // by URL
	context string                  // SequenceContext of this daemon run
}

type destination struct {
	url     string
	mu      sync.Mutex
	queue   []*Instance
	wake    chan struct{}
	seq     int64
	stats   DestinationStats
	running bool
}

func newIndicationState(p *ModelProvider) *indicationState {
	return &indicationState{p: p, dests: map[string]*destination{}, context: "mgmtd-" + randomID()}
}

// DeliveryStats returns the delivery statistics of every destination
// indications were queued for.
func (p *ModelProvider) DeliveryStats() []DestinationStats {
	p.ind.mu.Lock()
	defer p.ind.mu.Unlock()
	var out []DestinationStats
	for _, d := range p.ind.dests {
		d.mu.Lock()
		st := d.stats
		st.Queued = len(d.queue)
		d.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// RunIndications delivers the model's events to the subscribed listeners
// until ctx is done: each event becomes a MGMTD_InstModification (for
// nodes, resources, VMs, hosts and the cluster) and, for failover,
// fencing, quorum and failure events, a MGMTD_AlertIndication; every
// subscription whose filter selects it queues it for its destination.
// Events already in the log when it starts are not delivered.
func (p *ModelProvider) RunIndications(ctx context.Context) error {
	if p.opts.Events == nil {
		<-ctx.Done()
		return nil
	}
	seq := p.opts.Events.Last()
	prev := p.opts.Store.Snapshot()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if err := p.opts.Events.Wait(ctx, seq); err != nil {
			return nil
		}
		evs, missed := p.opts.Events.Since(seq)
		if missed {
			p.log.Warn("cim: indication delivery missed events (event log overflow)", "after", seq)
		}
		if len(evs) == 0 {
			continue
		}
		seq = evs[len(evs)-1].Seq
		cur := p.opts.Store.Snapshot()
		for _, e := range evs {
			for _, ind := range p.indicationsFor(e, prev, cur) {
				p.dispatch(ctx, &wg, ind)
			}
		}
		prev = cur
	}
}

// subscription is an enabled subscription resolved to its filter and
// destination.
type subscription struct {
	q      *query
	filter string
	url    string
}

func (p *ModelProvider) subscriptions(ctx context.Context) []subscription {
	var out []subscription
	for s, err := range p.subs.Instances(ctx, InteropNamespace, "CIM_IndicationSubscription") {
		if err != nil {
			break
		}
		if st := s.Property("SubscriptionState"); st != nil && !st.Null && st.Value != "2" && st.Value != "3" {
			continue
		}
		fp, hp := s.Property("Filter"), s.Property("Handler")
		if fp == nil || hp == nil || fp.Ref == nil || hp.Ref == nil {
			continue
		}
		f, err1 := p.subs.GetInstance(ctx, fp.Ref)
		h, err2 := p.subs.GetInstance(ctx, hp.Ref)
		if err1 != nil || err2 != nil {
			continue
		}
		q, err := p.parseFilter(f.Property("QueryLanguage").Value, f.Property("Query").Value)
		if err != nil {
			continue
		}
		out = append(out, subscription{q: q, filter: f.Property("Name").Value, url: h.Property("Destination").Value})
	}
	return out
}

// subscribed reports whether an enabled subscription delivers to dest.
func (p *ModelProvider) subscribed(ctx context.Context, dest string) bool {
	for _, s := range p.subscriptions(ctx) {
		if s.url == dest {
			return true
		}
	}
	return false
}

func (p *ModelProvider) dispatch(ctx context.Context, wg *sync.WaitGroup, ind *Instance) {
	for _, s := range p.subscriptions(ctx) {
		if !p.model.IsA(ind.ClassName, s.q.class) || (s.q.where != nil && !s.q.where.eval(ind)) {
			continue
		}
		cp := &Instance{ClassName: ind.ClassName, Properties: append([]Property(nil), ind.Properties...)}
		cp.Properties = append(cp.Properties, Property{Name: "IndicationFilterName", Type: "string", Value: s.filter, ClassOrigin: "CIM_Indication", Propagated: true})
		p.enqueue(ctx, wg, s.url, cp)
	}
}

func (p *ModelProvider) enqueue(ctx context.Context, wg *sync.WaitGroup, dest string, ind *Instance) {
	st := p.ind
	st.mu.Lock()
	d := st.dests[dest]
	if d == nil {
		d = &destination{url: dest, wake: make(chan struct{}, 1), stats: DestinationStats{Destination: dest}}
		st.dests[dest] = d
	}
	st.mu.Unlock()
	d.mu.Lock()
	if len(d.queue) >= p.opts.QueueSize {
		d.queue = d.queue[1:]
		d.stats.Dropped++
	}
	d.queue = append(d.queue, ind)
	start := !d.running
	d.running = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	if start {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.deliverLoop(ctx, d)
		}()
	}
}

// deliverLoop sends the queue of one destination in order, retrying the
// head with exponential backoff while the listener fails.
func (p *ModelProvider) deliverLoop(ctx context.Context, d *destination) {
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()
	backoff := p.opts.RetryMin
	for {
		d.mu.Lock()
		var head *Instance
		if len(d.queue) > 0 {
			head = d.queue[0]
		}
		d.mu.Unlock()
		if head == nil {
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
				continue
			}
		}
		if !p.subscribed(ctx, d.url) {
			// The last subscription to this listener was deleted: what is
			// still queued is not wanted any more.
			d.mu.Lock()
			d.stats.Dropped += uint64(len(d.queue))
			d.queue = nil
			d.mu.Unlock()
			continue
		}
		d.mu.Lock()
		d.seq++
		seq := d.seq
		d.mu.Unlock()
		err := p.send(ctx, d.url, head, seq)
		d.mu.Lock()
		switch {
		case err == nil:
			d.stats.Delivered++
			backoff = p.opts.RetryMin
		case errors.Is(err, errRefused):
			d.stats.Dropped++
			d.stats.LastError = err.Error()
		default:
			d.seq-- // the same indication is sent again with the same number
			d.stats.Failures++
			d.stats.LastError = err.Error()
		}
		if err == nil || errors.Is(err, errRefused) {
			if len(d.queue) > 0 && d.queue[0] == head {
				d.queue = d.queue[1:]
			}
		}
		d.mu.Unlock()
		if err != nil && !errors.Is(err, errRefused) {
			p.log.Warn("cim: indication delivery failed, retrying", "destination", d.url, "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(backoff*2, p.opts.RetryMax)
		}
	}
}

// errRefused marks a listener's definitive refusal (a 4xx answer): the
// indication is dropped instead of retried.
var errRefused = errors.New("listener refused the indication")

func (p *ModelProvider) send(ctx context.Context, dest string, ind *Instance, seq int64) error {
	cp := &Instance{ClassName: ind.ClassName, Properties: append([]Property(nil), ind.Properties...)}
	cp.Properties = append(cp.Properties,
		Property{Name: "SequenceContext", Type: "string", Value: p.ind.context, ClassOrigin: "CIM_Indication", Propagated: true},
		Property{Name: "SequenceNumber", Type: "sint64", Value: strconv.FormatInt(seq, 10), ClassOrigin: "CIM_Indication", Propagated: true})
	var buf bytes.Buffer
	e := cimxml.NewEncoder(&buf)
	e.ExportIndication(strconv.FormatInt(seq, 10), cp)
	if err := e.Flush(); err != nil {
		return fmt.Errorf("encode indication: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest, &buf)
	if err != nil {
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	req.Header.Set("CIMExport", "MethodRequest")
	req.Header.Set("CIMExportMethod", "ExportIndication")
	req.Header.Set("CIMProtocolVersion", "1.0")
	req.Header.Set("Accept", "application/xml") // pywbem's WBEMListener accepts a single type only
	resp, err := p.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("post indication to %s: %w", dest, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		if bytes.Contains(body.Bytes(), []byte("<ERROR")) {
			return fmt.Errorf("%w: %s answered a CIM error", errRefused, dest)
		}
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s answered %s", errRefused, dest, resp.Status)
	}
	return fmt.Errorf("post indication to %s: %s", dest, resp.Status)
}

// ---------------------------------------------------------------------
// Events to indications

// alertType gives the CIM_AlertIndication AlertType of the events that
// are alerts (failover, fencing, quorum, failures).
var alertType = map[mdl.EventType]uint64{
	mdl.EventQuorumLost:      2, // Communications Alert
	mdl.EventQuorumGained:    2,
	mdl.EventFencing:         5, // Device Alert
	mdl.EventResourceMoved:   3, // Quality of Service Alert (failover)
	mdl.EventResourceFailed:  4, // Processing Error
	mdl.EventNodeLeft:        2,
	mdl.EventHostUnreachable: 2,
	mdl.EventConflict:        7, // Model Change
}

func severityValue(s mdl.Severity) uint64 {
	switch s {
	case mdl.SeverityInfo:
		return 2
	case mdl.SeverityWarning:
		return 3
	case mdl.SeverityCritical:
		return 6
	}
	return 0
}

// objectPath returns the instance path an event's object maps to.
func (p *ModelProvider) objectPath(x *snapIndex, id mdl.ID) *InstancePath {
	switch id.Kind {
	case mdl.KindCluster:
		return ClusterPath(x.cluster)
	case mdl.KindNode, mdl.KindHost, mdl.KindVM:
		if x.sys[id.Name] != nil {
			return SystemPath(id.Name)
		}
		if id.Kind == mdl.KindHost {
			if h := x.hostSystem(id.Name); x.sys[h] != nil {
				return SystemPath(h)
			}
		}
	case mdl.KindResource:
		if r, ok := x.s.Resource(id.Name); ok {
			return ResourcePath(x.cluster, r)
		}
	}
	return nil
}

// indicationsFor maps one event to its indications, built from the
// current snapshot (SourceInstance) and the one before the batch
// (PreviousInstance).
func (p *ModelProvider) indicationsFor(e mdl.Event, prev, cur *mdl.Snapshot) []*Instance {
	x := p.indexOf(cur)
	px := p.indexOf(prev)
	var out []*Instance
	now := p.opts.Now()
	path := p.objectPath(x, e.Object)
	common := func(b *ib) *ib {
		return b.s("IndicationIdentifier", "mgmtd:"+strconv.FormatUint(e.Seq, 10)).t("IndicationTime", now).
			u("PerceivedSeverity", severityValue(e.Severity)).s("EventType", string(e.Type)).u("EventSequence", e.Seq)
	}
	if path != nil {
		if src := p.getFrom(x, path); src != nil {
			b := common(p.newInst(ClassInstModification, 10)).s("SourceInstance", cimxml.EmbedInstance(src)).
				s("SourceInstanceModelPath", WBEMURI(path)).s("SourceInstanceHost", p.opts.SystemName)
			if pp := p.objectPath(px, e.Object); pp != nil {
				if old := p.getFrom(px, pp); old != nil {
					b.s("PreviousInstance", cimxml.EmbedInstance(old))
				}
			}
			out = append(out, b.in)
		}
	}
	if at, ok := alertType[e.Type]; ok {
		b := common(p.newInst(ClassAlertIndication, 24)).s("Description", e.Message).u("AlertType", at).
			s("EventID", string(e.Type)).t("EventTime", e.Time).s("SystemCreationClassName", ClassCluster).
			s("SystemName", x.cluster).s("ProviderName", "mgmtd").s("OwningEntity", "mgmtd").
			s("MessageID", "MGMTD:"+string(e.Type)).s("Message", e.Message).
			s("ObjectKind", string(e.Object.Kind)).s("ObjectName", e.Object.Name).so("Node", e.Node).
			so("FromState", e.From).so("ToState", e.To)
		if path != nil {
			b.s("AlertingManagedElement", WBEMURI(path)).u("AlertingElementFormat", 2)
		}
		out = append(out, b.in)
	}
	return out
}

// indexOf returns the index of a given snapshot (the cached one when it
// is current).
func (p *ModelProvider) indexOf(s *mdl.Snapshot) *snapIndex {
	if x := p.index(); x.s == s {
		return x
	}
	return buildIndex(s)
}

func (p *ModelProvider) getFrom(x *snapIndex, path *InstancePath) *Instance {
	c := p.impl(ModelNamespace, path.ClassName)
	if c == nil || c.get == nil {
		return nil
	}
	return c.get(x, path)
}
