package wbem

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mgmtd/wbem/cimxml"
)

func TestRepositoryResolution(t *testing.T) {
	r := modelRepo(t)
	c, ok := r.Class("pcmk_clusternode")
	if !ok {
		t.Fatal("case-insensitive lookup failed")
	}
	if c.Name != "PCMK_ClusterNode" || c.Superclass != "CIM_ComputerSystem" {
		t.Errorf("name %q super %q", c.Name, c.Superclass)
	}
	var props []string
	for _, p := range c.Properties {
		props = append(props, p.Name+"@"+p.ClassOrigin)
	}
	want := []string{"InstanceID@CIM_ManagedElement", "Caption@CIM_ManagedElement", "Description@CIM_ManagedElement",
		"ElementName@CIM_ManagedElement", "Name@CIM_System", "OperationalStatus@CIM_ManagedSystemElement",
		"EnabledState@CIM_EnabledLogicalElement", "RequestedState@CIM_EnabledLogicalElement", "CreationClassName@CIM_System",
		"Dedicated@CIM_ComputerSystem", "NodeID@PCMK_ClusterNode", "IsDC@PCMK_ClusterNode", "Note@PCMK_ClusterNode"}
	if d := cmp.Diff(want, props); d != "" {
		t.Errorf("properties (-want +got):\n%s", d)
	}
	// Inherited elements are marked propagated; local ones are not.
	if p := propertyOf(c, "NodeID"); p.Propagated {
		t.Error("local property marked propagated")
	}
	if p := propertyOf(c, "EnabledState"); !p.Propagated || !HasQualifierArray(p.Qualifiers, "ValueMap") {
		t.Errorf("EnabledState: %+v", p)
	}
	// Name became a key in CIM_System (override), keeping inherited qualifiers.
	var keys []string
	for _, k := range r.KeyProperties("PCMK_ClusterNode") {
		keys = append(keys, k.Name)
	}
	if d := cmp.Diff([]string{"CreationClassName", "Name"}, keys); d != "" {
		t.Errorf("keys (-want +got):\n%s", d)
	}
	// Methods are inherited with their parameters.
	m := methodOf(c, "requeststatechange")
	if m == nil || !m.Propagated || m.ClassOrigin != "CIM_EnabledLogicalElement" || len(m.Parameters) != 3 || m.Parameters[1].Type != cimxml.TypeReference {
		t.Errorf("RequestStateChange: %+v", m)
	}
	if methodOf(c, "Noop") == nil || methodOf(c, "Noop").Propagated {
		t.Error("Noop")
	}
	// Abstract does not propagate; Association and Version do.
	if HasQualifier(c.Qualifiers, "Abstract") {
		t.Error("Abstract propagated")
	}
	if !r.IsAssociation("PCMK_ParticipatingCS") || r.IsAssociation("PCMK_Cluster") {
		t.Error("IsAssociation")
	}
	if !r.IsA("PCMK_ClusterNode", "cim_managedelement") || r.IsA("PCMK_ClusterNode", "CIM_Cluster") || r.IsA("Nope", "Nope") {
		t.Error("IsA")
	}
	if got := r.Subclasses("CIM_ComputerSystem", false); !cmp.Equal(got, []string{"CIM_Cluster", "PCMK_ClusterNode"}) {
		t.Errorf("direct subclasses %v", got)
	}
	if got := r.Subclasses("CIM_ComputerSystem", true); !cmp.Equal(got, []string{"CIM_Cluster", "PCMK_Cluster", "PCMK_ClusterNode"}) {
		t.Errorf("deep subclasses %v", got)
	}
	if got := r.Subclasses("", false); !cmp.Equal(got, []string{"CIM_ManagedElement", "CIM_Dependency", "CIM_ElementConformsToProfile"}) {
		t.Errorf("roots %v", got)
	}
	// The declared form is kept separately.
	if lc, _ := r.LocalClass("PCMK_ClusterNode"); len(lc.Properties) != 3 {
		t.Errorf("local class has %d properties", len(lc.Properties))
	}
}

// HasQualifierArray reports whether a qualifier named name exists.
func HasQualifierArray(qs []Qualifier, name string) bool {
	for _, q := range qs {
		if strings.EqualFold(q.Name, name) {
			return true
		}
	}
	return false
}

func TestRepositoryErrors(t *testing.T) {
	r := NewRepository()
	for _, c := range []*Class{
		{Name: ""},
		{Name: "A", Superclass: "Missing"},
		{Name: "B", Properties: []Property{{Name: "x"}}},
	} {
		if err := r.Add(c); err == nil {
			t.Errorf("Add(%+v) accepted", c)
		}
	}
	must(t, r.Add(&Class{Name: "C"}))
	if err := r.Add(&Class{Name: "c"}); err == nil {
		t.Error("duplicate (case-insensitive) accepted")
	}
}

