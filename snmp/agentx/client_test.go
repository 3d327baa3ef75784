package agentx

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/internal/testutil"
)

// master is a scripted AgentX master for protocol-level tests of the
// client; the integration tests in package snmp use net-snmp's snmpd.
type master struct {
	t  testing.TB
	ln net.Listener
	c  net.Conn
}

func newMaster(t testing.TB) (*master, string) {
	path := filepath.Join(t.TempDir(), "agentx.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &master{t: t, ln: ln}, "unix:" + path
}

func (m *master) read() *PDU {
	m.t.Helper()
	_ = m.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, HeaderLen)
	if _, err := io.ReadFull(m.c, hdr); err != nil {
		m.t.Fatalf("master read: %v", err)
	}
	h, err := ParseHeader(hdr)
	if err != nil {
		m.t.Fatal(err)
	}
	b := make([]byte, HeaderLen+int(h.PayloadLength))
	copy(b, hdr)
	if _, err := io.ReadFull(m.c, b[HeaderLen:]); err != nil {
		m.t.Fatal(err)
	}
	p, err := DecodePDU(b)
	if err != nil {
		m.t.Fatalf("master decode: %v", err)
	}
	return p
}

// send writes p little-endian, the byte order the client does not use.
func (m *master) send(p *PDU) {
	m.t.Helper()
	b, err := AppendPDU(nil, p)
	if err != nil {
		m.t.Fatal(err)
	}
	if _, err := m.c.Write(b); err != nil {
		m.t.Fatal(err)
	}
}

func (m *master) respond(req *PDU, session uint32) {
	m.send(&PDU{Header: Header{Type: TypeResponse, SessionID: session, TransactionID: req.TransactionID, PacketID: req.PacketID}})
}

// accept takes the client's connection and completes Open and Register.
func (m *master) accept(session uint32, subtrees int) { m.acceptCaps(session, subtrees, 0) }

// acceptCaps is accept for a client that also announces caps agent
// capabilities; it returns their AddAgentCaps PDUs.
func (m *master) acceptCaps(session uint32, subtrees, caps int) []*PDU {
	m.t.Helper()
	c, err := m.ln.Accept()
	if err != nil {
		m.t.Fatal(err)
	}
	m.c = c
	open := m.read()
	if open.Type != TypeOpen || open.Flags&FlagNetworkByteOrder == 0 {
		m.t.Fatalf("first PDU %v flags %#x, want Open in network byte order", open.Type, open.Flags)
	}
	m.respond(open, session)
	for range subtrees {
		reg := m.read()
		if reg.Type != TypeRegister || reg.SessionID != session {
			m.t.Fatalf("got %v session %d, want Register session %d", reg.Type, reg.SessionID, session)
		}
		m.respond(reg, session)
	}
	var out []*PDU
	for range caps {
		p := m.read()
		if p.Type != TypeAddAgentCaps || p.SessionID != session {
			m.t.Fatalf("got %v session %d, want AddAgentCaps session %d", p.Type, p.SessionID, session)
		}
		m.respond(p, session)
		out = append(out, p)
	}
	return out
}

