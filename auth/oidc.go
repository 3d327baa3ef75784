package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig configures OIDC bearer tokens and the browser login.
type OIDCConfig struct {
	// Issuer URL exactly as in the provider's discovery document. https,
	// or http on a loopback address (tests).
	Issuer string `json:"issuer"`
	// ClientID is mgmtd's client at the provider and the audience every
	// accepted token must name.
	ClientID string `json:"client_id"`
	// ClientSecret for the code exchange of the browser login.
	ClientSecret string `json:"client_secret,omitempty"`
	// RedirectURL of the browser login's callback, e.g.
	// https://mgmtd.example/auth/callback; empty disables browser login.
	RedirectURL string `json:"redirect_url,omitempty"`
	// Algorithms allowed for token signatures; default RS256 and ES256.
	Algorithms []string `json:"algorithms,omitempty"`
	// GroupsClaim names the claim holding the groups; default "groups".
	GroupsClaim string `json:"groups_claim,omitempty"`
	// AllowMissingGroups accepts tokens without the groups claim (their
	// holders get no OIDC group bindings). By default they are refused
	// with ErrMissingGroups, since bindings depend on the claim.
	AllowMissingGroups bool `json:"allow_missing_groups,omitempty"`
	// Scopes asked for in the browser login; default openid, email,
	// profile, groups.
	Scopes []string `json:"scopes,omitempty"`
	// SessionTTL bounds a browser session; default 8h.
	SessionTTL time.Duration `json:"session_ttl,omitempty"`
}

// Validate reports the first problem of c, naming the key.
func (c OIDCConfig) Validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" {
		return fmt.Errorf("oidc.issuer: not an absolute URL: %q", c.Issuer)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
		return fmt.Errorf("oidc.issuer: must use https (plain http only on loopback): %q", c.Issuer)
	}
	if c.ClientID == "" {
		return errors.New("oidc.client_id: required")
	}
	if c.RedirectURL != "" {
		r, err := url.Parse(c.RedirectURL)
		if err != nil || r.Host == "" || (r.Scheme != "https" && !isLoopbackHost(r.Hostname())) {
			return fmt.Errorf("oidc.redirect_url: want an https URL: %q", c.RedirectURL)
		}
		if c.ClientSecret == "" {
			return errors.New("oidc.client_secret: required with oidc.redirect_url")
		}
	}
	for _, a := range c.Algorithms {
		if strings.EqualFold(a, "none") || strings.HasPrefix(a, "HS") {
			return fmt.Errorf("oidc.algorithms: %q is not allowed", a)
		}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (c OIDCConfig) withDefaults() OIDCConfig {
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{oidc.RS256, oidc.ES256}
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{oidc.ScopeOpenID, "email", "profile", "groups"}
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 8 * time.Hour
	}
	return c
}

// OIDC verifies ID tokens of one provider. Discovery happens on first
// use and is retried (at most every 10 s) while the provider is down, so
// mgmtd starts even when the provider does not answer. The key set is
// fetched from the provider's jwks_uri and refetched when a token names
// an unknown key, which follows key rotation.
type OIDC struct {
	cfg    OIDCConfig
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	tried    time.Time
	lastErr  error
}

// OIDCClaims are the verified claims mgmtd uses.
type OIDCClaims struct {
	Issuer, Subject   string
	Email, Name, User string // User is preferred_username
	Groups            []string
	HasGroups         bool // the groups claim was present
	Expiry            time.Time
	Nonce             string
}

// NewOIDC checks cfg and returns a verifier; client is used for
// discovery, keys and code exchange (nil for a client with a 10 s
// timeout) and now
// is the clock for expiry checks (nil for time.Now).
func NewOIDC(cfg OIDCConfig, client *http.Client, now func() time.Time) (*OIDC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	return &OIDC{cfg: cfg.withDefaults(), client: client, now: now}, nil
}

func (o *OIDC) ctx(ctx context.Context) context.Context { return oidc.ClientContext(ctx, o.client) }

// ready returns the provider, discovering it if needed.
func (o *OIDC) ready(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, o.verifier, nil
	}
	if o.lastErr != nil && time.Since(o.tried) < 10*time.Second {
		return nil, nil, o.lastErr
	}
	o.tried = time.Now()
	// The key set's context must outlive this request: it is used for
	// background refreshes.
	p, err := oidc.NewProvider(o.ctx(context.WithoutCancel(ctx)), o.cfg.Issuer)
	if err != nil {
		o.lastErr = fmt.Errorf("%w: discovery at %s: %v", ErrProviderUnavailable, o.cfg.Issuer, err)
		return nil, nil, o.lastErr
	}
	o.provider, o.lastErr = p, nil
	o.verifier = p.VerifierContext(o.ctx(context.WithoutCancel(ctx)), &oidc.Config{
		ClientID:             o.cfg.ClientID,
		SupportedSigningAlgs: o.cfg.Algorithms,
		Now:                  o.now,
	})
	return o.provider, o.verifier, nil
}

