// Package notifytest runs real notification receivers for tests: a
// private Exim (Debian's exim4-daemon-light) on a loopback port with
// STARTTLS and AUTH PLAIN that delivers into a maildir, and a private
// rsyslogd listening on UDP, TCP and a unix socket that writes every
// message's parsed RFC 5424 fields to a file. scripts/deps.d/monitoring.sh
// installs both. Imported by tests only.
package notifytest

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
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
)

// Exim is a running private Exim.
type Exim struct {
	// Addr is the SMTP address (127.0.0.1:PORT) with STARTTLS; TLSAddr
	// speaks TLS from the first byte (implicit TLS, as on port 465).
	Addr, TLSAddr string
	// User and Password are accepted by AUTH PLAIN (after STARTTLS only).
	User, Password string
	// CAFile is the PEM certificate the server presents (self-signed,
	// for 127.0.0.1 and localhost): a client's CA bundle.
	CAFile string
	// Domain is the local domain: mail to anyone@Domain is delivered.
	Domain string
	dir    string
}

// openDirs makes dir and its parents up to /tmp traversable by the exim
// user (t.TempDir's directories are private).
func openDirs(t testing.TB, dir string) {
	for d := dir; d != "/" && d != "." && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// StartExim starts Exim on a free loopback port and stops it when the
// test ends. Exim runs as its own user (Debian-exim) for delivery: -C
// drops root privilege.
func StartExim(t testing.TB) *Exim {
	t.Helper()
	dir := t.TempDir()
	openDirs(t, dir)
	u, err := user.Lookup("Debian-exim")
	if err != nil {
		t.Fatalf("exim user: %v (scripts/deps.d/monitoring.sh installs exim4-daemon-light)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range []string{"spool", "log", "maildir"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(dir, d), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	cert, key := selfSigned(t, dir)
	for _, f := range []string{cert, key} {
		if err := os.Chown(f, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	port, tlsPort := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "tcp")
	e := &Exim{Addr: fmt.Sprintf("127.0.0.1:%d", port), TLSAddr: fmt.Sprintf("127.0.0.1:%d", tlsPort), User: "mgmtd", Password: "s3cret-" + strconv.Itoa(port), CAFile: cert, Domain: "example.test", dir: dir}
	conf := fmt.Sprintf(`primary_hostname = mgmtd-test.localhost
daemon_smtp_ports = %d : %[8]d
tls_on_connect_ports = %[8]d
local_interfaces = 127.0.0.1
domainlist local_domains = %[2]s
spool_directory = %[3]s/spool
log_file_path = %[3]s/log/%%slog
tls_advertise_hosts = *
tls_certificate = %[4]s
tls_privatekey = %[5]s
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt
begin acl
acl_mail:
  deny message = authentication required
       !authenticated = *
  accept
acl_rcpt:
  accept domains = +local_domains
  deny
begin routers
local:
  driver = accept
  domains = +local_domains
  transport = maildir
begin transports
maildir:
  driver = appendfile
  directory = %[3]s/maildir
  maildir_format
  user = Debian-exim
  envelope_to_add
  return_path_add
begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{eq{$auth2}{%[6]s}}{eq{$auth3}{%[7]s}}}}
  server_set_id = $auth2
  server_advertise_condition = ${if def:tls_in_cipher}
`, port, e.Domain, dir, cert, key, e.User, e.Password, tlsPort)
	cf := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/exim4", "-C", cf, "-bdf", "-q5s")
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start exim: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	if !testutil.Poll(10*time.Second, func() bool {
		for _, a := range []string{e.Addr, e.TLSAddr} {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	}) {
		t.Fatalf("exim did not listen on %s: %s\n%s", e.Addr, out, e.Log())
	}
	return e
}

// Log returns Exim's main and panic logs.
func (e *Exim) Log() string {
	var b strings.Builder
	for _, f := range []string{"mainlog", "paniclog", "rejectlog"} {
		if data, err := os.ReadFile(filepath.Join(e.dir, "log", f)); err == nil {
			b.WriteString("== " + f + "\n" + string(data))
		}
	}
	return b.String()
}

// Mails returns the delivered messages (maildir new/), oldest first.
func (e *Exim) Mails() []string {
	files, _ := filepath.Glob(filepath.Join(e.dir, "maildir", "new", "*"))
	var out []string
	for _, f := range files { // maildir names start with the delivery time
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

func selfSigned(t testing.TB, dir string) (certFile, keyFile string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Rsyslog is a running private rsyslogd.
type Rsyslog struct {
	// UDP and TCP are 127.0.0.1:PORT; Unix the datagram socket's path.
	UDP, TCP, Unix string
	out            string
}

// Fields of a received message as rsyslog parsed it, one line each in
// Lines: input|facility|severity|hostname|app-name|procid|msgid|structured-data|msg.
const Fields = "%inputname%|%syslogfacility-text%|%syslogseverity-text%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%"

// StartRsyslog starts rsyslogd with UDP, TCP and unix socket inputs and
// stops it when the test ends.
func StartRsyslog(t testing.TB) *Rsyslog {
	t.Helper()
	dir := t.TempDir()
	r := &Rsyslog{UDP: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t, "udp")), TCP: testutil.FreeAddr(t),
		Unix: filepath.Join(dir, "log.sock"), out: filepath.Join(dir, "out.log")}
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imuxsock" SysSock.Use="off")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port=%q)
input(type="imtcp" address="127.0.0.1" port=%q)
input(type="imuxsock" socket=%q useSpecialParser="off" parseHostname="on")
template(name="fields" type="string" string=%q)
*.* action(type="omfile" file=%q template="fields")
`, dir, port(r.UDP), port(r.TCP), r.Unix, Fields+"\n", r.out)
	cf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("rsyslogd", "-n", "-f", cf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	if !testutil.Poll(10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", r.TCP, time.Second)
		if err == nil {
			c.Close()
		}
		_, serr := os.Stat(r.Unix)
		return err == nil && serr == nil
	}) {
		t.Fatalf("rsyslogd did not start: %s", out)
	}
	return r
}

// Lines returns the received messages' fields (see Fields).
func (r *Rsyslog) Lines() []string {
	b, _ := os.ReadFile(r.out)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
