package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

// Snapshotter gives the current cluster snapshot; it must never block.
// *model.Store implements it.
type Snapshotter interface {
	Snapshot() *model.Snapshot
}

// EventLog is the stream of model events turned into notifications.
// *model.EventLog implements it.
type EventLog interface {
	// Last returns the sequence of the newest event.
	Last() uint64
	// Since returns the events after seq and whether some were lost.
	Since(seq uint64) ([]model.Event, bool)
	// Wait blocks until an event after seq exists or ctx is done.
	Wait(ctx context.Context, seq uint64) error
}

// Options configures a Server. Only AgentX is required.
type Options struct {
	// AgentX is the master's AgentX socket: "unix:PATH" or
	// "tcp:HOST:PORT" (the --agentx flag).
	AgentX string
	// Hypervisor names the libvirt host (or the cluster node that is the
	// host) whose VMs the VM-MIB describes; default: the snapshot's View.
	Hypervisor string
	// StateDir, if set, is where VM-MIB vmIndex assignments persist so
	// they survive restarts.
	StateDir string
	// Refresh is how often the snapshot generation and the notification
	// counters are checked; default 1 s. The table is also rebuilt every
	// MaxAge (default 10 s) so that ages stay current.
	Refresh, MaxAge time.Duration
	// NotifyAll makes this subagent send the cluster-wide notifications
	// whatever the DC, for a single mgmtd watching the cluster. By
	// default, with mgmtd on every node, only the subagent whose view is
	// the DC sends them (see clusterSender).
	NotifyAll bool
	// StartGrace bounds how long mgmtdAgentStart waits for every
	// registered source's first refresh, so that it carries the cluster
	// name; default 30 s (the Pacemaker source's tool timeout).
	StartGrace time.Duration
	// Timeout, MinBackoff, MaxBackoff, NotifyQueue and NotifyMaxAge are
	// passed to the AgentX client (see agentx.Config for defaults):
	// notifications wait in a queue of NotifyQueue for at most
	// NotifyMaxAge and are sent as fast as snmpd acknowledges them.
	Timeout, MinBackoff, MaxBackoff time.Duration
	NotifyQueue                     int
	NotifyMaxAge                    time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the SNMP front-end. Create it with New and call Run.
type Server struct {
	opts   Options
	snaps  Snapshotter
	events EventLog
	log    *slog.Logger
	client *agentx.Client
	vmIdx  *vmIndexer

	// firstRegistration is closed after the first registration.
	firstRegistration chan struct{}
	registerOnce      sync.Once
	// lost counts events that overran the event log before they became
	// notifications.
	lost atomic.Uint64

	mu    sync.Mutex // guards vm and the build fields below
	vm    vmMIBState
	gen   uint64
	built time.Time
	// changed is when the content last changed (mgmtdLastChange): the
	// time of the first snapshot of generation gen.
	changed time.Time
	// counts are the notification counters of the served table.
	counts counters
}

// counters are the notification counters MGMTD-CLUSTER-MIB serves.
type counters struct {
	sent, dropped uint64
	queued        int
}

// New validates opts and returns a Server. events may be nil, in which
// case no notifications other than mgmtdAgentStart are sent.
func New(opts Options, snaps Snapshotter, events EventLog, log *slog.Logger) (*Server, error) {
	if snaps == nil {
		return nil, errors.New("snmp: no snapshot source")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Refresh <= 0 {
		opts.Refresh = time.Second
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 10 * time.Second
	}
	if opts.StartGrace <= 0 {
		opts.StartGrace = 30 * time.Second
	}
	ix, err := newVMIndexer(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("snmp: %w", err)
	}
	s := &Server{opts: opts, snaps: snaps, events: events, log: log, vmIdx: ix, firstRegistration: make(chan struct{})}
	s.vm.start = opts.Now()
	s.client, err = agentx.NewClient(agentx.Config{
		Addr:         opts.AgentX,
		ID:           EnterpriseOID,
		Descr:        "mgmtd cluster subagent",
		Subtrees:     []agentx.OID{EnterpriseOID, VMMIBOID},
		Caps:         Caps,
		Timeout:      opts.Timeout,
		MinBackoff:   opts.MinBackoff,
		MaxBackoff:   opts.MaxBackoff,
		NotifyQueue:  opts.NotifyQueue,
		NotifyMaxAge: opts.NotifyMaxAge,
		OnRegistered: func(uint64) { s.registerOnce.Do(func() { close(s.firstRegistration) }) },
	}, s.log)
	if err != nil {
		return nil, fmt.Errorf("snmp: %w", err)
	}
	return s, nil
}

// Caps are the sysORTable entries the subagent announces: the modules it
// implements.
var Caps = []agentx.AgentCaps{
	{ID: EnterpriseOID, Descr: "MGMTD-CLUSTER-MIB: the Pacemaker/Corosync cluster as mgmtd observes it, and its notifications"},
	{ID: VMMIBOID, Descr: "VM-MIB (RFC 7666): the virtual machines of the local hypervisor"},
}

// Stats returns the AgentX client's counters; NotifiesDropped includes
// events lost before they became notifications.
func (s *Server) Stats() agentx.Stats {
	st := s.client.Stats()
	st.NotifiesDropped += s.lost.Load()
	return st
}

func (s *Server) counters() counters {
	st := s.Stats()
	return counters{sent: st.NotifiesSent, dropped: st.NotifiesDropped, queued: st.NotifiesQueued}
}

// Run serves until ctx is done. It builds the first table before
// connecting, keeps the AgentX session up (reconnecting as needed),
// rebuilds the table per snapshot generation and forwards events as
// notifications. On return every goroutine it started has ended and the
// AgentX session is closed.
func (s *Server) Run(ctx context.Context) error {
	if err := s.rebuild(true); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.client.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.forwardEvents(ctx)
	}()
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			if err := s.rebuild(false); err != nil {
				s.log.Error("snmp table build failed; serving the previous table", "err", err)
			}
		}
	}
}

