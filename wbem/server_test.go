package wbem

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/wbem/cimxml"

	"mgmtd/wbem/wbemtest"
)

func TestNewServerRequiresProviderAndAuth(t *testing.T) {
	if _, err := NewServer(Config{Authenticate: basicAuth}); err == nil {
		t.Error("no provider accepted")
	}
	if _, err := NewServer(Config{Provider: NewMemProvider()}); err == nil {
		t.Error("no authenticator accepted: there must be no default identity")
	}
}

const ecnBody = `<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="7" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="EnumerateClassNames"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>`

// TestProtocolErrors: header and body problems are answered at the HTTP
// level with the DSP0200 CIMError value, and the server keeps serving.
func TestProtocolErrors(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Limits = cimxml.Limits{MaxBytes: 4096, MaxElements: 100} })
	ok := ecnBody
	tests := []struct {
		name     string
		method   string // CIMMethod header
		object   string
		body     string
		hdr      []string
		status   int
		cimError string
	}{
		{"no auth", "EnumerateClassNames", "root/cimv2", ok, []string{"Authorization", ""}, 401, ""},
		{"wrong password", "EnumerateClassNames", "root/cimv2", ok, []string{"Authorization", "Basic dXNlcjp3cm9uZw=="}, 401, ""},
		{"no CIMOperation", "EnumerateClassNames", "root/cimv2", ok, []string{"CIMOperation", ""}, 400, "unsupported-operation"},
		{"CIMOperation response", "EnumerateClassNames", "root/cimv2", ok, []string{"CIMOperation", "MethodResponse"}, 400, "unsupported-operation"},
		{"export request", "EnumerateClassNames", "root/cimv2", ok, []string{"CIMExport", "MethodRequest"}, 400, "unsupported-operation"},
		{"protocol version 2", "EnumerateClassNames", "root/cimv2", ok, []string{"CIMProtocolVersion", "2.0"}, 501, "unsupported-protocol-version"},
		{"batch", "EnumerateClassNames", "root/cimv2", ok, []string{"CIMBatch", "CIMBatch"}, 501, "multiple-requests-unsupported"},
		{"content type", "EnumerateClassNames", "root/cimv2", ok, []string{"Content-Type", "text/plain"}, 400, "header-mismatch"},
		{"charset", "EnumerateClassNames", "root/cimv2", ok, []string{"Content-Type", "application/xml; charset=latin1"}, 400, "header-mismatch"},
		{"gzip body", "EnumerateClassNames", "root/cimv2", ok, []string{"Content-Encoding", "gzip"}, 415, ""},
		{"no CIMMethod", "", "root/cimv2", ok, nil, 400, "header-mismatch"},
		{"no CIMObject", "EnumerateClassNames", "", ok, nil, 400, "header-mismatch"},
		{"CIMMethod mismatch", "GetClass", "root/cimv2", ok, nil, 400, "header-mismatch"},
		{"CIMObject mismatch", "EnumerateClassNames", "interop", ok, nil, 400, "header-mismatch"},
		{"CIMObject bad escape", "EnumerateClassNames", "root%zz", ok, nil, 400, "header-mismatch"},
		{"not well-formed", "EnumerateClassNames", "root/cimv2", strings.Replace(ok, "</CIM>", "</CIMX>", 1), nil, 400, "request-not-well-formed"},
		{"unescaped key", "GetInstance", "root/cimv2", wbemtest.IMethodCall("GetInstance", "root/cimv2", `<IPARAMVALUE NAME="InstanceName"><INSTANCENAME CLASSNAME="X"><KEYBINDING NAME="k"><KEYVALUE>a&b<c</KEYVALUE></KEYBINDING></INSTANCENAME></IPARAMVALUE>`), nil, 400, "request-not-well-formed"},
		{"not valid", "EnumerateClassNames", "root/cimv2", strings.Replace(ok, "SIMPLEREQ", "SIMPLERSP", 2), nil, 400, "request-not-valid"},
		{"doctype", "EnumerateClassNames", "root/cimv2", `<!DOCTYPE CIM [<!ENTITY x "y">]>` + ok, nil, 400, "request-not-valid"},
		{"element limit", "EnumerateClassNames", "root/cimv2", wbemtest.IMethodCall("EnumerateClassNames", "root/cimv2", strings.Repeat(`<IPARAMVALUE NAME="x"/>`, 120)), nil, 400, "request-not-valid"},
		{"body too large", "EnumerateClassNames", "root/cimv2", ok + strings.Repeat(" ", 5000), nil, 413, "request-not-valid"},
		{"cim version 3", "EnumerateClassNames", "root/cimv2", strings.Replace(ok, `CIMVERSION="2.0"`, `CIMVERSION="3.0"`, 1), nil, 501, "unsupported-cim-version"},
		{"dtd version 3", "EnumerateClassNames", "root/cimv2", strings.Replace(ok, `DTDVERSION="2.0"`, `DTDVERSION="3.0"`, 1), nil, 501, "unsupported-dtd-version"},
		{"multireq", "EnumerateClassNames", "root/cimv2", strings.Replace(ok, "<SIMPLEREQ>", "<MULTIREQ><SIMPLEREQ>", 1), nil, 501, "multiple-requests-unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := env.post(t, tt.method, tt.object, tt.body, tt.hdr...)
			if w.Code != tt.status || w.Header().Get("CIMError") != tt.cimError {
				t.Errorf("got %d CIMError %q, want %d %q", w.Code, w.Header().Get("CIMError"), tt.status, tt.cimError)
			}
			if tt.status == 401 && w.Header().Get("WWW-Authenticate") != `Basic realm="mgmtd"` {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
			if w.Body.Len() != 0 {
				t.Errorf("body %q", w.Body.String())
			}
			// The server is unharmed: the next good request works.
			if w := env.post(t, "EnumerateClassNames", "root/cimv2", ok); w.Code != 200 || !strings.Contains(w.Body.String(), `<CLASSNAME NAME="CIM_ManagedElement"/>`) {
				t.Fatalf("server harmed: %d %s", w.Code, w.Body.String())
			}
		})
	}
}

