package virt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"mgmtd/model"
)

// SourceName is the name this source reports under.
const SourceName = "virt"

// Source watches the configured hypervisor hosts and reports them to a
// model.Reporter. Create it with New and start it with Run.
type Source struct {
	opts      Options
	store     model.Reporter
	log       *slog.Logger
	connector connector
	hosts     []*hostRunner
	byName    map[string]*hostRunner
	updates   chan hostState
	running   sync.Mutex // held by Run
}

// hostState is one host's current picture, sent from its runner to the
// aggregator as a complete value.
type hostState struct {
	host model.Host
	vms  []model.VM
}

// hostRunner owns one host's connection.
type hostRunner struct {
	cfg     HostConfig
	src     *Source
	log     *slog.Logger
	trigger chan struct{}

	mu   sync.Mutex
	conn conn // the live connection, nil while disconnected

	last hostState // owned by the runner goroutine
	info hostInfo
}

// New returns a Source for opts (defaults applied; call opts.Validate
// first to reject bad configuration with a message naming the key) that
// reports to store and logs to log.
func New(opts Options, store model.Reporter, log *slog.Logger) *Source {
	opts = opts.withDefaults()
	return newSource(opts, store, log, lvConnector{callTimeout: opts.CallTimeout, sshCommand: opts.SSHCommand, parallel: opts.Parallel})
}

func newSource(opts Options, store model.Reporter, log *slog.Logger, c connector) *Source {
	opts = opts.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("source", SourceName)
	s := &Source{opts: opts, store: store, log: log, connector: c, byName: map[string]*hostRunner{},
		updates: make(chan hostState, len(opts.Hosts)+1)}
	for _, hc := range opts.Hosts {
		h := &hostRunner{cfg: hc, src: s, log: log.With("host", hc.Name), trigger: make(chan struct{}, 1)}
		h.last.host = model.Host{Name: hc.Name, URI: redact(hc.URI), Node: hc.Node, Error: "not connected yet"}
		s.hosts = append(s.hosts, h)
		s.byName[hc.Name] = h
	}
	return s
}

// Run connects to every host, keeps the connections (heartbeat, events,
// periodic refresh, reconnect with backoff) and reports to the store after
// each change, until ctx is done. It then closes every connection, waits
// for its goroutines and returns nil. Run must not be called twice at once.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.TryLock() {
		return errors.New("virt source is already running")
	}
	defer s.running.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, h := range s.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.run(ctx)
		}()
	}
	s.aggregate(ctx)
	wg.Wait()
	return nil
}

// Refresh asks every host for an immediate full refresh. It never blocks.
func (s *Source) Refresh() {
	for _, h := range s.hosts {
		h.poke()
	}
}

// MigrateDomain live-migrates the domain name from host from to host to
// (both configured host names) through libvirt, peer to peer: from's
// daemon connects to to's MigrateURI (or URI) itself, so that URI must be
// reachable from the source host. It is meant for VMs Pacemaker does not
// manage; a managed VM is moved with Pacemaker instead. Drivers without
// migration (the test driver) yield ErrMigrationUnsupported. Both hosts
// are refreshed afterwards; the model changes when libvirt shows the move.
func (s *Source) MigrateDomain(ctx context.Context, from, to, name string) error {
	src, dst := s.byName[from], s.byName[to]
	switch {
	case src == nil:
		return fmt.Errorf("migrate %s: unknown host %q", name, from)
	case dst == nil:
		return fmt.Errorf("migrate %s: unknown host %q", name, to)
	case src == dst:
		return fmt.Errorf("migrate %s: source and destination are both %q", name, from)
	}
	c := src.current()
	if c == nil {
		return fmt.Errorf("migrate %s from %s: host is not connected", name, from)
	}
	dest := dst.cfg.MigrateURI
	if dest == "" {
		dest = dst.cfg.URI
	}
	err := c.migrate(ctx, name, dest)
	src.poke()
	dst.poke()
	if err != nil {
		return fmt.Errorf("migrate %s from %s to %s: %w", name, from, to, err)
	}
	return nil
}

// aggregate collects host states and reports them, coalescing bursts: a
// report goes out Coalesce after the first change it contains. Before the
// first report it waits (up to the call timeout) until every host has been
// tried once, so that start-up does not flap hosts to unreachable.
func (s *Source) aggregate(ctx context.Context) {
	state := make(map[string]hostState, len(s.hosts))
	start := time.Now()
	first := true
	timer := time.NewTimer(0)
	if len(s.hosts) > 0 {
		<-timer.C // armed only when a change arrives
	}
	armed := len(s.hosts) == 0
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case u := <-s.updates:
			state[u.host.Name] = u
			if !armed {
				timer.Reset(s.opts.Coalesce)
				armed = true
			}
		case <-timer.C:
			armed = false
			if first && len(state) < len(s.hosts) {
				if wait := s.opts.CallTimeout - time.Since(start); wait > 0 {
					timer.Reset(min(wait, 50*time.Millisecond))
					armed = true
					continue
				}
			}
			first = false
			s.report(state)
		}
	}
}

func (s *Source) report(state map[string]hostState) {
	part := &model.VirtPart{}
	for _, h := range s.hosts {
		st, ok := state[h.cfg.Name]
		if !ok {
			st = hostState{host: model.Host{Name: h.cfg.Name, URI: redact(h.cfg.URI), Node: h.cfg.Node, Error: "not connected yet"}}
		}
		part.Hosts = append(part.Hosts, st.host)
		part.VMs = append(part.VMs, st.vms...)
	}
	sort.Slice(part.Hosts, func(i, j int) bool { return part.Hosts[i].Name < part.Hosts[j].Name })
	sort.Slice(part.VMs, func(i, j int) bool { return part.VMs[i].Key() < part.VMs[j].Key() })
	// Unreachable hosts make the source stale: their VMs are shown as
	// unknown, from the last known state.
	var down []string
	for _, h := range part.Hosts {
		if !h.Reachable {
			down = append(down, h.Name+": "+h.Error)
		}
	}
	degraded := ""
	if len(down) > 0 {
		degraded = "unreachable hosts: " + strings.Join(down, "; ")
	}
	s.store.Report(model.Report{Source: SourceName, Time: time.Now(), Virt: part, Degraded: degraded})
}

