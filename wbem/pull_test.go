package wbem

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/wbem/wbemtest"
)

var ctxRE = regexp.MustCompile(`<PARAMVALUE NAME="EnumerationContext" PARAMTYPE="string"><VALUE>([0-9a-f]*)</VALUE>`)

type pullResult struct {
	body  string
	count int
	eos   bool
	ctx   string
	code  string
}

func pullOp(t *testing.T, env *testEnv, method, params string, hdr ...string) pullResult {
	t.Helper()
	w := env.post(t, method, "root/cimv2", wbemtest.IMethodCall(method, "root/cimv2", params), hdr...)
	r := pullResult{body: w.Body.String(), code: cimError(t, w)}
	if r.code != "" {
		return r
	}
	wbemtest.CheckClientSafe(t, r.body)
	r.count = countReturned(t, r.body)
	r.eos = strings.Contains(r.body, `<PARAMVALUE NAME="EndOfSequence" PARAMTYPE="boolean"><VALUE>TRUE</VALUE>`)
	m := ctxRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no EnumerationContext in %s", r.body)
	}
	r.ctx = m[1]
	return r
}

// manyNodes adds n more nodes.
func manyNodes(t testing.TB, m *MemProvider, n int) {
	for i := range n {
		addInst(t, m, model, "PCMK_ClusterNode", str("CreationClassName", "PCMK_ClusterNode"), str("Name", fmt.Sprintf("n%05d", i)),
			vals("OperationalStatus", "2"), str("EnabledState", "2"), str("NodeID", fmt.Sprint(i+10)))
	}
}

// TestPullSequence: Open + Pull in slices until EndOfSequence, for each
// Open* flavour, with the right pull operation.
func TestPullSequence(t *testing.T) {
	env := newEnv(t, nil)
	manyNodes(t, env.mem, 23) // 25 nodes in all
	tests := []struct {
		name, open, params, pull string
		total                    int
	}{
		{"instances", "OpenEnumerateInstances", wbemtest.ClassNameParam("ClassName", "CIM_ComputerSystem"), "PullInstancesWithPath", 26},
		{"paths", "OpenEnumerateInstancePaths", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode"), "PullInstancePaths", 25},
		{"query", "OpenQueryInstances", wbemtest.ValueParam("FilterQueryLanguage", "DMTF:CQL") + wbemtest.ValueParam("FilterQuery", "SELECT Name FROM PCMK_ClusterNode WHERE NodeID >= 10"), "PullInstances", 23},
		// nodes, resource and (across namespaces) the registered profile
		{"associators", "OpenAssociatorInstances", wbemtest.Param("InstanceName", `<INSTANCENAME CLASSNAME="PCMK_Cluster"><KEYBINDING NAME="CreationClassName"><KEYVALUE>PCMK_Cluster</KEYVALUE></KEYBINDING><KEYBINDING NAME="Name"><KEYVALUE>mycluster</KEYVALUE></KEYBINDING></INSTANCENAME>`), "PullInstancesWithPath", 4},
		{"references", "OpenReferenceInstancePaths", wbemtest.Param("InstanceName", node1Name), "PullInstancePaths", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pullOp(t, env, tt.open, tt.params+wbemtest.ValueParam("MaxObjectCount", "4"))
			if r.code != "" {
				t.Fatalf("open: %s", r.body)
			}
			total := r.count
			for rounds := 0; !r.eos; rounds++ {
				if rounds > 20 || r.ctx == "" {
					t.Fatalf("no end after %d pulls: %s", rounds, r.body)
				}
				if r.count > 4 {
					t.Fatalf("%d objects, MaxObjectCount 4", r.count)
				}
				r = pullOp(t, env, tt.pull, wbemtest.ValueParam("EnumerationContext", r.ctx)+wbemtest.ValueParam("MaxObjectCount", "4"))
				if r.code != "" {
					t.Fatalf("pull: %s", r.body)
				}
				total += r.count
			}
			if r.ctx != "" {
				t.Errorf("context %q after the end", r.ctx)
			}
			if total != tt.total {
				t.Errorf("%d objects, want %d", total, tt.total)
			}
		})
	}
	if n := len(env.srv.pull.ctxs); n != 0 {
		t.Errorf("%d contexts left open", n)
	}
}

