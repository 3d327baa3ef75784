package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// DefaultSocket is the daemon's local socket with the default
// configuration (state_dir /var/lib/mgmtd): the server of every command
// that talks to a daemon when neither --server nor $MGMTD_SERVER says
// another, and PackageSocket is not there.
const DefaultSocket = "/var/lib/mgmtd/mgmtd.sock"

// PackageSocket is the local socket of the Debian package's configuration
// (packaging/mgmtd.yaml), tried first.
const PackageSocket = "/run/mgmtd/mgmtd.sock"

// daemonFlags are the flags of every command that talks to a running
// daemon.
type daemonFlags struct {
	server, ca, output string
	insecure           bool
	timeout            time.Duration
	// defaulted: server came from the default, not from --server or
	// $MGMTD_SERVER (errors then say how to choose another).
	defaulted bool
}

// register declares the flags; timeout is the command's default.
func (f *daemonFlags) register(fs *flag.FlagSet, timeout time.Duration) {
	fs.StringVar(&f.server, "server", "", "the daemon: https://HOST:PORT, or unix:PATH for its local socket (token from $MGMTD_TOKEN; default $MGMTD_SERVER, else unix:"+PackageSocket+" if there, else unix:"+DefaultSocket+")")
	fs.StringVar(&f.ca, "ca", "", "trust this CA (or the daemon's self-signed certificate) file")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the daemon's TLS certificate")
	fs.StringVar(&f.output, "o", "table", "output: table or json")
	fs.DurationVar(&f.timeout, "timeout", timeout, "give up after this long")
}

func (f *daemonFlags) checkOutput() error {
	if f.output != "table" && f.output != "json" {
		return usagef("-o must be table or json")
	}
	return nil
}

// client is the one REST client of the command line: bearer token from
// $MGMTD_TOKEN, or the caller's peer credentials on the local socket.
type client struct {
	http      *http.Client
	base      string
	server    string // as given (for messages)
	defaulted bool   // see daemonFlags.defaulted
}

// defaultServer fills in the server when --server was not given:
// $MGMTD_SERVER, else the default local socket.
func (f *daemonFlags) defaultServer() {
	if f.server != "" {
		return
	}
	if env := os.Getenv("MGMTD_SERVER"); env != "" {
		f.server = env
		return
	}
	f.server, f.defaulted = "unix:"+DefaultSocket, true
	if fi, err := os.Stat(PackageSocket); err == nil && fi.Mode().Type() == os.ModeSocket {
		f.server = "unix:" + PackageSocket
	}
}

// connect checks the flags and returns a client and a context bounded by
// --timeout.
func (f *daemonFlags) connect(ctx context.Context, cmd string) (*client, context.Context, context.CancelFunc, error) {
	f.defaultServer()
	if err := f.checkOutput(); err != nil {
		return nil, nil, nil, err
	}
	c, err := newClient(f)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return c, ctx, cancel, nil
}

func newClient(f *daemonFlags) (*client, error) {
	base := strings.TrimRight(f.server, "/")
	if !strings.HasPrefix(base, "unix:") && !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, usagef("--server %q: give https://HOST:PORT, or unix:PATH for the daemon's local socket", f.server)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: f.insecure}} //nolint:gosec // an explicit operator choice
	if sock, ok := strings.CutPrefix(f.server, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		base = "http://mgmtd"
	} else if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: no certificate in %s", f.ca)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &client{http: &http.Client{Transport: tr}, base: base, server: f.server, defaulted: f.defaulted}, nil
}

// maxAnswer bounds what the client reads of one answer.
const maxAnswer = 256 << 20

// do sends a request (body as JSON when not nil) and decodes the JSON
// answer into out. An error status is returned as an error with the
// problem's detail.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := os.Getenv("MGMTD_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return fmt.Errorf("%w (the daemon's certificate is not trusted here: pass --ca with the certificate file it printed at start, or compare its fingerprint and use --insecure)", err)
		}
		var op *net.OpError
		if c.defaulted && errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("no daemon at %s, the default server: give --server URL (or set $MGMTD_SERVER), or --cib FILE where the command can answer from a CIB file (%w)", c.server, op.Err)
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var p struct{ Title, Detail string }
		_ = json.Unmarshal(b, &p)
		msg := p.Detail
		if msg == "" {
			msg = p.Title
		}
		if msg == "" {
			// Not a problem document: an HTTP request to the HTTPS port,
			// a proxy. Its first line says what.
			msg, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
		}
		if msg == "" || msg == http.StatusText(resp.StatusCode) {
			return fmt.Errorf("%s", resp.Status)
		}
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// data GETs a model route and decodes the envelope's data into out.
func (c *client) data(ctx context.Context, path string, out any) error {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &env); err != nil {
		return err
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
