package cim_test

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"mgmtd/action"
	"mgmtd/cim"

	"mgmtd/wbem/wbemtest"
)

// mcallXML builds an extrinsic METHODCALL on an instance (keys as name,
// value pairs) of the model namespace, or on the class without keys.
func mcallXML(method, class string, keys []string, params string) (object, body string) {
	var ko []string
	for i := 0; i+1 < len(keys); i += 2 {
		ko = append(ko, keys[i]+`="`+keys[i+1]+`"`)
	}
	object = mns + ":" + class
	target := class
	if len(keys) > 0 {
		object += "." + strings.Join(ko, ",")
		target = wbemtest.InstanceName(class, keys...)
	}
	return url.PathEscape(object), wbemtest.MethodCall(method, mns, target, params)
}

func pv(name, v string) string {
	return `<PARAMVALUE NAME="` + name + `"><VALUE>` + v + `</VALUE></PARAMVALUE>`
}

func resKeys(class, name string) []string {
	return []string{"SystemCreationClassName", "MGMTD_Cluster", "SystemName", "demo", "CreationClassName", class, "Name", name}
}

func sysKeys(name string) []string {
	return []string{"CreationClassName", "MGMTD_ComputerSystem", "Name", name}
}

var (
	retRE  = regexp.MustCompile(`<RETURNVALUE PARAMTYPE="uint32"><VALUE>(\d+)</VALUE></RETURNVALUE>`)
	errRE  = regexp.MustCompile(`<ERROR CODE="(\d+)"`)
	migRef = `<PARAMVALUE NAME="ComputerSystem"><VALUE.REFERENCE><INSTANCENAME CLASSNAME="MGMTD_ComputerSystem"><KEYBINDING NAME="CreationClassName"><KEYVALUE>MGMTD_ComputerSystem</KEYVALUE></KEYBINDING><KEYBINDING NAME="Name"><KEYVALUE>vm-app</KEYVALUE></KEYBINDING></INSTANCENAME></VALUE.REFERENCE></PARAMVALUE>`
	migSvc = resKeys("MGMTD_VirtualSystemMigrationService", "migration")
)

// outcome reduces a method response to "ret N" or "error N".
func outcome(body string) string {
	if m := errRE.FindStringSubmatch(body); m != nil {
		return "error " + m[1]
	}
	if m := retRE.FindStringSubmatch(body); m != nil {
		return "ret " + m[1]
	}
	return "unparsed: " + body
}

