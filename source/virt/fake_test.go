package virt

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// fakeConnector is an in-memory hypervisor fleet implementing connector.
type fakeConnector struct {
	mu    sync.Mutex
	hosts map[string]*fakeHost
}

type fakeHost struct {
	mu       sync.Mutex
	up       bool
	hang     bool // calls block until their context ends
	info     hostInfo
	doms     []domainInfo
	conns    []*fakeConn
	attempts int
	migrated []string // "domain->destURI"
	migErr   error
}

type fakeConn struct {
	h      *fakeHost
	evs    chan lifecycleEvent
	doneCh chan struct{}
	once   sync.Once
}

func newFakeConnector() *fakeConnector { return &fakeConnector{hosts: map[string]*fakeHost{}} }

func (f *fakeConnector) host(name string) *fakeHost {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hosts[name]
	if !ok {
		h = &fakeHost{up: true}
		f.hosts[name] = h
	}
	return h
}

func (f *fakeConnector) connect(ctx context.Context, hc HostConfig) (conn, error) {
	h := f.host(hc.Name)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if !h.up {
		return nil, errors.New("dial: connection refused")
	}
	c := &fakeConn{h: h, evs: make(chan lifecycleEvent, 16), doneCh: make(chan struct{})}
	h.conns = append(h.conns, c)
	return c, nil
}

// set replaces the host's domains.
func (h *fakeHost) set(doms ...domainInfo) {
	h.mu.Lock()
	h.doms = slices.Clone(doms)
	h.mu.Unlock()
}

// emit sends a lifecycle event on every open connection.
func (h *fakeHost) emit(ev lifecycleEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		select {
		case c.evs <- ev:
		default:
		}
	}
}

// down drops every connection and refuses new ones (or accepts them again).
func (h *fakeHost) setUp(up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.up = up
	if !up {
		for _, c := range h.conns {
			c.drop()
		}
		h.conns = nil
	}
}

func (h *fakeHost) setHang(v bool) {
	h.mu.Lock()
	h.hang = v
	h.mu.Unlock()
}

func (h *fakeHost) connAttempts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts
}

func (c *fakeConn) drop() { c.once.Do(func() { close(c.doneCh) }) }

// wait blocks while the host hangs, until ctx ends.
func (c *fakeConn) wait(ctx context.Context) error {
	c.h.mu.Lock()
	hang := c.h.hang
	c.h.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	select {
	case <-c.doneCh:
		return errors.New("connection closed")
	default:
		return nil
	}
}

func (c *fakeConn) hostInfo(ctx context.Context) (hostInfo, error) {
	if err := c.wait(ctx); err != nil {
		return hostInfo{}, err
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return c.h.info, nil
}

func (c *fakeConn) domains(ctx context.Context, _ bool) ([]domainInfo, error) {
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return slices.Clone(c.h.doms), nil
}

func (c *fakeConn) ping(ctx context.Context) error { return c.wait(ctx) }

func (c *fakeConn) events() <-chan lifecycleEvent { return c.evs }
func (c *fakeConn) done() <-chan struct{}         { return c.doneCh }

func (c *fakeConn) migrate(ctx context.Context, domain, destURI string) error {
	if err := c.wait(ctx); err != nil {
		return err
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.migrated = append(c.h.migrated, domain+"->"+destURI)
	return c.h.migErr
}

func (c *fakeConn) close() error {
	c.drop()
	return nil
}
