package wbem

import (
	"regexp"
	"strings"
	"testing"

	"mgmtd/wbem/wbemtest"
)

// TestAssociationFilters: AssocClass, ResultClass, Role and ResultRole on
// Associators(Names) and References(Names), including the cross-namespace
// ElementConformsToProfile.
func TestAssociationFilters(t *testing.T) {
	env := newEnv(t, nil)
	cluster := `<INSTANCENAME CLASSNAME="PCMK_Cluster"><KEYBINDING NAME="Name"><KEYVALUE>mycluster</KEYVALUE></KEYBINDING><KEYBINDING NAME="CreationClassName"><KEYVALUE>PCMK_Cluster</KEYVALUE></KEYBINDING></INSTANCENAME>`
	tests := []struct {
		name, op, params string
		want             []string
	}{
		{"all associators", "AssociatorNames", wbemtest.Param("ObjectName", cluster), []string{"PCMK_ClusterNode:PCMK_ClusterNode", "PCMK_ClusterNode:PCMK_ClusterNode", "PCMK_ClusterResource:PCMK_Cluster", "CIM_RegisteredProfile:PCMK:cluster-1.0.0"}},
		{"assoc class", "AssociatorNames", wbemtest.Param("ObjectName", cluster) + wbemtest.ClassNameParam("AssocClass", "CIM_ParticipatingCS"), []string{"PCMK_ClusterNode:PCMK_ClusterNode", "PCMK_ClusterNode:PCMK_ClusterNode"}},
		{"result class", "AssociatorNames", wbemtest.Param("ObjectName", cluster) + wbemtest.ClassNameParam("ResultClass", "CIM_Service"), []string{"PCMK_ClusterResource:PCMK_Cluster"}},
		{"result class across namespaces", "AssociatorNames", wbemtest.Param("ObjectName", cluster) + wbemtest.ClassNameParam("ResultClass", "CIM_RegisteredProfile"), []string{"CIM_RegisteredProfile:PCMK:cluster-1.0.0"}},
		{"role", "AssociatorNames", wbemtest.Param("ObjectName", cluster) + wbemtest.ValueParam("Role", "dependent"), []string{"PCMK_ClusterNode:PCMK_ClusterNode", "PCMK_ClusterNode:PCMK_ClusterNode"}},
		{"wrong role", "AssociatorNames", wbemtest.Param("ObjectName", cluster) + wbemtest.ValueParam("Role", "Antecedent") + wbemtest.ClassNameParam("AssocClass", "CIM_ParticipatingCS"), nil},
		{"result role", "AssociatorNames", wbemtest.Param("ObjectName", cluster) + wbemtest.ValueParam("ResultRole", "ConformantStandard"), []string{"CIM_RegisteredProfile:PCMK:cluster-1.0.0"}},
		{"references", "ReferenceNames", wbemtest.Param("ObjectName", cluster) + wbemtest.ClassNameParam("ResultClass", "CIM_HostedService"), []string{"PCMK_HostedResource:PCMK_Cluster"}},
		{"references role", "References", wbemtest.Param("ObjectName", node1Name) + wbemtest.ValueParam("Role", "Antecedent"), []string{"PCMK_ParticipatingCS:PCMK_ClusterNode"}},
		{"references wrong role", "References", wbemtest.Param("ObjectName", node1Name) + wbemtest.ValueParam("Role", "Dependent"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := env.post(t, tt.op, "root/cimv2", wbemtest.IMethodCall(tt.op, "root/cimv2", tt.params))
			if c := cimError(t, w); c != "" {
				t.Fatalf("status %s: %s", c, w.Body.String())
			}
			wbemtest.CheckClientSafe(t, w.Body.String())
			if got := countReturned(t, w.Body.String()); got != len(tt.want) {
				t.Errorf("%d results, want %d: %s", got, len(tt.want), w.Body.String())
			}
			for _, want := range tt.want {
				cls, _, _ := strings.Cut(want, ":")
				if !strings.Contains(w.Body.String(), `CLASSNAME="`+cls+`"`) {
					t.Errorf("missing %s", want)
				}
			}
		})
	}
}