// rebuild builds a new table when the generation or the notification
// counters changed, when the last one is older than MaxAge, or when
// forced.
func (s *Server) rebuild(force bool) error {
	snap := s.snaps.Snapshot()
	now := s.opts.Now()
	c := s.counters()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !force && snap.Generation == s.gen && c == s.counts && now.Sub(s.built) < s.opts.MaxAge {
		return nil
	}
	s.counts = c
	t, err := s.buildLocked(snap, now)
	if err != nil {
		return err
	}
	s.client.SetTable(t)
	s.built = now
	return nil
}

// hypervisor is the host the VM-MIB describes.
func (s *Server) hypervisor(snap *model.Snapshot) string {
	if s.opts.Hypervisor != "" {
		return s.opts.Hypervisor
	}
	return snap.View
}

// BuildTable builds the OID table for snap at now, as Run serves it. It
// is exported for tests and tools.
func (s *Server) BuildTable(snap *model.Snapshot, now time.Time) (*agentx.Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buildLocked(snap, now)
}

func (s *Server) buildLocked(snap *model.Snapshot, now time.Time) (*agentx.Table, error) {
	if s.changed.IsZero() || snap.Generation != s.gen {
		s.gen, s.changed = snap.Generation, snap.Time
	}
	bd := newBuilder()
	bd.buildCluster(snap, now, agentFacts{changed: s.changed, counters: s.counts})
	if err := bd.buildVMMIB(snap, s.hypervisor(snap), s.vmIdx, &s.vm, now); err != nil {
		s.log.Warn("VM-MIB index state", "err", err)
	}
	if bd.omitted > 0 {
		s.log.Debug("snmp rows omitted", "rows", bd.omitted)
	}
	t, err := bd.b.Build()
	if err != nil {
		return nil, fmt.Errorf("snmp: build table of generation %d: %w", snap.Generation, err)
	}
	return t, nil
}
