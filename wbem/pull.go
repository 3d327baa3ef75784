package wbem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"iter"
	"sync"
	"time"

	"mgmtd/wbem/cimxml"
)

// pullKind is what an enumeration context returns, fixing which Pull
// operation may continue it.
type pullKind uint8

const (
	pullWithPath  pullKind = iota + 1 // PullInstancesWithPath
	pullPaths                         // PullInstancePaths
	pullInstances                     // PullInstances (OpenQueryInstances)
)

// enumContext is an open pull enumeration: an iterator suspended between
// requests, so memory does not grow with the result size.
type enumContext struct {
	id       string
	owner    string
	kind     pullKind
	opts     cimxml.InstanceOptions
	next     func() (item, error, bool)
	peeked   *item // read ahead by the previous response
	stop     func()
	cancel   context.CancelFunc
	timeout  time.Duration
	deadline time.Time
	busy     bool
	used     uint64 // pullTable.uses when last parked: the least recently used is evicted first
}

func (e *enumContext) release() {
	e.stop()
	e.cancel()
}

// pullTable holds the open enumeration contexts.
type pullTable struct {
	mu   sync.Mutex
	ctxs map[string]*enumContext
	uses uint64
}

// admit makes room for a new context of owner; the caller holds mu. An
// owner at its limit loses its least recently used idle context; a full
// table, or an owner whose contexts are all in use, is an error.
func (t *pullTable) admit(owner string, perOwner, total int) error {
	var mine int
	var lru *enumContext
	for _, e := range t.ctxs {
		if e.owner != owner {
			continue
		}
		mine++
		if !e.busy && (lru == nil || e.used < lru.used) {
			lru = e
		}
	}
	if mine >= perOwner {
		if lru == nil {
			return Errorf(StatusServerLimitsExceeded, "all %d of your enumeration contexts are in use", perOwner)
		}
		delete(t.ctxs, lru.id)
		lru.release()
	}
	if len(t.ctxs) >= total {
		return Errorf(StatusServerLimitsExceeded, "too many open enumeration contexts (%d)", total)
	}
	return nil
}

// sweep releases expired idle contexts; the caller holds mu.
func (t *pullTable) sweep(now time.Time) {
	for id, e := range t.ctxs {
		if !e.busy && now.After(e.deadline) {
			delete(t.ctxs, id)
			e.release()
		}
	}
}

func (t *pullTable) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, e := range t.ctxs {
		if !e.busy {
			e.release()
		}
		delete(t.ctxs, id)
	}
}

// acquire marks the context id of owner busy and returns it.
func (t *pullTable) acquire(id, owner string, kind pullKind, now time.Time) (*enumContext, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	e := t.ctxs[id]
	if e == nil || e.owner != owner || e.busy {
		return nil, Errorf(StatusInvalidEnumerationContext, "enumeration context %q is not open", id)
	}
	if e.kind != kind {
		return nil, Errorf(StatusInvalidEnumerationContext, "enumeration context %q belongs to another pull operation", id)
	}
	e.busy = true
	return e, nil
}

// park makes e idle again with a fresh deadline, or drops it when done.
func (t *pullTable) park(e *enumContext, done bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.busy = false
	if _, open := t.ctxs[e.id]; !open || done {
		delete(t.ctxs, e.id)
		e.release()
		return
	}
	e.deadline = now.Add(e.timeout)
	t.uses++
	e.used = t.uses
}

func newContextID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// openOptions are the parameters every Open* operation shares.
type openOptions struct {
	timeout  time.Duration
	maxCount int
}

var openCommon = []string{"OperationTimeout", "ContinueOnError", "MaxObjectCount"}

func (s *Server) readOpen(p *params, filterAllowed bool) (openOptions, error) {
	var o openOptions
	t, given, err := p.uint32("OperationTimeout")
	if err != nil {
		return o, err
	}
	o.timeout = s.cfg.DefaultOperationTimeout
	if given {
		o.timeout = time.Duration(t) * time.Second
		if t == 0 || o.timeout > s.cfg.MaxOperationTimeout {
			return o, Errorf(StatusInvalidOperationTimeout, "OperationTimeout %d s (1..%d accepted)", t, int(s.cfg.MaxOperationTimeout/time.Second))
		}
	}
	coe, err := p.boolean("ContinueOnError", false)
	if err != nil {
		return o, err
	}
	if coe {
		return o, Errorf(StatusContinuationOnErrorNotSupported, "ContinueOnError is not supported")
	}
	if !filterAllowed {
		if q, ok, err := p.str("FilterQuery"); err != nil {
			return o, err
		} else if ok && q != "" {
			return o, Errorf(StatusFilteredEnumerationNotSupported, "FilterQuery is not supported")
		}
		if _, _, err := p.str("FilterQueryLanguage"); err != nil {
			return o, err
		}
	}
	n, _, err := p.uint32("MaxObjectCount")
	if err != nil {
		return o, err
	}
	o.maxCount = min(int(n), s.cfg.MaxObjectCount)
	return o, nil
}

