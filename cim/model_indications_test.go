package cim_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/cim"
	"mgmtd/internal/testutil"
	"mgmtd/wbem"
	"mgmtd/wbem/wbemtest"
)

func prop(name, v string) string {
	return `<PROPERTY NAME="` + name + `" TYPE="string"><VALUE>` + v + `</VALUE></PROPERTY>`
}

func refProp(name, class, key string) string {
	return `<PROPERTY.REFERENCE NAME="` + name + `"><VALUE.REFERENCE>` + wbemtest.InstanceName(class,
		"SystemCreationClassName", "CIM_ComputerSystem", "SystemName", "testhost", "CreationClassName", class, "Name", key) +
		`</VALUE.REFERENCE></PROPERTY.REFERENCE>`
}

func createInstance(t testing.TB, env *modelEnv, class, props string) string {
	t.Helper()
	body := wbemtest.IMethodCall("CreateInstance", "interop", `<IPARAMVALUE NAME="NewInstance"><INSTANCE CLASSNAME="`+class+`">`+props+`</INSTANCE></IPARAMVALUE>`)
	return env.call(t, "CreateInstance", "interop", body)
}

// subscribe creates a filter, a destination and a subscription through
// CreateInstance in interop, as pywbem's subscription manager does.
func subscribe(t testing.TB, env *modelEnv, name, query, dest string) {
	t.Helper()
	for _, r := range []string{
		createInstance(t, env, "CIM_IndicationFilter", prop("Name", name)+prop("Query", query)+prop("QueryLanguage", "WQL")+prop("SourceNamespace", "root/cimv2")),
		createInstance(t, env, "CIM_ListenerDestinationCIMXML", prop("Name", name+"-dest")+prop("Destination", dest)),
		createInstance(t, env, "CIM_IndicationSubscription", refProp("Filter", "CIM_IndicationFilter", name)+refProp("Handler", "CIM_ListenerDestinationCIMXML", name+"-dest")),
	} {
		if strings.Contains(r, "<ERROR") {
			t.Fatalf("create: %s", r)
		}
	}
}

var seqRE = regexp.MustCompile(`<PROPERTY NAME="SequenceNumber" [^>]*><VALUE>(\d+)</VALUE>`)

