package wbem

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"mgmtd/wbem/cimxml"

	"mgmtd/wbem/wbemtest"
)

// The test schema: a slice of the DMTF CIM 2.41 hierarchy (reduced to the
// properties the tests need) with PCMK_ vendor classes named as in the
// captured client requests, and the interop classes pywbem's server
// discovery uses.

func key(name, typ string, q ...Qualifier) Property {
	return Property{Name: name, Type: typ, Null: true, Qualifiers: append([]Qualifier{BoolQualifier("Key")}, q...)}
}

func prop(name, typ string, q ...Qualifier) Property {
	return Property{Name: name, Type: typ, Null: true, Qualifiers: q}
}

func arr(name, typ string, q ...Qualifier) Property {
	return Property{Name: name, Type: typ, Array: true, Null: true, Qualifiers: q}
}

func refKey(name, class string) Property {
	return Property{Name: name, Type: cimxml.TypeReference, RefClass: class, Null: true, Qualifiers: []Qualifier{BoolQualifier("Key")}}
}

func desc(s string) Qualifier { return StringQualifier("Description", s) }

var (
	enabledStateMap = ValueMap("0", "Unknown", "1", "Other", "2", "Enabled", "3", "Disabled", "4", "Shutting Down",
		"5", "Not Applicable", "6", "Enabled but Offline", "7", "In Test", "8", "Deferred", "9", "Quiesce", "10", "Starting", "..", "DMTF Reserved")
	opStatusMap = ValueMap("0", "Unknown", "1", "Other", "2", "OK", "3", "Degraded", "6", "Error", "10", "Stopped", "..", "DMTF Reserved")
)