// TestHeaderEncodings: CIMObject and CIMMethod raw or percent-encoded,
// any case, Content-Type variants real clients send.
func TestHeaderEncodings(t *testing.T) {
	env := newEnv(t, nil)
	for _, h := range [][]string{
		{"CIMObject", "root%2Fcimv2"},
		{"CIMObject", "ROOT/CIMV2"},
		{"CIMMethod", "enumerateclassnames"},
		{"CIMMethod", "%45numerateClassNames"},
		{"Content-Type", `application/xml; charset="utf-8"`},
		{"Content-Type", `text/xml; charset=UTF-8`},
		{"Content-Type", `application/xml`},
		{"CIMProtocolVersion", "1.4"},
	} {
		w := env.post(t, "EnumerateClassNames", "root/cimv2", ecnBody, h...)
		if w.Code != 200 {
			t.Errorf("%v: %d %s", h, w.Code, w.Header().Get("CIMError"))
		}
	}
	// Extrinsic: namespace and colon encoded, keys raw (wbemcli).
	body := strings.Replace(wbemtest.MethodCall("Noop", "root/cimv2", node1Name, ""), "", "", 1)
	w := env.post(t, "Noop", `root%2Fcimv2%3APCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1"`, body)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "<RETURNVALUE PARAMTYPE=\"uint32\"><VALUE>0</VALUE>") {
		t.Errorf("extrinsic: %d %s", w.Code, w.Body.String())
	}
	w = env.post(t, "Noop", `root/cimv2:PCMK_Cluster.Name="x"`, body)
	if w.Code != 400 || w.Header().Get("CIMError") != "header-mismatch" {
		t.Errorf("class mismatch: %d %q", w.Code, w.Header().Get("CIMError"))
	}
}

