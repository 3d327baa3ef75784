package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testCert is a certificate with its key, signed by parent (or itself).
type testCert struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

func makeCert(t *testing.T, cn string, isCA bool, parent *testCert, usage x509.ExtKeyUsage) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"mgmtd test"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true, IsCA: isCA,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if usage != 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return &testCert{cert: c, key: key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})}
}

func (c *testCert) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, c.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func (c *testCert) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}
}

// serveTLS runs h over TLS with tl on a loopback port and returns the
// address.
func serveTLS(t *testing.T, tl *TLS, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: tl.ServerConfig(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// handshake connects to addr trusting roots and returns the server's
// leaf certificate.
func handshake(addr string, roots *x509.CertPool, serverName string, client *tls.Certificate) (*x509.Certificate, error) {
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// TLS 1.3 reports a refused client certificate only on the first
	// read, so make one request and read its answer.
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\nHost: x\r\n\r\n")); err != nil {
		return nil, err
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func poolOf(t *testing.T, pemFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in", pemFile)
	}
	return p
}

func TestSelfSignedCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	tl, err := NewTLS(TLSConfig{Hosts: []string{"mgmtd.example", "192.0.2.10"}}, dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !tl.Generated() || !tl.SelfSigned() {
		t.Errorf("Generated() = %v, SelfSigned() = %v on first start", tl.Generated(), tl.SelfSigned())
	}
	leaf := tl.Certificate()
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key = %T, want ECDSA P-256", leaf.PublicKey)
	}
	host, _ := os.Hostname()
	for _, n := range []string{"localhost", host, "mgmtd.example"} {
		if !slices.Contains(leaf.DNSNames, n) {
			t.Errorf("SAN %q missing from %v", n, leaf.DNSNames)
		}
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, ip := range []string{"127.0.0.1", "::1", "192.0.2.10"} {
		if !slices.Contains(ips, ip) {
			t.Errorf("SAN %s missing from %v", ip, ips)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, SelfSignedKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi.Mode(), err)
	}

	// The fingerprint is the one openssl prints.
	out, err := exec.Command("openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", tl.CertFile()).Output()
	if err != nil {
		t.Fatalf("openssl (installed by scripts/deps.d/auth.sh): %v", err)
	}
	if want := strings.TrimSpace(string(out)); want != "sha256 Fingerprint="+tl.Fingerprint() {
		t.Errorf("fingerprint %s, openssl says %s", tl.Fingerprint(), want)
	}

	// A client pinning the generated certificate completes the handshake
	// by name and by address.
	addr := serveTLS(t, tl, http.NotFoundHandler())
	for _, name := range []string{"localhost", "127.0.0.1"} {
		got, err := handshake(addr, poolOf(t, tl.CertFile()), name, nil)
		if err != nil {
			t.Fatalf("handshake as %s: %v", name, err)
		}
		if Fingerprint(got.Raw) != tl.Fingerprint() {
			t.Errorf("served certificate differs")
		}
	}
	// An unpinned client refuses it.
	if _, err := handshake(addr, x509.NewCertPool(), "localhost", nil); err == nil {
		t.Error("handshake without trusting the self-signed certificate succeeded")
	}

	// Second start: same certificate; near expiry: a new one.
	tl2, err := NewTLS(TLSConfig{}, dir, now.Add(24*time.Hour))
	if err != nil || tl2.Fingerprint() != tl.Fingerprint() || tl2.Generated() {
		t.Errorf("restart changed the certificate (%v)", err)
	}
	_, _, created, err := EnsureSelfSigned(dir, nil, leaf.NotAfter.Add(-29*24*time.Hour))
	if err != nil || !created {
		t.Errorf("certificate expiring in 29 days not renewed: created=%v err=%v", created, err)
	}
}

func TestMTLS(t *testing.T) {
	dir := t.TempDir()
	ca := makeCert(t, "test CA", true, nil, 0)
	otherCA := makeCert(t, "other CA", true, nil, 0)
	server := makeCert(t, "localhost", false, ca, x509.ExtKeyUsageServerAuth)
	client := makeCert(t, "nms1", false, ca, x509.ExtKeyUsageClientAuth)
	stranger := makeCert(t, "nms1", false, otherCA, x509.ExtKeyUsageClientAuth)
	certFile, keyFile := server.write(t, dir, "server")
	caFile, _ := ca.write(t, dir, "ca")
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	s, err := New(Options{Bindings: []Binding{{Role: RoleViewer, CertSubjects: []string{"nms1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	who := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		_, _ = io.WriteString(w, id.ID+" "+string(id.Method)+" "+string(id.Roles[0]))
	}))

	t.Run("required", func(t *testing.T) {
		tl, err := NewTLS(TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, RequireClientCert: true}, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		addr := serveTLS(t, tl, who)
		if _, err := handshake(addr, roots, "localhost", nil); err == nil {
			t.Error("handshake without client certificate succeeded")
		}
		sc := stranger.tlsCert()
		if _, err := handshake(addr, roots, "localhost", &sc); err == nil {
			t.Error("handshake with a certificate of a foreign CA succeeded")
		}
		cc := client.tlsCert()
		if _, err := handshake(addr, roots, "localhost", &cc); err != nil {
			t.Fatalf("handshake with client certificate: %v", err)
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cc}}}}
		resp, err := hc.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "cert:CN=nms1,O=mgmtd test cert viewer"; string(b) != want {
			t.Errorf("identity = %q, want %q", b, want)
		}
	})
	t.Run("optional", func(t *testing.T) {
		tl, err := NewTLS(TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		addr := serveTLS(t, tl, who)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		resp, err := hc.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("no client certificate, no credentials: %d, want 401", resp.StatusCode)
		}
	})
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	a := makeCert(t, "a", true, nil, x509.ExtKeyUsageServerAuth)
	b := makeCert(t, "b", true, nil, x509.ExtKeyUsageServerAuth)
	certFile, keyFile := a.write(t, dir, "served")
	tl, err := NewTLS(TLSConfig{CertFile: certFile, KeyFile: keyFile}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, tl, http.NotFoundHandler())
	roots := x509.NewCertPool()
	roots.AddCert(a.cert)
	roots.AddCert(b.cert)
	served := func() string {
		t.Helper()
		c, err := handshake(addr, roots, "localhost", nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Subject.CommonName
	}
	if got := served(); got != "a" {
		t.Fatalf("serving %q, want a", got)
	}
	b.write(t, dir, "served")
	if got := served(); got != "a" {
		t.Fatalf("changed before Reload: %q", got)
	}
	if err := tl.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "b" {
		t.Fatalf("after Reload serving %q, want b", got)
	}
	// A broken file is refused and the last good certificate stays.
	if err := os.WriteFile(certFile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tl.Reload(); err == nil {
		t.Fatal("Reload of a broken certificate succeeded")
	}
	if got := served(); got != "b" {
		t.Fatalf("after failed Reload serving %q, want b", got)
	}
}

// TestReloadOnSIGHUP sends a real SIGHUP to the test process.
func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	a := makeCert(t, "a", true, nil, x509.ExtKeyUsageServerAuth)
	b := makeCert(t, "b", true, nil, x509.ExtKeyUsageServerAuth)
	certFile, keyFile := a.write(t, dir, "served")
	tl, err := NewTLS(TLSConfig{CertFile: certFile, KeyFile: keyFile}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := ReloadOnSignal(ctx, slog.New(slog.DiscardHandler), tl)
	b.write(t, dir, "served")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("reload on SIGHUP: %v", err)
	}
	if got := tl.Certificate().Subject.CommonName; got != "b" {
		t.Fatalf("after SIGHUP serving %q, want b", got)
	}
	cancel()
	for range done {
	}
}

func TestCheckPlainHTTP(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{":8080", false},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{"192.0.2.1:80", false},
		{"mgmtd.example:80", false},
		{"127.0.0.1", false},
	}
	for _, tc := range tests {
		if err := CheckPlainHTTP(tc.addr); (err == nil) != tc.ok {
			t.Errorf("CheckPlainHTTP(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

// TestCertSuccessOncePerConnection: a client certificate's success is
// recorded once per TLS connection (it was verified at the handshake),
// however many requests the connection carries; a new connection is
// recorded again, and a token's every request still is.
func TestCertSuccessOncePerConnection(t *testing.T) {
	dir := t.TempDir()
	ca := makeCert(t, "test CA", true, nil, 0)
	server := makeCert(t, "localhost", false, ca, x509.ExtKeyUsageServerAuth)
	client := makeCert(t, "nms1", false, ca, x509.ExtKeyUsageClientAuth)
	certFile, keyFile := server.write(t, dir, "server")
	caFile, _ := ca.write(t, dir, "ca")
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	var mu sync.Mutex
	var recorded []AuthEvent
	rec := RecorderFunc(func(_ context.Context, ev AuthEvent) { mu.Lock(); recorded = append(recorded, ev); mu.Unlock() })
	tokens, err := OpenTokenStore(filepath.Join(dir, TokenFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	bearer, _, err := tokens.Create(TokenSpec{Name: "ops", Grants: []Grant{{Role: RoleViewer}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Bindings: []Binding{{Role: RoleViewer, CertSubjects: []string{"nms1"}}}, Recorder: rec, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := NewTLS(TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), TLSConfig: tl.ServerConfig(),
		ReadHeaderTimeout: 10 * time.Second, ConnContext: ConnContext, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	successes := func(method Method) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, ev := range recorded {
			if ev.Kind == EventAuthSuccess && ev.Method == method {
				n++
			}
		}
		return n
	}
	get := func(hc *http.Client, token string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+l.Addr().String()+"/", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	cc := client.tlsCert()
	newClient := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	one := newClient(cc)
	for range 5 {
		get(one, "")
	}
	if n := successes(MethodCert); n != 1 {
		t.Fatalf("5 requests on one connection: %d certificate successes recorded, want 1", n)
	}
	get(newClient(cc), "")
	if n := successes(MethodCert); n != 2 {
		t.Fatalf("a second connection: %d certificate successes recorded, want 2", n)
	}
	tok := newClient()
	for range 3 {
		get(tok, bearer)
	}
	if n := successes(MethodToken); n != 3 {
		t.Fatalf("3 token requests: %d recorded, want 3", n)
	}
}
