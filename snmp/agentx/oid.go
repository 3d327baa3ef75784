package agentx

import (
	"fmt"
	"strconv"
	"strings"
)

// OID is an object identifier as a sequence of sub-identifiers.
type OID []uint32

// MaxSubIDs is the largest number of sub-identifiers an OID may have
// (RFC 2578 section 3.5, and the one-byte n_subid field of RFC 2741).
const MaxSubIDs = 128

// ParseOID parses a dotted OID such as "1.3.6.1.4.1.32473" or
// ".1.3.6.1". The empty string is the null OID.
func ParseOID(s string) (OID, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return OID{}, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) > MaxSubIDs {
		return nil, fmt.Errorf("parse OID %q: %d sub-identifiers, more than %d", s, len(parts), MaxSubIDs)
	}
	o := make(OID, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parse OID %q: sub-identifier %d: %w", s, i, err)
		}
		o[i] = uint32(v)
	}
	return o, nil
}

// MustParseOID is ParseOID for constants; it panics on a malformed
// literal, which is a programmer error.
func MustParseOID(s string) OID {
	o, err := ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// String returns the dotted form with a leading dot, as net-snmp prints
// with -On.
func (o OID) String() string {
	var b strings.Builder
	for _, v := range o {
		b.WriteByte('.')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// Compare orders OIDs lexicographically by sub-identifier, the SNMP
// order. It returns -1, 0 or +1.
func Compare(a, b OID) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// HasPrefix reports whether p is a prefix of o (or equal to it).
func (o OID) HasPrefix(p OID) bool {
	if len(p) > len(o) {
		return false
	}
	for i := range p {
		if o[i] != p[i] {
			return false
		}
	}
	return true
}

// Append returns a new OID made of o followed by subs; o is not modified.
func (o OID) Append(subs ...uint32) OID {
	r := make(OID, 0, len(o)+len(subs))
	r = append(r, o...)
	return append(r, subs...)
}
