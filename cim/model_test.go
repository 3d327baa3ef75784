package cim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// testActuator is the consumer-side stand-in for the actions package: it
// records the requests and runs every action as a task that completes
// when finish is called.
type testActuator struct {
	mu    sync.Mutex
	reqs  []cim.ActionRequest
	tasks map[string]cim.TaskStatus
	err   error
	sync  bool // complete at once (no task)
}

func (a *testActuator) Do(_ context.Context, req cim.ActionRequest) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return "", a.err
	}
	a.reqs = append(a.reqs, req)
	if a.sync {
		return "", nil
	}
	if a.tasks == nil {
		a.tasks = map[string]cim.TaskStatus{}
	}
	id := fmt.Sprintf("task-%d", len(a.reqs))
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	a.tasks[id] = cim.TaskStatus{ID: id, Action: req.Action, Kind: req.Kind, Target: req.Target, State: cim.TaskRunning,
		Percent: 50, Message: "waiting for the transition", Owner: req.Principal.Name, Submitted: t0, Updated: t0.Add(time.Second)}
	return id, nil
}

func (a *testActuator) Task(id string) (cim.TaskStatus, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.tasks[id]
	return t, ok
}

func (a *testActuator) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.reqs {
		keys := make([]string, 0, len(r.Params))
		for k := range r.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		s := r.Principal.Name + " " + r.Method + " " + r.Action + " " + string(r.Kind) + "/" + r.Target
		for _, k := range keys {
			s += " " + k + "=" + r.Params[k]
		}
		out = append(out, s)
	}
	return out
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

func basicStub(r *http.Request) (wbem.Principal, error) {
	u, p, ok := r.BasicAuth()
	if !ok || u != mUser || p != mPass {
		return wbem.Principal{}, wbem.ErrUnauthenticated
	}
	return wbem.Principal{Name: u, Identity: "operator-role"}, nil
}

func newModelEnv(t testing.TB, mod func(*cim.ModelOptions)) *modelEnv {
	t.Helper()
	st, pl := demoStore(t)
	env := &modelEnv{store: st, player: pl, act: &testActuator{}}
	o := cim.ModelOptions{Store: st, Events: st.Events(), Actuator: env.act, SystemName: "testhost", Version: "0.1.0",
		Now: func() time.Time { return time.Date(2026, 11, 1, 10, 0, 5, 0, time.UTC) }}
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
	req, err := http.NewRequest(http.MethodPost, env.http.URL+"/cimom", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	req.Header.Set("CIMOperation", "MethodCall")
	req.Header.Set("CIMMethod", method)
	req.Header.Set("CIMObject", object)
	req.SetBasicAuth(mUser, mPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
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
