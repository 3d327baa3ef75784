package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"mgmtd/model"
)

// The webhook's headers.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// request body keyed with the route's secret (GitHub's scheme); the
	// body carries the message id and the time it was sent, so a receiver
	// can refuse replays.
	SignatureHeader = "X-Mgmtd-Signature-256"
	// EventHeader carries the event type, DeliveryHeader the message id
	// (the same on every retry).
	EventHeader    = "X-Mgmtd-Event"
	DeliveryHeader = "X-Mgmtd-Delivery"
)

// WebhookPayload is the JSON body of a webhook POST.
type WebhookPayload struct {
	// Version of the payload's format: 1.
	Version int    `json:"version"`
	ID      string `json:"id"`
	Cluster string `json:"cluster"`
	View    string `json:"view"`
	// Sent is when this attempt was made.
	Sent  time.Time   `json:"sent"`
	Event model.Event `json:"event"`
}

// Sign returns the value of SignatureHeader for body and secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature with secret (constant
// time).
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// Webhook posts messages to an HTTP endpoint. A 2xx answer is a delivery;
// anything else, or no answer, is retried.
type Webhook struct {
	cfg    WebhookConfig
	secret []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhook builds the sender (reading the secret and CA files).
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	w := &Webhook{cfg: c, secret: []byte(c.Secret), now: time.Now}
	if c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: %w", err)
		}
		w.secret = bytes.TrimSpace(b)
		if len(w.secret) == 0 {
			return nil, fmt.Errorf("webhook secret: %s is empty", c.SecretFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("webhook ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("webhook ca_file %s: no certificate", c.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	// No redirects: a signed body is for the configured endpoint only.
	w.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w, nil
}

// Send posts m.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(WebhookPayload{Version: 1, ID: m.ID, Cluster: m.Cluster, View: m.View, Sent: w.now().UTC(), Event: m.Event})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mgmtd-notify/1")
	req.Header.Set(EventHeader, string(m.Event.Type))
	req.Header.Set(DeliveryHeader, m.ID)
	req.Header.Set(SignatureHeader, Sign(w.secret, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: %s: %s", resp.Status, strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?")))
	}
	return nil
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
