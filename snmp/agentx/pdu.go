package agentx

import (
	"encoding/binary"
	"fmt"
)

// PDUType is the h.type field of an AgentX header (RFC 2741 section 6.1).
type PDUType uint8

// The PDU types of RFC 2741 section 6.1.
const (
	TypeOpen            PDUType = 1
	TypeClose           PDUType = 2
	TypeRegister        PDUType = 3
	TypeUnregister      PDUType = 4
	TypeGet             PDUType = 5
	TypeGetNext         PDUType = 6
	TypeGetBulk         PDUType = 7
	TypeTestSet         PDUType = 8
	TypeCommitSet       PDUType = 9
	TypeUndoSet         PDUType = 10
	TypeCleanupSet      PDUType = 11
	TypeNotify          PDUType = 12
	TypePing            PDUType = 13
	TypeIndexAllocate   PDUType = 14
	TypeIndexDeallocate PDUType = 15
	TypeAddAgentCaps    PDUType = 16
	TypeRemoveAgentCaps PDUType = 17
	TypeResponse        PDUType = 18
)

var typeNames = [...]string{"", "Open", "Close", "Register", "Unregister", "Get", "GetNext", "GetBulk",
	"TestSet", "CommitSet", "UndoSet", "CleanupSet", "Notify", "Ping", "IndexAllocate",
	"IndexDeallocate", "AddAgentCaps", "RemoveAgentCaps", "Response"}

// String returns the RFC 2741 name of the type.
func (t PDUType) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return fmt.Sprintf("PDUType(%d)", uint8(t))
}

// Header flag bits (RFC 2741 section 6.1).
const (
	FlagInstanceRegistration = 0x01
	FlagNewIndex             = 0x02
	FlagAnyIndex             = 0x04
	FlagNonDefaultContext    = 0x08
	FlagNetworkByteOrder     = 0x10
)

// Close reasons (RFC 2741 section 6.2.2).
const (
	ReasonOther         = 1
	ReasonParseError    = 2
	ReasonProtocolError = 3
	ReasonTimeouts      = 4
	ReasonShutdown      = 5
	ReasonByManager     = 6
)

// Response error codes: the AgentX administrative ones (RFC 2741 section
// 6.2.16) and the SNMP ones used in answers to requests.
const (
	ErrNoError               = 0
	ErrGenErr                = 5
	ErrNoAccess              = 6
	ErrNotWritable           = 17
	ErrOpenFailed            = 256
	ErrNotOpen               = 257
	ErrIndexWrongType        = 258
	ErrIndexAlreadyAllocated = 259
	ErrIndexNoneAvailable    = 260
	ErrIndexNotAllocated     = 261
	ErrUnsupportedContext    = 262
	ErrDuplicateRegistration = 263
	ErrUnknownRegistration   = 264
	ErrUnknownAgentCaps      = 265
	ErrParseError            = 266
	ErrRequestDenied         = 267
	ErrProcessingError       = 268
)

// HeaderLen is the fixed size of an AgentX header.
const HeaderLen = 20

// MaxPayload bounds the payload a decoder accepts; larger PDUs are treated
// as a protocol error (net-snmp never sends anything near this).
const MaxPayload = 1 << 20

// Header is the fixed AgentX PDU header.
type Header struct {
	Version       uint8
	Type          PDUType
	Flags         uint8
	SessionID     uint32
	TransactionID uint32
	PacketID      uint32
	PayloadLength uint32
}

// DecodeError reports malformed input with the byte offset where decoding
// stopped.
type DecodeError struct {
	Offset int
	Msg    string
}

// Error describes the problem and where it was found.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("agentx: decode at offset %d: %s", e.Offset, e.Msg)
}