func TestHTTPMethodAndPath(t *testing.T) {
	env := newEnv(t, nil)
	for _, tc := range []struct {
		method, path string
		code         int
	}{{"GET", "/cimom", 405}, {"M-POST", "/cimom", 501}, {"POST", "/other", 404}} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(ecnBody))
		w := httptest.NewRecorder()
		env.srv.ServeHTTP(w, r)
		if w.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.code)
		}
	}
}

// TestSecurityHeaders: every answer, refusals included, says nosniff,
// and over TLS asks for HTTPS (as REST does).
func TestSecurityHeaders(t *testing.T) {
	env := newEnv(t, nil)
	for _, tc := range []struct {
		name string
		tls  bool
		req  *http.Request
	}{
		{"served", false, wbemtest.NewRequest("EnumerateClassNames", "root/cimv2", ecnBody, testUser, testPass)},
		{"served over TLS", true, wbemtest.NewRequest("EnumerateClassNames", "root/cimv2", ecnBody, testUser, testPass)},
		{"unauthenticated over TLS", true, wbemtest.NewRequest("EnumerateClassNames", "root/cimv2", ecnBody, "", "")},
		{"wrong method", false, httptest.NewRequest("GET", "/cimom", nil)},
	} {
		if tc.tls {
			tc.req.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		env.srv.ServeHTTP(w, tc.req)
		if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options %q", tc.name, w.Code, got)
		}
		if got := w.Header().Get("Strict-Transport-Security"); (got != "") != tc.tls {
			t.Errorf("%s (%d): Strict-Transport-Security %q", tc.name, w.Code, got)
		}
	}
}

// TestForbiddenCaller: a caller the Authenticate hook knows but refuses
// (ErrForbidden) gets 403 without a challenge (DSP0200 maps
// authorization failures to 403); bad credentials stay 401.
func TestForbiddenCaller(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.Authenticate = func(r *http.Request) (Principal, error) {
			if u, _, _ := r.BasicAuth(); u == "auditor" {
				return Principal{}, fmt.Errorf("%w: auditor may not read the cluster", ErrForbidden)
			}
			return basicAuth(r)
		}
	})
	w := httptest.NewRecorder()
	env.srv.ServeHTTP(w, wbemtest.NewRequest("EnumerateClassNames", "root/cimv2", ecnBody, "auditor", "pw"))
	if w.Code != http.StatusForbidden || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("refused caller: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	w = httptest.NewRecorder()
	env.srv.ServeHTTP(w, wbemtest.NewRequest("EnumerateClassNames", "root/cimv2", ecnBody, testUser, "wrong"))
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("bad password: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func cimError(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if w.Code != 200 {
		t.Fatalf("HTTP %d %s", w.Code, w.Header().Get("CIMError"))
	}
	b := w.Body.String()
	i := strings.Index(b, `<ERROR CODE="`)
	if i < 0 {
		return ""
	}
	b = b[i+len(`<ERROR CODE="`):]
	return b[:strings.IndexByte(b, '"')]
}