func (h *hostRunner) poke() {
	select {
	case h.trigger <- struct{}{}:
	default:
	}
}

func (h *hostRunner) current() conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conn
}

func (h *hostRunner) setConn(c conn) {
	h.mu.Lock()
	h.conn = c
	h.mu.Unlock()
}

// run keeps the host connected until ctx is done.
func (h *hostRunner) run(ctx context.Context) {
	opts := h.src.opts
	backoff := opts.BackoffMin
	for {
		c, err := h.src.connector.connect(ctx, h.cfg)
		if err == nil {
			backoff = opts.BackoffMin
			h.log.Info("connected")
			h.setConn(c)
			err = h.serve(ctx, c)
			h.setConn(nil)
			if cerr := c.close(); cerr != nil && ctx.Err() == nil {
				h.log.Debug("close connection", "err", cerr)
			}
		}
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("host unreachable", "err", err, "retry", backoff)
		h.unreachable(ctx, err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = nextBackoff(backoff, opts.BackoffMax)
	}
}

// serve refreshes the host on connect, on lifecycle events, on Refresh
// and periodically, and probes it with a heartbeat, until the connection
// fails or ctx is done.
func (h *hostRunner) serve(ctx context.Context, c conn) error {
	opts := h.src.opts
	if err := h.refresh(ctx, c, true); err != nil {
		return err
	}
	refresh := time.NewTicker(opts.RefreshInterval)
	defer refresh.Stop()
	beat := time.NewTicker(opts.HeartbeatInterval)
	defer beat.Stop()
	evs := c.events()
	for {
		full := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done():
			return errors.New("connection lost")
		case ev, ok := <-evs:
			if !ok {
				return errors.New("connection lost (event stream closed)")
			}
			h.log.Debug("lifecycle event", "domain", ev.Domain, "event", eventWord(ev.Event), "detail", ev.Detail)
		drain:
			for {
				select {
				case _, ok := <-evs:
					if !ok {
						break drain
					}
				default:
					break drain
				}
			}
		case <-h.trigger:
			full = true
		case <-refresh.C:
			full = true
		case <-beat.C:
			hctx, cancel := context.WithTimeout(ctx, opts.HeartbeatTimeout)
			err := c.ping(hctx)
			cancel()
			if err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
			continue
		}
		if err := h.refresh(ctx, c, full); err != nil {
			return err
		}
	}
}

// refresh reads the host (withHost: also its version, type, CPUs and
// memory) and its domains, and publishes the result if it changed.
func (h *hostRunner) refresh(ctx context.Context, c conn, withHost bool) error {
	if withHost {
		hi, err := c.hostInfo(ctx)
		if err != nil {
			return err
		}
		h.info = hi
	}
	doms, err := c.domains(ctx, withHost)
	if err != nil {
		return err
	}
	next := hostState{host: model.Host{
		Name: h.cfg.Name, URI: redact(h.cfg.URI), Node: h.cfg.Node, Reachable: true,
		LibvirtVersion: formatLibVersion(h.info.LibVersion), Hypervisor: h.info.Hypervisor,
		CPUs: h.info.CPUs, MemoryKiB: h.info.MemoryKiB,
	}}
	next.vms = make([]model.VM, 0, len(doms))
	for _, d := range doms {
		next.vms = append(next.vms, model.VM{
			Name: d.Name, UUID: d.UUID, Host: h.cfg.Name,
			State: vmState(d.State), Reason: reasonWord(d.State, d.Reason),
			VCPUs: d.VCPUs, MemoryKiB: d.MemoryKiB, Persistent: d.Persistent, Autostart: d.Autostart, CPUTime: d.CPUTime,
			MaxVCPUs: d.MaxVCPUs, MaxMemoryKiB: d.MaxMemoryKiB, CPUs: d.CPUs, Disks: d.Disks, NICs: d.NICs,
		})
	}
	sort.Slice(next.vms, func(i, j int) bool { return next.vms[i].Name < next.vms[j].Name })
	h.publish(ctx, next)
	return nil
}

// unreachable marks the host unreachable with err and its last known VMs
// unknown, and publishes that.
func (h *hostRunner) unreachable(ctx context.Context, err error) {
	next := hostState{host: h.last.host}
	next.host.Reachable = false
	next.host.Error = err.Error()
	next.vms = make([]model.VM, len(h.last.vms))
	for i, v := range h.last.vms {
		v.State, v.Reason, v.CPUTime, v.CPUs = model.VMUnknown, "host unreachable", 0, nil
		v.Disks, v.NICs = unknownCounters(v.Disks, v.NICs)
		next.vms[i] = v
	}
	h.publish(ctx, next)
}

func (h *hostRunner) publish(ctx context.Context, next hostState) {
	if reflect.DeepEqual(next, h.last) {
		return
	}
	h.last = next
	select {
	case h.src.updates <- next:
	case <-ctx.Done():
	}
}

// nextBackoff doubles the reconnect delay up to limit.
func nextBackoff(cur, limit time.Duration) time.Duration {
	if cur > limit/2 {
		return limit
	}
	return cur * 2
}
