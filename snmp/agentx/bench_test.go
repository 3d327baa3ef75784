package agentx

import (
	"fmt"
	"io"
	"testing"
)

func sizedTable(b testing.TB, cells int) *Table {
	var tb TableBuilder
	for col := uint32(1); col <= 10; col++ {
		for row := uint32(1); row <= uint32(cells/10); row++ {
			tb.Add(ent.Append(50, 1, 1, col, row), OctetString(fmt.Sprintf("row-%06d-col-%02d-val", row, col)))
		}
	}
	t, err := tb.Build()
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkServeGetNext measures one GetNext round trip through the
// client's connection handling over a unix socket (decode, binary search,
// copy of the pre-encoded varbind, write), walking the whole table, for
// tables of 1k and 100k cells: the cost per varbind should barely grow.
func BenchmarkServeGetNext(b *testing.B) {
	for _, cells := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(cells), func(b *testing.B) {
			m, addr := newMaster(b)
			tb := sizedTable(b, cells)
			runClient(b, addr, tb)
			m.accept(1, 2)
			resp := make([]byte, 4096)
			cur := ent.Append(50)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				req, _ := AppendPDU(nil, &PDU{Header: Header{Type: TypeGetNext, SessionID: 1, PacketID: uint32(i),
					Flags: FlagNetworkByteOrder}, Ranges: []SearchRange{{Start: cur}}})
				if _, err := m.c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(m.c, resp[:HeaderLen]); err != nil {
					b.Fatal(err)
				}
				h, _ := ParseHeader(resp[:HeaderLen])
				n := HeaderLen + int(h.PayloadLength)
				if _, err := io.ReadFull(m.c, resp[HeaderLen:n]); err != nil {
					b.Fatal(err)
				}
				p, err := DecodePDU(resp[:n])
				if err != nil || len(p.VarBinds) != 1 {
					b.Fatalf("bad answer: %v", err)
				}
				if p.VarBinds[0].Value.Type == VarEndOfMibView {
					cur = ent.Append(50)
				} else {
					cur = p.VarBinds[0].Name
				}
			}
		})
	}
}

// BenchmarkTableNext is the lookup alone.
func BenchmarkTableNext(b *testing.B) {
	for _, cells := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(cells), func(b *testing.B) {
			tb := sizedTable(b, cells)
			cur := ent.Append(50)
			b.ResetTimer()
			for range b.N {
				vb, ok := tb.Next(SearchRange{Start: cur})
				if !ok {
					cur = ent.Append(50)
					continue
				}
				cur = vb.Name
			}
		})
	}
}
