package agentx

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"mgmtd/internal/testutil"
)

var ent = MustParseOID("1.3.6.1.4.1.32473")

func samplePDUs() map[string]*PDU {
	vbs := []VarBind{
		{Name: ent.Append(1, 1, 0), Value: OctetString("demo")},
		{Name: ent.Append(1, 2, 0), Value: Integer(-7)},
		{Name: ent.Append(1, 3, 0), Value: Gauge32(42)},
		{Name: ent.Append(1, 4, 0), Value: Counter32(1)},
		{Name: ent.Append(1, 5, 0), Value: TimeTicks(12345)},
		{Name: ent.Append(1, 6, 0), Value: Counter64(1 << 40)},
		{Name: ent.Append(1, 7, 0), Value: IPAddress([4]byte{10, 0, 0, 1})},
		{Name: ent.Append(1, 8, 0), Value: ObjectID(ent.Append(0, 1))},
		{Name: ent.Append(1, 9, 0), Value: Value{Type: VarOpaque, Bytes: []byte{1, 2, 3, 4, 5}}},
		{Name: OID{1, 3, 6, 1, 2, 1, 1, 5, 0}, Value: Value{Type: VarNull}},
		{Name: OID{1, 2, 3}, Value: Value{Type: VarNoSuchObject}},
		{Name: OID{0, 0}, Value: Value{Type: VarNoSuchInstance}},
		{Name: OID{}, Value: Value{Type: VarEndOfMibView}},
	}
	ranges := []SearchRange{
		{Start: ent.Append(1), Include: true, End: ent.Append(2)},
		{Start: ent.Append(1, 1, 0), End: OID{}},
		{Start: OID{1, 3, 6, 1, 2, 1, 236}, End: OID{1, 3, 6, 1, 2, 1, 237}},
	}
	h := func(t PDUType) Header {
		return Header{Version: 1, Type: t, SessionID: 7, TransactionID: 9, PacketID: 11}
	}
	ctxH := h(TypeGet)
	ctxH.Flags = FlagNonDefaultContext
	return map[string]*PDU{
		"open":       {Header: h(TypeOpen), Timeout: 5, ID: ent, Descr: []byte("mgmtd")},
		"close":      {Header: h(TypeClose), Reason: ReasonShutdown},
		"register":   {Header: h(TypeRegister), Timeout: 5, Priority: 127, Subtree: ent},
		"regrange":   {Header: h(TypeRegister), Priority: 127, RangeSubID: 9, Subtree: ent.Append(1, 3, 1, 1), UpperBound: 9},
		"unregister": {Header: h(TypeUnregister), Priority: 127, Subtree: ent},
		"get":        {Header: h(TypeGet), Ranges: ranges},
		"getctx":     {Header: ctxH, Context: []byte("other"), Ranges: ranges[:1]},
		"getnext":    {Header: h(TypeGetNext), Ranges: ranges},
		"getbulk":    {Header: h(TypeGetBulk), NonRepeaters: 1, MaxRepetitions: 10, Ranges: ranges},
		"testset":    {Header: h(TypeTestSet), VarBinds: vbs[:3]},
		"commitset":  {Header: h(TypeCommitSet)},
		"undoset":    {Header: h(TypeUndoSet)},
		"cleanupset": {Header: h(TypeCleanupSet)},
		"notify":     {Header: h(TypeNotify), VarBinds: vbs},
		"ping":       {Header: h(TypePing)},
		"response":   {Header: h(TypeResponse), SysUpTime: 100, Error: ErrNotWritable, Index: 1, VarBinds: vbs},
		"addcaps":    {Header: h(TypeAddAgentCaps), ID: ent, Descr: []byte("caps")},
		"removecaps": {Header: h(TypeRemoveAgentCaps), ID: ent},
		"indexalloc": {Header: h(TypeIndexAllocate), VarBinds: vbs[:1]},
	}
}

func TestRoundTrip(t *testing.T) {
	for name, p := range samplePDUs() {
		for _, order := range []uint8{0, FlagNetworkByteOrder} {
			t.Run(name, func(t *testing.T) {
				in := *p
				in.Flags |= order
				b, err := AppendPDU(nil, &in)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				got, err := DecodePDU(b)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				in.PayloadLength = uint32(len(b) - HeaderLen)
				if d := cmp.Diff(&in, got, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("round trip (-want +got):\n%s", d)
				}
			})
		}
	}
}

// TestWriteSeeds checks that the encoder still produces the seed corpus
// in testdata/fuzz, and rewrites it with -update.
func TestWriteSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodePDU")
	for name, p := range samplePDUs() {
		b, err := AppendPDU(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n[]byte(" + quoteBytes(b) + ")\n"
		testutil.Golden(t, filepath.Join(dir, "seed-"+name), []byte(body))
	}
}

func quoteBytes(b []byte) string {
	const hex = "0123456789abcdef"
	s := []byte{'"'}
	for _, c := range b {
		s = append(s, '\\', 'x', hex[c>>4], hex[c&15])
	}
	return string(append(s, '"'))
}

func TestDecodeErrors(t *testing.T) {
	valid, err := AppendPDU(nil, samplePDUs()["get"])
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), valid...))
	}
	setLen := func(b []byte, n uint32) []byte {
		binary.LittleEndian.PutUint32(b[16:], n)
		return b
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", valid[:10]},
		{"version 2", mut(func(b []byte) []byte { b[0] = 2; return b })},
		{"length not multiple of 4", mut(func(b []byte) []byte { return setLen(b, 5) })},
		{"length beyond data", mut(func(b []byte) []byte { return setLen(b, uint32(len(b))) })},
		{"huge length", mut(func(b []byte) []byte { return setLen(b, 1<<30) })},
		{"truncated range", mut(func(b []byte) []byte { return setLen(b[:len(b)-4], uint32(len(b)-4-HeaderLen)) })},
		{"n_subid 200", mut(func(b []byte) []byte { b[HeaderLen] = 200; return b })},
		{"include 2", mut(func(b []byte) []byte { b[HeaderLen+2] = 2; return b })},
		{"unknown type", mut(func(b []byte) []byte { b[1] = 99; return b })},
		{"context on open", func() []byte {
			b, _ := AppendPDU(nil, samplePDUs()["open"])
			b[2] |= FlagNonDefaultContext
			return b
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePDU(tc.in)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodePDU = %v, want *DecodeError", err)
			}
		})
	}
}

// FuzzDecodePDU checks that the decoder never panics and that whatever it
// accepts re-encodes to something it decodes to the same PDU.
func FuzzDecodePDU(f *testing.F) {
	for _, p := range samplePDUs() {
		b, err := AppendPDU(nil, p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePDU(b)
		if err != nil {
			return
		}
		b2, err := AppendPDU(nil, p)
		if err != nil {
			t.Fatalf("re-encode accepted PDU: %v", err)
		}
		p2, err := DecodePDU(b2)
		if err != nil {
			t.Fatalf("decode re-encoded PDU: %v", err)
		}
		p.PayloadLength, p2.PayloadLength = 0, 0
		p.Flags, p2.Flags = p.Flags&^FlagNetworkByteOrder, p2.Flags&^FlagNetworkByteOrder
		if d := cmp.Diff(p, p2, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("re-encoded PDU differs:\n%s", d)
		}
	})
}
