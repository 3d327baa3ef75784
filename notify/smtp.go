package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// SMTP sends messages as e-mail: one connection per message (notifications
// are rare; a connection kept open would time out between them), STARTTLS
// required unless configured otherwise, AUTH PLAIN only over TLS.
type SMTP struct {
	cfg      SMTPConfig
	host     string
	password string
	tls      *tls.Config
	hello    string
	now      func() time.Time
}

// NewSMTP builds the sender (reading the password and CA files).
func NewSMTP(c SMTPConfig) (*SMTP, error) {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, err
	}
	s := &SMTP{cfg: c, host: host, password: c.Password, now: time.Now}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("smtp password: %w", err)
		}
		s.password = strings.TrimSpace(string(b))
	}
	name := c.ServerName
	if name == "" {
		name = host
	}
	s.tls = &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp ca_file %s: no certificate", c.CAFile)
		}
		s.tls.RootCAs = pool
	}
	if s.hello, err = os.Hostname(); err != nil || s.hello == "" {
		s.hello = "localhost"
	}
	if s.cfg.SubjectPrefix == "" {
		s.cfg.SubjectPrefix = "[mgmtd]"
	}
	return s, nil
}

// Send delivers m to every recipient in one transaction.
func (s *SMTP) Send(ctx context.Context, m Message) (err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if s.cfg.TLS == "tls" {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtp tls: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.hello); err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	if s.cfg.TLS == "" || s.cfg.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the server does not offer STARTTLS")
		}
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: the server does not offer AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.password, s.host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	from, _ := mail.ParseAddress(s.cfg.From)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	for _, to := range s.cfg.To {
		a, _ := mail.ParseAddress(to)
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("smtp rcpt to %s: %w", a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(s.compose(m)); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	_ = c.Quit()
	return nil
}

// compose builds the e-mail: headers and a quoted-printable UTF-8 body.
func (s *SMTP) compose(m Message) []byte {
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", s.cfg.From)
	h("To", strings.Join(s.cfg.To, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", Subject(s.cfg.SubjectPrefix, m)))
	h("Date", s.now().Format(time.RFC1123Z))
	h("Message-ID", "<"+strings.NewReplacer("@", "_", ">", "_", " ", "_").Replace(m.ID)+"."+fmt.Sprint(s.now().UnixNano())+"@mgmtd>")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("X-Mgmtd-Event", oneLine(string(m.Event.Type), 64))
	h("X-Mgmtd-Severity", oneLine(string(m.Event.Severity), 16))
	h("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(Text(m), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}

// Close does nothing: connections last one message.
func (s *SMTP) Close() error { return nil }