// ParseHeader decodes the 20-byte header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, &DecodeError{Offset: len(b), Msg: "short header"}
	}
	h := Header{Version: b[0], Type: PDUType(b[1]), Flags: b[2]}
	if h.Version != 1 {
		return h, &DecodeError{Offset: 0, Msg: fmt.Sprintf("unsupported version %d", h.Version)}
	}
	var order binary.ByteOrder = binary.LittleEndian
	if h.Flags&FlagNetworkByteOrder != 0 {
		order = binary.BigEndian
	}
	h.SessionID = order.Uint32(b[4:])
	h.TransactionID = order.Uint32(b[8:])
	h.PacketID = order.Uint32(b[12:])
	h.PayloadLength = order.Uint32(b[16:])
	if h.PayloadLength%4 != 0 {
		return h, &DecodeError{Offset: 16, Msg: fmt.Sprintf("payload length %d not a multiple of 4", h.PayloadLength)}
	}
	if h.PayloadLength > MaxPayload {
		return h, &DecodeError{Offset: 16, Msg: fmt.Sprintf("payload length %d exceeds %d", h.PayloadLength, MaxPayload)}
	}
	return h, nil
}

// VarType is the v.type field of a varbind (RFC 2741 section 5.4).
type VarType uint16

// Varbind types.
const (
	VarInteger          VarType = 2
	VarOctetString      VarType = 4
	VarNull             VarType = 5
	VarObjectIdentifier VarType = 6
	VarIPAddress        VarType = 64
	VarCounter32        VarType = 65
	VarGauge32          VarType = 66
	VarTimeTicks        VarType = 67
	VarOpaque           VarType = 68
	VarCounter64        VarType = 70
	VarNoSuchObject     VarType = 128
	VarNoSuchInstance   VarType = 129
	VarEndOfMibView     VarType = 130
)

// Value is a typed SNMP value. Num holds Integer (as the uint32 bit
// pattern), Counter32, Gauge32, TimeTicks and Counter64; Bytes holds
// OctetString, Opaque and IpAddress; OID holds ObjectIdentifier.
type Value struct {
	Type  VarType
	Num   uint64
	Bytes []byte
	OID   OID
}

// Integer returns an INTEGER / Integer32 value.
func Integer(v int32) Value { return Value{Type: VarInteger, Num: uint64(uint32(v))} }

// OctetString returns an OCTET STRING value.
func OctetString(s string) Value { return Value{Type: VarOctetString, Bytes: []byte(s)} }

// Octets returns an OCTET STRING value holding b.
func Octets(b []byte) Value { return Value{Type: VarOctetString, Bytes: b} }

// ObjectID returns an OBJECT IDENTIFIER value.
func ObjectID(o OID) Value { return Value{Type: VarObjectIdentifier, OID: o} }

// Gauge32 returns a Gauge32 (or Unsigned32) value.
func Gauge32(v uint32) Value { return Value{Type: VarGauge32, Num: uint64(v)} }

// Counter32 returns a Counter32 value.
func Counter32(v uint32) Value { return Value{Type: VarCounter32, Num: uint64(v)} }

// TimeTicks returns a TimeTicks value (hundredths of a second).
func TimeTicks(v uint32) Value { return Value{Type: VarTimeTicks, Num: uint64(v)} }

// Counter64 returns a Counter64 value.
func Counter64(v uint64) Value { return Value{Type: VarCounter64, Num: v} }

// IPAddress returns an IpAddress value from 4 octets.
func IPAddress(a [4]byte) Value { return Value{Type: VarIPAddress, Bytes: a[:]} }

// Int returns an Integer value's signed number.
func (v Value) Int() int32 { return int32(uint32(v.Num)) }

// VarBind is a name and a value.
type VarBind struct {
	Name  OID
	Value Value
}

// SearchRange is a GetNext/GetBulk range: from Start (inclusive when
// Include is set) up to End, exclusive; an empty End is unbounded. For Get
// only Start matters.
type SearchRange struct {
	Start   OID
	Include bool
	End     OID
}

// PDU is a decoded AgentX PDU. Which fields are meaningful depends on
// Header.Type; see RFC 2741 section 6.2.
type PDU struct {
	Header
	// Context is the non-default context, present when the header has
	// FlagNonDefaultContext.
	Context []byte

	Timeout    uint8 // Open, Register
	ID         OID   // Open
	Descr      []byte
	Reason     uint8  // Close
	Priority   uint8  // Register, Unregister
	RangeSubID uint8  // Register, Unregister
	Subtree    OID    // Register, Unregister
	UpperBound uint32 // Register, Unregister when RangeSubID != 0

	NonRepeaters   uint16 // GetBulk
	MaxRepetitions uint16 // GetBulk
	Ranges         []SearchRange

	VarBinds []VarBind // TestSet, Notify, Response

	SysUpTime uint32 // Response
	Error     uint16 // Response
	Index     uint16 // Response
}