// TestStatusCodes: every error a client branches on carries its status.
func TestStatusCodes(t *testing.T) {
	env := newEnv(t, nil)
	node9 := strings.Replace(node1Name, "node1", "node9", 1)
	tests := []struct {
		name, method, ns, params string
		code                     string
	}{
		{"ok", "EnumerateInstanceNames", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode"), ""},
		{"unknown namespace", "EnumerateInstanceNames", "root/nothere", wbemtest.ClassNameParam("ClassName", "CIM_Namespace"), "3"},
		{"pywbem interop probe root/interop", "EnumerateInstanceNames", "root/interop", wbemtest.ClassNameParam("ClassName", "CIM_Namespace"), "3"},
		{"interop namespace", "EnumerateInstanceNames", "interop", wbemtest.ClassNameParam("ClassName", "CIM_Namespace"), ""},
		{"case-insensitive namespace", "EnumerateInstanceNames", "INTEROP", wbemtest.ClassNameParam("ClassName", "cim_namespace"), ""},
		{"unknown class", "EnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_Nothing"), "5"},
		{"unknown op", "SetQualifier", "root/cimv2", "", "7"},
		{"modify not supported", "ModifyInstance", "root/cimv2", "", "7"},
		{"enumeration count", "EnumerationCount", "root/cimv2", "", "7"},
		{"unknown parameter", "EnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ValueParam("Frobnicate", "1"), "4"},
		{"duplicate parameter", "EnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode"), "4"},
		{"bad boolean", "EnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ValueParam("DeepInheritance", "maybe"), "4"},
		{"missing class", "GetClass", "root/cimv2", "", "4"},
		// DSP0200 GetClass: CIM_ERR_NOT_FOUND when the class does not
		// exist (CIM_ERR_INVALID_CLASS is for operations on instances).
		{"GetClass of an unknown class", "GetClass", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_Nothing"), "6"},
		{"not found", "GetInstance", "root/cimv2", wbemtest.Param("InstanceName", node9), "6"},
		{"wrong keys", "GetInstance", "root/cimv2", wbemtest.Param("InstanceName", `<INSTANCENAME CLASSNAME="PCMK_ClusterNode"><KEYBINDING NAME="Name"><KEYVALUE>node1</KEYVALUE></KEYBINDING></INSTANCENAME>`), "6"},
		{"no such property", "GetProperty", "root/cimv2", wbemtest.Param("InstanceName", node1Name) + wbemtest.ValueParam("PropertyName", "Bogus"), "12"},
		{"class-level associators", "Associators", "root/cimv2", wbemtest.ClassNameParam("ObjectName", "PCMK_ClusterNode"), "7"},
		{"bad assoc class", "Associators", "root/cimv2", wbemtest.Param("ObjectName", node1Name) + wbemtest.ClassNameParam("AssocClass", "Nope"), "4"},
		{"query language", "ExecQuery", "root/cimv2", wbemtest.ValueParam("QueryLanguage", "SQL") + wbemtest.ValueParam("Query", "SELECT * FROM PCMK_ClusterNode"), "14"},
		{"bad query", "ExecQuery", "root/cimv2", wbemtest.ValueParam("QueryLanguage", "WQL") + wbemtest.ValueParam("Query", "SELECT FROM"), "15"},
		{"delete not allowed", "DeleteInstance", "root/cimv2", wbemtest.Param("InstanceName", node1Name), "7"},
		{"pull unknown context", "PullInstancesWithPath", "root/cimv2", wbemtest.ValueParam("EnumerationContext", "nope") + wbemtest.ValueParam("MaxObjectCount", "10"), "21"},
		{"close unknown context", "CloseEnumeration", "root/cimv2", wbemtest.ValueParam("EnumerationContext", "nope"), "21"},
		{"zero timeout", "OpenEnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ValueParam("OperationTimeout", "0"), "22"},
		{"huge timeout", "OpenEnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ValueParam("OperationTimeout", "100000"), "22"},
		{"continue on error", "OpenEnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ValueParam("ContinueOnError", "true"), "26"},
		{"filtered open", "OpenEnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode") + wbemtest.ValueParam("FilterQueryLanguage", "DMTF:FQL") + wbemtest.ValueParam("FilterQuery", "Name='x'"), "25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := env.post(t, tt.method, tt.ns, wbemtest.IMethodCall(tt.method, tt.ns, tt.params))
			if got := cimError(t, w); got != tt.code {
				t.Errorf("CIM status %q, want %q: %s", got, tt.code, w.Body.String())
			}
			wbemtest.CheckClientSafe(t, w.Body.String())
		})
	}
}

// TestInvokeMethodErrors covers extrinsic-call validation and auditing.
func TestInvokeMethodErrors(t *testing.T) {
	env := newEnv(t, nil)
	obj := `root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1"`
	pv := func(name, typ, v string) string {
		t := ""
		if typ != "" {
			t = ` PARAMTYPE="` + typ + `"`
		}
		return `<PARAMVALUE NAME="` + name + `"` + t + `><VALUE>` + v + `</VALUE></PARAMVALUE>`
	}
	tests := []struct {
		name, method, params, code, ret string
	}{
		{"untyped coerced", "RequestStateChange", pv("requestedstate", "", "2"), "", "0"},
		{"typed", "RequestStateChange", pv("RequestedState", "uint16", "6"), "", "0"},
		{"invalid transition", "RequestStateChange", pv("RequestedState", "", "9"), "", "4097"},
		{"datetime interval", "RequestStateChange", pv("RequestedState", "", "3") + pv("TimeoutPeriod", "datetime", "00000000000500.000000:000"), "", "0"},
		{"bad datetime", "RequestStateChange", pv("TimeoutPeriod", "", "tomorrow"), "4", ""},
		{"out of range", "RequestStateChange", pv("RequestedState", "", "70000"), "4", ""},
		{"type mismatch", "RequestStateChange", pv("RequestedState", "string", "2"), "4", ""},
		{"unknown parameter", "RequestStateChange", pv("Force", "", "true"), "4", ""},
		{"unknown method", "Explode", "", "17", ""},
		{"not implemented", "RequestStateChange", "", "", "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := env.post(t, tt.method, obj, wbemtest.MethodCall(tt.method, "root/cimv2", node1Name, tt.params))
			if got := cimError(t, w); got != tt.code {
				t.Fatalf("CIM status %q, want %q: %s", got, tt.code, w.Body.String())
			}
			if tt.ret != "" && !strings.Contains(w.Body.String(), `<RETURNVALUE PARAMTYPE="uint32"><VALUE>`+tt.ret+`</VALUE>`) {
				t.Errorf("want return %s: %s", tt.ret, w.Body.String())
			}
		})
	}
	// Only the calls that reached the provider were audited, each with
	// the outcome its return value says: 0 and 4096 succeed, anything
	// else (4097, 5) failed.
	if n := len(env.audit.list()); n != 5 {
		t.Errorf("%d audit records, want 5: %v", n, env.audit.list())
	}
	var outcomes []string
	for _, err := range env.audit.outcome {
		o := "ok"
		if err != nil {
			o = err.Error()
		}
		outcomes = append(outcomes, o)
	}
	if got := strings.Join(outcomes, "; "); got != "ok; ok; RequestStateChange returned 4097; ok; RequestStateChange returned 5" {
		t.Errorf("audited outcomes: %s", got)
	}
	// A failing audit log refuses the operation; nothing changes.
	// (The state is 3, from the "datetime interval" case.)
	env.audit.fail = true
	w := env.post(t, "RequestStateChange", obj, wbemtest.MethodCall("RequestStateChange", "root/cimv2", node1Name, pv("RequestedState", "", "2")))
	if got := cimError(t, w); got != "1" || !strings.Contains(w.Body.String(), "audit log unavailable") {
		t.Errorf("audit failure: %s", w.Body.String())
	}
	env.audit.fail = false
	w = env.post(t, "GetProperty", "root/cimv2", wbemtest.IMethodCall("GetProperty", "root/cimv2", wbemtest.Param("InstanceName", node1Name)+wbemtest.ValueParam("PropertyName", "EnabledState")))
	if !strings.Contains(w.Body.String(), "<IRETURNVALUE><VALUE>3</VALUE></IRETURNVALUE>") {
		t.Errorf("state changed although the audit failed: %s", w.Body.String())
	}
	// No auditor configured: state-changing operations are refused.
	env2 := newEnv(t, func(c *Config) { c.Audit = nil })
	w = env2.post(t, "Noop", obj, wbemtest.MethodCall("Noop", "root/cimv2", node1Name, ""))
	if got := cimError(t, w); got != "1" {
		t.Errorf("no auditor: status %q", got)
	}
}

// TestCreateDeleteInstance: the subscription path (writable classes in
// interop), audited.
func TestCreateDeleteInstance(t *testing.T) {
	env := newEnv(t, nil)
	filter := `<INSTANCE CLASSNAME="CIM_IndicationFilter"><PROPERTY NAME="SystemCreationClassName" TYPE="string"><VALUE>CIM_ComputerSystem</VALUE></PROPERTY><PROPERTY NAME="SystemName" TYPE="string"><VALUE>localhost</VALUE></PROPERTY><PROPERTY NAME="CreationClassName" TYPE="string"><VALUE>CIM_IndicationFilter</VALUE></PROPERTY><PROPERTY NAME="Name" TYPE="string"><VALUE>f1</VALUE></PROPERTY><PROPERTY NAME="Query" TYPE="string"><VALUE>SELECT * FROM CIM_InstModification</VALUE></PROPERTY></INSTANCE>`
	w := env.post(t, "CreateInstance", "interop", wbemtest.IMethodCall("CreateInstance", "interop", `<IPARAMVALUE NAME="NewInstance">`+filter+`</IPARAMVALUE>`))
	if cimError(t, w) != "" || !strings.Contains(w.Body.String(), `<KEYVALUE VALUETYPE="string" TYPE="string">f1</KEYVALUE>`) {
		t.Fatalf("create: %s", w.Body.String())
	}
	w = env.post(t, "CreateInstance", "interop", wbemtest.IMethodCall("CreateInstance", "interop", `<IPARAMVALUE NAME="NewInstance">`+filter+`</IPARAMVALUE>`))
	if got := cimError(t, w); got != "11" {
		t.Errorf("duplicate create: %q", got)
	}
	name := `<INSTANCENAME CLASSNAME="CIM_IndicationFilter"><KEYBINDING NAME="name"><KEYVALUE>f1</KEYVALUE></KEYBINDING><KEYBINDING NAME="CreationClassName"><KEYVALUE>CIM_IndicationFilter</KEYVALUE></KEYBINDING><KEYBINDING NAME="SystemName"><KEYVALUE>localhost</KEYVALUE></KEYBINDING><KEYBINDING NAME="SystemCreationClassName"><KEYVALUE>CIM_ComputerSystem</KEYVALUE></KEYBINDING></INSTANCENAME>`
	w = env.post(t, "DeleteInstance", "interop", wbemtest.IMethodCall("DeleteInstance", "interop", wbemtest.Param("InstanceName", name)))
	if got := cimError(t, w); got != "" {
		t.Fatalf("delete: %s", w.Body.String())
	}
	w = env.post(t, "DeleteInstance", "interop", wbemtest.IMethodCall("DeleteInstance", "interop", wbemtest.Param("InstanceName", name)))
	if got := cimError(t, w); got != "6" {
		t.Errorf("second delete: %q", got)
	}
	want := "user DeleteInstance interop:CIM_IndicationFilter.SystemCreationClassName=\"CIM_ComputerSystem\",SystemName=\"localhost\",CreationClassName=\"CIM_IndicationFilter\",Name=\"f1\""
	if got := env.audit.list(); len(got) != 4 || got[0] != "user CreateInstance interop:CIM_IndicationFilter" || got[2] != want {
		t.Errorf("audit: %q", got)
	}
}

// blockingProvider holds GetInstance until released, to fill the server.
type blockingProvider struct {
	*MemProvider
	entered chan struct{}
	release chan struct{}
}

func (b *blockingProvider) GetInstance(ctx context.Context, p *InstancePath) (*Instance, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.MemProvider.GetInstance(ctx, p)
}

// TestConcurrencyLimit: a caller holds at most MaxConcurrentPerCaller
// slots (others are still served); requests beyond the free slots wait in
// a queue of MaxQueued, and beyond that get 503 at once; a queued request
// runs when a slot frees up.
func TestConcurrencyLimit(t *testing.T) {
	bp := &blockingProvider{MemProvider: fixture(t), entered: make(chan struct{}), release: make(chan struct{})}
	s, err := NewServer(Config{Provider: bp, Authenticate: anyUser, MaxConcurrent: 3, MaxConcurrentPerCaller: 2, MaxQueued: 1})
	must(t, err)
	post := func(user, method, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, wbemtest.NewRequest(method, "root/cimv2", body, user, testPass))
		return w
	}
	gi := wbemtest.IMethodCall("GetInstance", "root/cimv2", wbemtest.Param("InstanceName", node1Name))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if w := post("a", "GetInstance", gi); w.Code != 200 {
				t.Errorf("held request: %d", w.Code)
			}
		})
	}
	<-bp.entered
	<-bp.entered
	// a holds its two slots; b is served in the third.
	if w := post("b", "EnumerateClassNames", ecnBody); w.Code != 200 {
		t.Errorf("another caller: %d", w.Code)
	}
	// a's third request waits in the queue; the queue is then full.
	wg.Go(func() {
		if w := post("a", "EnumerateClassNames", ecnBody); w.Code != 200 {
			t.Errorf("queued request: %d", w.Code)
		}
	})
	testutil.Eventually(t, 10*time.Second, func() bool { return s.slot.waiting() == 1 }, "a request is queued")
	w := post("a", "EnumerateClassNames", ecnBody)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("over the limit: %d", w.Code)
	}
	close(bp.release)
	wg.Wait()
	if w := post("a", "EnumerateClassNames", ecnBody); w.Code != 200 {
		t.Errorf("after release: %d", w.Code)
	}
}

