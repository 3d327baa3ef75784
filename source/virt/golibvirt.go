package virt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"golang.org/x/sync/errgroup"

	"mgmtd/model"
)

// lvConnector connects with go-libvirt over a net.Conn this package dials
// itself (unix, tcp, tls, or an ssh child process).
type lvConnector struct {
	callTimeout time.Duration
	sshCommand  string
	parallel    int
	linger      time.Duration // how long a cut connection drains; 0: DefaultLinger
}

// ErrMigrationUnsupported is returned by MigrateDomain when the source
// host's libvirt driver cannot migrate (the test driver, for one).
var ErrMigrationUnsupported = errors.New("live migration is not supported by this libvirt driver")

// lvConn is one go-libvirt connection.
type lvConn struct {
	l           *libvirt.Libvirt
	nc          *cutConn
	life        context.Context // the host runner's: ends a lingering close
	callTimeout time.Duration
	parallel    int
	evs         chan lifecycleEvent
	stopEvents  context.CancelFunc
	pump        sync.WaitGroup
	closeOnce   sync.Once

	devMu sync.Mutex
	devs  map[libvirt.UUID]cachedDevices // last device read per domain
}

// cachedDevices is a domain's last device read: the XML-derived parts and
// the counters, valid while the domain keeps its ID (a start or stop
// changes it).
type cachedDevices struct {
	id        int32
	maxVCPUs  int
	maxMemKiB uint64
	cpus      []model.VMCPU
	disks     []model.VMDisk
	nics      []model.VMNIC
}

// call runs one libvirt RPC under ctx and timeout. go-libvirt calls take
// no context, so when the deadline passes first the connection is cut
// (cutConn): that fails the call (and every other pending call on the
// connection) with go-libvirt's ErrInterrupted, and call returns the
// deadline error.
func call(ctx context.Context, timeout time.Duration, nc *cutConn, what string, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		// Cutting the connection ends go-libvirt's reader, which fails
		// every pending call with ErrInterrupted; waiting for fn keeps its
		// writes to the caller's variables ordered before the return.
		// The socket itself closes later (cutConn.release).
		nc.abandon()
		<-done
		return fmt.Errorf("%s: %w (connection closed)", what, ctx.Err())
	}
}

func (c lvConnector) connect(ctx context.Context, h HostConfig) (conn, error) {
	t, err := ParseURI(h.URI)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	raw, err := dial(dctx, t, c.sshCommand)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(h.URI), err)
	}
	nc := newCutConn(raw, c.linger)
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(nc))
	if err := call(ctx, c.callTimeout, nc, "open "+t.Remote, func() error {
		return l.ConnectToURI(libvirt.ConnectURI(t.Remote))
	}); err != nil {
		nc.release(ctx, l.Disconnected())
		return nil, err
	}
	lc := &lvConn{l: l, nc: nc, life: ctx, callTimeout: c.callTimeout, parallel: c.parallel, evs: make(chan lifecycleEvent, 64)}
	evCtx, stop := context.WithCancel(context.Background())
	lc.stopEvents = stop
	var ch <-chan libvirt.DomainEventLifecycleMsg
	if err := call(ctx, c.callTimeout, nc, "subscribe to lifecycle events", func() (err error) {
		ch, err = l.LifecycleEvents(evCtx)
		return err
	}); err != nil {
		stop()
		nc.release(ctx, l.Disconnected())
		return nil, err
	}
	lc.pump.Add(1)
	go func() {
		defer lc.pump.Done()
		defer close(lc.evs)
		// Drain until go-libvirt closes the channel: its sender blocks
		// otherwise and would leak.
		for m := range ch {
			select {
			case lc.evs <- lifecycleEvent{Domain: m.Dom.Name, Event: m.Event, Detail: m.Detail}:
			default: // a refresh is already pending
			}
		}
	}()
	return lc, nil
}

func (c *lvConn) call(ctx context.Context, what string, fn func() error) error {
	return call(ctx, c.callTimeout, c.nc, what, fn)
}

func (c *lvConn) hostInfo(ctx context.Context) (hostInfo, error) {
	var hi hostInfo
	if err := c.call(ctx, "get libvirt version", func() (err error) {
		hi.LibVersion, err = c.l.ConnectGetLibVersion()
		return err
	}); err != nil {
		return hi, err
	}
	if err := c.call(ctx, "get hypervisor type", func() (err error) {
		hi.Hypervisor, err = c.l.ConnectGetType()
		return err
	}); err != nil {
		return hi, err
	}
	err := c.call(ctx, "get node info", func() error {
		_, mem, cpus, _, _, _, _, _, err := c.l.NodeGetInfo()
		hi.MemoryKiB, hi.CPUs = mem, int(cpus)
		return err
	})
	return hi, err
}

