package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"mgmtd/model"
)

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8, "cron": 9,
	"authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// SDID is the structured data element of mgmtd's syslog messages. 32473
// is the private enterprise number RFC 5612 reserves for documentation
// and examples; a site with its own number may rewrite it in its
// collector.
const SDID = "mgmtd@32473"

// Syslog sends RFC 5424 messages over UDP (one datagram each), TCP (RFC
// 6587 octet counting, one connection kept and redialled on failure) or a
// unix datagram socket.
type Syslog struct {
	cfg      SyslogConfig
	facility int
	hostname string
	now      func() time.Time
	pid      int

	mu   sync.Mutex
	conn net.Conn
}

// NewSyslog builds the sender; it connects at the first message.
func NewSyslog(c SyslogConfig) (*Syslog, error) {
	fac := 3
	if c.Facility != "" {
		var ok bool
		if fac, ok = facilities[strings.ToLower(c.Facility)]; !ok {
			return nil, fmt.Errorf("syslog: unknown facility %q", c.Facility)
		}
	}
	if c.AppName == "" {
		c.AppName = "mgmtd"
	}
	return &Syslog{cfg: c, facility: fac, hostname: c.Hostname, now: time.Now, pid: os.Getpid()}, nil
}

// severityCode maps an event severity to a syslog severity: critical 2,
// warning 4, info 6 (notice 5 is not used).
func severityCode(s model.Severity) int {
	switch s {
	case model.SeverityCritical:
		return 2
	case model.SeverityWarning:
		return 4
	}
	return 6
}

// Format renders m as an RFC 5424 message (without transport framing).
func (s *Syslog) Format(m Message) []byte {
	host := s.hostname
	if host == "" {
		host = m.View
	}
	e := m.Event
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s %s %d %s ", s.facility*8+severityCode(e.Severity), s.now().UTC().Format("2006-01-02T15:04:05.000000Z"),
		header(host, 255), header(s.cfg.AppName, 48), s.pid, header(string(e.Type), 32))
	b.WriteString("[" + SDID)
	param := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + `="` + sdEscape(v) + `"`)
		}
	}
	param("id", m.ID)
	param("cluster", m.Cluster)
	param("severity", string(e.Severity))
	param("kind", string(e.Object.Kind))
	param("object", e.Object.Name)
	param("node", e.Node)
	param("from", e.From)
	param("to", e.To)
	param("generation", strconv.FormatUint(e.Generation, 10))
	if !e.Time.IsZero() {
		param("time", e.Time.UTC().Format(time.RFC3339Nano))
	}
	b.WriteString("] ")
	// MSG in UTF-8 with the BOM RFC 5424 asks for.
	b.WriteString("\ufeff")
	b.WriteString(oneLine(e.Message, 4096))
	return b.Bytes()
}

// header is a printable-ASCII header field (RFC 5424 PRINTUSASCII, no
// spaces), "-" when empty.
func header(s string, n int) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		} else {
			out = append(out, '_')
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

var sdEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)

func sdEscape(s string) string { return sdEscaper.Replace(oneLine(s, 1024)) }

// Send writes m; a TCP connection that fails is closed and redialled
// once within the same attempt.
func (s *Syslog) Send(ctx context.Context, m Message) error {
	msg := s.Format(m)
	if s.cfg.Network == "tcp" {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for try := 0; try < 2; try++ {
		if s.conn == nil {
			if s.conn, err = s.dial(ctx); err != nil {
				return err
			}
		}
		dl, ok := ctx.Deadline()
		if !ok {
			dl = time.Now().Add(10 * time.Second)
		}
		_ = s.conn.SetWriteDeadline(dl)
		if _, err = s.conn.Write(msg); err == nil {
			return nil
		}
		s.conn.Close()
		s.conn = nil
		if s.cfg.Network != "tcp" || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("syslog: %w", err)
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	network := s.cfg.Network
	if network == "unix" {
		network = "unixgram"
	}
	c, err := d.DialContext(ctx, network, s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("syslog: %w", err)
	}
	return c, nil
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