// TestIndicationDelivery: a subscription made through CreateInstance gets
// the indications of a snapshot change (demo step 0 -> step 3, where hv1
// becomes unclean), delivered after the listener was first down (connection
// refused) and then overloaded (503).
func TestIndicationDelivery(t *testing.T) {
	env := newModelEnv(t, func(o *cim.ModelOptions) { o.RetryMin, o.RetryMax = 20*time.Millisecond, 100*time.Millisecond })
	addr := testutil.FreeAddr(t) // nobody listens at first
	dest := "http://" + addr + "/"
	subscribe(t, env, "alerts", "SELECT * FROM CIM_AlertIndication WHERE PerceivedSeverity = 6", dest)
	subscribe(t, env, "nodes", "SELECT * FROM MGMTD_InstModification WHERE EventType = 'node.left'", dest)
	subscribe(t, env, "storage", "SELECT * FROM MGMTD_InstModification WHERE EventType = 'drbd.connection.lost'", dest)
	subscribe(t, env, "storage-alerts", "SELECT * FROM MGMTD_AlertIndication WHERE EventType = 'drbd.connection.lost'", dest)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.prov.RunIndications(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// RunIndications starts at the log's end: events before are not sent.
	testutil.Eventually(t, 20*time.Second, func() bool { return cim.IndicationsFollowing(env.prov) }, "RunIndications follows the event log")
	env.player.Show(2) // hv1 UNCLEAN
	testutil.Eventually(t, 20*time.Second, func() bool {
		st := env.prov.DeliveryStats()
		return len(st) == 1 && st[0].Failures >= 1
	}, "a failed delivery attempt")
	l := &wbemtest.Listener{Busy: 1} // then overloaded once
	var ln net.Listener
	testutil.Eventually(t, 20*time.Second, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	}, "the listener port is free")
	hs := &http.Server{Handler: l, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })

	testutil.Eventually(t, 20*time.Second, func() bool {
		st := env.prov.DeliveryStats()
		return len(st) == 1 && st[0].Queued == 0 && st[0].Delivered > 0
	}, "delivery")
	got := l.Received()
	all := strings.Join(got, "\n")
	checks := []string{
		`<INSTANCE CLASSNAME="MGMTD_AlertIndication">`,
		`<PROPERTY NAME="EventType" TYPE="string"><VALUE>node.left</VALUE>`,
		`<PROPERTY NAME="ObjectName" TYPE="string"><VALUE>hv1</VALUE>`,
		`<PROPERTY NAME="AlertingManagedElement" TYPE="string"><VALUE>root/cimv2:MGMTD_ComputerSystem.CreationClassName="MGMTD_ComputerSystem",Name="hv1"</VALUE>`,
		`<PROPERTY NAME="IndicationFilterName" TYPE="string"><VALUE>alerts</VALUE>`,
		`<INSTANCE CLASSNAME="MGMTD_InstModification">`,
		`<PROPERTY NAME="IndicationFilterName" TYPE="string"><VALUE>nodes</VALUE>`,
		// SourceInstance: hv1 now unclean (NodeState 7); PreviousInstance: online (2).
		`&lt;PROPERTY NAME="NodeState" TYPE="uint16"&gt;&lt;VALUE&gt;7&lt;/VALUE&gt;`,
		`<PROPERTY NAME="PreviousInstance" TYPE="string" EmbeddedObject="instance"><VALUE>&lt;INSTANCE CLASSNAME="MGMTD_ComputerSystem"&gt;`,
		`&lt;PROPERTY NAME="NodeState" TYPE="uint16"&gt;&lt;VALUE&gt;2&lt;/VALUE&gt;`,
		// hv2 lost its DRBD connection to hv1: the DRBD resource changed
		// (its redundancy: 2 Fully Redundant before, 4 Redundancy Lost
		// now), and a communications alert on it.
		`<PROPERTY NAME="IndicationFilterName" TYPE="string"><VALUE>storage</VALUE>`,
		`<PROPERTY NAME="SourceInstanceModelPath" TYPE="string"><VALUE>root/cimv2:MGMTD_DRBDResource.InstanceID="MGMTD:DRBD:r0"</VALUE>`,
		`<PROPERTY NAME="AlertingManagedElement" TYPE="string"><VALUE>root/cimv2:MGMTD_DRBDResource.InstanceID="MGMTD:DRBD:r0"</VALUE>`,
		`<PROPERTY NAME="IndicationFilterName" TYPE="string"><VALUE>storage-alerts</VALUE>`,
		`<PROPERTY NAME="AlertType" TYPE="uint16"><VALUE>2</VALUE>`,
	}
	for _, c := range checks {
		if !strings.Contains(all, c) {
			t.Errorf("delivered indications lack %s", c)
		}
	}
	if t.Failed() {
		t.Logf("received:\n%s", all)
	}
	// Only critical alerts pass the first filter (app1 left with a warning).
	for _, b := range got {
		if strings.Contains(b, `<VALUE>alerts</VALUE>`) && !strings.Contains(b, `<PROPERTY NAME="PerceivedSeverity" TYPE="uint16"><VALUE>6</VALUE>`) {
			t.Errorf("a non-critical alert passed the filter:\n%s", b)
		}
	}
	// In order, numbered from 1 without gaps although the first attempts failed.
	for i, b := range got {
		m := seqRE.FindStringSubmatch(b)
		if m == nil || m[1] != strconv.Itoa(i+1) {
			t.Errorf("indication %d has SequenceNumber %v", i+1, m)
		}
	}
	st := env.prov.DeliveryStats()[0]
	if st.Failures < 2 || st.Dropped != 0 || st.Delivered != uint64(len(got)) {
		t.Errorf("stats %+v (received %d)", st, len(got))
	}
	t.Logf("delivered %d indications after %d failed attempts", len(got), st.Failures)
}

