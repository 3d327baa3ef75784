package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// canonicalMagic starts every canonical encoding and names its version.
const canonicalMagic = "mgmtd-audit-v1\x00"

// CanonicalError reports malformed canonical bytes and the offset where
// decoding stopped.
type CanonicalError struct {
	Offset int
	Msg    string
}

// Error implements error.
func (e *CanonicalError) Error() string {
	return fmt.Sprintf("canonical record: offset %d: %s", e.Offset, e.Msg)
}

// Canonical returns the bytes that are hashed for r: a version tag, then
// every field in a fixed order, integers as 8-byte big-endian values and
// each string, role and JSON state prefixed by its 4-byte big-endian length
// (states also by a presence byte, so nil and empty differ). Because every
// field is length-prefixed, no two different records share an encoding.
// PrevHash and Hash are not part of it.
func (r *Record) Canonical() []byte {
	n := len(canonicalMagic) + 8 + 8 + 4 + 2*5
	for _, s := range r.texts() {
		n += 4 + len(s)
	}
	for _, s := range r.Roles {
		n += 4 + len(s)
	}
	n += len(r.Before) + len(r.After)
	b := make([]byte, 0, n)
	b = append(b, canonicalMagic...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixMicro()))
	texts := r.texts()
	b = appendField(b, texts[0]) // instance
	b = appendField(b, texts[1]) // actor
	b = appendField(b, texts[2]) // auth method
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Roles)))
	for _, s := range r.Roles {
		b = appendField(b, s)
	}
	for _, s := range texts[3:] {
		b = appendField(b, s)
	}
	b = appendState(b, r.Before)
	b = appendState(b, r.After)
	return b
}

// texts lists the text fields in canonical order (roles go after the third).
func (r *Record) texts() [11]string {
	return [11]string{r.Instance, r.Actor, r.AuthMethod, string(r.Channel), r.Source, r.RequestID,
		r.Action, r.ObjectType, r.ObjectID, string(r.Outcome), r.Reason}
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendState(b []byte, s json.RawMessage) []byte {
	if s == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ChainHash returns SHA-256(prev || canonical).
func ChainHash(prev [32]byte, canonical []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(canonical)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ComputeHash returns the hash r must carry given its PrevHash.
func (r *Record) ComputeHash() [32]byte { return ChainHash(r.PrevHash, r.Canonical()) }

// DecodeCanonical parses bytes produced by [Record.Canonical]. It is the
// inverse of Canonical: for every input it accepts,
// DecodeCanonical(b).Canonical() == b. The chain fields of the result are
// zero; Time is in UTC.
func DecodeCanonical(b []byte) (Record, error) {
	d := decoder{b: b}
	var r Record
	if len(b) < len(canonicalMagic) || string(b[:len(canonicalMagic)]) != canonicalMagic {
		return r, &CanonicalError{0, "bad version tag"}
	}
	d.off = len(canonicalMagic)
	r.Seq = d.u64()
	r.Time = time.UnixMicro(int64(d.u64())).UTC()
	r.Instance = d.str()
	r.Actor = d.str()
	r.AuthMethod = d.str()
	n := d.u32()
	if d.err == nil && int(n) > (len(b)-d.off)/4 {
		d.fail("role count exceeds input")
	}
	for i := 0; i < int(n) && d.err == nil; i++ {
		r.Roles = append(r.Roles, d.str())
	}
	r.Channel = Channel(d.str())
	r.Source = d.str()
	r.RequestID = d.str()
	r.Action = d.str()
	r.ObjectType = d.str()
	r.ObjectID = d.str()
	r.Outcome = Outcome(d.str())
	r.Reason = d.str()
	r.Before = d.state()
	r.After = d.state()
	if d.err == nil && d.off != len(b) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Record{}, d.err
	}
	return r, nil
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = &CanonicalError{d.off, msg}
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail("truncated")
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *decoder) u64() uint64 {
	v := d.take(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (d *decoder) u32() uint32 {
	v := d.take(4)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (d *decoder) str() string {
	n := d.u32()
	if d.err != nil {
		return ""
	}
	if uint64(n) > uint64(len(d.b)-d.off) {
		d.fail("field length exceeds input")
		return ""
	}
	return string(d.take(int(n)))
}

func (d *decoder) state() json.RawMessage {
	p := d.take(1)
	if p == nil {
		return nil
	}
	switch p[0] {
	case 0:
		return nil
	case 1:
		n := d.u32()
		if d.err != nil {
			return nil
		}
		if uint64(n) > uint64(len(d.b)-d.off) {
			d.fail("state length exceeds input")
			return nil
		}
		return append(json.RawMessage{}, d.take(int(n))...)
	default:
		d.fail("bad presence byte")
		return nil
	}
}