// Verify checks an ID token (issuer, audience, expiry, algorithm,
// signature with the provider's current keys, groups claim) and returns
// its claims. Errors wrap one of ErrMalformedToken, ErrUnsigned,
// ErrAlgorithm, ErrWrongIssuer, ErrWrongAudience, ErrTokenExpired,
// ErrBadSignature, ErrMissingGroups or ErrProviderUnavailable, and never
// contain the token.
func (o *OIDC) Verify(ctx context.Context, raw string) (*OIDCClaims, error) {
	peek, err := PeekJWT(raw)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	switch {
	case strings.EqualFold(peek.Alg, "none"):
		return nil, fmt.Errorf("oidc: %w (alg none)", ErrUnsigned)
	case !peek.Signed:
		return nil, fmt.Errorf("oidc: %w (empty signature)", ErrUnsigned)
	case !slices.Contains(o.cfg.Algorithms, peek.Alg):
		return nil, fmt.Errorf("oidc: %w: %q (allowed: %s)", ErrAlgorithm, peek.Alg, strings.Join(o.cfg.Algorithms, ", "))
	case peek.Issuer != o.cfg.Issuer:
		return nil, fmt.Errorf("oidc: %w: expected %q, got %q", ErrWrongIssuer, o.cfg.Issuer, peek.Issuer)
	}
	_, v, err := o.ready(ctx)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	tok, err := v.Verify(o.ctx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", classifyOIDC(err))
	}
	return o.claims(tok)
}

// classifyOIDC maps go-oidc's errors (which carry issuer, audience and
// times but not the token) to ours.
func classifyOIDC(err error) error {
	var exp *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return fmt.Errorf("%w at %s", ErrTokenExpired, exp.Expiry.UTC().Format(time.RFC3339))
	case strings.Contains(msg, "expected audience"):
		return fmt.Errorf("%w: %s", ErrWrongAudience, strings.TrimPrefix(msg, "oidc: "))
	case strings.Contains(msg, "different provider"):
		return fmt.Errorf("%w: %s", ErrWrongIssuer, strings.TrimPrefix(msg, "oidc: "))
	case strings.Contains(msg, "failed to verify signature"):
		return fmt.Errorf("%w: not signed by a current key of the issuer", ErrBadSignature)
	case strings.Contains(msg, "not signed"):
		return ErrUnsigned
	case strings.Contains(msg, "malformed jwt"), strings.Contains(msg, "unmarshal claims"):
		return fmt.Errorf("%w: %s", ErrMalformedToken, strings.TrimPrefix(msg, "oidc: "))
	}
	return fmt.Errorf("%w: %s", ErrBadCredentials, strings.TrimPrefix(msg, "oidc: "))
}

func (o *OIDC) claims(tok *oidc.IDToken) (*OIDCClaims, error) {
	var raw map[string]any
	if err := tok.Claims(&raw); err != nil {
		return nil, fmt.Errorf("oidc: %w: claims: %v", ErrMalformedToken, err)
	}
	c := &OIDCClaims{Issuer: tok.Issuer, Subject: tok.Subject, Expiry: tok.Expiry, Nonce: tok.Nonce}
	c.Email, _ = raw["email"].(string)
	c.Name, _ = raw["name"].(string)
	c.User, _ = raw["preferred_username"].(string)
	if g, ok := raw[o.cfg.GroupsClaim]; ok {
		list, ok := g.([]any)
		if !ok {
			return nil, fmt.Errorf("oidc: %w: claim %q is not a list", ErrMalformedToken, o.cfg.GroupsClaim)
		}
		c.HasGroups = true
		for _, v := range list {
			if s, ok := v.(string); ok {
				c.Groups = append(c.Groups, s)
			}
		}
	}
	if !c.HasGroups && !o.cfg.AllowMissingGroups {
		return nil, fmt.Errorf("oidc: %w %q (subject %s)", ErrMissingGroups, o.cfg.GroupsClaim, c.Subject)
	}
	return c, nil
}

// displayName picks the friendliest name a token offers.
func (c *OIDCClaims) displayName() string {
	for _, n := range []string{c.Email, c.User, c.Name} {
		if n != "" {
			return n
		}
	}
	return c.Subject
}

// oauth2Config returns the code-flow client configuration.
func (o *OIDC) oauth2Config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     o.cfg.ClientID,
		ClientSecret: o.cfg.ClientSecret,
		RedirectURL:  o.cfg.RedirectURL,
		Endpoint:     p.Endpoint(),
		Scopes:       o.cfg.Scopes,
	}
}
