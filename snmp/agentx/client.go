package agentx

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SnmpTrapOID is snmpTrapOID.0, the first varbind of every Notify.
var SnmpTrapOID = OID{1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0}

// Config configures a Client. Zero durations and rates take the defaults
// documented on each field.
type Config struct {
	// Addr is the master's AgentX socket: "unix:PATH" or "tcp:HOST:PORT".
	Addr string
	// ID and Descr identify the subagent in the Open PDU.
	ID    OID
	Descr string
	// Subtrees are registered, in order, after every (re)connect.
	Subtrees []OID
	// Priority of the registrations (RFC 2741 section 6.2.3); default 127.
	Priority uint8
	// Timeout is the per-session timeout announced to the master (whole
	// seconds, 1..255) and how long to wait for the master's answers;
	// default 5 s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles
	// from MinBackoff after each failed attempt; defaults 100 ms and 1 s
	// (so a restarted master is re-registered within about a second).
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how often an idle session pings the master;
	// default 10 s.
	PingInterval time.Duration
	// Caps are announced with AddAgentCaps (RFC 2741 section 6.2.14)
	// after every registration; the master lists them in sysORTable
	// while the session lasts. A refusal is logged, not fatal.
	Caps []AgentCaps
	// NotifyQueue bounds the notifications waiting to be sent; default
	// 4096. They are sent one at a time, each as soon as the master has
	// acknowledged the previous one. When the queue is full the oldest
	// is dropped, counted and logged.
	NotifyQueue int
	// NotifyMaxAge drops a queued notification that waited longer than
	// this, e.g. while the master was away; default 60 s.
	NotifyMaxAge time.Duration
	// OnRegistered, if set, is called after every successful Open and
	// Register sequence with the number of such sequences so far (1 for
	// the first). It runs on the connection's goroutine and must not
	// block; calling Notify from it is fine.
	OnRegistered func(connects uint64)
}

func (c *Config) withDefaults() Config {
	r := *c
	if r.Priority == 0 {
		r.Priority = 127
	}
	if r.Timeout <= 0 {
		r.Timeout = 5 * time.Second
	}
	if r.MinBackoff <= 0 {
		r.MinBackoff = 100 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = time.Second
	}
	if r.MaxBackoff < r.MinBackoff {
		r.MaxBackoff = r.MinBackoff
	}
	if r.PingInterval <= 0 {
		r.PingInterval = 10 * time.Second
	}
	if r.NotifyQueue <= 0 {
		r.NotifyQueue = 4096
	}
	if r.NotifyMaxAge <= 0 {
		r.NotifyMaxAge = 60 * time.Second
	}
	return r
}

// ParseAddr splits "unix:PATH" or "tcp:HOST:PORT" into a network and an
// address for net.Dial.
func ParseAddr(addr string) (network, address string, err error) {
	network, address, ok := strings.Cut(addr, ":")
	if !ok || address == "" {
		return "", "", fmt.Errorf("agentx address %q: want unix:PATH or tcp:HOST:PORT", addr)
	}
	switch network {
	case "unix":
	case "tcp":
		if _, _, err := net.SplitHostPort(address); err != nil {
			return "", "", fmt.Errorf("agentx address %q: %w", addr, err)
		}
	default:
		return "", "", fmt.Errorf("agentx address %q: unknown transport %q (want unix or tcp)", addr, network)
	}
	return network, address, nil
}

// AgentCaps is one sysORTable entry (RFC 3418): the OID of a MIB
// module, compliance or capabilities statement the subagent implements,
// and its description.
type AgentCaps struct {
	ID    OID
	Descr string
}

// Stats are counters of a Client, for tests and diagnostics.
type Stats struct {
	Connects        uint64 // successful Open+Register sequences
	Registered      bool   // a session is currently open and registered
	Requests        uint64 // Get/GetNext/GetBulk PDUs answered
	SetsRefused     uint64 // TestSet PDUs answered notWritable
	NotifiesSent    uint64 // Notify PDUs acknowledged by the master
	NotifiesDropped uint64 // dropped: queue full, too old, or refused by the master
	NotifiesQueued  int    // waiting to be sent
}

type notification struct {
	vbs  []VarBind
	when time.Time
}

// dropLogEvery is how often at most a line about dropped notifications
// is logged: the first drop at once, later ones summed up.
const dropLogEvery = 10 * time.Second