// TestSubscriptionsPersisted: subscriptions made through CreateInstance
// in interop survive a restart through StateDir; a filter in use cannot
// be deleted; a filter must select an indication class of the model.
// (The store's rules and file format are package wbem's tests.)
func TestSubscriptionsPersisted(t *testing.T) {
	dir := t.TempDir()
	env := newModelEnv(t, func(o *cim.ModelOptions) { o.StateDir = dir })
	subscribe(t, env, "f1", "SELECT * FROM CIM_AlertIndication", "http://127.0.0.1:9/listener")
	if _, err := os.Stat(filepath.Join(dir, "cim-subscriptions.json")); err != nil {
		t.Fatal(err)
	}
	filter := wbemtest.InstanceName("CIM_IndicationFilter", "SystemCreationClassName", "CIM_ComputerSystem", "SystemName", "testhost", "CreationClassName", "CIM_IndicationFilter", "Name", "f1")
	if o := outcome(env.call(t, "DeleteInstance", "interop", wbemtest.IMethodCall("DeleteInstance", "interop", wbemtest.Param("InstanceName", filter)))); o != "error 1" {
		t.Errorf("delete filter in use: %s", o)
	}
	if o := outcome(createInstance(t, env, "CIM_IndicationFilter", prop("Name", "x")+prop("Query", "SELECT * FROM MGMTD_ComputerSystem"))); o != "error 15" {
		t.Errorf("filter of a non-indication class: %s, want error 15", o)
	}

	env2 := newModelEnv(t, func(o *cim.ModelOptions) { o.StateDir = dir })
	for _, c := range []string{"CIM_IndicationFilter", "CIM_ListenerDestination", "CIM_IndicationSubscription"} {
		got := env2.call(t, "EnumerateInstanceNames", "interop", wbemtest.IMethodCall("EnumerateInstanceNames", "interop", wbemtest.ClassNameParam("ClassName", c)))
		if n := strings.Count(got, `<IRETURNVALUE><INSTANCENAME `) + strings.Count(got, `</INSTANCENAME><INSTANCENAME `); n != 1 {
			t.Errorf("%s after restart: %d instances\n%s", c, n, got)
		}
	}
	// pywbem's subscription manager finds subscriptions by ReferenceNames.
	refs := env2.call(t, "ReferenceNames", "interop", wbemtest.IMethodCall("ReferenceNames", "interop", wbemtest.Param("ObjectName", filter)+wbemtest.ClassNameParam("ResultClass", "CIM_IndicationSubscription")))
	if strings.Count(refs, `CLASSNAME="CIM_IndicationSubscription"`) != 1 {
		t.Errorf("ReferenceNames:\n%s", refs)
	}
	sub := `<INSTANCENAME CLASSNAME="CIM_IndicationSubscription"><KEYBINDING NAME="Filter"><VALUE.REFERENCE>` + filter + `</VALUE.REFERENCE></KEYBINDING><KEYBINDING NAME="Handler"><VALUE.REFERENCE>` +
		wbemtest.InstanceName("CIM_ListenerDestinationCIMXML", "SystemCreationClassName", "CIM_ComputerSystem", "SystemName", "testhost", "CreationClassName", "CIM_ListenerDestinationCIMXML", "Name", "f1-dest") +
		`</VALUE.REFERENCE></KEYBINDING></INSTANCENAME>`
	for _, n := range []string{sub, filter} {
		if r := env2.call(t, "DeleteInstance", "interop", wbemtest.IMethodCall("DeleteInstance", "interop", wbemtest.Param("InstanceName", n))); strings.Contains(r, "<ERROR") {
			t.Fatalf("delete: %s", r)
		}
	}
	env3 := newModelEnv(t, func(o *cim.ModelOptions) { o.StateDir = dir })
	got := env3.call(t, "EnumerateInstanceNames", "interop", wbemtest.IMethodCall("EnumerateInstanceNames", "interop", wbemtest.ClassNameParam("ClassName", "CIM_ManagedElement")))
	if strings.Contains(got, "CIM_IndicationFilter") || !strings.Contains(got, "CIM_ListenerDestinationCIMXML") {
		t.Errorf("after deletes and restart:\n%s", got)
	}
}

