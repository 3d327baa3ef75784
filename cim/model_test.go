package cim_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/auth"
	"mgmtd/cim"
	"mgmtd/demo"
	"mgmtd/internal/testutil"
	"mgmtd/model"

	"mgmtd/wbem"
	"mgmtd/wbem/wbemtest"
)

// The model provider's tests run against the demo recordings (demo.Load +
// Player.Show), the same data `mgmtd demo` serves.

const (
	mUser, mPass = "operator", "secret"
	mns          = "root/cimv2"
)

// demoStore returns a store showing step 0 of the demo story, and the
// player to show other steps.
func demoStore(t testing.TB) (*model.Store, *demo.Player) {
	t.Helper()
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	st := model.NewStore(model.StoreOptions{Cluster: "demo", Now: func() time.Time { return clock }})
	pl := demo.NewPlayer(steps, st, 1)
	pl.Show(0)
	return st, pl
}

// testActuator stands in for the action executor (an action.Actuator):
// it records the requests and the identity in ctx, and runs every action
// as a task that stays running unless a test changes it.
type testActuator struct {
	mu    sync.Mutex
	reqs  []string
	tasks map[string]action.Task
	err   error
	sync  bool // complete at once (a task without an id)
}

func (a *testActuator) Submit(ctx context.Context, req action.Request) (action.Task, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return action.Task{}, a.err
	}
	r := req.Actor.Name + " " + string(req.Op) + " " + string(req.Op.Kind()) + "/" + req.Name
	if req.Node != "" {
		r += " node=" + req.Node
	}
	if req.Lifetime != "" {
		r += " lifetime=" + req.Lifetime
	}
	if req.Confirm {
		r += " confirm"
	}
	if id, ok := auth.FromContext(ctx); !ok || id.ID != req.Actor.ID || req.Actor.Channel != "cim" || strings.Join(req.Actor.Roles, ",") != "operator" {
		r += " (no identity)"
	}
	a.reqs = append(a.reqs, r)
	if a.sync {
		return action.Task{}, nil
	}
	if a.tasks == nil {
		a.tasks = map[string]action.Task{}
	}
	id := fmt.Sprintf("task-%d", len(a.reqs))
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	a.tasks[id] = action.Task{ID: id, Op: req.Op, Object: model.ID{Cluster: "demo", Kind: req.Op.Kind(), Name: req.Name}, Actor: req.Actor,
		State: action.StateRunning, Result: "waiting for the transition", Created: t0, Started: t0.Add(time.Second)}
	return a.tasks[id], nil
}

func (a *testActuator) Task(id string) (action.Task, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.tasks[id]
	return t, ok
}

func (a *testActuator) Tasks() []action.Task {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []action.Task
	for _, t := range a.tasks {
		out = append(out, t)
	}
	return out
}

// setTask changes a task as the executor would.
func (a *testActuator) setTask(id string, change func(*action.Task)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tasks[id]
	change(&t)
	a.tasks[id] = t
}

func (a *testActuator) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.reqs...)
}

type modelEnv struct {
	store    *model.Store
	player   *demo.Player
	prov     *cim.ModelProvider
	srv      *wbem.Server
	http     *httptest.Server
	act      *testActuator
	audited  []string
	auditMu  sync.Mutex
	hostport string
}

// operatorIdentity is who basicStub authenticates, as the daemon's
// authenticator would.
var operatorIdentity = &auth.Identity{ID: "password:" + mUser, Name: mUser, Method: auth.MethodPassword, Roles: []auth.Role{auth.RoleOperator}}

func basicStub(r *http.Request) (wbem.Principal, error) {
	u, p, ok := r.BasicAuth()
	if !ok || u != mUser || p != mPass {
		return wbem.Principal{}, wbem.ErrUnauthenticated
	}
	return wbem.Principal{Name: u, Identity: operatorIdentity}, nil
}