// Client is an AgentX subagent connection that survives master restarts.
// Create it with NewClient, publish data with SetTable, and call Run.
type Client struct {
	cfg     Config
	network string
	address string
	log     *slog.Logger
	table   atomic.Pointer[Table]
	now     func() time.Time

	qmu   sync.Mutex
	queue []notification // queue[qhead:] wait to be sent, oldest first
	qhead int
	wake  chan struct{} // a notification was queued
	drops dropLog

	connects, requests, setsRefused, sent, dropped atomic.Uint64
	registered                                     atomic.Bool
}

// NewClient validates cfg and returns a Client; it does not connect.
func NewClient(cfg Config, log *slog.Logger) (*Client, error) {
	network, address, err := ParseAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	if len(cfg.Subtrees) == 0 {
		return nil, errors.New("agentx: no subtrees to register")
	}
	for _, s := range cfg.Subtrees {
		if len(s) == 0 || len(s) > MaxSubIDs {
			return nil, fmt.Errorf("agentx: bad subtree %v", s)
		}
	}
	for _, cp := range cfg.Caps {
		if err := validOID(cp.ID); err != nil || len(cp.ID) == 0 {
			return nil, fmt.Errorf("agentx: bad agent capabilities %v", cp.ID)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:     cfg.withDefaults(),
		network: network,
		address: address,
		log:     log,
		now:     time.Now,
		wake:    make(chan struct{}, 1),
	}, nil
}

// SetTable publishes t; requests arriving afterwards are answered from it.
// It never blocks.
func (c *Client) SetTable(t *Table) { c.table.Store(t) }

// Table returns the table currently served.
func (c *Client) Table() *Table { return c.table.Load() }

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Connects:        c.connects.Load(),
		Registered:      c.registered.Load(),
		Requests:        c.requests.Load(),
		SetsRefused:     c.setsRefused.Load(),
		NotifiesSent:    c.sent.Load(),
		NotifiesDropped: c.dropped.Load(),
		NotifiesQueued:  c.queued(),
	}
}

// Notify queues a notification: trap is its snmpTrapOID.0 value and vbs
// its payload. It never blocks. Notifications are sent in the order they
// were queued, across reconnections; when the queue is full the oldest
// one is dropped to make room.
func (c *Client) Notify(trap OID, vbs []VarBind) {
	all := make([]VarBind, 0, len(vbs)+1)
	all = append(all, VarBind{Name: SnmpTrapOID, Value: ObjectID(trap)})
	all = append(all, vbs...)
	c.qmu.Lock()
	full := len(c.queue)-c.qhead >= c.cfg.NotifyQueue
	if full {
		c.queue[c.qhead] = notification{}
		c.qhead++
	}
	c.queue = append(c.queue, notification{vbs: all, when: c.now()})
	if c.qhead > 64 && c.qhead >= len(c.queue)/2 {
		n := copy(c.queue, c.queue[c.qhead:])
		clear(c.queue[n:])
		c.queue, c.qhead = c.queue[:n], 0
	}
	c.qmu.Unlock()
	if full {
		c.drop("queue full")
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest queued notification.
func (c *Client) pop() (notification, bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.qhead == len(c.queue) {
		return notification{}, false
	}
	n := c.queue[c.qhead]
	c.queue[c.qhead] = notification{}
	c.qhead++
	if c.qhead == len(c.queue) {
		c.queue, c.qhead = c.queue[:0], 0
	}
	return n, true
}

// unpop puts n back at the head of the queue, to be sent first.
func (c *Client) unpop(n notification) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.qhead > 0 {
		c.qhead--
		c.queue[c.qhead] = n
		return
	}
	c.queue = append([]notification{n}, c.queue...)
}

func (c *Client) queued() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return len(c.queue) - c.qhead
}

// dropLog rate-limits the log lines about dropped notifications.
type dropLog struct {
	mu      sync.Mutex
	next    time.Time         // when the next line may be written
	pending map[string]uint64 // reason -> drops not logged yet
	timer   *time.Timer       // writes the pending summary
}

// drop counts a dropped notification and logs it: the first one at once,
// later ones in a summary at most every dropLogEvery.
func (c *Client) drop(reason string) {
	total := c.dropped.Add(1)
	d := &c.drops
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if len(d.pending) == 0 && !now.Before(d.next) {
		d.next = now.Add(dropLogEvery)
		c.log.Warn("notification dropped", "reason", reason, "total", total)
		return
	}
	if d.pending == nil {
		d.pending = map[string]uint64{}
	}
	d.pending[reason]++
	if d.timer == nil {
		d.timer = time.AfterFunc(d.next.Sub(now), c.flushDrops)
	}
}