// cursor is a bounds-checked reader over one PDU.
type cursor struct {
	b     []byte
	off   int
	order binary.ByteOrder
	err   error
}

func (c *cursor) fail(msg string) {
	if c.err == nil {
		c.err = &DecodeError{Offset: c.off, Msg: msg}
	}
}

func (c *cursor) need(n int) bool {
	if c.err != nil {
		return false
	}
	if n < 0 || len(c.b)-c.off < n {
		c.fail(fmt.Sprintf("need %d bytes, have %d", n, len(c.b)-c.off))
		return false
	}
	return true
}

func (c *cursor) u8() uint8 {
	if !c.need(1) {
		return 0
	}
	v := c.b[c.off]
	c.off++
	return v
}

func (c *cursor) u16() uint16 {
	if !c.need(2) {
		return 0
	}
	v := c.order.Uint16(c.b[c.off:])
	c.off += 2
	return v
}

func (c *cursor) u32() uint32 {
	if !c.need(4) {
		return 0
	}
	v := c.order.Uint32(c.b[c.off:])
	c.off += 4
	return v
}

func (c *cursor) u64() uint64 {
	if !c.need(8) {
		return 0
	}
	v := c.order.Uint64(c.b[c.off:])
	c.off += 8
	return v
}

func (c *cursor) skip(n int) {
	if c.need(n) {
		c.off += n
	}
}

func (c *cursor) done() bool { return c.err != nil || c.off >= len(c.b) }

// oid decodes an OID and its include byte.
func (c *cursor) oid() (OID, bool) {
	n := int(c.u8())
	prefix := c.u8()
	include := c.u8()
	c.skip(1)
	if c.err != nil {
		return nil, false
	}
	if n > MaxSubIDs {
		c.fail(fmt.Sprintf("n_subid %d exceeds %d", n, MaxSubIDs))
		return nil, false
	}
	if include > 1 {
		c.fail(fmt.Sprintf("include byte %d", include))
		return nil, false
	}
	if !c.need(4 * n) {
		return nil, false
	}
	var o OID
	if prefix != 0 {
		if n+5 > MaxSubIDs {
			c.fail("prefixed OID longer than 128 sub-identifiers")
			return nil, false
		}
		o = make(OID, 0, n+5)
		o = append(o, 1, 3, 6, 1, uint32(prefix))
	} else {
		o = make(OID, 0, n)
	}
	for range n {
		o = append(o, c.order.Uint32(c.b[c.off:]))
		c.off += 4
	}
	return o, include == 1
}

func (c *cursor) octets() []byte {
	n := c.u32()
	if c.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(c.b)-c.off) {
		c.fail(fmt.Sprintf("octet string length %d exceeds remaining %d", n, len(c.b)-c.off))
		return nil
	}
	padded := (int(n) + 3) &^ 3
	if !c.need(padded) {
		return nil
	}
	v := make([]byte, n)
	copy(v, c.b[c.off:])
	c.off += padded
	return v
}

func (c *cursor) varbind() VarBind {
	t := VarType(c.u16())
	c.skip(2)
	name, _ := c.oid()
	vb := VarBind{Name: name, Value: Value{Type: t}}
	switch t {
	case VarInteger, VarCounter32, VarGauge32, VarTimeTicks:
		vb.Value.Num = uint64(c.u32())
	case VarCounter64:
		vb.Value.Num = c.u64()
	case VarOctetString, VarOpaque:
		vb.Value.Bytes = c.octets()
	case VarIPAddress:
		vb.Value.Bytes = c.octets()
		if c.err == nil && len(vb.Value.Bytes) != 4 {
			c.fail(fmt.Sprintf("IpAddress of %d octets", len(vb.Value.Bytes)))
		}
	case VarObjectIdentifier:
		vb.Value.OID, _ = c.oid()
	case VarNull, VarNoSuchObject, VarNoSuchInstance, VarEndOfMibView:
	default:
		c.fail(fmt.Sprintf("unknown varbind type %d", t))
	}
	return vb
}