func newModelEnv(t testing.TB, mod func(*cim.ModelOptions)) *modelEnv {
	t.Helper()
	st, pl := demoStore(t)
	env := &modelEnv{store: st, player: pl, act: &testActuator{}}
	o := cim.ModelOptions{Store: st, Events: st.Events(), Actuator: env.act, SystemName: "testhost", Version: "0.1.0",
		Subscriptions: cim.OpenPolicy{}, Destinations: cim.LoopbackHTTP, Now: func() time.Time { return time.Date(2026, 11, 1, 10, 0, 5, 0, time.UTC) }}
	if mod != nil {
		mod(&o)
	}
	p, err := cim.NewModelProvider(o)
	if err != nil {
		t.Fatal(err)
	}
	env.prov = p
	srv, err := wbem.NewServer(wbem.Config{Provider: p, Authenticate: basicStub, Host: "testhost",
		Audit: func(_ context.Context, op *wbem.Operation) (func(error), error) {
			env.auditMu.Lock()
			env.audited = append(env.audited, op.Principal.Name+" "+op.Name+" "+op.Target)
			env.auditMu.Unlock()
			return func(error) {}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	env.srv = srv
	env.http = httptest.NewServer(srv)
	t.Cleanup(env.http.Close)
	env.hostport = strings.TrimPrefix(env.http.URL, "http://")
	return env
}

// call posts one CIM-XML operation and returns the body.
func (env *modelEnv) call(t testing.TB, method, object, body string) string {
	t.Helper()
	resp, b := testutil.HTTP(t, nil, http.MethodPost, env.http.URL+"/cimom", body,
		"Content-Type", `application/xml; charset="utf-8"`, "CIMOperation", "MethodCall", "CIMMethod", method, "CIMObject", object,
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(mUser+":"+mPass)))
	if resp.StatusCode != 200 {
		t.Fatalf("%s: HTTP %d %s: %s", method, resp.StatusCode, resp.Header.Get("CIMError"), b)
	}
	return string(b)
}

var hv1 = wbemtest.InstanceName("MGMTD_ComputerSystem", "CreationClassName", "MGMTD_ComputerSystem", "Name", "hv1")

// pretty breaks CIM-XML after each closing tag of an object so that
// golden diffs are readable; it does not change the content.
func pretty(s string) string {
	for _, e := range []string{"</VALUE.NAMEDINSTANCE>", "</VALUE.OBJECTWITHPATH>", "</PROPERTY>", "</PROPERTY.ARRAY>", "</PROPERTY.REFERENCE>", "</METHOD>", "</INSTANCENAME>", "</INSTANCEPATH>"} {
		s = strings.ReplaceAll(s, e, e+"\n")
	}
	return s
}

// TestModelGolden pins the CIM-XML of the demo snapshot (step 0): the
// instances, associations and classes real clients read.
func TestModelGolden(t *testing.T) {
	env := newModelEnv(t, nil)
	res := wbemtest.InstanceName("MGMTD_ClusterResource", "SystemCreationClassName", "MGMTD_Cluster", "SystemName", "demo", "CreationClassName", "MGMTD_ClusterResource", "Name", "vm-app")
	tests := []struct{ name, method, ns, params string }{
		{"ei-cluster.xml", "EnumerateInstances", mns, wbemtest.ClassNameParam("ClassName", "MGMTD_Cluster")},
		{"ei-computersystem.xml", "EnumerateInstances", mns, wbemtest.ClassNameParam("ClassName", "CIM_ComputerSystem")},
		{"ei-resources.xml", "EnumerateInstances", mns, wbemtest.ClassNameParam("ClassName", "CIM_Service")},
		{"ein-associations.xml", "EnumerateInstanceNames", mns, wbemtest.ClassNameParam("ClassName", "CIM_Dependency")},
		{"ei-activeon.xml", "EnumerateInstances", mns, wbemtest.ClassNameParam("ClassName", "MGMTD_ResourceActiveOn")},
		{"ai-hv1.xml", "Associators", mns, wbemtest.Param("ObjectName", hv1)},
		{"ain-vm-app-resource.xml", "AssociatorNames", mns, wbemtest.Param("ObjectName", res)},
		{"ri-vm-app-resource.xml", "References", mns, wbemtest.Param("ObjectName", res) + wbemtest.ClassNameParam("ResultClass", "MGMTD_ResourceActiveOn")},
		{"gc-resource.xml", "GetClass", mns, wbemtest.ClassNameParam("ClassName", "MGMTD_ClusterResource") + wbemtest.ValueParam("LocalOnly", "false")},
		{"gc-cluster.xml", "GetClass", mns, wbemtest.ClassNameParam("ClassName", "MGMTD_Cluster") + wbemtest.ValueParam("LocalOnly", "false")},
		{"gc-participatingcs.xml", "GetClass", mns, wbemtest.ClassNameParam("ClassName", "MGMTD_ParticipatingCS") + wbemtest.ValueParam("LocalOnly", "false")},
		{"ei-interop-profiles.xml", "EnumerateInstances", "interop", wbemtest.ClassNameParam("ClassName", "CIM_RegisteredProfile")},
		{"ei-interop-objectmanager.xml", "EnumerateInstances", "interop", wbemtest.ClassNameParam("ClassName", "CIM_ObjectManager")},
		{"ai-interop-cluster-profile.xml", "Associators", "interop", wbemtest.Param("ObjectName", wbemtest.InstanceName("CIM_RegisteredProfile", "InstanceID", "MGMTD:Cluster-1.0.0"))},
		{"ai-model-profile.xml", "Associators", mns, wbemtest.Param("ObjectName", wbemtest.InstanceName("MGMTD_Cluster", "CreationClassName", "MGMTD_Cluster", "Name", "demo")) + wbemtest.ClassNameParam("AssocClass", "CIM_ElementConformsToProfile")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := env.call(t, tc.method, tc.ns, wbemtest.IMethodCall(tc.method, tc.ns, tc.params))
			if strings.Contains(got, "<ERROR") {
				t.Errorf("error response: %s", got)
			}
			if strings.Contains(got, "&#") {
				t.Errorf("numeric character reference in output")
			}
			testutil.Golden(t, filepath.Join("testdata", "golden", "model", tc.name), []byte(pretty(got)))
		})
	}
}
