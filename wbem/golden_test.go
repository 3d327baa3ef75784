package wbem

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mgmtd/internal/testutil"

	"mgmtd/wbem/wbemtest"
)

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
	files, err := filepath.Glob("cimxml/testdata/captures/*/*/*.http")
	must(t, err)
	if len(files) < 100 {
		t.Fatalf("only %d captures", len(files))
	}
	for _, f := range files {
		name := strings.TrimPrefix(f, "cimxml/testdata/captures/")
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
			wbemtest.CheckClientSafe(t, w.Body.String())
			if w.Code == http.StatusOK {
				if err := wbemtest.WellFormed(w.Body.Bytes()); err != nil || !strings.Contains(w.Body.String(), "<SIMPLERSP>") {
					t.Errorf("response is not a well-formed SIMPLERSP: %v", err)
				}
			}
			testutil.Golden(t, filepath.Join("testdata", "golden", "captures", strings.TrimSuffix(name, ".http")+".txt"), out)
		})
	}
}