// flushDrops logs the drops not logged yet, one line per reason.
func (c *Client) flushDrops() {
	d := &c.drops
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	reasons := make([]string, 0, len(d.pending))
	for r := range d.pending {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		c.log.Warn("notifications dropped", "reason", r, "dropped", d.pending[r], "total", c.dropped.Load(), "dur", dropLogEvery)
	}
	clear(d.pending)
	d.next = time.Now().Add(dropLogEvery)
}

// Run connects, registers and serves until ctx is done, reconnecting with
// backoff whenever the connection fails. It returns nil after ctx is
// cancelled; the session is then closed with reason shutdown.
func (c *Client) Run(ctx context.Context) error {
	defer c.flushDrops()
	backoff := c.cfg.MinBackoff
	for {
		start := c.now()
		err := c.serveOnce(ctx)
		c.registered.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if c.now().Sub(start) > 10*c.cfg.MaxBackoff {
			backoff = c.cfg.MinBackoff
		}
		c.log.Warn("agentx session ended, reconnecting", "addr", c.cfg.Addr, "err", err,
			"retry", backoff)
		jitter := time.Duration(rand.Int64N(int64(backoff)/4 + 1))
		t := time.NewTimer(backoff + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// conn is one connection and its single AgentX session.
type conn struct {
	c       *Client
	nc      net.Conn
	wmu     sync.Mutex
	session atomic.Uint32
	packet  atomic.Uint32

	pmu     sync.Mutex
	pending map[uint32]chan *PDU
	// readErr receives the reader's terminal error.
	readErr chan error
}

func (c *Client) serveOnce(ctx context.Context) error {
	d := net.Dialer{Timeout: c.cfg.Timeout}
	nc, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return err // net.Dial names the address
	}
	cn := &conn{c: c, nc: nc, pending: map[uint32]chan *PDU{}, readErr: make(chan error, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cn.readErr <- cn.readLoop()
	}()
	defer func() {
		nc.Close()
		wg.Wait()
	}()
	if err := cn.open(ctx); err != nil {
		return err
	}
	c.registered.Store(true)
	n := c.connects.Add(1)
	c.log.Info("agentx session registered", "addr", c.cfg.Addr, "session", cn.session.Load(),
		"subtrees", len(c.cfg.Subtrees))
	if c.cfg.OnRegistered != nil {
		c.cfg.OnRegistered(n)
	}

	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for {
		if err := cn.drain(ctx); err != nil {
			if ctx.Err() != nil {
				cn.close(ReasonShutdown)
			}
			return err
		}
		select {
		case <-ctx.Done():
			cn.close(ReasonShutdown)
			return ctx.Err()
		case err := <-cn.readErr:
			cn.readErr <- err // let the deferred Wait see a finished reader
			return err
		case <-ping.C:
			if _, err := cn.request(ctx, &PDU{Header: Header{Type: TypePing}}); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		case <-c.wake:
		}
	}
}

// drain sends the queued notifications one at a time, each as soon as
// the master has acknowledged the previous one, until the queue is empty.
// A notification whose send failed goes back to the head of the queue
// and is sent again on the next session (at least once).
func (cn *conn) drain(ctx context.Context) error {
	c := cn.c
	for {
		n, ok := c.pop()
		if !ok {
			return nil
		}
		if c.now().Sub(n.when) > c.cfg.NotifyMaxAge {
			c.drop("too old")
			continue
		}
		resp, err := cn.request(ctx, &PDU{Header: Header{Type: TypeNotify}, VarBinds: n.vbs})
		if err != nil {
			c.unpop(n)
			return fmt.Errorf("notify: %w", err)
		}
		if resp.Error != ErrNoError {
			c.drop(fmt.Sprintf("refused by the master (error %d)", resp.Error))
			continue
		}
		c.sent.Add(1)
	}
}

// open sends Open, one Register per subtree and one AddAgentCaps per
// capability.
func (cn *conn) open(ctx context.Context) error {
	cfg := &cn.c.cfg
	secs := uint8(min(max(cfg.Timeout/time.Second, 1), 255))
	resp, err := cn.request(ctx, &PDU{Header: Header{Type: TypeOpen}, Timeout: secs, ID: cfg.ID, Descr: []byte(cfg.Descr)})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	if resp.Error != ErrNoError {
		return fmt.Errorf("open: master answered error %d", resp.Error)
	}
	cn.session.Store(resp.SessionID)
	for _, s := range cfg.Subtrees {
		resp, err := cn.request(ctx, &PDU{Header: Header{Type: TypeRegister}, Timeout: secs, Priority: cfg.Priority, Subtree: s})
		if err != nil {
			return fmt.Errorf("register %v: %w", s, err)
		}
		if resp.Error != ErrNoError {
			return fmt.Errorf("register %v: master answered error %d", s, resp.Error)
		}
	}
	for _, cp := range cfg.Caps {
		resp, err := cn.request(ctx, &PDU{Header: Header{Type: TypeAddAgentCaps}, ID: cp.ID, Descr: []byte(cp.Descr)})
		if err != nil {
			return fmt.Errorf("add agent caps %v: %w", cp.ID, err)
		}
		if resp.Error != ErrNoError {
			cn.c.log.Warn("agentx: master refused agent capabilities", "id", cp.ID.String(), "err", resp.Error)
		}
	}
	return nil
}

// close sends a Close PDU without waiting for the answer.
func (cn *conn) close(reason uint8) {
	_ = cn.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = cn.write(&PDU{Header: Header{Type: TypeClose, SessionID: cn.session.Load(),
		PacketID: cn.packet.Add(1)}, Reason: reason})
}

func (cn *conn) write(p *PDU) error {
	p.Flags |= FlagNetworkByteOrder
	b, err := AppendPDU(nil, p)
	if err != nil {
		return err
	}
	return cn.writeRaw(b)
}

func (cn *conn) writeRaw(b []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if _, err := cn.nc.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// request sends p as our session and waits for the matching Response.
func (cn *conn) request(ctx context.Context, p *PDU) (*PDU, error) {
	id := cn.packet.Add(1)
	p.SessionID = cn.session.Load()
	p.PacketID = id
	ch := make(chan *PDU, 1)
	cn.pmu.Lock()
	cn.pending[id] = ch
	cn.pmu.Unlock()
	defer func() {
		cn.pmu.Lock()
		delete(cn.pending, id)
		cn.pmu.Unlock()
	}()
	if err := cn.write(p); err != nil {
		return nil, err
	}
	t := time.NewTimer(cn.c.cfg.Timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case err := <-cn.readErr:
		cn.readErr <- err
		// The reader hands over a response before it ends: one that
		// arrived just before the connection closed still counts.
		select {
		case r := <-ch:
			return r, nil
		default:
		}
		return nil, err
	case <-t.C:
		return nil, fmt.Errorf("no response to %v within %v", p.Type, cn.c.cfg.Timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readLoop reads PDUs until the connection fails. Requests from the master
// are answered inline from the current table: lookups never block.
func (cn *conn) readLoop() error {
	var hdr [HeaderLen]byte
	buf := make([]byte, 0, 4096)
	out := make([]byte, 0, 4096)
	// One buffered reader per connection: a PDU usually arrives in one
	// read instead of two.
	r := bufio.NewReaderSize(cn.nc, 16<<10)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("read header: %w", err)
		}
		h, err := ParseHeader(hdr[:])
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		need := HeaderLen + int(h.PayloadLength)
		if cap(buf) < need {
			buf = make([]byte, need)
		}
		buf = buf[:need]
		copy(buf, hdr[:])
		if _, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
			return fmt.Errorf("read payload: %w", err)
		}
		p, err := DecodePDU(buf)
		if err != nil {
			if h.Type == TypeResponse {
				return fmt.Errorf("decode response: %w", err)
			}
			cn.c.log.Warn("agentx: undecodable PDU from master", "type", h.Type, "err", err)
			out = cn.respond(out[:0], h, ErrParseError, 0)
			if err := cn.writeRaw(out); err != nil {
				return err
			}
			continue
		}
		if p.Type == TypeResponse {
			cn.pmu.Lock()
			ch := cn.pending[p.PacketID]
			cn.pmu.Unlock()
			if ch != nil {
				ch <- p
			}
			continue
		}
		if p.Type == TypeClose {
			return fmt.Errorf("master closed the session (reason %d)", p.Reason)
		}
		var send bool
		out, send = cn.answer(out[:0], p)
		if send {
			if err := cn.writeRaw(out); err != nil {
				return err
			}
		}
	}
}

// respond appends a Response header for h with an empty varbind list.
func (cn *conn) respond(dst []byte, h Header, errCode, index uint16) []byte {
	dst = append(dst, 1, byte(TypeResponse), FlagNetworkByteOrder, 0)
	dst = binary.BigEndian.AppendUint32(dst, h.SessionID)
	dst = binary.BigEndian.AppendUint32(dst, h.TransactionID)
	dst = binary.BigEndian.AppendUint32(dst, h.PacketID)
	dst = binary.BigEndian.AppendUint32(dst, 8)
	dst = binary.BigEndian.AppendUint32(dst, 0) // sysUpTime: 0 from subagents
	dst = binary.BigEndian.AppendUint16(dst, errCode)
	return binary.BigEndian.AppendUint16(dst, index)
}

func finish(dst []byte) []byte {
	binary.BigEndian.PutUint32(dst[16:], uint32(len(dst)-HeaderLen))
	return dst
}

// answer builds the Response to a request PDU; send is false for PDUs that
// have no response (CleanupSet).
func (cn *conn) answer(dst []byte, p *PDU) (out []byte, send bool) {
	if p.SessionID != cn.session.Load() {
		return cn.respond(dst, p.Header, ErrNotOpen, 0), true
	}
	switch p.Type {
	case TypeGet, TypeGetNext, TypeGetBulk, TypeTestSet:
		if p.Flags&FlagNonDefaultContext != 0 {
			return cn.respond(dst, p.Header, ErrUnsupportedContext, 0), true
		}
	}
	t := cn.c.table.Load()
	switch p.Type {
	case TypeGet:
		cn.c.requests.Add(1)
		dst = cn.respond(dst, p.Header, ErrNoError, 0)
		for _, r := range p.Ranges {
			dst = t.appendGet(dst, r)
		}
		return finish(dst), true
	case TypeGetNext:
		cn.c.requests.Add(1)
		dst = cn.respond(dst, p.Header, ErrNoError, 0)
		for _, r := range p.Ranges {
			dst, _ = t.appendNext(dst, r)
		}
		return finish(dst), true
	case TypeGetBulk:
		cn.c.requests.Add(1)
		return finish(appendBulk(cn.respond(dst, p.Header, ErrNoError, 0), t, p)), true
	case TypeTestSet:
		cn.c.setsRefused.Add(1)
		idx := uint16(0)
		if len(p.VarBinds) > 0 {
			idx = 1
		}
		return cn.respond(dst, p.Header, ErrNotWritable, idx), true
	case TypeCommitSet, TypeUndoSet:
		return cn.respond(dst, p.Header, ErrNoError, 0), true
	case TypeCleanupSet:
		return dst, false // RFC 2741 section 7.2.4.4: no response
	case TypePing:
		return cn.respond(dst, p.Header, ErrNoError, 0), true
	default:
		return cn.respond(dst, p.Header, ErrProcessingError, 0), true
	}
}

// appendBulk answers a GetBulk (RFC 2741 section 7.2.3.3): the first
// NonRepeaters ranges once, then up to MaxRepetitions rounds of the others,
// each round continuing after the previous answer; rounds stop early once
// every repeater has hit the end of its range.
func appendBulk(dst []byte, t *Table, p *PDU) []byte {
	nr := min(int(p.NonRepeaters), len(p.Ranges))
	for _, r := range p.Ranges[:nr] {
		dst, _ = t.appendNext(dst, r)
	}
	reps := p.Ranges[nr:]
	if len(reps) == 0 {
		return dst
	}
	cur := make([]SearchRange, len(reps))
	copy(cur, reps)
	done := make([]bool, len(reps))
	for range int(p.MaxRepetitions) {
		active := false
		for i := range cur {
			if done[i] {
				dst, _ = AppendVarBind(dst, VarBind{Name: cur[i].Start, Value: Value{Type: VarEndOfMibView}})
				continue
			}
			var name OID
			dst, name = t.appendNext(dst, cur[i])
			if name == nil {
				done[i] = true
				continue
			}
			active = true
			cur[i] = SearchRange{Start: name, End: cur[i].End}
		}
		if !active {
			break
		}
	}
	return dst
}