func TestModelMethods(t *testing.T) {
	rsc := resKeys("MGMTD_ClusterResource", "vip-db")
	tests := []struct {
		name     string
		actuator func(*testActuator)
		nilAct   bool
		method   string
		class    string
		keys     []string
		params   string
		want     string
		action   string // recorded request, "" for none
	}{
		{"start", nil, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "2"), "ret 4096", "resource.start resource/vip-db"},
		{"stop", nil, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "ret 4096", "resource.stop resource/vip-db"},
		{"restart", nil, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "11"), "ret 4096", "resource.restart resource/vip-db"},
		{"quiesce", nil, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "9"), "ret 4096", "resource.unmanage resource/vip-db"},
		{"unsupported state", nil, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "7"), "ret 1", ""},
		{"timeout period", nil, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "2") + pv("TimeoutPeriod", "00000000000500.000000:000"), "ret 4098", ""},
		{"done at once", func(a *testActuator) { a.sync = true }, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "ret 0", "resource.stop resource/vip-db"},
		{"invalid", func(a *testActuator) { a.err = fmt.Errorf("%w: lifetime", action.ErrInvalid) }, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "ret 5", ""},
		{"not found", func(a *testActuator) { a.err = fmt.Errorf("%w: vip-db", action.ErrNotFound) }, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "ret 5", ""},
		{"busy", func(a *testActuator) { a.err = fmt.Errorf("%w: task-7", action.ErrBusy) }, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "ret 4099", ""},
		{"access denied", func(a *testActuator) { a.err = fmt.Errorf("%w: role viewer", action.ErrForbidden) }, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "error 2", ""},
		{"no quorum", func(a *testActuator) { a.err = action.ErrNoQuorum }, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "error 1", ""},
		{"action failed", func(a *testActuator) { a.err = errors.New("crm_resource exited 1") }, false, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "error 1", ""},
		{"no actuator", nil, true, "RequestStateChange", "MGMTD_ClusterResource", rsc, pv("RequestedState", "3"), "error 7", ""},
		{"group stop", nil, false, "RequestStateChange", "MGMTD_ResourceGroup", resKeys("MGMTD_ResourceGroup", "web"), pv("RequestedState", "3"), "ret 4096", "resource.stop resource/web"},
		{"node online", nil, false, "RequestStateChange", "MGMTD_ComputerSystem", sysKeys("hv2"), pv("RequestedState", "2"), "ret 4096", "node.online node/hv2"},
		{"unmanaged vm", nil, false, "RequestStateChange", "MGMTD_ComputerSystem", sysKeys("scratch"), pv("RequestedState", "2"), "ret 1", ""},
		{"managed vm stop", nil, false, "RequestStateChange", "MGMTD_ComputerSystem", sysKeys("vm-app"), pv("RequestedState", "3"), "ret 4096", "resource.stop resource/vm-app"},
		{"managed vm standby", nil, false, "RequestStateChange", "MGMTD_ComputerSystem", sysKeys("vm-app"), pv("RequestedState", "6"), "ret 1", ""},
		{"cluster", nil, false, "RequestStateChange", "MGMTD_Cluster", []string{"CreationClassName", "MGMTD_Cluster", "Name", "demo"}, pv("RequestedState", "3"), "ret 1", ""},
		{"wrong class for key", nil, false, "RequestStateChange", "MGMTD_ClusterResource", resKeys("MGMTD_ClusterResource", "web"), pv("RequestedState", "3"), "error 6", ""},
		{"cleanup", nil, false, "Cleanup", "MGMTD_ClusterResource", resKeys("MGMTD_ClusterResource", "web-srv"), pv("Node", "app1"), "ret 4096", "resource.cleanup resource/web-srv node=app1"},
		{"cleanup everywhere", nil, false, "Cleanup", "MGMTD_ClusterResource", resKeys("MGMTD_ClusterResource", "web-srv"), "", "ret 4096", "resource.cleanup resource/web-srv"},
		{"move with lifetime", nil, false, "MoveTo", "MGMTD_ClusterResource", rsc, pv("DestinationNode", "hv3") + pv("Lifetime", "00000000010000.000000:000"), "ret 4096", "resource.move resource/vip-db node=hv3 lifetime=1h0m0s"},
		{"clear move", nil, false, "MoveTo", "MGMTD_ClusterResource", rsc, "", "ret 4096", "resource.clear resource/vip-db"},
		{"fence reboot", nil, false, "Fence", "MGMTD_ComputerSystem", sysKeys("hv3"), "", "ret 4096", "node.fence node/hv3 confirm"},
		{"fence bad action", nil, false, "Fence", "MGMTD_ComputerSystem", sysKeys("hv3"), pv("Action", "9"), "ret 5", ""},
		{"migrate", nil, false, "MigrateVirtualSystemToHost", "MGMTD_VirtualSystemMigrationService", migSvc, migRef + pv("DestinationHost", "hv2"), "ret 4096", "vm.migrate vm/vm-app node=hv2"},
		{"migrate to same host", nil, false, "MigrateVirtualSystemToHost", "MGMTD_VirtualSystemMigrationService", migSvc, migRef + pv("DestinationHost", "hv1"), "ret 5", ""},
		{"migrate to no host", nil, false, "MigrateVirtualSystemToHost", "MGMTD_VirtualSystemMigrationService", migSvc, migRef + pv("DestinationHost", "app1"), "ret 4", ""},
		{"check migratable", nil, false, "CheckVirtualSystemIsMigratableToHost", "MGMTD_VirtualSystemMigrationService", migSvc, migRef + pv("DestinationHost", "hv3"), "ret 0", ""},
		{"add node", nil, false, "AddNode", "MGMTD_ClusteringService", resKeys("MGMTD_ClusteringService", "pacemaker"), "", "ret 1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newModelEnv(t, func(o *cim.ModelOptions) {
				if tc.nilAct {
					o.Actuator = nil
				}
			})
			if tc.actuator != nil {
				tc.actuator(env.act)
			}
			obj, body := mcallXML(tc.method, tc.class, tc.keys, tc.params)
			got := env.call(t, tc.method, obj, body)
			if o := outcome(got); o != tc.want {
				t.Fatalf("got %s, want %s\n%s", o, tc.want, got)
			}
			reqs := env.act.requests()
			if tc.action == "" {
				if len(reqs) != 0 && tc.actuator == nil {
					t.Errorf("unexpected actions %v", reqs)
				}
			} else if !slices.Equal(reqs, []string{"operator " + tc.action}) {
				t.Errorf("actions %q, want %q", reqs, "operator "+tc.action)
			}
			if tc.want == "ret 4096" && !strings.Contains(got, `<PARAMVALUE NAME="Job" PARAMTYPE="reference"><VALUE.REFERENCE>`) {
				t.Errorf("no Job reference:\n%s", got)
			}
			if tc.name == "check migratable" && !strings.Contains(got, `<PARAMVALUE NAME="IsMigratable" PARAMTYPE="boolean"><VALUE>TRUE</VALUE>`) {
				t.Errorf("IsMigratable not TRUE:\n%s", got)
			}
		})
	}
}