func runClient(t testing.TB, addr string, tb *Table) *Client {
	c, err := NewClient(Config{Addr: addr, ID: ent, Subtrees: []OID{ent, {1, 3, 6, 1, 2, 1, 236}},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTable(tb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func TestClientProtocol(t *testing.T) {
	m, addr := newMaster(t)
	tb := testTable(t)
	c := runClient(t, addr, tb)
	const sess = 42
	m.accept(sess, 2)
	col := ent.Append(2, 1, 1, 2)
	h := func(typ PDUType, id uint32) Header {
		return Header{Type: typ, SessionID: sess, TransactionID: id, PacketID: id}
	}

	// A Get with several ranges gets one varbind per range, in order.
	m.send(&PDU{Header: h(TypeGet, 1), Ranges: []SearchRange{{Start: col.Append(2)}, {Start: col.Append(9)}, {Start: OID{1, 3, 6, 1, 9}}}})
	r := m.read()
	if r.Type != TypeResponse || r.PacketID != 1 || len(r.VarBinds) != 3 ||
		r.VarBinds[0].Value.Int() != 2 || r.VarBinds[1].Value.Type != VarNoSuchInstance || r.VarBinds[2].Value.Type != VarNoSuchObject {
		t.Fatalf("Get answer %+v", r)
	}

	// GetNext of every range; the second ends at its bound.
	m.send(&PDU{Header: h(TypeGetNext, 2), Ranges: []SearchRange{{Start: col}, {Start: col.Append(3), End: ent.Append(3)}}})
	r = m.read()
	if len(r.VarBinds) != 2 || Compare(r.VarBinds[0].Name, col.Append(1)) != 0 || r.VarBinds[1].Value.Type != VarEndOfMibView {
		t.Fatalf("GetNext answer %+v", r.VarBinds)
	}

	// GetBulk.
	m.send(&PDU{Header: h(TypeGetBulk, 3), MaxRepetitions: 5, Ranges: []SearchRange{{Start: col}}})
	if r = m.read(); len(r.VarBinds) != 4 || r.VarBinds[3].Value.Type != VarEndOfMibView {
		t.Fatalf("GetBulk answer %+v", r.VarBinds)
	}

	// SET: TestSet refused with notWritable at index 1, Undo answered,
	// Cleanup not answered (RFC 2741 7.2.4.4), so the next answer is the
	// Ping's.
	m.send(&PDU{Header: h(TypeTestSet, 4), VarBinds: []VarBind{{Name: col.Append(1), Value: Integer(5)}}})
	if r = m.read(); r.Error != ErrNotWritable || r.Index != 1 {
		t.Fatalf("TestSet answer error %d index %d", r.Error, r.Index)
	}
	m.send(&PDU{Header: h(TypeUndoSet, 5)})
	if r = m.read(); r.PacketID != 5 || r.Error != 0 {
		t.Fatalf("UndoSet answer %+v", r)
	}
	m.send(&PDU{Header: h(TypeCleanupSet, 6)})
	m.send(&PDU{Header: h(TypePing, 7)})
	if r = m.read(); r.PacketID != 7 {
		t.Fatalf("answer to packet %d, want the Ping's (7): CleanupSet must not be answered", r.PacketID)
	}

	// A non-default context is refused cleanly.
	ctxH := h(TypeGet, 8)
	ctxH.Flags = FlagNonDefaultContext
	m.send(&PDU{Header: ctxH, Context: []byte("vrf1"), Ranges: []SearchRange{{Start: col.Append(1)}}})
	if r = m.read(); r.Error != ErrUnsupportedContext {
		t.Fatalf("context answer error %d", r.Error)
	}

	// A request for another session.
	m.send(&PDU{Header: Header{Type: TypeGet, SessionID: 7, PacketID: 9}, Ranges: []SearchRange{{Start: col.Append(1)}}})
	if r = m.read(); r.Error != ErrNotOpen {
		t.Fatalf("foreign session answer error %d", r.Error)
	}

	// An undecodable request gets parseError and the session survives.
	bad, _ := AppendPDU(nil, &PDU{Header: h(TypeGet, 10), Ranges: []SearchRange{{Start: col}}})
	bad[HeaderLen] = 200 // n_subid beyond 128
	if _, err := m.c.Write(bad); err != nil {
		t.Fatal(err)
	}
	if r = m.read(); r.Error != ErrParseError || r.PacketID != 10 {
		t.Fatalf("parse error answer %+v", r)
	}

	// Notify, acknowledged by the master.
	c.Notify(ent.Append(0, 1), []VarBind{{Name: ent.Append(1, 1, 0), Value: OctetString("x")}})
	n := m.read()
	if n.Type != TypeNotify || len(n.VarBinds) != 2 || Compare(n.VarBinds[0].Name, SnmpTrapOID) != 0 ||
		Compare(n.VarBinds[0].Value.OID, ent.Append(0, 1)) != 0 {
		t.Fatalf("Notify PDU %+v", n)
	}
	m.respond(n, sess)
	testutil.Eventually(t, 5*time.Second, func() bool { return c.Stats().NotifiesSent == 1 }, "the client counts the notify as sent")

	// The master closes the session: the client reconnects and
	// registers again on a new connection.
	m.send(&PDU{Header: h(TypeClose, 11), Reason: ReasonShutdown})
	old := m.c
	m.accept(sess+1, 2)
	old.Close()
	testutil.Eventually(t, 5*time.Second, func() bool { s := c.Stats(); return s.Connects == 2 && s.Registered }, "the client has reconnected and registered again")
	m.send(&PDU{Header: Header{Type: TypeGet, SessionID: sess + 1, PacketID: 12}, Ranges: []SearchRange{{Start: col.Append(3)}}})
	if r = m.read(); r.VarBinds[0].Value.Int() != 3 {
		t.Fatalf("after reconnect: %+v", r)
	}
}

func TestClientRegisterRefused(t *testing.T) {
	m, addr := newMaster(t)
	c := runClient(t, addr, testTable(t))
	for attempt := range 2 {
		conn, err := m.ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		m.c = conn
		m.respond(m.read(), 5)
		reg := m.read()
		m.send(&PDU{Header: Header{Type: TypeResponse, SessionID: 5, PacketID: reg.PacketID}, Error: ErrDuplicateRegistration})
		if attempt == 0 {
			// The client must drop this connection and retry.
			buf := make([]byte, 1)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Read(buf); err == nil {
				t.Fatal("client kept the connection after a refused registration")
			}
		}
		conn.Close()
	}
	if c.Stats().Connects != 0 {
		t.Fatal("counted a refused registration as a connect")
	}
}

// TestClientNotifyQueue: notifications queued while no master is there
// wait in a bounded queue (the oldest is dropped when it is full) and are
// sent in order once the session is up, after the agent capabilities; a
// notification whose send failed is sent again on the next session; one
// that waited longer than NotifyMaxAge is dropped; drops are counted and
// logged, the later ones in a summary.
func TestClientNotifyQueue(t *testing.T) {
	m, addr := newMaster(t)
	var logs testutil.SyncBuffer
	caps := AgentCaps{ID: ent.Append(2, 1, 3), Descr: "test caps"}
	c, err := NewClient(Config{Addr: addr, ID: ent, Subtrees: []OID{ent}, Caps: []AgentCaps{caps},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, NotifyQueue: 3, NotifyMaxAge: time.Minute},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var offset atomic.Int64
	c.now = func() time.Time { return base.Add(time.Duration(offset.Load())) }
	trap := func(n uint32) OID { return ent.Append(0, n) }
	for i := range uint32(5) {
		c.Notify(trap(i+1), nil)
	}
	if s := c.Stats(); s.NotifiesQueued != 3 || s.NotifiesDropped != 2 {
		t.Fatalf("after 5 notifications into a queue of 3: %+v", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	expect := func(session, n uint32) *PDU {
		t.Helper()
		p := m.read()
		if p.Type != TypeNotify || len(p.VarBinds) != 1 || Compare(p.VarBinds[0].Value.OID, trap(n)) != 0 {
			t.Fatalf("got %v %+v, want the Notify of trap %d", p.Type, p.VarBinds, n)
		}
		return p
	}
	got := m.acceptCaps(1, 1, 1)
	if Compare(got[0].ID, caps.ID) != 0 || string(got[0].Descr) != caps.Descr {
		t.Fatalf("AddAgentCaps %v %q", got[0].ID, got[0].Descr)
	}
	for n := uint32(3); n <= 5; n++ {
		m.respond(expect(1, n), 1)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return c.Stats().NotifiesSent == 3 }, "three notifications are sent")

	// The master goes away before acknowledging: the notification is
	// sent again on the next session.
	c.Notify(trap(6), nil)
	expect(1, 6)
	m.c.Close()
	m.acceptCaps(2, 1, 1)
	m.respond(expect(2, 6), 2)

	// Queued while the master is away, and too old when it is back.
	m.c.Close()
	testutil.Eventually(t, 5*time.Second, func() bool { return !c.Stats().Registered }, "the client has lost its session")
	c.Notify(trap(7), nil)
	offset.Store(int64(2 * time.Minute))
	m.acceptCaps(3, 1, 1)
	c.Notify(trap(8), nil)
	m.respond(expect(3, 8), 3)
	testutil.Eventually(t, 5*time.Second, func() bool { return c.Stats().NotifiesSent == 5 }, "five notifications are sent")
	if s := c.Stats(); s.NotifiesDropped != 3 || s.NotifiesQueued != 0 {
		t.Fatalf("stats %+v, want 3 dropped (2 queue full, 1 too old)", s)
	}
	cancel()
	<-done
	out := logs.String()
	for _, w := range []string{
		`msg="notification dropped" reason="queue full" total=1`,
		`msg="notifications dropped" reason="queue full" dropped=1 total=3`,
		`msg="notifications dropped" reason="too old" dropped=1 total=3`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %s:\n%s", w, out)
		}
	}
	if n := strings.Count(out, " dropped\""); n != 3 {
		t.Errorf("%d log lines about drops, want 3:\n%s", n, out)
	}
}