func (c *cursor) ranges() []SearchRange {
	var rs []SearchRange
	for !c.done() {
		start, inc := c.oid()
		end, _ := c.oid()
		if c.err != nil {
			return nil
		}
		rs = append(rs, SearchRange{Start: start, Include: inc, End: end})
	}
	return rs
}

func (c *cursor) varbinds() []VarBind {
	var vbs []VarBind
	for !c.done() {
		vb := c.varbind()
		if c.err != nil {
			return nil
		}
		vbs = append(vbs, vb)
	}
	return vbs
}

// DecodePDU decodes one complete PDU (header and payload) from b, which
// must hold exactly HeaderLen+PayloadLength bytes. It never panics on
// malformed input; errors are *DecodeError. A PDU of a type this package
// does not know is returned with its header and an error.
func DecodePDU(b []byte) (*PDU, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if int(h.PayloadLength) != len(b)-HeaderLen {
		return nil, &DecodeError{Offset: 16, Msg: fmt.Sprintf("payload length %d, have %d bytes", h.PayloadLength, len(b)-HeaderLen)}
	}
	p := &PDU{Header: h}
	c := &cursor{b: b, off: HeaderLen, order: binary.LittleEndian}
	if h.Flags&FlagNetworkByteOrder != 0 {
		c.order = binary.BigEndian
	}
	hasContext := h.Flags&FlagNonDefaultContext != 0
	switch h.Type {
	case TypeRegister, TypeUnregister, TypeGet, TypeGetNext, TypeGetBulk, TypeTestSet,
		TypeNotify, TypePing, TypeIndexAllocate, TypeIndexDeallocate, TypeAddAgentCaps, TypeRemoveAgentCaps:
		if hasContext {
			p.Context = c.octets()
		}
	default:
		if hasContext {
			c.fail(fmt.Sprintf("%v PDU with NON_DEFAULT_CONTEXT", h.Type))
		}
	}
	switch h.Type {
	case TypeOpen:
		p.Timeout = c.u8()
		c.skip(3)
		p.ID, _ = c.oid()
		p.Descr = c.octets()
	case TypeClose:
		p.Reason = c.u8()
		c.skip(3)
	case TypeRegister, TypeUnregister:
		p.Timeout = c.u8() // reserved in Unregister
		p.Priority = c.u8()
		p.RangeSubID = c.u8()
		c.skip(1)
		p.Subtree, _ = c.oid()
		if p.RangeSubID != 0 {
			if int(p.RangeSubID) > len(p.Subtree) {
				c.fail(fmt.Sprintf("range_subid %d beyond subtree of %d sub-ids", p.RangeSubID, len(p.Subtree)))
			}
			p.UpperBound = c.u32()
		}
	case TypeGet, TypeGetNext:
		p.Ranges = c.ranges()
	case TypeGetBulk:
		p.NonRepeaters = c.u16()
		p.MaxRepetitions = c.u16()
		p.Ranges = c.ranges()
	case TypeTestSet, TypeNotify, TypeIndexAllocate, TypeIndexDeallocate:
		p.VarBinds = c.varbinds()
	case TypeCommitSet, TypeUndoSet, TypeCleanupSet, TypePing:
	case TypeAddAgentCaps:
		p.ID, _ = c.oid()
		p.Descr = c.octets()
	case TypeRemoveAgentCaps:
		p.ID, _ = c.oid()
	case TypeResponse:
		p.SysUpTime = c.u32()
		p.Error = c.u16()
		p.Index = c.u16()
		p.VarBinds = c.varbinds()
	default:
		return p, &DecodeError{Offset: 1, Msg: fmt.Sprintf("unknown PDU type %d", uint8(h.Type))}
	}
	if c.err != nil {
		return p, c.err
	}
	if c.off != len(b) {
		return p, &DecodeError{Offset: c.off, Msg: fmt.Sprintf("%d trailing bytes", len(b)-c.off)}
	}
	return p, nil
}
