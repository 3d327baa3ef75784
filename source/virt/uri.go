package virt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Target is a parsed libvirt URI: how to reach the daemon and what the
// daemon is asked to open once reached.
type Target struct {
	Driver    string // qemu, test, xen, ...
	Transport string // unix, tcp, tls or ssh
	Host      string // for tcp, tls and ssh
	Port      string
	User      string // for ssh
	Socket    string // the daemon's unix socket (unix transport; remote side of ssh)
	// Remote is the URI the daemon opens, e.g. qemu:///system.
	Remote string
	Query  url.Values
}

// Default sockets and ports of libvirtd.
const (
	defaultSocket  = "/var/run/libvirt/libvirt-sock"
	defaultTCPPort = "16509"
	defaultTLSPort = "16514"
)

// ParseURI parses a libvirt URI of the form driver[+transport]://[user@][host][:port]/path[?params].
// Transports: unix (default without a host; param socket), tcp, tls
// (default with a host; params pkipath, no_verify) and ssh (params socket,
// keyfile, no_verify, proxy=auto|netcat|native, netcat). The param name
// overrides the URI the daemon opens. libssh, libssh2 and ext are not
// supported.
func ParseURI(s string) (Target, error) {
	if s == "" {
		return Target{}, errors.New("empty libvirt URI")
	}
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("parse libvirt URI: %w", err)
	}
	if u.Scheme == "" || u.Opaque != "" {
		return Target{}, fmt.Errorf("libvirt URI %q: want driver[+transport]://host/path", s)
	}
	driver, transport, _ := strings.Cut(u.Scheme, "+")
	if transport == "" {
		transport = "unix"
		if u.Host != "" {
			transport = "tls"
		}
	}
	t := Target{Driver: driver, Transport: transport, Host: u.Hostname(), Port: u.Port(), Query: u.Query()}
	if u.User != nil {
		t.User = u.User.Username()
	}
	t.Remote = (&url.URL{Scheme: driver, Path: u.Path}).String()
	if strings.HasPrefix(t.Remote, driver+":") && !strings.HasPrefix(t.Remote, driver+"://") {
		t.Remote = driver + "://" + strings.TrimPrefix(t.Remote, driver+":")
	}
	if n := t.Query.Get("name"); n != "" {
		t.Remote = n
	}
	t.Socket = t.Query.Get("socket")
	switch transport {
	case "unix":
		if t.Host != "" {
			return Target{}, fmt.Errorf("libvirt URI %q: unix transport takes no host", s)
		}
		if t.Socket == "" {
			t.Socket = defaultSocket
		}
	case "tcp", "tls", "ssh":
		if t.Host == "" {
			return Target{}, fmt.Errorf("libvirt URI %q: %s transport needs a host", s, transport)
		}
		if transport == "ssh" {
			switch p := t.Query.Get("proxy"); p {
			case "", "auto", "netcat", "native":
			default:
				return Target{}, fmt.Errorf("libvirt URI %q: unknown proxy %q", s, p)
			}
		}
	default:
		return Target{}, fmt.Errorf("libvirt URI %q: transport %q is not supported", s, transport)
	}
	return t, nil
}

// dial opens the byte stream to the daemon of t. sshCommand is the ssh
// client used for the ssh transport.
func dial(ctx context.Context, t Target, sshCommand string) (net.Conn, error) {
	var d net.Dialer
	switch t.Transport {
	case "unix":
		return d.DialContext(ctx, "unix", t.Socket)
	case "tcp":
		return d.DialContext(ctx, "tcp", net.JoinHostPort(t.Host, orDefault(t.Port, defaultTCPPort)))
	case "tls":
		cfg, err := tlsConfig(t)
		if err != nil {
			return nil, err
		}
		td := tls.Dialer{Config: cfg}
		c, err := td.DialContext(ctx, "tcp", net.JoinHostPort(t.Host, orDefault(t.Port, defaultTLSPort)))
		if err != nil {
			return nil, err
		}
		if err := tlsCheckByte(ctx, c); err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	case "ssh":
		return dialSSH(t, sshCommand)
	}
	return nil, fmt.Errorf("transport %q is not supported", t.Transport)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// tlsCheckByte reads the byte libvirtd sends right after the TLS
// handshake: 1 when it accepted the client's certificate.
func tlsCheckByte(ctx context.Context, c net.Conn) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(dl)
		defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("read libvirtd TLS status: %w", err)
	}
	if b[0] != 1 {
		return fmt.Errorf("libvirtd refused the TLS client (status %d): check the client certificate", b[0])
	}
	return nil
}

