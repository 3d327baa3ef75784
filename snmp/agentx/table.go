package agentx

import (
	"fmt"
	"slices"
	"sort"
)

// Table is an immutable, sorted set of varbinds served to the master. It is
// built once per data generation by a TableBuilder and then only read, so
// any number of goroutines may use it without locking. Each varbind is kept
// pre-encoded in network byte order, so answering a request copies bytes.
type Table struct {
	names   []OID
	values  []Value
	enc     []byte
	off     []uint32 // enc[off[i]:off[i+1]] is varbind i
	objects []OID    // sorted object-type prefixes (columns, scalars)
}

// TableBuilder collects varbinds for a Table. The zero value is ready to use.
type TableBuilder struct {
	vbs     []VarBind
	objects []OID
}

// Add adds one instance. Adding the same name twice makes Build fail.
func (b *TableBuilder) Add(name OID, v Value) {
	b.vbs = append(b.vbs, VarBind{Name: name, Value: v})
}

// AddObject declares an object type (a scalar's OID without .0, or a
// column's OID) so that Get answers noSuchInstance, rather than
// noSuchObject, for missing instances below it.
func (b *TableBuilder) AddObject(prefix OID) { b.objects = append(b.objects, prefix) }

// Len is the number of instances added so far.
func (b *TableBuilder) Len() int { return len(b.vbs) }

// Build sorts and encodes the collected varbinds. It fails on duplicate
// names and on values that cannot be encoded.
func (b *TableBuilder) Build() (*Table, error) {
	vbs := slices.Clone(b.vbs)
	slices.SortFunc(vbs, func(x, y VarBind) int { return Compare(x.Name, y.Name) })
	t := &Table{
		names:  make([]OID, len(vbs)),
		values: make([]Value, len(vbs)),
		off:    make([]uint32, 0, len(vbs)+1),
	}
	t.off = append(t.off, 0)
	for i, vb := range vbs {
		if i > 0 && Compare(vbs[i-1].Name, vb.Name) == 0 {
			return nil, fmt.Errorf("build table: duplicate OID %v", vb.Name)
		}
		var err error
		if t.enc, err = AppendVarBind(t.enc, vb); err != nil {
			return nil, fmt.Errorf("build table: %v: %w", vb.Name, err)
		}
		t.names[i] = vb.Name
		t.values[i] = vb.Value
		t.off = append(t.off, uint32(len(t.enc)))
	}
	t.objects = slices.Clone(b.objects)
	slices.SortFunc(t.objects, Compare)
	t.objects = slices.CompactFunc(t.objects, func(x, y OID) bool { return Compare(x, y) == 0 })
	return t, nil
}

// Len is the number of instances in t.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.names)
}

// At returns instance i in OID order.
func (t *Table) At(i int) VarBind { return VarBind{Name: t.names[i], Value: t.values[i]} }

// Lookup returns the value of the instance name.
func (t *Table) Lookup(name OID) (Value, bool) {
	i, ok := t.find(name)
	if !ok {
		return Value{}, false
	}
	return t.values[i], true
}

// find returns the position of the first name >= o and whether it equals o.
func (t *Table) find(o OID) (int, bool) {
	if t == nil {
		return 0, false
	}
	i := sort.Search(len(t.names), func(i int) bool { return Compare(t.names[i], o) >= 0 })
	return i, i < len(t.names) && Compare(t.names[i], o) == 0
}

// exception returns noSuchInstance when o lies below a declared object,
// noSuchObject otherwise (RFC 3416 section 4.2.1).
func (t *Table) exception(o OID) VarType {
	if t == nil {
		return VarNoSuchObject
	}
	j := sort.Search(len(t.objects), func(j int) bool { return Compare(t.objects[j], o) > 0 })
	if j > 0 && o.HasPrefix(t.objects[j-1]) && len(o) > len(t.objects[j-1]) {
		return VarNoSuchInstance
	}
	return VarNoSuchObject
}

// next returns the index of the first instance in range r, or -1.
func (t *Table) next(r SearchRange) int {
	i, exact := t.find(r.Start)
	if exact && !r.Include {
		i++
	}
	if t == nil || i >= len(t.names) {
		return -1
	}
	if len(r.End) > 0 && Compare(t.names[i], r.End) >= 0 {
		return -1
	}
	return i
}

// Next returns the first instance in r (GetNext semantics, RFC 2741
// section 7.2.3.2) and whether there is one.
func (t *Table) Next(r SearchRange) (VarBind, bool) {
	i := t.next(r)
	if i < 0 {
		return VarBind{}, false
	}
	return t.At(i), true
}

// appendGet appends the Get answer for r.Start.
func (t *Table) appendGet(dst []byte, r SearchRange) []byte {
	if i, ok := t.find(r.Start); ok {
		return append(dst, t.enc[t.off[i]:t.off[i+1]]...)
	}
	out, _ := AppendVarBind(dst, VarBind{Name: r.Start, Value: Value{Type: t.exception(r.Start)}})
	return out
}

// appendNext appends the GetNext answer for r and returns the name of the
// answer (nil at endOfMibView).
func (t *Table) appendNext(dst []byte, r SearchRange) ([]byte, OID) {
	if i := t.next(r); i >= 0 {
		return append(dst, t.enc[t.off[i]:t.off[i+1]]...), t.names[i]
	}
	out, _ := AppendVarBind(dst, VarBind{Name: r.Start, Value: Value{Type: VarEndOfMibView}})
	return out, nil
}
