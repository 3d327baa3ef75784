package mgmtd

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
)

// TestTransportHardening (issue 13 item 13): TLS 1.2 offered CBC suites
// with SHA-1, and the API sent neither HSTS nor nosniff.
func TestTransportHardening(t *testing.T) {
	d := startDemo(t)
	addr := strings.TrimPrefix(d.URL, "https://")
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256} {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err == nil {
			c.Close()
			t.Errorf("TLS 1.2 handshake with %s succeeded", tls.CipherSuiteName(suite))
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 with the default suites: %v", err)
	}
	c.Close()
	code, h, _ := call(t, http.MethodGet, d.URL+"/api/v1/nodes", nil, "")
	if code != 401 || h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("%d, headers %v", code, h)
	}
}