func (c *lvConn) ping(ctx context.Context) error {
	return c.call(ctx, "get libvirt version", func() error {
		_, err := c.l.ConnectGetLibVersion()
		return err
	})
}

func (c *lvConn) list(ctx context.Context, flags libvirt.ConnectListAllDomainsFlags) ([]libvirt.Domain, error) {
	var doms []libvirt.Domain
	err := c.call(ctx, "list domains", func() (err error) {
		doms, _, err = c.l.ConnectListAllDomains(1, flags)
		return err
	})
	return doms, err
}

func (c *lvConn) domains(ctx context.Context, full bool) ([]domainInfo, error) {
	all, err := c.list(ctx, 0)
	if err != nil {
		return nil, err
	}
	persistent, err := c.list(ctx, libvirt.ConnectListDomainsPersistent)
	if err != nil {
		return nil, err
	}
	autostart, err := c.list(ctx, libvirt.ConnectListDomainsAutostart)
	if err != nil {
		return nil, err
	}
	in := func(doms []libvirt.Domain) map[libvirt.UUID]bool {
		m := make(map[libvirt.UUID]bool, len(doms))
		for _, d := range doms {
			m[d.UUID] = true
		}
		return m
	}
	isPersistent, isAutostart := in(persistent), in(autostart)
	stats, err := c.stats(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]domainInfo, len(all))
	gone := make([]bool, len(all))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.parallel)
	for i, d := range all {
		di := domainInfo{Name: d.Name, UUID: formatUUID(d.UUID), Persistent: isPersistent[d.UUID], Autostart: isAutostart[d.UUID]}
		st := stats[d.UUID]
		g.Go(func() error {
			err := c.domain(gctx, d, st, full, &di)
			if libvirt.IsNotFound(err) {
				gone[i] = true
				return nil
			}
			out[i] = di
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res := out[:0]
	for i := range out {
		if !gone[i] {
			res = append(res, out[i])
		}
	}
	c.devMu.Lock()
	for u := range c.devs {
		if !slices.ContainsFunc(all, func(d libvirt.Domain) bool { return d.UUID == u }) {
			delete(c.devs, u)
		}
	}
	c.devMu.Unlock()
	return res, nil
}

// domain completes di: whatever the bulk statistics st lack is asked per
// domain (the test driver reports only the state group), and the device
// lists come from the domain XML. On a read that is not full (a lifecycle
// event) the devices and their per-device counters are taken from the
// last read while the domain's ID is unchanged; counters in the bulk
// statistics are applied every time. A libvirt "not found" error means the
// domain vanished meanwhile.
func (c *lvConn) domain(ctx context.Context, d libvirt.Domain, st domainStats, full bool, di *domainInfo) error {
	if st.complete() {
		di.State, di.Reason, di.CPUTime, di.MemoryKiB, di.VCPUs = st.state, st.reason, time.Duration(st.cpuTime), st.balloon, st.vcpus
	} else {
		if st.hasState {
			di.State, di.Reason = st.state, st.reason
		} else if err := c.call(ctx, "get state of "+d.Name, func() (err error) {
			di.State, di.Reason, err = c.l.DomainGetState(d, 0)
			return err
		}); err != nil {
			return err
		}
		if err := c.call(ctx, "get info of "+d.Name, func() error {
			_, _, mem, vcpus, cpuTime, err := c.l.DomainGetInfo(d)
			di.MemoryKiB, di.VCPUs, di.CPUTime = mem, int(vcpus), time.Duration(cpuTime)
			return err
		}); err != nil {
			return err
		}
	}
	if !full {
		c.devMu.Lock()
		cd, ok := c.devs[d.UUID]
		c.devMu.Unlock()
		if ok && cd.id == d.ID {
			di.MaxVCPUs, di.MaxMemoryKiB = cd.maxVCPUs, cd.maxMemKiB
			di.CPUs, di.Disks, di.NICs = slices.Clone(cd.cpus), slices.Clone(cd.disks), slices.Clone(cd.nics)
			st.dev.apply(di.Disks, di.NICs)
			if cpus := st.dev.cpus(); cpus != nil {
				di.CPUs = cpus
			}
			return nil
		}
	}
	if err := c.readDevices(ctx, d, st, di); err != nil {
		return err
	}
	c.devMu.Lock()
	if c.devs == nil {
		c.devs = map[libvirt.UUID]cachedDevices{}
	}
	// The cache keeps its own copies: di's slices go into the model.
	c.devs[d.UUID] = cachedDevices{id: d.ID, maxVCPUs: di.MaxVCPUs, maxMemKiB: di.MaxMemoryKiB,
		cpus: slices.Clone(di.CPUs), disks: slices.Clone(di.Disks), nics: slices.Clone(di.NICs)}
	c.devMu.Unlock()
	return nil
}

// readDevices reads a domain's XML and fills in its limits, devices and
// counters: from the bulk statistics st where they have them, else with
// per-device calls.
func (c *lvConn) readDevices(ctx context.Context, d libvirt.Domain, st domainStats, di *domainInfo) error {
	var desc string
	if err := c.call(ctx, "get XML of "+d.Name, func() (err error) {
		desc, err = c.l.DomainGetXMLDesc(d, 0)
		return err
	}); err != nil {
		return err
	}
	dev, err := parseDomainDevices([]byte(desc))
	if err != nil {
		return fmt.Errorf("domain %s: %w", d.Name, err)
	}
	di.MaxVCPUs, di.MaxMemoryKiB, di.Disks, di.NICs = dev.MaxVCPUs, dev.MaxMemoryKiB, dev.Disks, dev.NICs
	if st.dev.maxVCPUs > 0 {
		di.MaxVCPUs = int(min(st.dev.maxVCPUs, 1<<31-1))
	}
	if st.dev.maxMemKiB > 0 {
		di.MaxMemoryKiB = st.dev.maxMemKiB
	}
	haveBlock, haveNet := st.dev.apply(di.Disks, di.NICs)
	di.CPUs = st.dev.cpus()
	if !vmState(di.State).Active() {
		return nil
	}
	// Per-device calls for what the bulk statistics lack. A libvirt error
	// other than "not found" leaves the value unknown.
	if di.CPUs == nil && di.VCPUs > 0 {
		err := c.optional(ctx, "get vCPUs of "+d.Name, func() error {
			info, _, err := c.l.DomainGetVcpus(d, int32(min(di.VCPUs, 1<<16)), 0)
			for _, v := range info {
				di.CPUs = append(di.CPUs, model.VMCPU{Index: int(v.Number), Time: time.Duration(min(v.CPUTime, 1<<63-1))})
			}
			return err
		})
		if err != nil {
			return err
		}
		sortCPUs(di.CPUs)
	}
	for i := range di.Disks {
		k := &di.Disks[i]
		if haveBlock || k.Target == "" {
			continue
		}
		if err := c.optional(ctx, "get block stats of "+d.Name+" "+k.Target, func() (err error) {
			k.ReadRequests, k.ReadBytes, k.WriteRequests, k.WriteBytes, _, err = c.l.DomainBlockStats(d, k.Target)
			return err
		}); err != nil {
			return err
		}
		if err := c.optional(ctx, "get block info of "+d.Name+" "+k.Target, func() error {
			alloc, capacity, _, err := c.l.DomainGetBlockInfo(d, k.Target, 0)
			if err == nil {
				k.AllocationBytes, k.CapacityBytes = int64(min(alloc, 1<<63-1)), int64(min(capacity, 1<<63-1))
			}
			return err
		}); err != nil {
			return err
		}
	}
	for i := range di.NICs {
		n := &di.NICs[i]
		if haveNet || n.Target == "" {
			continue
		}
		if err := c.optional(ctx, "get interface stats of "+d.Name+" "+n.Target, func() (err error) {
			n.RxBytes, n.RxPackets, _, _, n.TxBytes, n.TxPackets, _, _, err = c.l.DomainInterfaceStats(d, n.Target)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// optional runs a per-device statistics call: an error libvirt returns
// (the driver cannot, the device has no such statistics) is swallowed and
// the values stay unknown; connection errors and "not found" are returned.
func (c *lvConn) optional(ctx context.Context, what string, fn func() error) error {
	err := c.call(ctx, what, fn)
	var le libvirt.Error
	if err != nil && errors.As(err, &le) && !libvirt.IsNotFound(err) {
		return nil
	}
	return err
}

// domainStats is what virConnectGetAllDomainStats said about one domain.
type domainStats struct {
	state, reason                      int32
	cpuTime, balloon                   uint64
	vcpus                              int
	hasState, hasCPU, hasMem, hasVCPUs bool
	dev                                deviceStats
}

func (s domainStats) complete() bool { return s.hasState && s.hasCPU && s.hasMem && s.hasVCPUs }

// stats reads the state, CPU, balloon, vCPU, block and interface
// statistics of all domains
// in one call. A daemon without the call (libvirt < 1.2.8) yields no
// statistics, and the caller asks per domain.
func (c *lvConn) stats(ctx context.Context) (map[libvirt.UUID]domainStats, error) {
	var recs []libvirt.DomainStatsRecord
	err := c.call(ctx, "get domain statistics", func() (err error) {
		recs, err = c.l.ConnectGetAllDomainStats(nil,
			uint32(libvirt.DomainStatsState|libvirt.DomainStatsCPUTotal|libvirt.DomainStatsBalloon|libvirt.DomainStatsVCPU|
				libvirt.DomainStatsInterface|libvirt.DomainStatsBlock), 0)
		return err
	})
	var le libvirt.Error
	if errors.As(err, &le) && (le.Code == uint32(libvirt.ErrNoSupport) || le.Code == uint32(libvirt.ErrOperationUnsupported)) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return statsByUUID(recs), nil
}

// statsByUUID picks the fields this package uses out of bulk statistics.
func statsByUUID(recs []libvirt.DomainStatsRecord) map[libvirt.UUID]domainStats {
	out := make(map[libvirt.UUID]domainStats, len(recs))
	for _, r := range recs {
		var st domainStats
		for _, p := range r.Params {
			if str, ok := p.Value.I.(string); ok {
				st.dev.addParam(p.Field, 0, str, true)
				continue
			}
			v, ok := paramUint(p.Value)
			if !ok {
				continue
			}
			st.dev.addParam(p.Field, v, "", false)
			switch p.Field {
			case "state.state":
				st.state, st.hasState = int32(v), true
			case "state.reason":
				st.reason = int32(v)
			case "cpu.time":
				st.cpuTime, st.hasCPU = v, true
			case "balloon.current":
				st.balloon, st.hasMem = v, true
			case "vcpu.current":
				st.vcpus, st.hasVCPUs = int(v), true
			}
		}
		out[r.Dom.UUID] = st
	}
	return out
}

// paramUint reads a numeric typed parameter.
func paramUint(v libvirt.TypedParamValue) (uint64, bool) {
	switch x := v.I.(type) {
	case int32:
		return uint64(max(x, 0)), true
	case uint32:
		return uint64(x), true
	case int64:
		return uint64(max(x, 0)), true
	case uint64:
		return x, true
	}
	return 0, false
}

func (c *lvConn) events() <-chan lifecycleEvent { return c.evs }
func (c *lvConn) done() <-chan struct{}         { return c.l.Disconnected() }

// migrate runs a peer-to-peer live migration: this host's daemon connects
// to destURI itself. The call has no timeout (migrations take as long as
// they take); when ctx ends first the job is aborted.
func (c *lvConn) migrate(ctx context.Context, domain, destURI string) error {
	var dom libvirt.Domain
	if err := c.call(ctx, "look up domain "+domain, func() (err error) {
		dom, err = c.l.DomainLookupByName(domain)
		return err
	}); err != nil {
		return err
	}
	flags := libvirt.MigrateLive | libvirt.MigratePeer2peer
	var persistent int32
	if err := c.call(ctx, "check persistence of "+domain, func() (err error) {
		persistent, err = c.l.DomainIsPersistent(dom)
		return err
	}); err != nil {
		return err
	}
	if persistent == 1 {
		// Move the definition with the domain, so it is not left behind.
		flags |= libvirt.MigratePersistDest | libvirt.MigrateUndefineSource
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.l.DomainMigratePerform3Params(dom, libvirt.OptString{destURI}, nil, nil, flags)
		done <- err
	}()
	select {
	case err := <-done:
		var le libvirt.Error
		if errors.As(err, &le) && (le.Code == uint32(libvirt.ErrNoSupport) || le.Code == uint32(libvirt.ErrOperationUnsupported)) {
			return fmt.Errorf("%w: %s", ErrMigrationUnsupported, le.Message)
		}
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	case <-ctx.Done():
		abortErr := c.call(context.Background(), "abort migration of "+domain, func() error { return c.l.DomainAbortJob(dom) })
		return errors.Join(fmt.Errorf("migrate %s: %w", domain, ctx.Err()), abortErr)
	}
}

// close says goodbye to the daemon (bounded by the call timeout), closes
// the socket (after a linger when a call was cut off: cutConn) and waits
// for the event pump.
func (c *lvConn) close() error {
	var err error
	c.closeOnce.Do(func() {
		select {
		case <-c.l.Disconnected():
		default:
			err = c.call(context.Background(), "disconnect", c.l.Disconnect)
		}
		c.nc.release(c.life, c.l.Disconnected())
		c.stopEvents()
		c.pump.Wait()
	})
	return err
}

func formatUUID(u libvirt.UUID) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 36)
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[x>>4], hex[x&0xf])
	}
	return string(b)
}

// redact drops a password from a URI for messages.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return u.Redacted()
}
