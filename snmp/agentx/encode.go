package agentx

import (
	"encoding/binary"
	"fmt"
)

// encoder appends AgentX fields in one byte order.
type encoder struct {
	b     []byte
	order binary.AppendByteOrder
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = e.order.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = e.order.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = e.order.AppendUint64(e.b, v) }

// oid appends o with prefix compression when o starts 1.3.6.1.N with
// 0 < N < 256 (RFC 2741 section 5.1).
func (e *encoder) oid(o OID, include bool) {
	inc := uint8(0)
	if include {
		inc = 1
	}
	if len(o) >= 5 && o[0] == 1 && o[1] == 3 && o[2] == 6 && o[3] == 1 && o[4] != 0 && o[4] < 256 {
		e.b = append(e.b, uint8(len(o)-5), uint8(o[4]), inc, 0)
		for _, v := range o[5:] {
			e.u32(v)
		}
		return
	}
	e.b = append(e.b, uint8(len(o)), 0, inc, 0)
	for _, v := range o {
		e.u32(v)
	}
}

func (e *encoder) octets(s []byte) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
	for i := len(s); i%4 != 0; i++ {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) varbind(vb VarBind) {
	e.u16(uint16(vb.Value.Type))
	e.u16(0)
	e.oid(vb.Name, false)
	switch vb.Value.Type {
	case VarInteger, VarCounter32, VarGauge32, VarTimeTicks:
		e.u32(uint32(vb.Value.Num))
	case VarCounter64:
		e.u64(vb.Value.Num)
	case VarOctetString, VarOpaque, VarIPAddress:
		e.octets(vb.Value.Bytes)
	case VarObjectIdentifier:
		e.oid(vb.Value.OID, false)
	}
}

func validOID(o OID) error {
	if len(o) > MaxSubIDs {
		return fmt.Errorf("OID of %d sub-identifiers exceeds %d", len(o), MaxSubIDs)
	}
	return nil
}

func validVarBind(vb VarBind) error {
	if err := validOID(vb.Name); err != nil {
		return err
	}
	switch vb.Value.Type {
	case VarInteger, VarCounter32, VarGauge32, VarTimeTicks, VarCounter64, VarOctetString, VarOpaque,
		VarNull, VarNoSuchObject, VarNoSuchInstance, VarEndOfMibView:
	case VarIPAddress:
		if len(vb.Value.Bytes) != 4 {
			return fmt.Errorf("IpAddress of %d octets", len(vb.Value.Bytes))
		}
	case VarObjectIdentifier:
		return validOID(vb.Value.OID)
	default:
		return fmt.Errorf("unknown varbind type %d", vb.Value.Type)
	}
	return nil
}

// AppendVarBind appends the network-byte-order encoding of vb to dst; the
// result can be spliced into a Response built with FlagNetworkByteOrder.
func AppendVarBind(dst []byte, vb VarBind) ([]byte, error) {
	if err := validVarBind(vb); err != nil {
		return dst, err
	}
	e := encoder{b: dst, order: binary.BigEndian}
	e.varbind(vb)
	return e.b, nil
}

// AppendPDU appends the encoding of p to dst and returns it. The byte order
// is taken from p.Flags (FlagNetworkByteOrder means big-endian);
// PayloadLength is computed, whatever p holds.
func AppendPDU(dst []byte, p *PDU) ([]byte, error) {
	e := encoder{b: dst, order: binary.LittleEndian}
	if p.Flags&FlagNetworkByteOrder != 0 {
		e.order = binary.BigEndian
	}
	start := len(dst)
	e.u8(1)
	e.u8(uint8(p.Type))
	e.u8(p.Flags)
	e.u8(0)
	e.u32(p.SessionID)
	e.u32(p.TransactionID)
	e.u32(p.PacketID)
	e.u32(0) // payload length, patched below
	if p.Flags&FlagNonDefaultContext != 0 {
		switch p.Type {
		case TypeOpen, TypeClose, TypeCommitSet, TypeUndoSet, TypeCleanupSet, TypeResponse:
			return dst, fmt.Errorf("encode %v: NON_DEFAULT_CONTEXT not allowed", p.Type)
		}
		e.octets(p.Context)
	}
	check := func(o OID) error { return validOID(o) }
	switch p.Type {
	case TypeOpen:
		if err := check(p.ID); err != nil {
			return dst, fmt.Errorf("encode Open: %w", err)
		}
		e.u8(p.Timeout)
		e.b = append(e.b, 0, 0, 0)
		e.oid(p.ID, false)
		e.octets(p.Descr)
	case TypeClose:
		e.u8(p.Reason)
		e.b = append(e.b, 0, 0, 0)
	case TypeRegister, TypeUnregister:
		if err := check(p.Subtree); err != nil {
			return dst, fmt.Errorf("encode %v: %w", p.Type, err)
		}
		if int(p.RangeSubID) > len(p.Subtree) {
			return dst, fmt.Errorf("encode %v: range_subid %d beyond subtree", p.Type, p.RangeSubID)
		}
		e.u8(p.Timeout)
		e.u8(p.Priority)
		e.u8(p.RangeSubID)
		e.u8(0)
		e.oid(p.Subtree, false)
		if p.RangeSubID != 0 {
			e.u32(p.UpperBound)
		}
	case TypeGet, TypeGetNext, TypeGetBulk:
		if p.Type == TypeGetBulk {
			e.u16(p.NonRepeaters)
			e.u16(p.MaxRepetitions)
		}
		for _, r := range p.Ranges {
			if err := check(r.Start); err != nil {
				return dst, fmt.Errorf("encode %v: %w", p.Type, err)
			}
			if err := check(r.End); err != nil {
				return dst, fmt.Errorf("encode %v: %w", p.Type, err)
			}
			e.oid(r.Start, r.Include)
			e.oid(r.End, false)
		}
	case TypeTestSet, TypeNotify, TypeIndexAllocate, TypeIndexDeallocate, TypeResponse:
		if p.Type == TypeResponse {
			e.u32(p.SysUpTime)
			e.u16(p.Error)
			e.u16(p.Index)
		}
		for _, vb := range p.VarBinds {
			if err := validVarBind(vb); err != nil {
				return dst, fmt.Errorf("encode %v: %w", p.Type, err)
			}
			e.varbind(vb)
		}
	case TypeCommitSet, TypeUndoSet, TypeCleanupSet, TypePing:
	case TypeAddAgentCaps, TypeRemoveAgentCaps:
		if err := check(p.ID); err != nil {
			return dst, fmt.Errorf("encode %v: %w", p.Type, err)
		}
		e.oid(p.ID, false)
		if p.Type == TypeAddAgentCaps {
			e.octets(p.Descr)
		}
	default:
		return dst, fmt.Errorf("encode: unknown PDU type %d", uint8(p.Type))
	}
	n := len(e.b) - start - HeaderLen
	if n > MaxPayload {
		return dst, fmt.Errorf("encode %v: payload of %d bytes exceeds %d", p.Type, n, MaxPayload)
	}
	var tmp []byte
	tmp = e.order.AppendUint32(tmp, uint32(n))
	copy(e.b[start+16:], tmp)
	return e.b, nil
}
