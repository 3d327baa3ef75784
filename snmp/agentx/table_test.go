package agentx

import "testing"

func testTable(t testing.TB) *Table {
	var b TableBuilder
	b.AddObject(ent.Append(1, 1))
	b.AddObject(ent.Append(2, 1, 1, 2))
	b.Add(ent.Append(1, 1, 0), OctetString("x"))
	for _, row := range []uint32{3, 1, 2} {
		b.Add(ent.Append(2, 1, 1, 2, row), Integer(int32(row)))
	}
	tb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestTableDuplicate(t *testing.T) {
	var b TableBuilder
	b.Add(ent.Append(1), Integer(1))
	b.Add(ent.Append(1), Integer(2))
	if _, err := b.Build(); err == nil {
		t.Fatal("Build accepted a duplicate OID")
	}
}

func TestTableNext(t *testing.T) {
	tb := testTable(t)
	col := ent.Append(2, 1, 1, 2)
	tests := []struct {
		name string
		r    SearchRange
		want OID // nil: end of view
	}{
		{"from root", SearchRange{Start: OID{1}}, ent.Append(1, 1, 0)},
		{"include exact", SearchRange{Start: ent.Append(1, 1, 0), Include: true}, ent.Append(1, 1, 0)},
		{"exclude exact", SearchRange{Start: ent.Append(1, 1, 0)}, col.Append(1)},
		{"between", SearchRange{Start: col.Append(1, 5)}, col.Append(2)},
		{"last", SearchRange{Start: col.Append(3)}, nil},
		{"bounded", SearchRange{Start: ent.Append(1), End: ent.Append(2)}, ent.Append(1, 1, 0)},
		{"bound excludes", SearchRange{Start: ent.Append(1, 1, 0), End: col.Append(1)}, nil},
		{"beyond", SearchRange{Start: ent.Append(3)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vb, ok := tb.Next(tc.r)
			if tc.want == nil {
				if ok {
					t.Fatalf("Next = %v, want end of view", vb.Name)
				}
				return
			}
			if !ok || Compare(vb.Name, tc.want) != 0 {
				t.Fatalf("Next = %v %v, want %v", vb.Name, ok, tc.want)
			}
		})
	}
}

func TestTableException(t *testing.T) {
	tb := testTable(t)
	tests := []struct {
		o    OID
		want VarType
	}{
		{ent.Append(1, 1, 1), VarNoSuchInstance},
		{ent.Append(2, 1, 1, 2, 9), VarNoSuchInstance},
		{ent.Append(2, 1, 1, 3, 1), VarNoSuchObject},
		{ent.Append(1, 1), VarNoSuchObject},
		{OID{1, 3}, VarNoSuchObject},
	}
	for _, tc := range tests {
		if got := tb.exception(tc.o); got != tc.want {
			t.Errorf("exception(%v) = %d, want %d", tc.o, got, tc.want)
		}
	}
}

func TestBulk(t *testing.T) {
	tb := testTable(t)
	col := ent.Append(2, 1, 1, 2)
	p := &PDU{NonRepeaters: 1, MaxRepetitions: 3, Ranges: []SearchRange{
		{Start: ent.Append(1)},
		{Start: col, End: col.Append(3)},
		{Start: ent.Append(1, 1, 0)},
	}}
	b := appendBulk(nil, tb, p)
	resp, err := DecodePDU(finish(append(make([]byte, 0, HeaderLen+8+len(b)),
		append([]byte{1, byte(TypeResponse), FlagNetworkByteOrder, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0, 0, 0, 0}, b...)...)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, vb := range resp.VarBinds {
		s := vb.Name.String()
		if vb.Value.Type == VarEndOfMibView {
			s += " end"
		}
		got = append(got, s)
	}
	want := []string{
		ent.Append(1, 1, 0).String(),
		col.Append(1).String(), col.Append(1).String(),
		col.Append(2).String(), col.Append(2).String(),
		col.Append(2).String() + " end", col.Append(3).String(),
	}
	if len(got) != len(want) {
		t.Fatalf("bulk answer %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bulk answer %q, want %q", got, want)
		}
	}
}