func TestCoerce(t *testing.T) {
	tests := []struct {
		typ, in, want string
		ok            bool
	}{
		{"boolean", "true", "TRUE", true}, {"boolean", " FALSE ", "FALSE", true}, {"boolean", "yes", "", false},
		{"uint8", "255", "255", true}, {"uint8", "256", "", false}, {"uint8", "-1", "", false}, {"uint16", "+007", "7", true},
		{"sint8", "-128", "-128", true}, {"sint32", "1e3", "", false}, {"uint64", "18446744073709551615", "18446744073709551615", true},
		{"real32", "1.5", "1.5", true}, {"real64", "NaN", "", false}, {"real64", "abc", "", false},
		{"char16", "x", "x", true}, {"char16", "xy", "", false},
		{"datetime", "20261122040000.000000+000", "20261122040000.000000+000", true},
		{"datetime", "00000000000500.000000:000", "00000000000500.000000:000", true},
		{"datetime", "2026-11-22", "", false},
		{"string", " a b ", " a b ", true},
	}
	for _, tt := range tests {
		got, err := Coerce(tt.typ, tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Coerce(%s, %q) = %q, %v", tt.typ, tt.in, got, err)
		}
		if err != nil && statusOf(err).Status != StatusTypeMismatch {
			t.Errorf("Coerce error status %v", statusOf(err).Status)
		}
	}
}

// TestCanonicalPath: order, case of names, host, VALUETYPE/TYPE, numeric
// and boolean forms and references do not change identity; values do.
func TestCanonicalPath(t *testing.T) {
	r := modelRepo(t)
	ref := func(host, ns string) *InstancePath {
		return &InstancePath{Host: host, Namespace: ns, ClassName: "pcmk_clusternode", Keys: []KeyBinding{
			{Name: "NAME", Value: "node1"}, {Name: "creationclassname", Value: "PCMK_ClusterNode"}}}
	}
	base := &InstancePath{Namespace: "root/cimv2", ClassName: "PCMK_ParticipatingCS", Keys: []KeyBinding{
		{Name: "Antecedent", Ref: ref("", "root/cimv2")},
		{Name: "Dependent", Ref: &InstancePath{ClassName: "PCMK_Cluster", Keys: []KeyBinding{{Name: "CreationClassName", Value: "PCMK_Cluster"}, {Name: "Name", Value: "c1"}}}},
	}}
	nb, err := r.NormalizePath("root/cimv2", base)
	must(t, err)
	want := CanonicalPath(nb, "root/cimv2")
	same := &InstancePath{Host: "elsewhere", Namespace: "ROOT/CIMV2", ClassName: "pcmk_participatingcs", Keys: []KeyBinding{
		{Name: "dependent", Ref: &InstancePath{Host: "x", Namespace: "root/cimv2", ClassName: "PCMK_CLUSTER", Keys: []KeyBinding{{Name: "name", ValueType: "string", Value: "c1"}, {Name: "CREATIONCLASSNAME", Type: "string", Value: "PCMK_Cluster"}}}},
		{Name: "antecedent", Ref: ref("127.0.0.1", "")},
	}}
	ns, err := r.NormalizePath("root/cimv2", same)
	must(t, err)
	if got := CanonicalPath(ns, "root/cimv2"); got != want {
		t.Errorf("canonical forms differ:\n%s\n%s", got, want)
	}
	diff := *same
	diff.Keys = append([]KeyBinding(nil), same.Keys...)
	diff.Keys[1] = KeyBinding{Name: "antecedent", Ref: &InstancePath{ClassName: "PCMK_ClusterNode", Keys: []KeyBinding{{Name: "Name", Value: "NODE1"}, {Name: "CreationClassName", Value: "PCMK_ClusterNode"}}}}
	nd, err := r.NormalizePath("root/cimv2", &diff)
	must(t, err)
	if CanonicalPath(nd, "root/cimv2") == want {
		t.Error("key values must stay case-sensitive")
	}
	// Numeric and boolean keys: untyped wbemcli forms equal typed ones.
	a := &InstancePath{ClassName: "X", Keys: []KeyBinding{{Name: "n", ValueType: "numeric", Value: "042"}, {Name: "b", ValueType: "boolean", Value: "true"}}}
	b := &InstancePath{ClassName: "x", Keys: []KeyBinding{{Name: "B", Type: "boolean", Value: "TRUE"}, {Name: "N", Type: "uint32", Value: "42"}}}
	if CanonicalPath(a, "ns") != CanonicalPath(b, "ns") {
		t.Errorf("%s != %s", CanonicalPath(a, "ns"), CanonicalPath(b, "ns"))
	}
	// Normalization errors.
	for _, p := range []*InstancePath{
		{ClassName: "Nope"},
		{ClassName: "PCMK_ClusterNode", Keys: []KeyBinding{{Name: "Name", Value: "x"}}},
		{ClassName: "PCMK_ClusterNode", Keys: []KeyBinding{{Name: "Name", Value: "x"}, {Name: "Bogus", Value: "y"}}},
		{ClassName: "PCMK_ParticipatingCS", Keys: []KeyBinding{{Name: "Antecedent", Value: "x"}, {Name: "Dependent", Value: "y"}}},
	} {
		if _, err := r.NormalizePath("root/cimv2", p); err == nil {
			t.Errorf("NormalizePath(%+v) accepted", p)
		}
	}
}

func TestWBEMURI(t *testing.T) {
	p := &InstancePath{Namespace: "root/cimv2", ClassName: "A", Keys: []KeyBinding{
		{Name: "s", ValueType: "string", Value: `x"y`}, {Name: "n", ValueType: "numeric", Value: "1"},
		{Name: "r", Ref: &InstancePath{Namespace: "interop", ClassName: "B", Keys: []KeyBinding{{Name: "k", Value: "v"}}}}}}
	want := `root/cimv2:A.s="x\"y",n=1,r="interop:B.k=\"v\""`
	if got := WBEMURI(p); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
