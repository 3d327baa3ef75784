package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Self-signed certificate file names inside the state directory.
const (
	SelfSignedCertFile = "tls/selfsigned.crt"
	SelfSignedKeyFile  = "tls/selfsigned.key"
)

// selfSignedLifetime is the validity of a generated certificate; it is
// regenerated when less than selfSignedRenew remains.
const (
	selfSignedLifetime = 825 * 24 * time.Hour
	selfSignedRenew    = 30 * 24 * time.Hour
)

// EnsureSelfSigned makes sure stateDir holds a usable self-signed
// certificate and key (ECDSA P-256) and returns their paths. A new pair is
// generated if none exists or the existing one expires within 30 days;
// created reports that. The certificate's SANs are localhost, 127.0.0.1,
// ::1, the host name and extra (host names or IP addresses).
func EnsureSelfSigned(stateDir string, extra []string, now time.Time) (certFile, keyFile string, created bool, err error) {
	certFile = filepath.Join(stateDir, SelfSignedCertFile)
	keyFile = filepath.Join(stateDir, SelfSignedKeyFile)
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && pair.Leaf != nil &&
		now.Add(selfSignedRenew).Before(pair.Leaf.NotAfter) {
		return certFile, keyFile, false, nil
	}
	certPEM, keyPEM, err := SelfSignedPEM(extra, now)
	if err != nil {
		return "", "", false, err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", false, fmt.Errorf("self-signed certificate: %w", err)
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", false, fmt.Errorf("self-signed certificate: %w", err)
	}
	return certFile, keyFile, true, nil
}