func openOps() map[string]opFunc {
	instOpts := []string{"IncludeClassOrigin", "PropertyList", "FilterQueryLanguage", "FilterQuery"}
	with := func(names ...string) []string { return append(append(names, openCommon...), instOpts...) }
	return map[string]opFunc{
		"openenumerateinstances": func(ctx context.Context, c *call) error {
			return c.openEnumerate(ctx, with("ClassName", "DeepInheritance", "IncludeQualifiers", "LocalOnly"), pullWithPath)
		},
		"openenumerateinstancepaths": func(ctx context.Context, c *call) error {
			return c.openEnumerate(ctx, append([]string{"ClassName", "FilterQueryLanguage", "FilterQuery"}, openCommon...), pullPaths)
		},
		"openassociatorinstances": func(ctx context.Context, c *call) error {
			return c.openAssoc(ctx, with("InstanceName", "AssocClass", "ResultClass", "Role", "ResultRole", "IncludeQualifiers"), true, pullWithPath)
		},
		"openassociatorinstancepaths": func(ctx context.Context, c *call) error {
			return c.openAssoc(ctx, append([]string{"InstanceName", "AssocClass", "ResultClass", "Role", "ResultRole", "FilterQueryLanguage", "FilterQuery"}, openCommon...), true, pullPaths)
		},
		"openreferenceinstances": func(ctx context.Context, c *call) error {
			return c.openAssoc(ctx, with("InstanceName", "ResultClass", "Role", "IncludeQualifiers"), false, pullWithPath)
		},
		"openreferenceinstancepaths": func(ctx context.Context, c *call) error {
			return c.openAssoc(ctx, append([]string{"InstanceName", "ResultClass", "Role", "FilterQueryLanguage", "FilterQuery"}, openCommon...), false, pullPaths)
		},
		"openqueryinstances": func(ctx context.Context, c *call) error { return c.openQuery(ctx) },
	}
}

// openEnumerate implements OpenEnumerateInstances(Paths).
func (c *call) openEnumerate(ctx context.Context, allowed []string, kind pullKind) error {
	p, ns, repo, cls, err := c.classRequest(allowed...)
	if err != nil {
		return err
	}
	var o cimxml.InstanceOptions
	if kind == pullWithPath {
		if o, err = instanceOptions(p); err != nil {
			return err
		}
		deep, err := p.boolean("DeepInheritance", true)
		if err != nil {
			return err
		}
		if !deep {
			o.Include = both(o.Include, func(n string) bool { return propertyOf(cls, n) != nil })
		}
	}
	oo, err := c.s.readOpen(p, false)
	if err != nil {
		return err
	}
	return c.open(ctx, oo, kind, o, func(ctx context.Context) iter.Seq2[item, error] {
		return c.s.instances(ctx, ns, repo, cls.Name)
	})
}

func (c *call) openAssoc(ctx context.Context, allowed []string, objects bool, kind pullKind) error {
	p, err := newParams(c.req, allowed...)
	if err != nil {
		return err
	}
	f, err := readAssocFilter(p, !objects)
	if err != nil {
		return err
	}
	var o cimxml.InstanceOptions
	if kind == pullWithPath {
		if o, err = instanceOptions(p); err != nil {
			return err
		}
	}
	ns, repo, target, err := c.target(ctx, p, "InstanceName")
	if err != nil {
		return err
	}
	if err := checkFilterClasses(repo, f); err != nil {
		return err
	}
	oo, err := c.s.readOpen(p, false)
	if err != nil {
		return err
	}
	return c.open(ctx, oo, kind, o, func(ctx context.Context) iter.Seq2[item, error] {
		return c.s.associations(ctx, ns, repo, target, f, objects, kind == pullPaths)
	})
}

func (c *call) openQuery(ctx context.Context) error {
	p, err := newParams(c.req, append([]string{"FilterQueryLanguage", "FilterQuery", "ReturnQueryResultClass"}, openCommon...)...)
	if err != nil {
		return err
	}
	ns, repo, err := c.s.namespace(c.req.Namespace)
	if err != nil {
		return err
	}
	if rc, err := p.boolean("ReturnQueryResultClass", false); err != nil {
		return err
	} else if rc {
		return Errorf(StatusNotSupported, "ReturnQueryResultClass is not supported")
	}
	lang, _, err := p.str("FilterQueryLanguage")
	if err != nil {
		return err
	}
	text, _, err := p.str("FilterQuery")
	if err != nil {
		return err
	}
	q, err := parseQuery(lang, text, repo)
	if err != nil {
		return err
	}
	oo, err := c.s.readOpen(p, true)
	if err != nil {
		return err
	}
	return c.open(ctx, oo, pullInstances, cimxml.InstanceOptions{Include: q.include()}, func(ctx context.Context) iter.Seq2[item, error] {
		return c.s.query(ctx, ns, repo, q)
	})
}

