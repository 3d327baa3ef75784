package cim

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata/golden", name)
	if *update {
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, d)
	}
}

// dumpResponse renders what a client sees: status, CIM headers, body.
func dumpResponse(w *httptest.ResponseRecorder) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP %d\n", w.Code)
	for _, h := range []string{"Content-Type", "CIMOperation", "CIMError", "WWW-Authenticate"} {
		if v := w.Header().Get(h); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", h, v)
		}
	}
	b.WriteString("\n")
	b.Write(w.Body.Bytes())
	return b.Bytes()
}

// TestCapturedRequestsGolden replays every request a real client sent
// (headers and body as captured) against a fresh in-memory provider and
// compares the full response with a golden file. Each response must also
// follow the client-compatibility rules.
func TestCapturedRequestsGolden(t *testing.T) {
	files, err := filepath.Glob("../wbem/cimxml/testdata/captures/*/*/*.http")
	must(t, err)
	if len(files) < 100 {
		t.Fatalf("only %d captures", len(files))
	}
	for _, f := range files {
		name := strings.TrimPrefix(f, "../wbem/cimxml/testdata/captures/")
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, nil)
			raw, err := os.ReadFile(f)
			must(t, err)
			r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			must(t, err)
			r.RemoteAddr = "127.0.0.1:1"
			w := httptest.NewRecorder()
			env.srv.ServeHTTP(w, r)
			out := dumpResponse(w)
			checkClientSafe(t, w.Body.String())
			if w.Code == http.StatusOK {
				if err := wellFormed(w.Body.Bytes()); err != nil || !strings.Contains(w.Body.String(), "<SIMPLERSP>") {
					t.Errorf("response is not a well-formed SIMPLERSP: %v", err)
				}
			}
			golden(t, "captures/"+strings.TrimSuffix(name, ".http")+".txt", out)
		})
	}
}

// checkClientSafe asserts the rules real clients need (see cimxml).
func checkClientSafe(t *testing.T, out string) {
	t.Helper()
	for _, e := range []string{"PROPERTY", "PROPERTY.ARRAY", "PROPERTY.REFERENCE", "VALUE", "VALUE.ARRAY", "PARAMETER", "PARAMETER.REFERENCE", "METHOD", "QUALIFIER", "KEYVALUE"} {
		if i := strings.Index(out, "<"+e+" "); i >= 0 {
			j := strings.IndexByte(out[i:], '>')
			if j > 0 && out[i+j-1] == '/' {
				t.Errorf("self-closing %s", out[i:i+j+1])
			}
		}
		if strings.Contains(out, "<"+e+"/>") {
			t.Errorf("self-closing <%s/>", e)
		}
	}
	if strings.Contains(out, "&#") {
		t.Errorf("numeric character reference in output")
	}
}