// SelfSignedPEM generates a self-signed ECDSA P-256 server certificate
// and its PKCS#8 key, PEM encoded, valid from now (minus an hour for
// clock skew) for about 27 months.
func SelfSignedPEM(extra []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), randReader{})
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	host, _ := os.Hostname()
	names := []string{"localhost"}
	if host != "" && host != "localhost" {
		names = append(names, host)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, e := range extra {
		if ip := net.ParseIP(e); ip != nil {
			ips = append(ips, ip)
		} else if e != "" {
			names = append(names, e)
		}
	}
	serial := new(big.Int).SetBytes(randomBytes(16))
	cn := "mgmtd"
	if host != "" {
		cn = "mgmtd " + host
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"mgmtd self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that clients can pin it as its own CA
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(randReader{}, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

type randReader struct{}

func (randReader) Read(b []byte) (int, error) { copy(b, randomBytes(len(b))); return len(b), nil }

// Fingerprint returns the SHA-256 fingerprint of a DER certificate as
// colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256`
// prints it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// TLSConfig says which certificate a listener serves and whether it
// wants client certificates.
type TLSConfig struct {
	// CertFile and KeyFile are the PEM certificate (chain) and key. Both
	// empty: use the self-signed pair in the state directory.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// ClientCAFile, if set, holds the CAs that sign client certificates;
	// verified client certificates then authenticate (MethodCert).
	ClientCAFile string `json:"client_ca_file,omitempty"`
	// RequireClientCert refuses handshakes without a valid client
	// certificate (mTLS); needs ClientCAFile.
	RequireClientCert bool `json:"require_client_cert,omitempty"`
	// Hosts are extra SANs for the self-signed certificate.
	Hosts []string `json:"hosts,omitempty"`
}

// Validate reports the first problem of c, naming the key.
func (c TLSConfig) Validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("tls.cert_file and tls.key_file must be set together")
	}
	if c.RequireClientCert && c.ClientCAFile == "" {
		return errors.New("tls.require_client_cert needs tls.client_ca_file")
	}
	return nil
}

// TLS serves a certificate that can be reloaded while listeners run, and
// optionally verifies client certificates. It is safe for concurrent use.
type TLS struct {
	certFile, keyFile, caFile string
	require                   bool
	generated                 bool

	mu   sync.RWMutex
	cert *tls.Certificate
	pool *x509.CertPool
}

// NewTLS loads the configured certificate, or ensures and loads the
// self-signed one in stateDir when none is configured.
func NewTLS(cfg TLSConfig, stateDir string, now time.Time) (*TLS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &TLS{certFile: cfg.CertFile, keyFile: cfg.KeyFile, caFile: cfg.ClientCAFile, require: cfg.RequireClientCert}
	if t.certFile == "" {
		if stateDir == "" {
			return nil, errors.New("tls: no certificate configured and no state directory for a self-signed one")
		}
		var err error
		t.certFile, t.keyFile, t.generated, err = EnsureSelfSigned(stateDir, cfg.Hosts, now)
		if err != nil {
			return nil, err
		}
	}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload re-reads the certificate, key and client CA file. On error the
// previous ones stay in use, so a half-written file cannot take a
// listener down. New handshakes use the new certificate; open
// connections keep theirs.
func (t *TLS) Reload() error {
	pair, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s: %w", t.certFile, err)
	}
	var pool *x509.CertPool
	if t.caFile != "" {
		b, err := os.ReadFile(t.caFile)
		if err != nil {
			return fmt.Errorf("tls: client CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("tls: client CA %s: no PEM certificate", t.caFile)
		}
	}
	t.mu.Lock()
	t.cert, t.pool = &pair, pool
	t.mu.Unlock()
	return nil
}

// Certificate returns the leaf certificate now served.
func (t *TLS) Certificate() *x509.Certificate {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.cert.Leaf
}

// Fingerprint returns the SHA-256 fingerprint of the served certificate.
func (t *TLS) Fingerprint() string { return Fingerprint(t.Certificate().Raw) }

// Generated reports whether NewTLS generated a new self-signed
// certificate (first start or renewal), for the start-up message.
func (t *TLS) Generated() bool { return t.generated }

// SelfSigned reports whether the served certificate is mgmtd's own
// self-signed one (clients must pin its fingerprint).
func (t *TLS) SelfSigned() bool {
	return t.certFile != "" && strings.HasSuffix(t.certFile, SelfSignedCertFile)
}

// cipherSuites are the TLS 1.2 suites offered: forward secret (ECDHE) and
// authenticated encryption (AES-GCM, ChaCha20-Poly1305) only - no CBC
// with SHA-1, no RSA key exchange. TLS 1.3 suites are not configurable
// and all are good.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CertFile returns the path of the served certificate.
func (t *TLS) CertFile() string { return t.certFile }

// ServerConfig returns a tls.Config for http.Server.TLSConfig (TLS 1.2
// or newer) that always serves the current certificate and, if a client
// CA is configured, verifies client certificates: required with
// RequireClientCert, else verified only when given. It offers the
// application protocols protos in ALPN, h2 and http/1.1 when none are
// given.
func (t *TLS) ServerConfig(protos ...string) *tls.Config {
	if len(protos) == 0 {
		protos = []string{"h2", "http/1.1"}
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites, NextProtos: protos}
	base.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		t.mu.RLock()
		defer t.mu.RUnlock()
		return t.cert, nil
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		t.mu.RLock()
		cert, pool := t.cert, t.pool
		t.mu.RUnlock()
		c := &tls.Config{
			MinVersion:   tls.VersionTLS12,
			CipherSuites: cipherSuites,
			Certificates: []tls.Certificate{*cert},
			NextProtos:   protos,
		}
		if pool != nil {
			c.ClientCAs = pool
			c.ClientAuth = tls.VerifyClientCertIfGiven
			if t.require {
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
		}
		return c, nil
	}
	return base
}

// Reloader is anything with a Reload method, such as [TLS].
type Reloader interface{ Reload() error }

// ReloadOnSignal calls r.Reload each time the process receives one of
// sigs (SIGHUP if none) until ctx ends, logging the outcome. The signal
// handler is installed before ReloadOnSignal returns. The returned
// channel receives the result of every reload (buffered, dropped if
// nobody reads); it is closed when ctx ends.
func ReloadOnSignal(ctx context.Context, log *slog.Logger, r Reloader, sigs ...os.Signal) <-chan error {
	if len(sigs) == 0 {
		sigs = []os.Signal{syscall.SIGHUP}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan error, 4)
	go func() {
		defer close(done)
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-ch:
				err := r.Reload()
				if err != nil {
					log.Error("reload failed, keeping the previous certificate", "signal", s.String(), "err", err)
				} else {
					log.Info("reloaded", "signal", s.String())
				}
				select {
				case done <- err:
				default:
				}
			}
		}
	}()
	return done
}

// CheckPlainHTTP refuses to serve plain HTTP on addr unless its host is
// a loopback address (127.0.0.0/8, ::1 or "localhost"). An empty host
// means every interface and is refused.
func CheckPlainHTTP(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("plain http on %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("plain http on %q refused: only loopback addresses may serve without TLS", addr)
}
