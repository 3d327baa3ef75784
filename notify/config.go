package notify

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path"
	"strings"
	"time"

	"mgmtd/model"
)

// Config is the notification part of mgmtd's configuration file (key
// notify). Routes are read at start; every change to them between two
// starts is recorded in the audit log (notify.routes.changed).
type Config struct {
	// Sender says which mgmtd sends the cluster-wide notifications: "dc"
	// (the default, for mgmtd on every node: only the one whose view is
	// the DC) or "all" (this one always: a single mgmtd watching the
	// cluster). Notifications about this mgmtd's own sources are sent by
	// every mgmtd.
	Sender string `json:"sender,omitempty"`
	// Routes are the notification routes.
	Routes []RouteConfig `json:"routes,omitempty"`
}

// RouteConfig is one route: where notifications go, which ones, and how
// hard to try.
type RouteConfig struct {
	// Name names the route in REST, metrics, logs and audit records.
	Name string `json:"name"`
	// Kind is webhook, smtp or syslog; exactly the matching section is
	// set.
	Kind string `json:"kind"`
	// Filter selects the events the route sends; empty sends all.
	Filter Filter `json:"filter,omitzero"`
	// DedupWindow suppresses an event equal to one sent within the window
	// (same type, object, node and new state); default 5m, negative for
	// none.
	DedupWindow time.Duration `json:"dedup_window,omitempty"`
	// QueueSize bounds the notifications waiting for the route (default
	// 256); beyond it they are dropped and counted, so a slow or failing
	// route never holds anything else up.
	QueueSize int `json:"queue_size,omitempty"`
	// Attempts is how often one notification is tried before it becomes a
	// dead letter (default 5).
	Attempts int `json:"attempts,omitempty"`
	// RetryInterval is the first wait before a retry (default 1s); it
	// doubles with every failed attempt up to MaxRetryInterval (default
	// 5m).
	RetryInterval    time.Duration `json:"retry_interval,omitempty"`
	MaxRetryInterval time.Duration `json:"max_retry_interval,omitempty"`
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration `json:"timeout,omitempty"`
	// DegradedAfter is how many attempts in a row must fail before the
	// route is shown degraded (default 3); one delivery clears it.
	DegradedAfter int `json:"degraded_after,omitempty"`
	// DeadLetters is how many dead letters the route keeps (default 100).
	DeadLetters int `json:"dead_letters,omitempty"`

	Webhook *WebhookConfig `json:"webhook,omitempty"`
	SMTP    *SMTPConfig    `json:"smtp,omitempty"`
	Syslog  *SyslogConfig  `json:"syslog,omitempty"`
}

// Filter selects events. Each non-empty list must match; an empty list
// matches everything.
type Filter struct {
	// Kinds are event types ("resource.failed") or patterns
	// ("resource.*", path.Match syntax), or object kinds ("node", "vm").
	Kinds []string `json:"kinds,omitempty"`
	// MinSeverity is the least severity sent: info (default), warning or
	// critical.
	MinSeverity string `json:"min_severity,omitempty"`
	// Objects are object names or patterns ("web*"); an event matches by
	// its object or its node.
	Objects []string `json:"objects,omitempty"`
	// Clusters are cluster names or patterns.
	Clusters []string `json:"clusters,omitempty"`
}

// WebhookConfig posts each notification as JSON.
type WebhookConfig struct {
	// URL is the http(s) endpoint.
	URL string `json:"url"`
	// Secret keys the HMAC-SHA256 signature of the body (header
	// X-Mgmtd-Signature-256); SecretFile reads it from a file instead.
	// One of them is required.
	Secret     string `json:"secret,omitempty"`
	SecretFile string `json:"secret_file,omitempty"`
	// CAFile verifies an https endpoint with this CA bundle instead of
	// the system's.
	CAFile string `json:"ca_file,omitempty"`
	// Headers are added to every request.
	Headers map[string]string `json:"headers,omitempty"`
}