// TestPullContexts: ownership, wrong pull operation, close, expiry and the
// context limit.
func TestPullContexts(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	env := newEnv(t, func(c *Config) { c.Now = clock; c.MaxEnumerationContexts = 3 })
	manyNodes(t, env.mem, 10) // enough that no context below runs out
	open := func(timeout string) pullResult {
		p := wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ValueParam("MaxObjectCount", "1")
		if timeout != "" {
			p += wbemtest.ValueParam("OperationTimeout", timeout)
		}
		return pullOp(t, env, "OpenEnumerateInstances", p)
	}
	pull := func(ctx string) pullResult {
		return pullOp(t, env, "PullInstancesWithPath", wbemtest.ValueParam("EnumerationContext", ctx)+wbemtest.ValueParam("MaxObjectCount", "1"))
	}
	a := open("")
	if a.eos || a.count != 1 || a.ctx == "" {
		t.Fatalf("open: %+v", a)
	}
	// Wrong pull operation for the context.
	if r := pullOp(t, env, "PullInstancePaths", wbemtest.ValueParam("EnumerationContext", a.ctx)+wbemtest.ValueParam("MaxObjectCount", "1")); r.code != "21" {
		t.Errorf("wrong pull op: %q", r.code)
	}
	// MaxObjectCount is required on Pull.
	if r := pullOp(t, env, "PullInstancesWithPath", wbemtest.ValueParam("EnumerationContext", a.ctx)); r.code != "4" {
		t.Errorf("pull without MaxObjectCount: %q", r.code)
	}
	// Zero objects keeps the context alive.
	if r := pullOp(t, env, "PullInstancesWithPath", wbemtest.ValueParam("EnumerationContext", a.ctx)+wbemtest.ValueParam("MaxObjectCount", "0")); r.code != "" || r.count != 0 || r.eos {
		t.Errorf("pull 0: %+v", r)
	}
	// Another principal cannot use it.
	s2 := env.srv
	s2.cfg.Authenticate = func(r *http.Request) (Principal, error) { return Principal{Name: "mallory"}, nil }
	if r := pull(a.ctx); r.code != "21" {
		t.Errorf("foreign principal: %q", r.code)
	}
	s2.cfg.Authenticate = basicAuth
	// Close, then the context is gone.
	if w := env.post(t, "CloseEnumeration", "root/cimv2", wbemtest.IMethodCall("CloseEnumeration", "root/cimv2", wbemtest.ValueParam("EnumerationContext", a.ctx))); cimError(t, w) != "" {
		t.Errorf("close: %s", w.Body.String())
	}
	if r := pull(a.ctx); r.code != "21" {
		t.Errorf("pull after close: %q", r.code)
	}
	// Expiry after OperationTimeout of inactivity; each pull renews it.
	b := open("10")
	advance(9 * time.Second)
	if r := pull(b.ctx); r.code != "" {
		t.Fatalf("pull before expiry: %s", r.body)
	}
	advance(11 * time.Second)
	if r := pull(b.ctx); r.code != "21" {
		t.Errorf("pull after expiry: %q", r.code)
	}
	// At most MaxEnumerationContexts open.
	var ids []string
	for range 3 {
		r := open("")
		if r.code != "" {
			t.Fatalf("open: %s", r.body)
		}
		ids = append(ids, r.ctx)
	}
	// The pool is full: another caller is refused ...
	s2.cfg.Authenticate = func(r *http.Request) (Principal, error) { return Principal{Name: "mallory"}, nil }
	if r := open(""); r.code != "27" {
		t.Errorf("over the context limit: %q", r.code)
	}
	// ... until expired contexts free their slots.
	advance(2 * time.Minute)
	if r := open(""); r.code != "" {
		t.Errorf("after expiry: %q", r.code)
	}
	s2.cfg.Authenticate = basicAuth
	env.srv.Close()
	for _, id := range ids {
		if r := pull(id); r.code != "21" {
			t.Errorf("after Close: %q", r.code)
		}
	}
}

// countReturned counts the children of IRETURNVALUE.
func countReturned(t *testing.T, body string) int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	depth, in, n := 0, -1, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			if e.Name.Local == "IRETURNVALUE" {
				in = depth
			} else if in > 0 && depth == in+1 {
				n++
			}
		case xml.EndElement:
			if depth == in {
				in = -1
			}
			depth--
		}
	}
}

// TestPullLookAhead: a result that ends exactly at MaxObjectCount is
// reported ended in the same response, without an empty extra pull.
func TestPullLookAhead(t *testing.T) {
	env := newEnv(t, nil)
	r := pullOp(t, env, "OpenEnumerateInstancePaths", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode")+wbemtest.ValueParam("MaxObjectCount", "2"))
	if r.code != "" || r.count != 2 || !r.eos || r.ctx != "" {
		t.Errorf("exact fit: %+v", r)
	}
	r = pullOp(t, env, "OpenEnumerateInstancePaths", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode")+wbemtest.ValueParam("MaxObjectCount", "1"))
	if r.count != 1 || r.eos {
		t.Fatalf("first slice: %+v", r)
	}
	r = pullOp(t, env, "PullInstancePaths", wbemtest.ValueParam("EnumerationContext", r.ctx)+wbemtest.ValueParam("MaxObjectCount", "1"))
	if r.count != 1 || !r.eos || !strings.Contains(r.body, "node2") {
		t.Errorf("second slice: %+v", r)
	}
	// MaxObjectCount 0 on Open: nothing returned, the context stays open.
	r = pullOp(t, env, "OpenEnumerateInstancePaths", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode"))
	if r.count != 0 || r.eos || r.ctx == "" {
		t.Errorf("open with 0: %+v", r)
	}
}