// failingProvider fails an enumeration midway.
type failingProvider struct {
	*MemProvider
	after int
}

func (f *failingProvider) Instances(ctx context.Context, ns, class string) iter.Seq2[*Instance, error] {
	return func(yield func(*Instance, error) bool) {
		n := 0
		for in, err := range f.MemProvider.Instances(ctx, ns, class) {
			if n == f.after {
				yield(nil, errors.New("backend exploded"))
				return
			}
			n++
			if !yield(in, err) {
				return
			}
		}
	}
}

// TestProviderErrorMidStream: an error after the response started cuts
// the connection rather than sending a silently short result; an error
// before it is a CIM_ERR_FAILED without internal detail.
func TestProviderErrorMidStream(t *testing.T) {
	for _, after := range []int{0, 1} {
		fp := &failingProvider{MemProvider: fixture(t), after: after}
		s, err := NewServer(Config{Provider: fp, Authenticate: basicAuth})
		must(t, err)
		ts := httptest.NewServer(s)
		req, _ := http.NewRequest("POST", ts.URL+"/cimom", strings.NewReader(wbemtest.IMethodCall("OpenEnumerateInstances", "root/cimv2", wbemtest.ClassNameParam("ClassName", "PCMK_ClusterNode")+wbemtest.ValueParam("MaxObjectCount", "10"))))
		req.SetBasicAuth(testUser, testPass)
		req.Header.Set("CIMOperation", "MethodCall")
		req.Header.Set("CIMMethod", "OpenEnumerateInstances")
		req.Header.Set("CIMObject", "root/cimv2")
		resp, err := http.DefaultClient.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		switch after {
		case 0:
			if err != nil || !strings.Contains(string(body), `<ERROR CODE="1" DESCRIPTION="CIM_ERR_FAILED: internal error"/>`) {
				t.Errorf("error before output: %v %s", err, body)
			}
		default:
			if err == nil && strings.Contains(string(body), "</CIM>") {
				t.Errorf("truncated result delivered as complete: %s", body)
			}
		}
		ts.Close()
		s.Close()
	}
}