// TestDefaultsAndPropertyList: DSP0200 defaults for omitted parameters
// and PropertyList handling.
func TestDefaultsAndPropertyList(t *testing.T) {
	env := newEnv(t, nil)
	post := func(op, params string) string {
		w := env.post(t, op, "root/cimv2", wbemtest.IMethodCall(op, "root/cimv2", params))
		if c := cimError(t, w); c != "" {
			t.Fatalf("%s: status %s", op, c)
		}
		return w.Body.String()
	}
	// EnumerateInstances defaults: DeepInheritance true (subclass
	// properties present), IncludeClassOrigin false.
	b := post("EnumerateInstances", wbemtest.ClassNameParam("ClassName", "CIM_ComputerSystem"))
	if !strings.Contains(b, `NAME="NodeID"`) || strings.Contains(b, "CLASSORIGIN") || strings.Contains(b, "<QUALIFIER") {
		t.Errorf("EnumerateInstances defaults: %s", b)
	}
	b = post("EnumerateInstances", wbemtest.ClassNameParam("ClassName", "CIM_ComputerSystem")+wbemtest.ValueParam("DeepInheritance", "FALSE")+wbemtest.ValueParam("IncludeClassOrigin", "true"))
	if strings.Contains(b, `NAME="NodeID"`) || !strings.Contains(b, `CLASSORIGIN="CIM_System"`) || !strings.Contains(b, `INSTANCE CLASSNAME="PCMK_ClusterNode"`) {
		t.Errorf("DeepInheritance false: %s", b)
	}
	b = post("GetInstance", wbemtest.Param("InstanceName", node1Name)+`<IPARAMVALUE NAME="PropertyList"><VALUE.ARRAY><VALUE>name</VALUE><VALUE>ISDC</VALUE></VALUE.ARRAY></IPARAMVALUE>`)
	if got := regexp.MustCompile(`PROPERTY NAME="(\w+)"`).FindAllStringSubmatch(b, -1); len(got) != 2 || got[0][1] != "Name" || got[1][1] != "IsDC" {
		t.Errorf("PropertyList: %s", b)
	}
	b = post("GetInstance", wbemtest.Param("InstanceName", node1Name)+`<IPARAMVALUE NAME="PropertyList"><VALUE.ARRAY></VALUE.ARRAY></IPARAMVALUE>`)
	if strings.Contains(b, "<PROPERTY") {
		t.Errorf("empty PropertyList: %s", b)
	}
	// GetClass defaults: LocalOnly true, IncludeQualifiers true.
	b = post("GetClass", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode"))
	if strings.Contains(b, `NAME="EnabledState"`) || !strings.Contains(b, `NAME="NodeID"`) || !strings.Contains(b, `<QUALIFIER NAME="Description"`) || !strings.Contains(b, `<METHOD NAME="Noop"`) {
		t.Errorf("GetClass defaults: %s", b)
	}
	b = post("GetClass", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode")+wbemtest.ValueParam("LocalOnly", "false")+wbemtest.ValueParam("IncludeClassOrigin", "true"))
	for _, want := range []string{`<PROPERTY NAME="EnabledState" TYPE="uint16" CLASSORIGIN="CIM_EnabledLogicalElement" PROPAGATED="true"><QUALIFIER NAME="ValueMap" TYPE="string" PROPAGATED="true"><VALUE.ARRAY><VALUE>0</VALUE>`,
		`<METHOD NAME="RequestStateChange" TYPE="uint32" CLASSORIGIN="CIM_EnabledLogicalElement" PROPAGATED="true">`,
		`<PARAMETER.REFERENCE NAME="Job" REFERENCECLASS="CIM_ConcreteJob"><QUALIFIER NAME="In"`,
		`<QUALIFIER NAME="Key" TYPE="boolean" PROPAGATED="true" OVERRIDABLE="false"><VALUE>TRUE</VALUE></QUALIFIER>`} {
		if !strings.Contains(b, want) {
			t.Errorf("full class lacks %s", want)
		}
	}
	b = post("GetClass", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode")+wbemtest.ValueParam("LocalOnly", "false")+wbemtest.ValueParam("IncludeQualifiers", "false"))
	if strings.Contains(b, "<QUALIFIER") {
		t.Errorf("IncludeQualifiers false: %s", b)
	}
	// EnumerateClasses: default DeepInheritance false.
	b = post("EnumerateClasses", wbemtest.ClassNameParam("ClassName", "CIM_System"))
	if countReturned(t, b) != 1 {
		t.Errorf("EnumerateClasses shallow: %d", countReturned(t, b))
	}
	b = post("EnumerateClassNames", "")
	if got := countReturned(t, b); got != 3 {
		t.Errorf("root classes: %d", got)
	}
	// GetProperty of an array and of a NULL property.
	b = post("GetProperty", wbemtest.Param("InstanceName", node1Name)+wbemtest.ValueParam("PropertyName", "operationalstatus"))
	if !strings.Contains(b, "<IRETURNVALUE><VALUE.ARRAY><VALUE>2</VALUE></VALUE.ARRAY></IRETURNVALUE>") {
		t.Errorf("array property: %s", b)
	}
	b = post("GetProperty", wbemtest.Param("InstanceName", node1Name)+wbemtest.ValueParam("PropertyName", "Caption"))
	if !strings.Contains(b, "<IRETURNVALUE></IRETURNVALUE>") {
		t.Errorf("NULL property: %s", b)
	}
}

func TestExecQuery(t *testing.T) {
	env := newEnv(t, nil)
	tests := []struct {
		query string
		want  int
		code  string
	}{
		{"SELECT * FROM PCMK_ClusterNode", 2, ""},
		{"select * from cim_computersystem", 3, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE Name = 'node1'", 1, ""},
		{`SELECT * FROM PCMK_ClusterNode WHERE Name = "node1" OR NodeID > 1`, 2, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE NOT (NodeID >= 2) AND IsDC = TRUE", 1, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE 2 <= NodeID", 1, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE NodeID <> 1", 1, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE Caption IS NULL", 2, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE Caption IS NOT NULL", 0, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE Note = ''", 2, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE Name = 'it''s'", 0, ""},
		{"SELECT * FROM PCMK_ClusterNode WHERE Name = NULL", 0, ""},
		{"SELECT Name, NodeID FROM PCMK_ClusterNode", 2, ""},
		{"SELECT Bogus FROM PCMK_ClusterNode", 0, "15"},
		{"SELECT * FROM Nope", 0, "15"},
		{"SELECT * FROM PCMK_ClusterNode WHERE", 0, "15"},
		{"SELECT * FROM PCMK_ClusterNode WHERE Name = 'x", 0, "15"},
		{"SELECT * FROM PCMK_ClusterNode WHERE (Name = 'x'", 0, "15"},
		{"SELECT * FROM PCMK_ClusterNode WHERE Name ~ 'x'", 0, "15"},
		{"DELETE FROM PCMK_ClusterNode", 0, "15"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			w := env.post(t, "ExecQuery", "root/cimv2", wbemtest.IMethodCall("ExecQuery", "root/cimv2", wbemtest.ValueParam("QueryLanguage", "WQL")+wbemtest.ValueParam("Query", xmlEscape(tt.query))))
			if c := cimError(t, w); c != tt.code {
				t.Fatalf("status %q, want %q: %s", c, tt.code, w.Body.String())
			}
			if tt.code == "" {
				if got := countReturned(t, w.Body.String()); got != tt.want {
					t.Errorf("%d results, want %d", got, tt.want)
				}
			}
		})
	}
	w := env.post(t, "ExecQuery", "root/cimv2", wbemtest.IMethodCall("ExecQuery", "root/cimv2", wbemtest.ValueParam("QueryLanguage", "WQL")+wbemtest.ValueParam("Query", "SELECT Name FROM PCMK_ClusterNode")))
	if got := regexp.MustCompile(`<PROPERTY NAME="(\w+)"`).FindAllStringSubmatch(w.Body.String(), -1); len(got) != 2 {
		t.Errorf("select list: %v", got)
	}
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