// TestKeysStable: instance paths depend on names only: across the whole
// story (failover, fencing, rejoin) every object keeps its path, and a
// path taken before a failover still resolves after it.
func TestKeysStable(t *testing.T) {
	env := newModelEnv(t, nil)
	paths := func() map[string]string {
		out := map[string]string{}
		for _, c := range []string{"CIM_ComputerSystem", "CIM_Service"} {
			got := env.call(t, "EnumerateInstanceNames", mns, wbemtest.IMethodCall("EnumerateInstanceNames", mns, wbemtest.ClassNameParam("ClassName", c)))
			for _, m := range regexp.MustCompile(`<INSTANCENAME .*?</INSTANCENAME>`).FindAllString(got, -1) {
				name := regexp.MustCompile(`NAME="Name"><KEYVALUE[^>]*>([^<]*)<`).FindStringSubmatch(m)[1]
				out[name] = m
			}
		}
		return out
	}
	first := paths()
	vmApp := wbemtest.InstanceName("MGMTD_ClusterResource", "SystemCreationClassName", "MGMTD_Cluster", "SystemName", "demo", "CreationClassName", "MGMTD_ClusterResource", "Name", "vm-app")
	activeOn := func() string {
		got := env.call(t, "AssociatorNames", mns, wbemtest.IMethodCall("AssociatorNames", mns, wbemtest.Param("ObjectName", vmApp)+wbemtest.ClassNameParam("AssocClass", "MGMTD_ResourceActiveOn")))
		m := regexp.MustCompile(`NAME="Name"><KEYVALUE[^>]*>([^<]*)<`).FindAllStringSubmatch(got, -1)
		var ns []string
		for _, x := range m {
			ns = append(ns, x[1])
		}
		return strings.Join(ns, ",")
	}
	if a := activeOn(); a != "hv1" {
		t.Fatalf("vm-app active on %q at step 0", a)
	}
	steps := env.player.Steps()
	for i := 1; i < len(steps); i++ {
		env.player.Show(i)
		now := paths()
		for name, p := range now {
			if old, ok := first[name]; ok && old != p {
				t.Errorf("step %d: path of %s changed:\n%s\n%s", i, name, old, p)
			}
		}
		if i == 3 {
			if a := activeOn(); a != "hv2" {
				t.Errorf("vm-app active on %q after failover, want hv2", a)
			}
		}
	}
	if len(first) < 15 {
		t.Errorf("only %d paths", len(first))
	}
}

// TestSubscriptionAuthorization: the subscription policy refuses a
// caller with CIM_ERR_ACCESS_DENIED and sees the authenticated principal.
func TestSubscriptionAuthorization(t *testing.T) {
	pol := &refusingPolicy{}
	env := newModelEnv(t, func(o *cim.ModelOptions) { o.Subscriptions = pol })
	got := createInstance(t, env, "CIM_IndicationFilter", prop("Name", "x")+prop("Query", "SELECT * FROM CIM_Indication"))
	if o := outcome(got); o != "error 2" {
		t.Errorf("create: %s", o)
	}
	if len(pol.asked) != 1 || pol.asked[0] != "operator password:operator" {
		t.Errorf("policy saw %v", pol.asked)
	}
}

// refusingPolicy refuses every change and records who asked.
type refusingPolicy struct {
	cim.OpenPolicy
	asked []string
}

func (r *refusingPolicy) Manage(_ context.Context, p wbem.Principal, _ string) error {
	if id, ok := p.Identity.(*auth.Identity); ok {
		r.asked = append(r.asked, p.Name+" "+id.ID)
	}
	return errors.New("needs the admin role")
}
