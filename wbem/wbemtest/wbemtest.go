// Package wbemtest holds what the tests of package wbem and of the
// providers built on it (package cim) share: CIM-XML request bodies,
// requests with the CIM headers, the output rules real clients need, a
// driver for Debian's sblim-wbemcli, an indication listener, and the
// enumeration benchmarks. Only _test.go files import it; it imports
// nothing of mgmtd.
package wbemtest

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// LocalNamespacePath is the LOCALNAMESPACEPATH of namespace ns.
func LocalNamespacePath(ns string) string {
	var b strings.Builder
	b.WriteString("<LOCALNAMESPACEPATH>")
	for _, p := range strings.Split(ns, "/") {
		b.WriteString(`<NAMESPACE NAME="` + p + `"/>`)
	}
	b.WriteString("</LOCALNAMESPACEPATH>")
	return b.String()
}

func message(call string) string {
	return `<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="7" PROTOCOLVERSION="1.0"><SIMPLEREQ>` +
		call + `</SIMPLEREQ></MESSAGE></CIM>`
}

// IMethodCall is the body of intrinsic operation name in namespace ns;
// params are its IPARAMVALUEs.
func IMethodCall(name, ns, params string) string {
	return message(`<IMETHODCALL NAME="` + name + `">` + LocalNamespacePath(ns) + params + `</IMETHODCALL>`)
}

// MethodCall is the body of extrinsic method on an instance of namespace
// ns (target an INSTANCENAME) or, when target is a class name without
// "<", on that class; params are its PARAMVALUEs.
func MethodCall(method, ns, target, params string) string {
	path := `<LOCALINSTANCEPATH>` + LocalNamespacePath(ns) + target + `</LOCALINSTANCEPATH>`
	if !strings.HasPrefix(target, "<") {
		path = `<LOCALCLASSPATH>` + LocalNamespacePath(ns) + `<CLASSNAME NAME="` + target + `"/></LOCALCLASSPATH>`
	}
	return message(`<METHODCALL NAME="` + method + `">` + path + params + `</METHODCALL>`)
}

// Param is the IPARAMVALUE param holding the element x.
func Param(param, x string) string {
	return `<IPARAMVALUE NAME="` + param + `">` + x + `</IPARAMVALUE>`
}

// ClassNameParam is the IPARAMVALUE param naming class.
func ClassNameParam(param, class string) string {
	return Param(param, `<CLASSNAME NAME="`+class+`"/>`)
}

// ValueParam is the IPARAMVALUE param with the value v.
func ValueParam(param, v string) string { return Param(param, `<VALUE>`+v+`</VALUE>`) }

// InstanceName is the INSTANCENAME of class with string keys given as
// name, value pairs.
func InstanceName(class string, keys ...string) string {
	var b strings.Builder
	b.WriteString(`<INSTANCENAME CLASSNAME="` + class + `">`)
	for i := 0; i+1 < len(keys); i += 2 {
		b.WriteString(`<KEYBINDING NAME="` + keys[i] + `"><KEYVALUE VALUETYPE="string">` + keys[i+1] + `</KEYVALUE></KEYBINDING>`)
	}
	b.WriteString("</INSTANCENAME>")
	return b.String()
}

// NewRequest is a CIM operation request to /cimom with the headers a
// client sends (Content-Type, CIMOperation, CIMMethod, CIMObject) and,
// unless user is empty, Basic credentials.
func NewRequest(method, object, body, user, pass string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/cimom", strings.NewReader(body))
	r.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	r.Header.Set("CIMOperation", "MethodCall")
	r.Header.Set("CIMMethod", method)
	r.Header.Set("CIMObject", object)
	if user != "" {
		r.SetBasicAuth(user, pass)
	}
	return r
}

// selfClosing matches the elements wbemcli cannot parse when self-closed.
var selfClosing = regexp.MustCompile(`<(PROPERTY|PROPERTY\.ARRAY|PROPERTY\.REFERENCE|VALUE|VALUE\.ARRAY|PARAMETER|PARAMETER\.[A-Z]+|METHOD|QUALIFIER|KEYVALUE|INSTANCE)( [^>]*)?/>`)

// CheckClientSafe fails the test where out breaks a rule real clients
// need: no self-closing PROPERTY*, VALUE*, PARAMETER*, METHOD, QUALIFIER,
// KEYVALUE or INSTANCE, no numeric character references.
func CheckClientSafe(t testing.TB, out string) {
	t.Helper()
	if m := selfClosing.FindString(out); m != "" {
		t.Errorf("self-closing element %s", m)
	}
	if strings.Contains(out, "&#") {
		t.Errorf("numeric character reference in output")
	}
}

// WellFormed reports whether b is one well-formed XML document.
func WellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