// tlsConfig loads libvirt's client PKI: from the pkipath param, or from the
// default places libvirt uses (/etc/pki/CA/cacert.pem,
// /etc/pki/libvirt/clientcert.pem, /etc/pki/libvirt/private/clientkey.pem).
func tlsConfig(t Target) (*tls.Config, error) {
	ca, cert, key := "/etc/pki/CA/cacert.pem", "/etc/pki/libvirt/clientcert.pem", "/etc/pki/libvirt/private/clientkey.pem"
	if p := t.Query.Get("pkipath"); p != "" {
		ca, cert, key = filepath.Join(p, "cacert.pem"), filepath.Join(p, "clientcert.pem"), filepath.Join(p, "clientkey.pem")
	}
	cfg := &tls.Config{ServerName: t.Host, MinVersion: tls.VersionTLS12}
	if nv := t.Query.Get("no_verify"); nv != "" && nv != "0" {
		cfg.InsecureSkipVerify = true
	} else {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("read libvirt CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read libvirt CA certificate %s: no certificate found", ca)
		}
		cfg.RootCAs = pool
	}
	if _, err := os.Stat(cert); err == nil {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("load libvirt client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// sshArgs builds the ssh command line for t, as libvirt's own remote driver
// does: ssh to the host and run a proxy that splices stdin/stdout to the
// daemon socket there (virt-ssh-helper, or nc -U).
func sshArgs(t Target) []string {
	args := []string{"-T", "-e", "none", "-o", "BatchMode=yes"}
	if t.Port != "" {
		args = append(args, "-p", t.Port)
	}
	if t.User != "" {
		args = append(args, "-l", t.User)
	}
	if k := t.Query.Get("keyfile"); k != "" {
		args = append(args, "-i", k)
	}
	if nv := t.Query.Get("no_verify"); nv != "" && nv != "0" {
		args = append(args, "-o", "StrictHostKeyChecking=no")
	}
	nc := orDefault(t.Query.Get("netcat"), "nc")
	sock := orDefault(t.Socket, defaultSocket)
	netcat := "exec " + shellQuote(nc) + " -U " + shellQuote(sock)
	native := "exec virt-ssh-helper " + shellQuote(t.Remote)
	var remote string
	switch proxy := t.Query.Get("proxy"); {
	case proxy == "native":
		remote = native
	case proxy == "netcat" || t.Socket != "":
		remote = netcat
	default:
		remote = "if command -v virt-ssh-helper >/dev/null 2>&1; then " + native + "; else " + netcat + "; fi"
	}
	return append(args, "--", t.Host, "sh -c "+shellQuote(remote))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// dialSSH starts the ssh client and returns its stdin/stdout as a net.Conn.
func dialSSH(t Target, sshCommand string) (net.Conn, error) {
	cmd := exec.Command(sshCommand, sshArgs(t)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("ssh stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("ssh stdout: %w", err)
	}
	c := &cmdConn{cmd: cmd, in: in, out: out, addr: cmdAddr(t.Host)}
	cmd.Stderr = &c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", sshCommand, err)
	}
	return c, nil
}

// cmdConn is a net.Conn over a child process's stdin and stdout. Deadlines
// are not supported and say so (go-libvirt sets none; this package times
// calls out itself, and a cutConn over a cmdConn closes it at once).
type cmdConn struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    io.ReadCloser
	addr   cmdAddr
	stderr tailBuffer
	once   sync.Once
	err    error
}

func (c *cmdConn) Read(b []byte) (int, error) {
	n, err := c.out.Read(b)
	if err != nil && errors.Is(err, io.EOF) {
		if msg := c.stderr.String(); msg != "" {
			return n, fmt.Errorf("%w (ssh: %s)", io.EOF, msg)
		}
	}
	return n, err
}
func (c *cmdConn) Write(b []byte) (int, error) { return c.in.Write(b) }

// Close closes stdin, kills the child and reaps it.
func (c *cmdConn) Close() error {
	c.once.Do(func() {
		_ = c.in.Close()
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	return c.err
}
func (c *cmdConn) LocalAddr() net.Addr              { return cmdAddr("local") }
func (c *cmdConn) RemoteAddr() net.Addr             { return c.addr }
func (c *cmdConn) SetDeadline(time.Time) error      { return errors.ErrUnsupported }
func (c *cmdConn) SetReadDeadline(time.Time) error  { return errors.ErrUnsupported }
func (c *cmdConn) SetWriteDeadline(time.Time) error { return errors.ErrUnsupported }

type cmdAddr string

func (a cmdAddr) Network() string { return "ssh" }
func (a cmdAddr) String() string  { return string(a) }

// tailBuffer keeps the last 512 bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 512 {
		b.buf = b.buf[len(b.buf)-512:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