// addBase adds the classes every namespace of the fixture shares.
func addBase(t testing.TB, r *Repository) {
	t.Helper()
	must(t, r.Add(
		&Class{Name: "CIM_ManagedElement", Qualifiers: []Qualifier{BoolQualifier("Abstract"), StringQualifier("Version", "2.41.0"),
			desc("ManagedElement is an abstract class that provides a common superclass.")},
			Properties: []Property{prop("InstanceID", "string"), prop("Caption", "string"), prop("Description", "string"), prop("ElementName", "string")}},
		&Class{Name: "CIM_ManagedSystemElement", Superclass: "CIM_ManagedElement", Qualifiers: []Qualifier{BoolQualifier("Abstract")},
			Properties: []Property{prop("Name", "string"), arr("OperationalStatus", "uint16", opStatusMap...)}},
		&Class{Name: "CIM_LogicalElement", Superclass: "CIM_ManagedSystemElement", Qualifiers: []Qualifier{BoolQualifier("Abstract")}},
		&Class{Name: "CIM_EnabledLogicalElement", Superclass: "CIM_LogicalElement", Qualifiers: []Qualifier{BoolQualifier("Abstract")},
			Properties: []Property{prop("EnabledState", "uint16", enabledStateMap...), prop("RequestedState", "uint16")},
			Methods: []Method{{Name: "RequestStateChange", Type: "uint32",
				Qualifiers: ValueMap("0", "Completed with No Error", "1", "Not Supported", "4", "Failed", "4096", "Method Parameters Checked - Job Started", "4097", "Invalid State Transition"),
				Parameters: []Parameter{
					{Name: "RequestedState", Type: "uint16", Qualifiers: append([]Qualifier{BoolQualifier("In")}, ValueMap("2", "Enabled", "3", "Disabled", "6", "Offline", "11", "Reset")...)},
					{Name: "Job", Type: cimxml.TypeReference, RefClass: "CIM_ConcreteJob", Qualifiers: []Qualifier{BoolQualifier("In"), BoolQualifier("Out")}},
					{Name: "TimeoutPeriod", Type: "datetime", Qualifiers: []Qualifier{BoolQualifier("In")}},
				}}}},
		&Class{Name: "CIM_ConcreteJob", Superclass: "CIM_LogicalElement",
			Properties: []Property{key("InstanceID", "string"), prop("JobState", "uint16", ValueMap("2", "New", "4", "Running", "7", "Completed")...)}},
		&Class{Name: "CIM_System", Superclass: "CIM_EnabledLogicalElement", Qualifiers: []Qualifier{BoolQualifier("Abstract")},
			Properties: []Property{key("CreationClassName", "string"), key("Name", "string")}},
		&Class{Name: "CIM_ComputerSystem", Superclass: "CIM_System",
			Properties: []Property{arr("Dedicated", "uint16")}},
		&Class{Name: "CIM_Service", Superclass: "CIM_EnabledLogicalElement", Qualifiers: []Qualifier{BoolQualifier("Abstract")},
			Properties: []Property{key("SystemCreationClassName", "string"), key("SystemName", "string"),
				key("CreationClassName", "string"), key("Name", "string"), prop("Started", "boolean")}},
		&Class{Name: "CIM_RegisteredProfile", Superclass: "CIM_ManagedElement",
			Properties: []Property{key("InstanceID", "string"),
				prop("RegisteredOrganization", "uint16", ValueMap("1", "Other", "2", "DMTF", "11", "SNIA")...),
				prop("RegisteredName", "string"), prop("RegisteredVersion", "string"), arr("AdvertiseTypes", "uint16", ValueMap("1", "Other", "2", "Not Advertised", "3", "SLP")...)}},
		&Class{Name: "CIM_Dependency", Qualifiers: []Qualifier{BoolQualifier("Association"), BoolQualifier("Abstract")},
			Properties: []Property{refKey("Antecedent", "CIM_ManagedElement"), refKey("Dependent", "CIM_ManagedElement")}},
		&Class{Name: "CIM_ElementConformsToProfile", Qualifiers: []Qualifier{BoolQualifier("Association")},
			Properties: []Property{refKey("ConformantStandard", "CIM_RegisteredProfile"), refKey("ManagedElement", "CIM_ManagedElement")}},
	))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func modelRepo(t testing.TB) *Repository {
	r := NewRepository()
	addBase(t, r)
	must(t, r.Add(
		&Class{Name: "CIM_Cluster", Superclass: "CIM_ComputerSystem",
			Properties: []Property{prop("ClusterState", "uint16", ValueMap("0", "Unknown", "2", "On-line", "3", "Off-line", "4", "Degraded")...),
				arr("Types", "uint16", ValueMap("0", "Unknown", "2", "Failover")...)}},
		&Class{Name: "CIM_ParticipatingCS", Superclass: "CIM_Dependency", Qualifiers: []Qualifier{BoolQualifier("Association")},
			Properties: []Property{refKey("Antecedent", "CIM_ComputerSystem"), refKey("Dependent", "CIM_Cluster"),
				prop("StateOfNode", "uint16", ValueMap("2", "Joining", "3", "Paused", "4", "Available", "5", "Unavailable")...)}},
		&Class{Name: "CIM_HostedService", Superclass: "CIM_Dependency", Qualifiers: []Qualifier{BoolQualifier("Association")},
			Properties: []Property{refKey("Antecedent", "CIM_System"), refKey("Dependent", "CIM_Service")}},
		&Class{Name: "PCMK_Cluster", Superclass: "CIM_Cluster", Qualifiers: []Qualifier{desc("A Pacemaker cluster.")},
			Properties: []Property{prop("HasQuorum", "boolean"), prop("DCNode", "string")}},
		&Class{Name: "PCMK_ClusterNode", Superclass: "CIM_ComputerSystem", Qualifiers: []Qualifier{desc("A cluster node.")},
			Properties: []Property{prop("NodeID", "uint32"), prop("IsDC", "boolean"), prop("Note", "string")},
			Methods:    []Method{{Name: "Noop", Type: "uint32"}}},
		&Class{Name: "PCMK_ParticipatingCS", Superclass: "CIM_ParticipatingCS", Qualifiers: []Qualifier{BoolQualifier("Association")},
			Properties: []Property{refKey("Antecedent", "PCMK_ClusterNode"), refKey("Dependent", "PCMK_Cluster")}},
		&Class{Name: "PCMK_ClusterResource", Superclass: "CIM_Service",
			Properties: []Property{prop("FailCount", "uint32"), prop("ResourceClass", "string")}},
		&Class{Name: "PCMK_HostedResource", Superclass: "CIM_HostedService", Qualifiers: []Qualifier{BoolQualifier("Association")}},
		&Class{Name: "PCMK_ResourceActiveOn", Superclass: "CIM_Dependency", Qualifiers: []Qualifier{BoolQualifier("Association")},
			Properties: []Property{refKey("Antecedent", "PCMK_ClusterNode"), refKey("Dependent", "PCMK_ClusterResource"), prop("Role", "string")}},
		&Class{Name: "PCMK_ConcreteJob", Superclass: "CIM_ConcreteJob"},
		&Class{Name: "PCMK_VirtualSystemMigrationService", Superclass: "CIM_Service",
			Methods: []Method{{Name: "MigrateVirtualSystemToHost", Type: "uint32", Parameters: []Parameter{
				{Name: "ComputerSystem", Type: cimxml.TypeReference, RefClass: "CIM_ComputerSystem", Qualifiers: []Qualifier{BoolQualifier("In")}},
				{Name: "DestinationHost", Type: "string", Qualifiers: []Qualifier{BoolQualifier("In")}},
				{Name: "Job", Type: cimxml.TypeReference, RefClass: "CIM_ConcreteJob", Qualifiers: []Qualifier{BoolQualifier("Out")}},
			}}}},
	))
	return r
}

func interopRepo(t testing.TB) *Repository {
	r := NewRepository()
	addBase(t, r)
	must(t, r.Add(
		&Class{Name: "CIM_Namespace", Superclass: "CIM_ManagedElement",
			Properties: []Property{key("SystemCreationClassName", "string"), key("SystemName", "string"),
				key("ObjectManagerCreationClassName", "string"), key("ObjectManagerName", "string"),
				key("CreationClassName", "string"), key("Name", "string"), prop("ClassInfo", "uint16")}},
		&Class{Name: "CIM_ObjectManager", Superclass: "CIM_Service"},
		&Class{Name: "CIM_IndicationFilter", Superclass: "CIM_ManagedElement",
			Properties: []Property{key("SystemCreationClassName", "string"), key("SystemName", "string"),
				key("CreationClassName", "string"), key("Name", "string"), prop("Query", "string"), prop("QueryLanguage", "string")}},
	))
	return r
}

func str(name, v string) Property { return Property{Name: name, Value: v} }
func refp(name string, p *InstancePath) Property {
	return Property{Name: name, Type: cimxml.TypeReference, Ref: p}
}
func vals(name string, v ...string) Property { return Property{Name: name, Array: true, Values: v} }

func addInst(t testing.TB, m *MemProvider, ns, class string, props ...Property) *InstancePath {
	t.Helper()
	p, err := m.Add(ns, &Instance{ClassName: class, Properties: props})
	if err != nil {
		t.Fatalf("add %s: %v", class, err)
	}
	return p
}

const model = "root/cimv2"

// fixture builds the in-memory provider with a small cluster.
func fixture(t testing.TB) *MemProvider {
	m := NewMemProvider()
	m.AddNamespace(model, modelRepo(t))
	m.AddNamespace("interop", interopRepo(t))
	m.Writable = func(ns, class string) bool { return strings.EqualFold(class, "CIM_IndicationFilter") }

	cluster := addInst(t, m, model, "PCMK_Cluster", str("CreationClassName", "PCMK_Cluster"), str("Name", "mycluster"),
		vals("OperationalStatus", "2"), str("EnabledState", "2"), str("ClusterState", "2"), vals("Types", "2"),
		str("HasQuorum", "true"), str("DCNode", "node1"), str("ElementName", `mycluster "prod" & <test>`))
	var nodes []*InstancePath
	for i, n := range []string{"node1", "node2"} {
		p := addInst(t, m, model, "PCMK_ClusterNode", str("CreationClassName", "PCMK_ClusterNode"), str("Name", n),
			vals("OperationalStatus", "2"), str("EnabledState", "2"), str("NodeID", []string{"1", "2"}[i]),
			str("IsDC", []string{"TRUE", "false"}[i]), str("Note", ""))
		nodes = append(nodes, p)
		addInst(t, m, model, "PCMK_ParticipatingCS", refp("Antecedent", p), refp("Dependent", cluster), str("StateOfNode", "4"))
	}
	res := addInst(t, m, model, "PCMK_ClusterResource", str("SystemCreationClassName", "PCMK_Cluster"), str("SystemName", "mycluster"),
		str("CreationClassName", "PCMK_ClusterResource"), str("Name", "web-ip"), str("EnabledState", "2"),
		str("Started", "true"), str("FailCount", "0"), str("ResourceClass", "ocf:heartbeat:IPaddr2"))
	addInst(t, m, model, "PCMK_HostedResource", refp("Antecedent", cluster), refp("Dependent", res))
	addInst(t, m, model, "PCMK_ResourceActiveOn", refp("Antecedent", nodes[1]), refp("Dependent", res), str("Role", "Started"))
	addInst(t, m, model, "PCMK_VirtualSystemMigrationService", str("SystemCreationClassName", "PCMK_Cluster"), str("SystemName", "mycluster"),
		str("CreationClassName", "PCMK_VirtualSystemMigrationService"), str("Name", "migration"))

	// interop
	om := addInst(t, m, "interop", "CIM_ObjectManager", str("SystemCreationClassName", "CIM_ComputerSystem"), str("SystemName", "localhost"),
		str("CreationClassName", "CIM_ObjectManager"), str("Name", "mgmtd"), str("ElementName", "mgmtd"),
		str("Description", "mgmtd version 0.1.0"), str("Started", "true"))
	_ = om
	for _, n := range []string{"interop", model} {
		addInst(t, m, "interop", "CIM_Namespace", str("SystemCreationClassName", "CIM_ComputerSystem"), str("SystemName", "localhost"),
			str("ObjectManagerCreationClassName", "CIM_ObjectManager"), str("ObjectManagerName", "mgmtd"),
			str("CreationClassName", "CIM_Namespace"), str("Name", n), str("ClassInfo", "0"))
	}
	prof := addInst(t, m, "interop", "CIM_RegisteredProfile", str("InstanceID", "PCMK:cluster-1.0.0"), str("RegisteredOrganization", "1"),
		str("RegisteredName", "Pacemaker Cluster"), str("RegisteredVersion", "1.0.0"), vals("AdvertiseTypes", "3"))
	// DSP1033: traversable from both namespaces.
	for _, ns := range []string{"interop", model} {
		addInst(t, m, ns, "CIM_ElementConformsToProfile", refp("ConformantStandard", prof), refp("ManagedElement", cluster))
	}

	stateChange := func(ctx context.Context, call *MethodCall) (*MethodResult, error) {
		a := call.Arg("RequestedState")
		if a == nil || a.Null {
			return &MethodResult{ReturnValue: "5"}, nil
		}
		switch a.Value {
		case "2", "3", "6":
			in, err := m.GetInstance(ctx, call.Instance)
			if err != nil {
				return nil, err
			}
			cp := *in
			cp.Properties = append([]Property(nil), in.Properties...)
			cp.Property("EnabledState").Value = a.Value
			if err := m.Remove(call.Instance); err != nil {
				return nil, err
			}
			if _, err := m.Add(call.Namespace, &cp); err != nil {
				return nil, err
			}
			return &MethodResult{ReturnValue: "0"}, nil
		case "11":
			job, err := m.Add(call.Namespace, &Instance{ClassName: "PCMK_ConcreteJob", Properties: []Property{str("InstanceID", "job-1"), str("JobState", "4")}})
			if err != nil {
				return nil, err
			}
			return &MethodResult{ReturnValue: "4096", Out: []Argument{{Name: "Job", Ref: job}}}, nil
		}
		return &MethodResult{ReturnValue: "4097"}, nil
	}
	m.HandleMethod(model, "CIM_EnabledLogicalElement", "RequestStateChange", stateChange)
	m.HandleMethod(model, "PCMK_ClusterNode", "Noop", func(context.Context, *MethodCall) (*MethodResult, error) {
		return &MethodResult{ReturnValue: "0"}, nil
	})
	m.HandleMethod(model, "PCMK_VirtualSystemMigrationService", "MigrateVirtualSystemToHost", func(_ context.Context, call *MethodCall) (*MethodResult, error) {
		if a := call.Arg("DestinationHost"); a == nil || a.Null {
			return nil, Errorf(StatusInvalidParameter, "DestinationHost is required")
		}
		job := &InstancePath{Namespace: model, ClassName: "PCMK_ConcreteJob", Keys: []KeyBinding{{Name: "InstanceID", Type: "string", ValueType: "string", Value: "migrate-1"}}}
		return &MethodResult{ReturnValue: "4096", Out: []Argument{{Name: "Job", Ref: job}}}, nil
	})
	return m
}

const testUser, testPass = "user", "pass"

// basicAuth is the test Authenticator: Basic user:pass only.
func basicAuth(r *http.Request) (Principal, error) {
	u, p, ok := r.BasicAuth()
	if !ok || u != testUser || p != testPass {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{Name: u}, nil
}

// auditLog records audit hook calls.
type auditLog struct {
	mu      sync.Mutex
	ops     []string
	fail    bool
	outcome []error
}

func (a *auditLog) hook(_ context.Context, op *Operation) (func(error), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return nil, context.DeadlineExceeded
	}
	a.ops = append(a.ops, op.Principal.Name+" "+op.Name+" "+op.Target)
	return func(err error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.outcome = append(a.outcome, err)
	}, nil
}

func (a *auditLog) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ops...)
}

type testEnv struct {
	srv   *Server
	mem   *MemProvider
	audit *auditLog
}

func newEnv(t testing.TB, mod func(*Config)) *testEnv {
	t.Helper()
	env := &testEnv{mem: fixture(t), audit: &auditLog{}}
	cfg := Config{Provider: env.mem, Authenticate: basicAuth, Audit: env.audit.hook, Host: "testhost"}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	env.srv = s
	return env
}

// post sends a CIM-XML operation to the handler.
func (env *testEnv) post(t testing.TB, method, object, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := wbemtest.NewRequest(method, object, body, testUser, testPass)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	env.srv.ServeHTTP(w, r)
	return w
}

const node1Name = `<INSTANCENAME CLASSNAME="PCMK_ClusterNode"><KEYBINDING NAME="CreationClassName"><KEYVALUE>PCMK_ClusterNode</KEYVALUE></KEYBINDING><KEYBINDING NAME="Name"><KEYVALUE>node1</KEYVALUE></KEYBINDING></INSTANCENAME>`
