package wbem

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/wbem/wbemtest"
)

// anyUser authenticates every Basic user with the password "pass", each
// user a principal of its own.
func anyUser(r *http.Request) (Principal, error) {
	u, p, ok := r.BasicAuth()
	if !ok || p != testPass {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{ID: "user:" + u, Name: u}, nil
}

// TestSlowBodiesDoNotStarve: one caller sending request bodies slowly, on
// more connections than there are processing slots, does not stop another
// caller's operations: bodies are read, and callers authenticated, before
// a slot is taken.
func TestSlowBodiesDoNotStarve(t *testing.T) {
	s, err := NewServer(Config{Provider: fixture(t), MaxConcurrent: 2, Authenticate: anyUser})
	must(t, err)
	var arrived atomic.Int32 // requests whose headers were read
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	const slow = 6 // more than the slots
	var wg sync.WaitGroup
	var conns []net.Conn
	for range slow {
		c, err := net.Dial("tcp", ts.Listener.Addr().String())
		must(t, err)
		conns = append(conns, c)
		// The headers and half of the body, then nothing.
		half := ecnBody[:len(ecnBody)/2]
		fmt.Fprintf(c, "POST /cimom HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Type: application/xml\r\nCIMOperation: MethodCall\r\nCIMMethod: EnumerateClassNames\r\nCIMObject: root/cimv2\r\nContent-Length: %d\r\n\r\n%s",
			base64Basic("slow", testPass), len(ecnBody), half)
		wg.Go(func() {
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				resp.Body.Close()
			}
		})
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	})
	testutil.Eventually(t, 10*time.Second, func() bool { return arrived.Load() >= slow }, "the slow requests are in")
	for i := range 5 {
		req, err := http.NewRequest("POST", ts.URL+"/cimom", strings.NewReader(ecnBody))
		must(t, err)
		req.Header = wbemtest.NewRequest("EnumerateClassNames", "root/cimv2", ecnBody, "other", testPass).Header
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d of another caller while slow bodies arrive: %d", i, resp.StatusCode)
		}
	}
}

func base64Basic(u, p string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(u, p)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestPullPoolPerCaller: with the default limits, one caller opening more
// enumeration contexts than its share (and as many as the whole pool)
// loses its own oldest ones, not other callers' access: another caller
// can still open one.
func TestPullPoolPerCaller(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Authenticate = anyUser })
	manyNodes(t, env.mem, 3)
	open := func(user string) pullResult {
		t.Helper()
		p := wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ValueParam("MaxObjectCount", "1")
		w := httptest.NewRecorder()
		env.srv.ServeHTTP(w, wbemtest.NewRequest("OpenEnumerateInstances", "root/cimv2", wbemtest.IMethodCall("OpenEnumerateInstances", "root/cimv2", p), user, testPass))
		r := pullResult{body: w.Body.String(), code: cimError(t, w)}
		if m := ctxRE.FindStringSubmatch(r.body); m != nil {
			r.ctx = m[1]
		}
		return r
	}
	var first string
	for i := range 64 {
		r := open("greedy")
		if r.code != "" {
			t.Fatalf("open %d: %s", i, r.body)
		}
		if i == 0 {
			first = r.ctx
		}
	}
	if r := open("modest"); r.code != "" {
		t.Errorf("another caller after one opened 64 contexts: %s", r.body)
	}
	w := httptest.NewRecorder()
	env.srv.ServeHTTP(w, wbemtest.NewRequest("PullInstancesWithPath", "root/cimv2", wbemtest.IMethodCall("PullInstancesWithPath", "root/cimv2",
		wbemtest.ValueParam("EnumerationContext", first)+wbemtest.ValueParam("MaxObjectCount", "1")), "greedy", testPass))
	if got := cimError(t, w); got != "21" {
		t.Errorf("the greedy caller's oldest context: status %q", got)
	}
}

// TestSlowBodyCut: a body that does not arrive within BodyTimeout is
// answered 408.
func TestSlowBodyCut(t *testing.T) {
	s, err := NewServer(Config{Provider: fixture(t), Authenticate: anyUser, BodyTimeout: 50 * time.Millisecond})
	must(t, err)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	must(t, err)
	defer c.Close()
	fmt.Fprintf(c, "POST /cimom HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Type: application/xml\r\nCIMOperation: MethodCall\r\nCIMMethod: EnumerateClassNames\r\nCIMObject: root/cimv2\r\nContent-Length: %d\r\n\r\n%s",
		base64Basic("slow", testPass), len(ecnBody), ecnBody[:10])
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("slow body: %d", resp.StatusCode)
	}
}