// open starts an enumeration: it returns the first MaxObjectCount objects
// and keeps the rest in a new context. The iterator runs under a context
// detached from this request (it outlives it) and cancelled on release.
func (c *call) open(ctx context.Context, oo openOptions, kind pullKind, o cimxml.InstanceOptions, seq func(context.Context) iter.Seq2[item, error]) error {
	s := c.s
	owner := c.principal.Owner()
	s.pull.mu.Lock()
	s.pull.sweep(s.cfg.Now())
	if err := s.pull.admit(owner, s.cfg.MaxEnumerationContextsPerCaller, s.cfg.MaxEnumerationContexts); err != nil {
		s.pull.mu.Unlock()
		return err
	}
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	next, stop := iter.Pull2(seq(ectx))
	e := &enumContext{id: newContextID(), owner: owner, kind: kind, opts: o,
		next: next, stop: stop, cancel: cancel, timeout: oo.timeout, busy: true}
	s.pull.ctxs[e.id] = e
	s.pull.mu.Unlock()
	return c.pullFrom(e, oo.maxCount)
}

// pullFrom writes up to n objects of e and the pull trailer, then parks
// or drops the context. It reads one object ahead, so a result that ends
// exactly at n is reported ended in the same response.
func (c *call) pullFrom(e *enumContext, n int) error {
	s := c.s
	fetch := func() (item, bool, error) {
		if e.peeked != nil {
			it := *e.peeked
			e.peeked = nil
			return it, true, nil
		}
		it, err, ok := e.next()
		return it, ok, err
	}
	fail := func(err error) error {
		s.pull.park(e, true, s.cfg.Now())
		return err
	}
	done := false
	var first item
	if n > 0 {
		// Fetch the first object before committing the response, so an
		// immediate provider error is still answered as a CIM error.
		it, ok, err := fetch()
		if err != nil {
			return fail(err)
		}
		first, done = it, !ok
	}
	enc := c.out.ret()
	for count := 0; count < n && !done; count++ {
		it := first
		if count > 0 {
			var ok bool
			var err error
			if it, ok, err = fetch(); err != nil {
				return fail(err)
			} else if !ok {
				done = true
				break
			}
		}
		switch e.kind {
		case pullWithPath:
			enc.InstanceWithPath(it.path, it.inst, e.opts)
		case pullPaths:
			enc.InstancePath(it.path)
		case pullInstances:
			enc.Instance(it.inst, e.opts)
		}
		if count == n-1 {
			// Look ahead: is this the end?
			next, ok, err := fetch()
			if err != nil {
				return fail(err)
			}
			if ok {
				e.peeked = &next
			} else {
				done = true
			}
		}
	}
	c.out.endRet()
	id := e.id
	if done {
		id = ""
	}
	enc.PullTrailer(done, id)
	s.pull.park(e, done, s.cfg.Now())
	return nil
}

func opPull(kind pullKind) opFunc {
	return func(_ context.Context, c *call) error {
		p, err := newParams(c.req, "EnumerationContext", "MaxObjectCount")
		if err != nil {
			return err
		}
		if _, _, err := c.s.namespace(c.req.Namespace); err != nil {
			return err
		}
		id, ok, err := p.str("EnumerationContext")
		if err != nil || !ok {
			return Errorf(StatusInvalidEnumerationContext, "EnumerationContext missing")
		}
		n, ok, err := p.uint32("MaxObjectCount")
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(StatusInvalidParameter, "MaxObjectCount missing")
		}
		e, err := c.s.pull.acquire(id, c.principal.Owner(), kind, c.s.cfg.Now())
		if err != nil {
			return err
		}
		return c.pullFrom(e, min(int(n), c.s.cfg.MaxObjectCount))
	}
}

func opCloseEnumeration(_ context.Context, c *call) error {
	p, err := newParams(c.req, "EnumerationContext")
	if err != nil {
		return err
	}
	if _, _, err := c.s.namespace(c.req.Namespace); err != nil {
		return err
	}
	id, _, err := p.str("EnumerationContext")
	if err != nil {
		return err
	}
	t := &c.s.pull
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(c.s.cfg.Now())
	e := t.ctxs[id]
	if e == nil || e.owner != c.principal.Owner() {
		return Errorf(StatusInvalidEnumerationContext, "enumeration context %q is not open", id)
	}
	if e.busy {
		return Errorf(StatusPullCannotBeAbandoned, "enumeration context %q is in use", id)
	}
	delete(t.ctxs, id)
	e.release()
	return nil
}