// TestHTTPServerLimits runs the handler in the http.Server HTTPServer
// configures, on loopback: oversized headers are refused by the transport
// and a normal request is served.
func TestHTTPServerLimits(t *testing.T) {
	env := newEnv(t, nil)
	hs := env.srv.HTTPServer("127.0.0.1:0")
	if hs.ReadHeaderTimeout == 0 || hs.MaxHeaderBytes == 0 || hs.ReadTimeout == 0 {
		t.Fatalf("transport limits not set: %+v", hs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	url := "http://" + ln.Addr().String() + "/cimom"
	do := func(extra string) int {
		req, err := http.NewRequest("POST", url, strings.NewReader(ecnBody))
		must(t, err)
		req.SetBasicAuth(testUser, testPass)
		req.Header.Set("CIMOperation", "MethodCall")
		req.Header.Set("CIMMethod", "EnumerateClassNames")
		req.Header.Set("CIMObject", "root/cimv2")
		if extra != "" {
			req.Header.Set("X-Padding", extra)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := do(""); c != 200 {
		t.Errorf("normal request: %d", c)
	}
	if c := do(strings.Repeat("x", 64<<10)); c != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header: %d", c)
	}
	if c := do(""); c != 200 {
		t.Errorf("after the oversized header: %d", c)
	}
}

// TestCreateInstanceDuplicateProperty: an instance naming a property
// twice (in any case) is refused with CIM_ERR_INVALID_PARAMETER, the
// code DSP0200 gives CreateInstance for an incorrect parameter, and
// nothing is stored.
func TestCreateInstanceDuplicateProperty(t *testing.T) {
	env := newEnv(t, nil)
	q := func(name, v string) string {
		return `<PROPERTY NAME="` + name + `" TYPE="string"><VALUE>` + v + `</VALUE></PROPERTY>`
	}
	keys := q("SystemCreationClassName", "CIM_ComputerSystem") + q("SystemName", "localhost") + q("CreationClassName", "CIM_IndicationFilter") + q("Name", "f1")
	for _, dup := range []string{q("Query", "SELECT * FROM CIM_InstModification"), q("QUERY", "SELECT * FROM CIM_Indication")} {
		filter := `<INSTANCE CLASSNAME="CIM_IndicationFilter">` + keys + q("Query", "SELECT * FROM CIM_InstModification") + dup + `</INSTANCE>`
		w := env.post(t, "CreateInstance", "interop", wbemtest.IMethodCall("CreateInstance", "interop", `<IPARAMVALUE NAME="NewInstance">`+filter+`</IPARAMVALUE>`))
		if got := cimError(t, w); got != "4" {
			t.Errorf("duplicate property: status %q: %s", got, w.Body.String())
		}
	}
	filter := `<INSTANCE CLASSNAME="CIM_IndicationFilter">` + keys + q("Query", "SELECT * FROM CIM_InstModification") + `</INSTANCE>`
	w := env.post(t, "CreateInstance", "interop", wbemtest.IMethodCall("CreateInstance", "interop", `<IPARAMVALUE NAME="NewInstance">`+filter+`</IPARAMVALUE>`))
	if got := cimError(t, w); got != "" {
		t.Errorf("the same filter without the duplicate: status %q", got)
	}
	if _, err := env.mem.Add("interop", &Instance{ClassName: "CIM_IndicationFilter", Properties: []Property{str("SystemCreationClassName", "CIM_ComputerSystem"), str("SystemName", "localhost"),
		str("CreationClassName", "CIM_IndicationFilter"), str("Name", "f2"), str("name", "f3")}}); statusOf(err).Status != StatusInvalidParameter {
		t.Errorf("MemProvider.Add with a duplicate: %v", err)
	}
}