// TestModelJobs follows a task through MGMTD_ConcreteJob.
func TestModelJobs(t *testing.T) {
	env := newModelEnv(t, nil)
	obj, body := mcallXML("RequestStateChange", "MGMTD_ResourceClone", resKeys("MGMTD_ResourceClone", "db-clone"), pv("RequestedState", "3"))
	if o := outcome(env.call(t, "RequestStateChange", obj, body)); o != "ret 4096" {
		t.Fatalf("got %s", o)
	}
	// the resource class follows the kind: db-clone is a clone
	job := wbemtest.InstanceName("MGMTD_ConcreteJob", "InstanceID", "MGMTD:Job:task-1")
	get := func() string {
		return env.call(t, "GetInstance", mns, wbemtest.IMethodCall("GetInstance", mns, wbemtest.Param("InstanceName", job)))
	}
	if g := get(); !strings.Contains(g, `<PROPERTY NAME="JobState" TYPE="uint16"><VALUE>4</VALUE>`) {
		t.Fatalf("running job:\n%s", g)
	}
	for _, tc := range []struct {
		name   string
		change func(*action.Task)
		want   []string
	}{
		{"succeeded", func(t *action.Task) { t.State, t.Result = action.StateSucceeded, "db-clone stopped on hv1, hv2" },
			[]string{`<PROPERTY NAME="JobState" TYPE="uint16"><VALUE>7</VALUE>`, `<PROPERTY NAME="PercentComplete" TYPE="uint16"><VALUE>100</VALUE>`,
				`<PROPERTY NAME="JobStatus" TYPE="string"><VALUE>succeeded</VALUE>`,
				`<PROPERTY NAME="Description" TYPE="string"><VALUE>db-clone stopped on hv1, hv2</VALUE>`, `<PROPERTY NAME="Owner" TYPE="string"><VALUE>operator</VALUE>`}},
		{"failed", func(t *action.Task) { t.State, t.Error = action.StateFailed, "resource db-clone did not stop" },
			[]string{`<PROPERTY NAME="JobState" TYPE="uint16"><VALUE>10</VALUE>`, `<PROPERTY NAME="JobStatus" TYPE="string"><VALUE>failed</VALUE>`,
				`<PROPERTY NAME="ErrorDescription" TYPE="string"><VALUE>resource db-clone did not stop</VALUE>`, `<PROPERTY NAME="Action" TYPE="string"><VALUE>resource.stop</VALUE>`}},
		{"timed out", func(t *action.Task) { t.State, t.Error = action.StateTimedOut, "" },
			[]string{`<PROPERTY NAME="JobState" TYPE="uint16"><VALUE>10</VALUE>`, `<PROPERTY NAME="JobStatus" TYPE="string"><VALUE>failed</VALUE>`,
				`<PROPERTY NAME="ErrorDescription" TYPE="string"><VALUE>timed_out</VALUE>`}},
	} {
		env.act.setTask("task-1", tc.change)
		g := get()
		for _, w := range tc.want {
			if !strings.Contains(g, w) {
				t.Errorf("%s job lacks %s:\n%s", tc.name, w, g)
			}
		}
	}
	missing := wbemtest.InstanceName("MGMTD_ConcreteJob", "InstanceID", "MGMTD:Job:task-99")
	if o := outcome(env.call(t, "GetInstance", mns, wbemtest.IMethodCall("GetInstance", mns, wbemtest.Param("InstanceName", missing)))); o != "error 6" {
		t.Errorf("unknown job: %s", o)
	}
}
