package cimxml

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readCapture parses a captured raw HTTP request.
func readCapture(t testing.TB, path string) (*http.Request, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return req, body
}

func captureFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/captures/*/*/*.http")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("found only %d captured requests", len(files))
	}
	return files
}

// TestDecodeCaptures decodes every request real clients sent: each must
// decode, agree with its CIMMethod/CIMObject headers, except the one
// wbemcli sent with unescaped key values, which is not well-formed.
func TestDecodeCaptures(t *testing.T) {
	for _, f := range captureFiles(t) {
		t.Run(strings.TrimPrefix(f, "testdata/captures/"), func(t *testing.T) {
			hr, body := readCapture(t, f)
			req, err := DecodeRequest(bytes.NewReader(body), Limits{})
			if strings.Contains(f, "unescaped") {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Kind != NotWellFormed || se.Line != 7 {
					t.Fatalf("got %v, want a not-well-formed error on line 7", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(req.Method, hr.Header.Get("CIMMethod")) {
				t.Errorf("method %q, header %q", req.Method, hr.Header.Get("CIMMethod"))
			}
			obj, err := url.PathUnescape(hr.Header.Get("CIMObject"))
			if err != nil {
				t.Fatal(err)
			}
			ns, _, _ := strings.Cut(obj, ":")
			if ns != req.Namespace {
				t.Errorf("namespace %q, CIMObject %q", req.Namespace, obj)
			}
			if req.MessageID == "" || req.ProtocolVersion != "1.0" {
				t.Errorf("message id %q protocol %q", req.MessageID, req.ProtocolVersion)
			}
		})
	}
}

func decodeFile(t *testing.T, path string) *Request {
	t.Helper()
	_, body := readCapture(t, filepath.Join("testdata/captures", path))
	req, err := DecodeRequest(bytes.NewReader(body), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestDecodeCaptureDetails checks what the decoder extracted from
// representative captures: every value form clients used.
func TestDecodeCaptureDetails(t *testing.T) {
	node1 := func(typed bool) *InstancePath {
		tp := ""
		if typed {
			tp = "string"
		}
		return &InstancePath{ClassName: "PCMK_ClusterNode", Keys: []KeyBinding{
			{Name: "CreationClassName", ValueType: "string", Type: tp, Value: "PCMK_ClusterNode"},
			{Name: "Name", ValueType: "string", Type: tp, Value: "node1"}}}
	}
	withNS := func(p *InstancePath, ns string) *InstancePath { p.Namespace = ns; return p }
	tests := []struct {
		file string
		want *Request
	}{
		{"wbemcli/01-ei/01-ok-EnumerateInstances.http", &Request{
			CIMVersion: "2.0", DTDVersion: "2.0", MessageID: "4711", ProtocolVersion: "1.0",
			Intrinsic: true, Method: "EnumerateInstances", Namespace: "root/cimv2",
			Params: []Param{
				{Name: "ClassName", Value: Value{Kind: KindClassName, ClassName: "PCMK_ClusterNode"}},
				{Name: "DeepInheritance", Value: Value{Kind: KindValue, Text: "TRUE"}},
				{Name: "LocalOnly", Value: Value{Kind: KindValue, Text: "FALSE"}},
				{Name: "IncludeQualifiers", Value: Value{Kind: KindValue, Text: "FALSE"}},
				{Name: "IncludeClassOrigin", Value: Value{Kind: KindValue, Text: "TRUE"}},
			}}},
		{"wbemcli/07-gi-proplist/01-ok-GetInstance.http", &Request{
			CIMVersion: "2.0", DTDVersion: "2.0", MessageID: "4711", ProtocolVersion: "1.0",
			Intrinsic: true, Method: "GetInstance", Namespace: "root/cimv2",
			Params: []Param{
				{Name: "LocalOnly", Value: Value{Kind: KindValue, Text: "FALSE"}},
				{Name: "IncludeQualifiers", Value: Value{Kind: KindValue, Text: "FALSE"}},
				{Name: "IncludeClassOrigin", Value: Value{Kind: KindValue, Text: "TRUE"}},
				{Name: "PropertyList", Value: Value{Kind: KindArray, Items: []string{"Name", "EnabledState"}}},
				{Name: "InstanceName", Value: Value{Kind: KindInstanceName, Path: node1(false)}},
			}}},
		{"wbemcli/10-gi-reference-keys/01-err-GetInstance.http", &Request{
			CIMVersion: "2.0", DTDVersion: "2.0", MessageID: "4711", ProtocolVersion: "1.0",
			Intrinsic: true, Method: "GetInstance", Namespace: "root/cimv2",
			Params: []Param{
				{Name: "LocalOnly", Value: Value{Kind: KindValue, Text: "FALSE"}},
				{Name: "IncludeQualifiers", Value: Value{Kind: KindValue, Text: "FALSE"}},
				{Name: "IncludeClassOrigin", Value: Value{Kind: KindValue, Text: "TRUE"}},
				{Name: "InstanceName", Value: Value{Kind: KindInstanceName, Path: &InstancePath{
					ClassName: "PCMK_ParticipatingCS", Keys: []KeyBinding{
						{Name: "Antecedent", Type: "reference", Ref: &InstancePath{Host: "127.0.0.1", Namespace: "root/cimv2",
							ClassName: "PCMK_ClusterNode", Keys: []KeyBinding{{Name: "Name", ValueType: "string", Value: "node1"}}}},
						{Name: "Dependent", Type: "reference", Ref: &InstancePath{Host: "127.0.0.1", Namespace: "root/cimv2",
							ClassName: "PCMK_Cluster", Keys: []KeyBinding{{Name: "Name", ValueType: "string", Value: "c1"}}}},
					}}}},
			}}},
		{"wbemcli/16-cm/02-ok-RequestStateChange.http", &Request{
			CIMVersion: "2.0", DTDVersion: "2.0", MessageID: "4711", ProtocolVersion: "1.0",
			Method: "RequestStateChange", Namespace: "root/cimv2", Instance: withNS(node1(false), "root/cimv2"),
			Params: []Param{{Name: "RequestedState", Value: Value{Kind: KindValue, Text: "3"}}}}},
		{"pywbem/use_pull_None-server_supports_pull/09-ok-RequestStateChange.http", &Request{
			CIMVersion: "2.0", DTDVersion: "2.0", MessageID: "1001", ProtocolVersion: "1.0",
			Method: "RequestStateChange", Namespace: "root/cimv2", Instance: withNS(node1(true), "root/cimv2"),
			Params: []Param{
				{Name: "RequestedState", ParamType: "uint16", Value: Value{Kind: KindValue, Text: "3"}},
				{Name: "TimeoutPeriod", ParamType: "datetime", Value: Value{Kind: KindValue, Text: "00000000000500.000000:000"}},
			}}},
		{"pywbem/use_pull_None-server_supports_pull/10-ok-MigrateVirtualSystemToHost.http", &Request{
			CIMVersion: "2.0", DTDVersion: "2.0", MessageID: "1001", ProtocolVersion: "1.0",
			Method: "MigrateVirtualSystemToHost", Namespace: "root/cimv2", ClassName: "PCMK_VirtualSystemMigrationService",
			Params: []Param{{Name: "DestinationHost", ParamType: "string", Value: Value{Kind: KindValue, Text: "node2"}}}}},
		{"pywbem/use_pull_None-server_supports_pull/11-ok-ExecQuery.http", &Request{
			CIMVersion: "2.0", DTDVersion: "2.0", MessageID: "1001", ProtocolVersion: "1.0",
			Intrinsic: true, Method: "ExecQuery", Namespace: "root/cimv2",
			Params: []Param{
				{Name: "QueryLanguage", Value: Value{Kind: KindValue, Text: "WQL"}},
				{Name: "Query", Value: Value{Kind: KindValue, Text: "SELECT * FROM PCMK_ClusterNode WHERE Name = 'node1'"}},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := decodeFile(t, tt.file)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("decoded request (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeModifyInstance(t *testing.T) {
	req := decodeFile(t, "wbemcli/25-mi/02-ok-ModifyInstance.http")
	p := req.Param("ModifiedInstance")
	if p == nil || p.Value.Kind != KindNamedInstance || p.Value.Path == nil || p.Value.Instance == nil {
		t.Fatalf("ModifiedInstance = %+v", p)
	}
	if pr := p.Value.Instance.Property("enabledstate"); pr == nil || pr.Value != "3" || pr.Type != "uint16" {
		t.Errorf("EnabledState = %+v", pr)
	}
}

const envelope = `<?xml version="1.0" encoding="utf-8" ?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ>%s</SIMPLEREQ></MESSAGE></CIM>`

func wrap(inner string) string { return strings.Replace(envelope, "%s", inner, 1) }

const ns = `<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH>`

// TestDecodeValueForms covers the forms no captured client used.
func TestDecodeValueForms(t *testing.T) {
	body := wrap(`<METHODCALL NAME="M"><LOCALCLASSPATH>` + ns + `<CLASSNAME NAME="C"/></LOCALCLASSPATH>
	<PARAMVALUE NAME="Arr" PARAMTYPE="uint16"><VALUE.ARRAY><VALUE>1</VALUE><VALUE.NULL/><VALUE>3</VALUE></VALUE.ARRAY></PARAMVALUE>
	<PARAMVALUE NAME="Refs"><VALUE.REFARRAY><VALUE.REFERENCE><INSTANCENAME CLASSNAME="X"><KEYVALUE VALUETYPE="numeric">7</KEYVALUE></INSTANCENAME></VALUE.REFERENCE><VALUE.NULL/></VALUE.REFARRAY></PARAMVALUE>
	<PARAMVALUE NAME="Loc"><VALUE.REFERENCE><LOCALINSTANCEPATH>` + ns + `<INSTANCENAME CLASSNAME="Y"><KEYBINDING NAME="k"><KEYVALUE TYPE="uint8" VALUETYPE="numeric">1</KEYVALUE></KEYBINDING></INSTANCENAME></LOCALINSTANCEPATH></VALUE.REFERENCE></PARAMVALUE>
	<PARAMVALUE NAME="Null"></PARAMVALUE>
	<PARAMVALUE NAME="Inst" EmbeddedObject="instance"><INSTANCE CLASSNAME="Z"><QUALIFIER NAME="q" TYPE="boolean" TOSUBCLASS="false"><VALUE>true</VALUE></QUALIFIER><PROPERTY NAME="s" TYPE="string"><VALUE>a &amp; b &#x263A;</VALUE></PROPERTY><PROPERTY.ARRAY NAME="a" TYPE="sint8" ARRAYSIZE="2"><VALUE.ARRAY><VALUE>-1</VALUE></VALUE.ARRAY></PROPERTY.ARRAY><PROPERTY.REFERENCE NAME="r" REFERENCECLASS="X"><VALUE.REFERENCE><CLASSNAME NAME="X"/></VALUE.REFERENCE></PROPERTY.REFERENCE></INSTANCE></PARAMVALUE>
	</METHODCALL>`)
	_, err := DecodeRequest(strings.NewReader(body), Limits{})
	var se *SyntaxError
	if !errors.As(err, &se) || se.Kind != NotValid || !strings.Contains(se.Msg, "class reference") {
		t.Fatalf("class reference as property value: got %v", err)
	}
	body = strings.Replace(body, `<CLASSNAME NAME="X"/>`, `<INSTANCENAME CLASSNAME="X"/>`, 1)
	req, err := DecodeRequest(strings.NewReader(body), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{
		{Name: "Arr", ParamType: "uint16", Value: Value{Kind: KindArray, Items: []string{"1", "", "3"}, Nulls: []bool{false, true, false}}},
		{Name: "Refs", Value: Value{Kind: KindRefArray, Refs: []*InstancePath{{ClassName: "X", Keys: []KeyBinding{{ValueType: "numeric", Value: "7"}}}, nil}}},
		{Name: "Loc", Value: Value{Kind: KindReference, Path: &InstancePath{Namespace: "root/cimv2", ClassName: "Y", Keys: []KeyBinding{{Name: "k", ValueType: "numeric", Type: "uint8", Value: "1"}}}}},
		{Name: "Null"},
		{Name: "Inst", EmbeddedObject: "instance", Value: Value{Kind: KindInstance, Instance: &Instance{ClassName: "Z",
			Qualifiers: []Qualifier{{Name: "q", Type: "boolean", Value: "true", ToSubclass: new(bool)}},
			Properties: []Property{
				{Name: "s", Type: "string", Value: "a & b ☺"},
				{Name: "a", Type: "sint8", Array: true, ArraySize: 2, Values: []string{"-1"}},
				{Name: "r", Type: "reference", RefClass: "X", Ref: &InstancePath{ClassName: "X"}},
			}}}},
	}
	if d := cmp.Diff(want, req.Params); d != "" {
		t.Errorf("params (-want +got):\n%s", d)
	}
	if req.ClassName != "C" || req.Instance != nil || req.Intrinsic {
		t.Errorf("target: class %q instance %v intrinsic %v", req.ClassName, req.Instance, req.Intrinsic)
	}
}

// TestDecodeErrors: malformed, invalid and hostile documents give the
// right kind of error, with a position.
func TestDecodeErrors(t *testing.T) {
	call := func(inner string) string {
		return wrap(`<IMETHODCALL NAME="GetClass">` + ns + inner + `</IMETHODCALL>`)
	}
	deep := strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40)
	tests := []struct {
		name string
		body string
		lim  Limits
		kind Kind
		msg  string
	}{
		{"empty", "", Limits{}, NotWellFormed, "unexpected EOF"},
		{"not xml", "hello", Limits{}, NotValid, "unexpected text"},
		{"truncated", call("")[:120], Limits{}, NotWellFormed, ""},
		{"unescaped ampersand", call(`<IPARAMVALUE NAME="x"><VALUE>a&b</VALUE></IPARAMVALUE>`), Limits{}, NotWellFormed, ""},
		{"undeclared entity", call(`<IPARAMVALUE NAME="x"><VALUE>&lol;</VALUE></IPARAMVALUE>`), Limits{}, NotWellFormed, "entity"},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY lol "lol">]>` + call(""), Limits{}, NotValid, "DOCTYPE"},
		{"external entity", `<!DOCTYPE CIM SYSTEM "file:///etc/passwd">` + call(""), Limits{}, NotValid, "DOCTYPE"},
		{"processing instruction", `<?php x?>` + call(""), Limits{}, NotValid, "processing instruction"},
		{"other charset", `<?xml version="1.0" encoding="ISO-8859-1"?>` + call(""), Limits{}, NotWellFormed, "charset"},
		{"wrong root", `<CIMX/>`, Limits{}, NotValid, "want CIM"},
		{"no cimversion", `<CIM DTDVERSION="2.0"/>`, Limits{}, NotValid, "CIMVERSION"},
		{"cim version 3", `<CIM CIMVERSION="3.0" DTDVERSION="2.0"/>`, Limits{}, UnsupportedCIMVersion, ""},
		{"dtd version 1", `<CIM CIMVERSION="2.0" DTDVERSION="1.1"/>`, Limits{}, UnsupportedDTDVersion, ""},
		{"protocol 2", `<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="2.0"/></CIM>`, Limits{}, UnsupportedProtocolVersion, ""},
		{"multireq", `<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><MULTIREQ/></MESSAGE></CIM>`, Limits{}, MultipleRequests, ""},
		{"simplersp", `<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLERSP/></MESSAGE></CIM>`, Limits{}, NotValid, "SIMPLEREQ"},
		{"no namespace", wrap(`<IMETHODCALL NAME="X"><LOCALNAMESPACEPATH/></IMETHODCALL>`), Limits{}, NotValid, "without NAMESPACE"},
		{"bad keyvalue type", call(`<IPARAMVALUE NAME="I"><INSTANCENAME CLASSNAME="C"><KEYBINDING NAME="k"><KEYVALUE VALUETYPE="blob">1</KEYVALUE></KEYBINDING></INSTANCENAME></IPARAMVALUE>`), Limits{}, NotValid, "VALUETYPE"},
		{"two values", call(`<IPARAMVALUE NAME="x"><VALUE>1</VALUE><VALUE>2</VALUE></IPARAMVALUE>`), Limits{}, NotValid, "unexpected element VALUE"},
		{"element in value", call(`<IPARAMVALUE NAME="x"><VALUE><b/></VALUE></IPARAMVALUE>`), Limits{}, NotValid, "unexpected element b"},
		{"second call", wrap(`<IMETHODCALL NAME="A">` + ns + `</IMETHODCALL><IMETHODCALL NAME="B">` + ns + `</IMETHODCALL>`), Limits{}, NotValid, "after the method call"},
		{"trailing element", call("") + "<x/>", Limits{}, NotValid, "after the document element"},
		{"depth", wrap(`<CORRELATOR>` + deep + `</CORRELATOR><IMETHODCALL NAME="X">` + ns + `</IMETHODCALL>`), Limits{}, LimitExceeded, "depth exceeds 32"},
		{"elements", call(strings.Repeat(`<IPARAMVALUE NAME="x"/>`, 100)), Limits{MaxElements: 50}, LimitExceeded, "more than 50 elements"},
		{"attributes", call(`<IPARAMVALUE NAME="x" a="1" b="2" c="3"/>`), Limits{MaxAttrs: 3}, LimitExceeded, "more than 3 attributes"},
		{"attribute length", call(`<IPARAMVALUE NAME="` + strings.Repeat("x", 200) + `"/>`), Limits{MaxStringLen: 100}, LimitExceeded, "longer than 100"},
		{"text length", call(`<IPARAMVALUE NAME="x"><VALUE>` + strings.Repeat("x", 300) + `</VALUE></IPARAMVALUE>`), Limits{MaxStringLen: 100}, LimitExceeded, "longer than 100"},
		{"body size", call(`<IPARAMVALUE NAME="x"><VALUE>` + strings.Repeat("x", 5000) + `</VALUE></IPARAMVALUE>`), Limits{MaxBytes: 1000}, TooLarge, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest(strings.NewReader(tt.body), tt.lim)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if se.Kind != tt.kind || !strings.Contains(se.Error(), tt.msg) {
				t.Errorf("got %v (kind %v), want kind %v with %q", se, se.Kind, tt.kind, tt.msg)
			}
			if se.Line < 1 {
				t.Errorf("no position in %v", se)
			}
		})
	}
}

// TestDecodeBillionLaughs: entity definitions are refused before any
// expansion could happen.
func TestDecodeBillionLaughs(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY lol "lol">`)
	for i := 1; i < 10; i++ {
		b.WriteString(`<!ENTITY lol` + string(rune('0'+i)) + ` "` + strings.Repeat("&lol"+string(rune('0'+i-1))+";", 10) + `">`)
	}
	b.WriteString(`]>` + wrap(`<IMETHODCALL NAME="X">`+ns+`<IPARAMVALUE NAME="a"><VALUE>&lol9;</VALUE></IPARAMVALUE></IMETHODCALL>`))
	_, err := DecodeRequest(strings.NewReader(b.String()), Limits{})
	var se *SyntaxError
	if !errors.As(err, &se) || se.Kind != NotValid {
		t.Fatalf("got %v, want NotValid", err)
	}
}
