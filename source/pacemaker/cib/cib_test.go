package cib

import (
	"os"
	"path/filepath"
	"testing"
)

func files(t testing.TB, pattern string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(pattern)
	if err != nil || len(names) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func TestParseFixtures(t *testing.T) {
	for name, data := range files(t, "../testdata/*/cib.xml") {
		c, err := Parse(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		r := c.Configuration.Resources
		if len(r.Primitives)+len(r.Groups)+len(r.Clones)+len(r.Masters)+len(r.Bundles) == 0 {
			t.Errorf("%s: no resources", name)
		}
		if c.Epoch == "" {
			t.Errorf("%s: no epoch", name)
		}
	}
}

func TestLegacyMaster(t *testing.T) {
	c, err := Parse([]byte(`<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/>
<resources><master id="ms"><primitive id="db" class="ocf" provider="pacemaker" type="Stateful"/></master></resources>
<constraints><rsc_colocation id="c" score="INFINITY"><resource_set id="s1"><resource_ref id="a"/><resource_ref id="b"/></resource_set></rsc_colocation></constraints>
</configuration></cib>`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Configuration.Resources.Masters) != 1 || !c.Configuration.Resources.Masters[0].Master {
		t.Fatalf("master not recognised: %+v", c.Configuration.Resources)
	}
	if got := c.Configuration.Constraints.Colocations[0].Sets[0].IDs(); len(got) != 2 {
		t.Fatalf("set refs = %v", got)
	}
}

func TestRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"wrongroot": `<pacemaker-result/>`,
		"truncated": `<cib epoch="1"><configuration><resources>`,
		"trailing":  `<cib/><cib/>`,
		"text":      "Connection to the CIB manager failed: Transport endpoint is not connected",
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, b := range files(f, "../testdata/*/cib.xml") {
		// Large seeds make the fuzzer spend its time minimizing.
		if len(b) <= 4<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(`<cib><configuration><resources><master id="m"/></resources></configuration></cib>`))
	f.Add([]byte(`<cib epoch="1" num_updates="2" admin_epoch="0"><configuration><crm_config><cluster_property_set id="o"><nvpair id="a" name="cluster-name" value="c"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"><instance_attributes id="i"><nvpair id="s" name="standby" value="on"/></instance_attributes></node></nodes>
<resources><group id="g"><primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="p"><nvpair id="q" name="ip" value="192.0.2.1"/></instance_attributes></primitive></group>
<clone id="c"><meta_attributes id="m"><nvpair id="pr" name="promotable" value="true"/></meta_attributes><primitive id="s" class="ocf" provider="pacemaker" type="Stateful"/></clone>
<bundle id="b"><podman image="x" replicas="2"/><network ip-range-start="192.0.2.10"/></bundle></resources>
<constraints><rsc_location id="l" rsc="g" node="n1" score="100"/><rsc_order id="o1" first="c" then="g" first-action="promote"/></constraints></configuration><status/></cib>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil && c == nil {
			t.Fatal("nil CIB without error")
		}
		if err == nil {
			_ = Values(c.Configuration.CrmConfig)
		}
	})
}
