package virt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// writePKI writes a CA (cacert.pem, also the client's pkipath) and a
// server certificate for 127.0.0.1 signed by it into dir.
func writePKI(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mgmtd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, blk := range map[string]*pem.Block{
		"cacert.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"servercert.pem": {Type: "CERTIFICATE", Bytes: srvDER},
		"serverkey.pem":  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLibvirtdTLS reaches a libvirtd listening with TLS on loopback (server
// certificate from a test CA, no client certificate required) and checks
// that an untrusted CA is refused.
func TestLibvirtdTLS(t *testing.T) {
	tmp := t.TempDir()
	pki := filepath.Join(tmp, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		t.Fatal(err)
	}
	writePKI(t, pki)
	port := testutil.FreePort(t, "tcp")
	extra := fmt.Sprintf(`listen_tls = 1
tls_port = "%d"
listen_addr = "127.0.0.1"
auth_tls = "none"
tls_no_verify_certificate = 1
key_file = %q
cert_file = %q
ca_file = %q
`, port, filepath.Join(pki, "serverkey.pem"), filepath.Join(pki, "servercert.pem"), filepath.Join(pki, "cacert.pem"))
	d := startLibvirtdWith(t, filepath.Join(tmp, "h1"), extra)
	d.waitAccepting("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	hostB := abs(t, "testdata/host-b.xml")
	otherPKI := filepath.Join(tmp, "other")
	if err := os.MkdirAll(otherPKI, 0o700); err != nil {
		t.Fatal(err)
	}
	writePKI(t, otherPKI)
	r := startReal(t, integrationOptions(
		HostConfig{Name: "hv1", URI: fmt.Sprintf("test+tls://127.0.0.1:%d%s?pkipath=%s", port, hostB, pki)},
		HostConfig{Name: "hv2", URI: fmt.Sprintf("test+tls://127.0.0.1:%d%s?pkipath=%s", port, hostB, otherPKI)},
	))
	s := waitSnapshot(t, r.store, 5*time.Second, "hv1 reachable over TLS, hv2 refused", func(s *model.Snapshot) bool {
		return hostIn(s, "hv1").Reachable && strings.Contains(hostIn(s, "hv2").Error, "certificate")
	})
	checkAgainstFile(t, s, "hv1", hostB)
	t.Logf("untrusted CA: %s", hostIn(s, "hv2").Error)
}
