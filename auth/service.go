package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config is the auth part of mgmtd's configuration file.
type Config struct {
	// TLS of every HTTP listener.
	TLS TLSConfig `json:"tls,omitzero"`
	// OIDC enables bearer ID tokens and, with a redirect URL, the
	// browser login; nil disables both.
	OIDC *OIDCConfig `json:"oidc,omitempty"`
	// PAM checks HTTP Basic passwords through PAM (see auth/pamauth).
	PAM PAMConfig `json:"pam,omitzero"`
	// Bindings give roles to callers, in addition to [DefaultBindings]
	// (root on the local socket is admin), which always apply.
	Bindings []Binding `json:"bindings,omitempty"`
	// Limits for failed logins; zero fields take the defaults.
	Limits LimitConfig `json:"limits,omitzero"`
}

// PAMConfig enables HTTP Basic through PAM.
type PAMConfig struct {
	// Enabled turns PAM on.
	Enabled bool `json:"enabled,omitempty"`
	// Service is the PAM service name (/etc/pam.d/<service>); default
	// "mgmtd", shipped as pam.d/mgmtd.
	Service string `json:"service,omitempty"`
	// ConfDir replaces /etc/pam.d (tests; needs Linux-PAM >= 1.4).
	ConfDir string `json:"conf_dir,omitempty"`
}

// TokenFile is the API token store's file name inside the state
// directory.
const TokenFile = "tokens.json"

// Validate reports the first problem of c, naming the offending key.
func (c Config) Validate() error {
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if c.OIDC != nil {
		if err := c.OIDC.Validate(); err != nil {
			return err
		}
	}
	for i, b := range c.Bindings {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("bindings[%d]: %w", i, err)
		}
	}
	return nil
}

// Options assembles a [Service]. Nil parts disable their method.
type Options struct {
	Bindings  []Binding         // from Config.Bindings; DefaultBindings are always added
	Tokens    *TokenStore       // API tokens
	OIDC      *OIDC             // bearer ID tokens and browser login
	Passwords []PasswordChecker // HTTP Basic, asked in order (built-in users, then PAM)
	Limits    LimitConfig       // failed-login limits
	Recorder  Recorder          // audit hand-off; nil discards
	Logger    *slog.Logger      // nil discards
	Now       func() time.Time  // clock; nil for time.Now
}

// Service authenticates requests, authorizes them with [Authorize] and
// records both. It is safe for concurrent use.
type Service struct {
	bindings  []Binding
	tokens    *TokenStore
	oidc      *OIDC
	passwords []PasswordChecker
	limiter   *Limiter
	summary   *summarizer
	rec       Recorder
	log       *slog.Logger
	now       func() time.Time
	cop       *http.CrossOriginProtection

	mu       sync.Mutex
	sessions map[string]*session      // by hashSecret(cookie value)
	pending  map[string]*pendingLogin // by state
	// loginRefused: when a source's pending logins were last refused and
	// recorded (one record per source and login timeout).
	loginRefused map[string]time.Time
}