// SMTPConfig sends each notification as an e-mail.
type SMTPConfig struct {
	// Addr is the server's host:port.
	Addr string `json:"addr"`
	// From and To are the envelope and header addresses.
	From string   `json:"from"`
	To   []string `json:"to"`
	// TLS is "starttls" (the default: STARTTLS required), "tls" (implicit
	// TLS, port 465) or "none" (only on a loopback address).
	TLS string `json:"tls,omitempty"`
	// CAFile verifies the server with this CA bundle; ServerName overrides
	// the name verified (default: Addr's host).
	CAFile     string `json:"ca_file,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	// Username and Password (or PasswordFile) authenticate with AUTH
	// PLAIN, only over TLS.
	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	// SubjectPrefix starts every subject (default "[mgmtd]").
	SubjectPrefix string `json:"subject_prefix,omitempty"`
}

// SyslogConfig sends each notification as an RFC 5424 message.
type SyslogConfig struct {
	// Network is udp, tcp (RFC 6587 octet counting) or unix (a datagram
	// socket such as /dev/log).
	Network string `json:"network"`
	// Addr is host:port, or the socket's path for unix.
	Addr string `json:"addr"`
	// Facility is the syslog facility name (default daemon).
	Facility string `json:"facility,omitempty"`
	// AppName is the APP-NAME (default mgmtd); Hostname the HOSTNAME
	// (default: mgmtd's view, the node it runs on).
	AppName  string `json:"app_name,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

func (c *RouteConfig) defaults() {
	if c.DedupWindow == 0 {
		c.DedupWindow = 5 * time.Minute
	}
	if c.QueueSize == 0 {
		c.QueueSize = 256
	}
	if c.Attempts == 0 {
		c.Attempts = 5
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = time.Second
	}
	if c.MaxRetryInterval == 0 {
		c.MaxRetryInterval = 5 * time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.DegradedAfter == 0 {
		c.DegradedAfter = 3
	}
	if c.DeadLetters == 0 {
		c.DeadLetters = 100
	}
}

var severityRank = map[string]int{"": 0, "info": 0, "warning": 1, "critical": 2}

// Validate checks the configuration; errors name the key (relative to
// notify).
func (c Config) Validate() error {
	if c.Sender != "" && c.Sender != "dc" && c.Sender != "all" {
		return fmt.Errorf("notify.sender: %q is not dc or all", c.Sender)
	}
	seen := map[string]bool{}
	for i, r := range c.Routes {
		key := fmt.Sprintf("notify.routes[%d]", i)
		if err := r.validate(); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if seen[r.Name] {
			return fmt.Errorf("%s.name: %q given twice", key, r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

func (r RouteConfig) validate() error {
	if r.Name == "" || len(r.Name) > 64 || strings.ContainsAny(r.Name, " /\t\n\"") {
		return fmt.Errorf("name: %q must be 1 to 64 characters without spaces, quotes or slashes", r.Name)
	}
	sections := 0
	for _, set := range []bool{r.Webhook != nil, r.SMTP != nil, r.Syslog != nil} {
		if set {
			sections++
		}
	}
	if sections != 1 {
		return errors.New("exactly one of webhook, smtp, syslog must be set")
	}
	switch {
	case r.Kind == KindWebhook && r.Webhook != nil:
		u, err := url.Parse(r.Webhook.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("webhook.url: %q is not an http(s) URL", r.Webhook.URL)
		}
		if (r.Webhook.Secret == "") == (r.Webhook.SecretFile == "") {
			return errors.New("webhook: give secret or secret_file (the body is signed with it), not both")
		}
	case r.Kind == KindSMTP && r.SMTP != nil:
		s := r.SMTP
		host, _, err := net.SplitHostPort(s.Addr)
		if err != nil {
			return fmt.Errorf("smtp.addr: %q is not host:port", s.Addr)
		}
		if _, err := mail.ParseAddress(s.From); err != nil {
			return fmt.Errorf("smtp.from: %w", err)
		}
		if len(s.To) == 0 {
			return errors.New("smtp.to: empty")
		}
		for _, a := range s.To {
			if _, err := mail.ParseAddress(a); err != nil {
				return fmt.Errorf("smtp.to: %q: %w", a, err)
			}
		}
		switch s.TLS {
		case "", "starttls", "tls":
		case "none":
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return errors.New("smtp.tls: none is allowed only for a loopback server")
			}
			if s.Username != "" {
				return errors.New("smtp.tls: none with a username would send the password in clear")
			}
		default:
			return fmt.Errorf("smtp.tls: %q is not starttls, tls or none", s.TLS)
		}
		if s.Password != "" && s.PasswordFile != "" {
			return errors.New("smtp: give password or password_file, not both")
		}
	case r.Kind == KindSyslog && r.Syslog != nil:
		s := r.Syslog
		switch s.Network {
		case "udp", "tcp":
			if _, _, err := net.SplitHostPort(s.Addr); err != nil {
				return fmt.Errorf("syslog.addr: %q is not host:port", s.Addr)
			}
		case "unix":
			if !strings.HasPrefix(s.Addr, "/") {
				return fmt.Errorf("syslog.addr: %q is not an absolute socket path", s.Addr)
			}
		default:
			return fmt.Errorf("syslog.network: %q is not udp, tcp or unix", s.Network)
		}
		if _, ok := facilities[strings.ToLower(s.Facility)]; s.Facility != "" && !ok {
			return fmt.Errorf("syslog.facility: unknown facility %q", s.Facility)
		}
		if len(s.AppName) > 48 {
			return errors.New("syslog.app_name: longer than 48 characters")
		}
	default:
		return fmt.Errorf("kind: %q is not webhook, smtp or syslog, or its section is missing", r.Kind)
	}
	if _, ok := severityRank[r.Filter.MinSeverity]; !ok {
		return fmt.Errorf("filter.min_severity: %q is not info, warning or critical", r.Filter.MinSeverity)
	}
	for _, list := range [][]string{r.Filter.Kinds, r.Filter.Objects, r.Filter.Clusters} {
		for _, p := range list {
			if _, err := path.Match(p, ""); err != nil {
				return fmt.Errorf("filter: bad pattern %q", p)
			}
		}
	}
	if r.QueueSize < 0 || r.QueueSize > 100000 || r.Attempts < 0 || r.Attempts > 100 || r.DegradedAfter < 0 || r.DeadLetters < 0 || r.DeadLetters > 10000 {
		return errors.New("queue_size (0..100000), attempts (0..100), degraded_after and dead_letters (0..10000) out of range")
	}
	if r.RetryInterval < 0 || r.MaxRetryInterval < 0 || r.Timeout < 0 {
		return errors.New("retry_interval, max_retry_interval and timeout must not be negative")
	}
	return nil
}

// Match reports whether the filter selects e.
func (f Filter) Match(e model.Event) bool {
	if severityRank[string(e.Severity)] < severityRank[f.MinSeverity] {
		return false
	}
	if len(f.Kinds) > 0 && !anyMatch(f.Kinds, string(e.Type), string(e.Object.Kind)) {
		return false
	}
	if len(f.Objects) > 0 && !anyMatch(f.Objects, e.Object.Name, e.Node) {
		return false
	}
	if len(f.Clusters) > 0 && !anyMatch(f.Clusters, e.Object.Cluster) {
		return false
	}
	return true
}

func anyMatch(patterns []string, values ...string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if v == "" {
				continue
			}
			if ok, _ := path.Match(p, v); ok {
				return true
			}
		}
	}
	return false
}

// Redacted returns the route's configuration without its secrets (for
// audit records and REST): passwords and webhook secrets are replaced by
// "(set)", and a URL's user information is removed.
func (r RouteConfig) Redacted() RouteConfig {
	out := r
	if r.Webhook != nil {
		w := *r.Webhook
		if w.Secret != "" {
			w.Secret = "(set)"
		}
		if u, err := url.Parse(w.URL); err == nil && u.User != nil {
			u.User = nil
			w.URL = u.String()
		}
		if len(w.Headers) > 0 {
			h := map[string]string{}
			for k := range w.Headers {
				h[k] = "(set)"
			}
			w.Headers = h
		}
		out.Webhook = &w
	}
	if r.SMTP != nil {
		s := *r.SMTP
		if s.Password != "" {
			s.Password = "(set)"
		}
		out.SMTP = &s
	}
	return out
}