// New returns a Service. Bindings are validated.
func New(opts Options) (*Service, error) {
	// Root on the local socket is admin whatever the bindings say
	// (LocalAdmin explains why).
	opts.Bindings = append(DefaultBindings(), opts.Bindings...)
	for i, b := range opts.Bindings {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("bindings[%d]: %w", i, err)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Recorder == nil {
		opts.Recorder = discardRecorder{}
	}
	limiter := NewLimiter(opts.Limits, opts.Now)
	return &Service{
		bindings:  opts.Bindings,
		tokens:    opts.Tokens,
		oidc:      opts.OIDC,
		passwords: opts.Passwords,
		limiter:   limiter,
		summary:   newSummarizer(limiter.Config(), opts.Now, opts.Recorder, opts.Logger),
		rec:       opts.Recorder,
		log:       opts.Logger,
		now:       opts.Now,
		cop:       http.NewCrossOriginProtection(),
		sessions:  map[string]*session{},
		pending:   map[string]*pendingLogin{}, loginRefused: map[string]time.Time{},
	}, nil
}

// Tokens returns the API token store (nil if tokens are disabled).
func (s *Service) Tokens() *TokenStore { return s.tokens }

// FlushSummaries ends the current summary window at once: the summaries
// of refused requests counted so far go to the Recorder now. The daemon
// calls it before it closes the audit log; windows otherwise end by
// themselves (LimitConfig.SummaryWindow).
func (s *Service) FlushSummaries() { s.summary.flush() }

// attempt collects what is known about one authentication for the log
// and the audit event.
type attempt struct {
	method  Method
	claimed string // user name as claimed, or token id
	detail  error  // internal detail, for log and audit only
}

// Authenticate identifies the caller of r. The credentials are looked at
// in a fixed order and the first one present decides; a wrong credential
// is never passed on to the next method:
//
//  1. Authorization: Bearer mgmtd_...   API token
//  2. Authorization: Bearer <JWT>       OIDC ID token
//  3. Authorization: Basic              built-in users, then PAM
//     (any other Authorization scheme is refused)
//  4. session cookie                    browser session (OIDC login)
//  5. verified TLS client certificate   certificate subject
//  6. unix socket peer credentials      local uid (see [ConnContext])
//
// Without any credential it returns [ErrNoCredentials] (or, past the
// source's LimitConfig.AnonymousBurst, a refusal wrapping ErrRateLimited).
// Every outcome is handed to the Recorder: successes and failures with a
// credential one by one, requests without credentials and refusals by the
// limiter counted into one summary per source and window. Returned errors
// are safe to show the caller.
func (s *Service) Authenticate(r *http.Request) (*Identity, error) {
	id, a, err := s.authenticate(r)
	s.recordAuthn(r, id, a, err)
	return id, err
}

// CheckRequest is what every protected route runs: [Service.Authenticate],
// then, for state-changing methods, refusal of cross-origin browser
// requests (net/http CrossOriginProtection) and, for session callers,
// the CSRF token in the X-CSRF-Token header (or csrf_token form field).
// gin middleware calls it and aborts with [WriteError] on error.
func (s *Service) CheckRequest(r *http.Request) (*Identity, error) {
	id, a, err := s.authenticate(r)
	if err == nil {
		if cerr := s.checkCSRF(r, id); cerr != nil {
			a.detail, err, id = cerr, cerr, nil
		}
	}
	s.recordAuthn(r, id, a, err)
	return id, err
}

// Middleware protects next with [Service.CheckRequest]; the identity is
// in the request context ([FromContext]).
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.CheckRequest(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (s *Service) checkCSRF(r *http.Request, id *Identity) error {
	if safeMethod(r.Method) {
		return nil
	}
	if err := s.cop.Check(r); err != nil {
		return fmt.Errorf("%w: cross-origin request refused", ErrCSRF)
	}
	if id.Method != MethodSession {
		return nil
	}
	want, ok := s.CSRFToken(r)
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		got = r.PostFormValue("csrf_token")
	}
	if !ok || got == "" || !constantTimeEqual(got, want) {
		return ErrCSRF
	}
	return nil
}

func (s *Service) authenticate(r *http.Request) (*Identity, attempt, error) {
	ctx := r.Context()
	source := limitSource(r)
	// Each method asks the limiter before it checks anything: a user or
	// source that is locked out gets no further checks at all.
	vals := r.Header.Values("Authorization")
	if len(vals) > 0 {
		if len(vals) > 1 {
			return nil, attempt{}, s.malformed(source, fmt.Errorf("%w: more than one Authorization header", ErrBadCredentials))
		}
		scheme, cred, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
		cred = strings.TrimSpace(cred)
		switch strings.ToLower(scheme) {
		case "bearer":
			if strings.HasPrefix(cred, TokenPrefix) {
				return s.authToken(cred, source)
			}
			return s.authOIDC(ctx, cred, source)
		case "basic":
			return s.authBasic(r, source)
		default:
			return nil, attempt{}, s.malformed(source, fmt.Errorf("%w (use Bearer or Basic)", ErrUnsupportedScheme))
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return s.authSession(c.Value, source)
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return s.authCert(r)
	}
	if cred, ok, err := peerFromContext(ctx); ok {
		a := attempt{method: MethodLocal}
		if err != nil {
			a.detail = err
			return nil, a, fmt.Errorf("local socket: %w", ErrBadCredentials)
		}
		return s.localIdentity(cred), a, nil
	}
	if err := s.limiter.Anonymous(source); err != nil {
		return nil, attempt{}, fmt.Errorf("requests without credentials: %w", err)
	}
	return nil, attempt{}, ErrNoCredentials
}

// malformed counts a credential refused for its form (err) as a failure
// of source, unless the limiter refuses the source first.
func (s *Service) malformed(source string, err error) error {
	if lerr := s.limiter.Allow("", source); lerr != nil {
		return lerr
	}
	s.limiter.Failure("", source)
	return err
}

// limitSource is the source the limiter counts r's failures under: the
// client's address, or the local user for the unix socket (any local user
// may connect to it and present a token or password).
func limitSource(r *http.Request) string {
	if cred, ok, err := peerFromContext(r.Context()); ok {
		if err != nil {
			return "local"
		}
		return "local:uid=" + strconv.FormatUint(uint64(cred.UID), 10)
	}
	return sourceOf(r)
}

// sourceOf returns the client address, "" for the local socket.
func sourceOf(r *http.Request) string {
	if _, ok, _ := peerFromContext(r.Context()); ok {
		return ""
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Service) authToken(secret, source string) (*Identity, attempt, error) {
	a := attempt{method: MethodToken}
	id, _ := ParseTokenID(secret)
	a.claimed = id
	key := ""
	if id != "" {
		key = "token:" + id
	}
	if err := s.limiter.Allow(key, source); err != nil {
		return nil, a, fmt.Errorf("api token: %w", err)
	}
	if s.tokens == nil {
		s.limiter.Failure(key, source)
		return nil, a, fmt.Errorf("api token: %w", ErrMethodDisabled)
	}
	tok, err := s.tokens.Verify(secret)
	if err != nil {
		s.limiter.Failure(key, source)
		return nil, a, err
	}
	s.limiter.Success(key, source)
	ident := newIdentity("token:"+tok.ID, tok.Name, MethodToken, tok.Grants, nil)
	ident.Expiry = tok.ExpiresAt
	return ident, a, nil
}

func (s *Service) authOIDC(ctx context.Context, raw, source string) (*Identity, attempt, error) {
	a := attempt{method: MethodOIDC}
	if err := s.limiter.Allow("", source); err != nil {
		return nil, a, fmt.Errorf("oidc: %w", err)
	}
	if s.oidc == nil {
		s.limiter.Failure("", source)
		return nil, a, fmt.Errorf("oidc: %w", ErrMethodDisabled)
	}
	c, err := s.oidc.Verify(ctx, raw)
	if err != nil {
		if !errors.Is(err, ErrProviderUnavailable) {
			s.limiter.Failure("", source)
		}
		return nil, a, err
	}
	a.claimed = c.displayName()
	return s.oidcIdentity(c, MethodOIDC), a, nil
}

func (s *Service) oidcIdentity(c *OIDCClaims, m Method) *Identity {
	p := principal{method: m, oidcGroups: c.Groups}
	id := newIdentity("oidc:"+c.Issuer+"#"+c.Subject, c.displayName(), m, grantsFor(s.bindings, p, nil), c.Groups)
	id.Expiry = c.Expiry
	return id
}

func (s *Service) authBasic(r *http.Request, source string) (*Identity, attempt, error) {
	a := attempt{method: MethodPassword}
	name, password, ok := r.BasicAuth()
	key := ""
	if ok && name != "" {
		a.claimed, key = name, "user:"+name
	}
	if err := s.limiter.Allow(key, source); err != nil {
		return nil, a, fmt.Errorf("basic: %w", err)
	}
	if key == "" {
		s.limiter.Failure("", source)
		return nil, a, fmt.Errorf("basic: %w: malformed", ErrBadCredentials)
	}
	if len(s.passwords) == 0 {
		s.limiter.Failure(key, source)
		return nil, a, fmt.Errorf("basic: %w", ErrMethodDisabled)
	}
	known := false
	for _, c := range s.passwords {
		res, err := c.CheckPassword(r.Context(), name, password)
		if errors.Is(err, ErrUnknownUser) {
			a.detail = err
			continue
		}
		known = true
		if err != nil {
			a.detail = err
			break
		}
		s.limiter.Success(key, source)
		a.method = res.Method
		p := principal{method: res.Method, user: name, groups: res.Groups}
		prefix := "password:"
		if res.Method == MethodPAM {
			prefix = "pam:"
		}
		return newIdentity(prefix+name, name, res.Method, grantsFor(s.bindings, p, res.Grants), res.Groups), a, nil
	}
	s.limiter.Failure(key, source)
	if !known {
		// People type passwords into the user field: a name nobody
		// knows is logged and recorded only as a fingerprint, which
		// still lets repeated guesses be correlated.
		a.claimed = "unknown-user#" + hashSecret(name)[:12]
	}
	// Same answer for unknown users and wrong passwords.
	return nil, a, fmt.Errorf("basic: %w", ErrBadCredentials)
}

func (s *Service) authCert(r *http.Request) (*Identity, attempt, error) {
	leaf := r.TLS.VerifiedChains[0][0]
	subject := leaf.Subject.String()
	a := attempt{method: MethodCert, claimed: subject}
	p := principal{method: MethodCert, certSubject: subject, certCN: leaf.Subject.CommonName}
	name := leaf.Subject.CommonName
	if name == "" {
		name = subject
	}
	id := newIdentity("cert:"+subject, name, MethodCert, grantsFor(s.bindings, p, nil), nil)
	id.Expiry = leaf.NotAfter
	return id, a, nil
}

func (s *Service) localIdentity(cred PeerCred) *Identity {
	uid := strconv.FormatUint(uint64(cred.UID), 10)
	name := "uid " + uid
	var groups []string
	if u, err := user.LookupId(uid); err == nil {
		name = u.Username
		groups = unixGroups(u)
	}
	p := principal{method: MethodLocal, user: name, groups: groups}
	return newIdentity("local:uid="+uid, name, MethodLocal, grantsFor(s.bindings, p, nil), groups)
}

// unixGroups returns the names of u's groups (best effort).
func unixGroups(u *user.User) []string {
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var names []string
	for _, gid := range ids {
		if g, err := user.LookupGroupId(gid); err == nil {
			names = append(names, g.Name)
		}
	}
	return names
}

// UnixGroups returns the unix group names of the named user, or nil if
// the user has no account (for PasswordChecker implementations).
func UnixGroups(name string) []string {
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	return unixGroups(u)
}

func (s *Service) recordAuthn(r *http.Request, id *Identity, a attempt, err error) {
	ev := AuthEvent{
		Time:      s.now().UTC(),
		Method:    a.method,
		ActorName: a.claimed,
		Source:    sourceOf(r),
		Request:   r.Method + " " + r.URL.Path,
	}
	if ev.Source == "" {
		ev.Source = "unix"
	}
	if err == nil {
		ev.Kind, ev.Method, ev.ActorID, ev.ActorName = EventAuthSuccess, id.Method, id.ID, id.Name
		if id.Method == MethodCert && !firstCertSuccess(r.Context(), id.ID) {
			// Verified at this connection's handshake, recorded with
			// its first request (see ConnContext).
			return
		}
		s.log.Debug("authenticated", "method", id.Method, "actor", id.ID, "source", ev.Source, "request", ev.Request)
		s.rec.RecordAuth(r.Context(), ev)
		return
	}
	ev.Kind, ev.Reason = EventAuthFailure, err.Error()
	if a.detail != nil && !errors.Is(err, a.detail) {
		ev.Reason += " (" + a.detail.Error() + ")"
	}
	s.recordFailure(r.Context(), ev, err, "authentication failed")
}

// recordFailure hands a failure to the Recorder with a log line (msg), or
// counts it into its source's summary: a request without credentials, a
// refusal by the limiter, or a failure beyond the window's budget of
// failures recorded one by one. A summarised failure is logged only when
// it is the first of its source in the window.
func (s *Service) recordFailure(ctx context.Context, ev AuthEvent, err error, msg string) {
	kind, summarised := noise(err)
	if !summarised && !s.summary.individual() {
		kind, summarised = kindFailed, true
	}
	if !summarised {
		s.log.Info(msg, "method", ev.Method, "claimed", ev.ActorName, "source", ev.Source,
			"request", ev.Request, "reason", ev.Reason)
		s.rec.RecordAuth(ctx, ev)
		return
	}
	if s.summary.add(ev, kind) {
		s.log.Info(msg+"; further refusals from this source are summarised", "source", ev.Source,
			"request", ev.Request, "reason", ev.Reason, "dur", s.summary.window)
	}
}

// Authorize applies [Authorize] and hands every denial to the Recorder.
func (s *Service) Authorize(ctx context.Context, id *Identity, action Action, object Object) Decision {
	d := Authorize(id, action, object)
	if !d.Allowed {
		ev := AuthEvent{Time: s.now().UTC(), Kind: EventDenied, Action: action, Object: object.String(), Reason: d.Reason}
		if id != nil {
			ev.Method, ev.ActorID, ev.ActorName = id.Method, id.ID, id.Name
		}
		s.log.Info("denied", "actor", ev.ActorID, "action", action, "object", ev.Object, "reason", d.Reason)
		s.rec.RecordAuth(ctx, ev)
	}
	return d
}

// Err turns a denial into an error wrapping [ErrForbidden] (403).
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrForbidden, d.Reason)
}

var tokenObject = Object{Kind: KindToken}

// CreateToken lets caller create an API token. The caller needs
// ActionAdmin on tokens and may not hand out a grant it does not hold
// itself. The secret is returned once.
func (s *Service) CreateToken(ctx context.Context, caller *Identity, spec TokenSpec) (string, Token, error) {
	if s.tokens == nil {
		return "", Token{}, fmt.Errorf("create token: %w", ErrMethodDisabled)
	}
	if err := s.Authorize(ctx, caller, ActionAdmin, tokenObject).Err(); err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	for _, g := range spec.Grants {
		covered := false
		for _, h := range caller.Grants {
			covered = covered || h.covers(g)
		}
		if !covered {
			return "", Token{}, fmt.Errorf("create token: %w: grant %s exceeds the caller's grants", ErrForbidden, g)
		}
	}
	spec.CreatedBy = caller.ID
	secret, tok, err := s.tokens.Create(spec)
	if err != nil {
		return "", Token{}, err
	}
	s.rec.RecordAuth(ctx, AuthEvent{Time: s.now().UTC(), Kind: EventTokenCreated, Method: caller.Method,
		ActorID: caller.ID, ActorName: caller.Name, Object: "token:" + tok.ID, Reason: "name " + strconv.Quote(tok.Name)})
	return secret, tok, nil
}

// ListTokens lets caller list API tokens (never their secrets).
func (s *Service) ListTokens(ctx context.Context, caller *Identity) ([]Token, error) {
	if s.tokens == nil {
		return nil, fmt.Errorf("list tokens: %w", ErrMethodDisabled)
	}
	if err := s.Authorize(ctx, caller, ActionAdmin, tokenObject).Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return s.tokens.List(), nil
}

// RevokeToken lets caller revoke API token id.
func (s *Service) RevokeToken(ctx context.Context, caller *Identity, id string) (Token, error) {
	if s.tokens == nil {
		return Token{}, fmt.Errorf("revoke token: %w", ErrMethodDisabled)
	}
	if err := s.Authorize(ctx, caller, ActionAdmin, tokenObject).Err(); err != nil {
		return Token{}, fmt.Errorf("revoke token: %w", err)
	}
	tok, err := s.tokens.Revoke(id)
	if err != nil {
		return Token{}, err
	}
	s.rec.RecordAuth(ctx, AuthEvent{Time: s.now().UTC(), Kind: EventTokenRevoked, Method: caller.Method,
		ActorID: caller.ID, ActorName: caller.Name, Object: "token:" + tok.ID})
	return tok, nil
}
