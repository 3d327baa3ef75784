package auth

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Cookie names. The __Host- prefix makes browsers insist on Secure,
// Path=/ and no Domain.
const (
	sessionCookie = "__Host-mgmtd-session"
	loginCookie   = "__Host-mgmtd-login"
)

const (
	loginTimeout = 10 * time.Minute
	// maxPending bounds the pending logins; when full, the oldest is
	// dropped (its browser starts again), never a new one refused.
	maxPending = 10000
	// maxPendingPerSource bounds the pending logins of one source address,
	// so that one client cannot fill the table and lock every user out.
	maxPendingPerSource = 20
	maxSessions         = 100000
)

type session struct {
	id      *Identity
	csrf    string
	expires time.Time
	tokens  *oauth2.Token // kept server side, never sent to the browser
}

type pendingLogin struct {
	verifier, nonce, returnTo string
	source                    string
	expires                   time.Time
}

// BrowserLogin reports whether the browser login (OIDC with a redirect
// URL) is configured: the page offers "Sign in" only then.
func (s *Service) BrowserLogin() bool { return s.oidc != nil && s.oidc.cfg.RedirectURL != "" }

// LoginHandler starts the browser login (GET): it redirects to the
// provider with the authorization code flow and PKCE (S256), binding the
// attempt to the browser with a short-lived cookie. The query parameter
// "return" names a local path to go to afterwards. It answers 404 when
// browser login is not configured.
func (s *Service) LoginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.oidc == nil || s.oidc.cfg.RedirectURL == "" {
			http.NotFound(w, r)
			return
		}
		p, _, err := s.oidc.ready(r.Context())
		if err != nil {
			WriteError(w, err)
			return
		}
		state, nonce, verifier := randomString(32), randomString(32), oauth2.GenerateVerifier()
		now, src := s.now(), sourceOf(r)
		s.mu.Lock()
		sweep(s.pending, now, func(p *pendingLogin) time.Time { return p.expires })
		n, oldest, oldestKey := 0, time.Time{}, ""
		for k, p := range s.pending {
			if p.source == src {
				n++
			}
			if oldestKey == "" || p.expires.Before(oldest) {
				oldest, oldestKey = p.expires, k
			}
		}
		tooMany, record := n >= maxPendingPerSource, false
		if tooMany {
			sweep(s.loginRefused, now, func(t time.Time) time.Time { return t.Add(loginTimeout) })
			if _, seen := s.loginRefused[src]; !seen {
				s.loginRefused[src], record = now, true
			}
		} else {
			if len(s.pending) >= maxPending {
				delete(s.pending, oldestKey)
			}
			s.pending[state] = &pendingLogin{verifier: verifier, nonce: nonce, source: src,
				returnTo: safeReturn(r.URL.Query().Get("return")), expires: now.Add(loginTimeout)}
		}
		s.mu.Unlock()
		if tooMany {
			err := fmt.Errorf("browser login: %d logins from %s are pending: %w", n, src, ErrRateLimited)
			// Recorded once per source and login timeout, not per refused
			// attempt.
			if record {
				s.rec.RecordAuth(r.Context(), AuthEvent{Time: now.UTC(), Kind: EventAuthFailure, Method: MethodSession, Source: src,
					Request: r.Method + " " + r.URL.Path, Reason: err.Error()})
			}
			WriteError(w, err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: state, Path: "/", MaxAge: int(loginTimeout.Seconds()),
			HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
		u := s.oidc.oauth2Config(p).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
		http.Redirect(w, r, u, http.StatusFound)
	})
}

// safeReturn accepts only local absolute paths, so the login cannot be
// used as an open redirect. Browsers drop tabs and newlines from URLs and
// read a backslash as a slash ("/\t/evil.example/" becomes
// "//evil.example/"), so any control character, white space or backslash
// refuses the path, and what remains must parse as a path alone.
func safeReturn(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || len(p) > 2048 {
		return "/"
	}
	for _, c := range p {
		if c <= ' ' || c == 0x7f || c == '\\' || unicode.IsSpace(c) || unicode.IsControl(c) {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return p
}

var afterLogin = template.Must(template.New("").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={{.}}"><title>mgmtd</title></head>
<body><a href="{{.}}">continue</a></body></html>
`))

// CallbackHandler finishes the browser login (GET, at the redirect URL):
// it checks state against the login cookie, exchanges the code with the
// PKCE verifier, verifies the ID token and its nonce, creates a session
// and sets the session cookie (HttpOnly, Secure, SameSite=Strict). The
// OIDC tokens stay on the server. Because a Strict cookie is not sent on
// the rest of a redirect chain that began at the provider, it answers
// with a small page that continues to the return path itself.
func (s *Service) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, returnTo, a, err := s.finishLogin(r)
		ev := AuthEvent{Time: s.now().UTC(), Kind: EventLogin, Method: MethodSession, Source: sourceOf(r),
			Request: r.Method + " " + r.URL.Path, ActorName: a.claimed}
		http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
		if err != nil {
			ev.Kind, ev.Reason = EventAuthFailure, err.Error()
			if a.detail != nil {
				ev.Reason += " (" + a.detail.Error() + ")"
			}
			s.recordFailure(r.Context(), ev, err, "browser login failed")
			WriteError(w, err)
			return
		}
		cookie, csrf := randomString(32), randomString(32)
		expires := s.now().Add(s.oidc.cfg.SessionTTL)
		s.mu.Lock()
		sweep(s.sessions, s.now(), func(x *session) time.Time { return x.expires })
		full := len(s.sessions) >= maxSessions
		if !full {
			s.sessions[hashSecret(cookie)] = &session{id: id, csrf: csrf, expires: expires, tokens: a.tokens}
		}
		s.mu.Unlock()
		if full {
			WriteError(w, fmt.Errorf("browser login: %w", ErrRateLimited))
			return
		}
		ev.ActorID, ev.ActorName = id.ID, id.Name
		s.log.Info("browser login", "actor", id.ID, "source", ev.Source)
		s.rec.RecordAuth(r.Context(), ev)
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: cookie, Path: "/", Expires: expires,
			MaxAge: int(s.oidc.cfg.SessionTTL.Seconds()), HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = afterLogin.Execute(w, returnTo)
	})
}

type loginAttempt struct {
	attempt
	tokens *oauth2.Token
}

func (s *Service) finishLogin(r *http.Request) (*Identity, string, loginAttempt, error) {
	var a loginAttempt
	a.method = MethodSession
	if s.oidc == nil || s.oidc.cfg.RedirectURL == "" {
		return nil, "", a, fmt.Errorf("browser login: %w", ErrMethodDisabled)
	}
	source := limitSource(r)
	if err := s.limiter.Allow("", source); err != nil {
		return nil, "", a, fmt.Errorf("browser login: %w", err)
	}
	fail := func(err error) (*Identity, string, loginAttempt, error) {
		s.limiter.Failure("", source)
		return nil, "", a, err
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		if len(e) > 64 {
			e = e[:64]
		}
		return fail(fmt.Errorf("browser login: %w: provider answered %q", ErrBadCredentials, e))
	}
	state := q.Get("state")
	c, err := r.Cookie(loginCookie)
	if err != nil || state == "" || !constantTimeEqual(c.Value, state) {
		return fail(fmt.Errorf("browser login: %w: state does not match this browser's login", ErrCSRF))
	}
	s.mu.Lock()
	pl := s.pending[state]
	delete(s.pending, state)
	s.mu.Unlock()
	if pl == nil || !s.now().Before(pl.expires) {
		return fail(fmt.Errorf("browser login: %w: login attempt unknown or expired", ErrBadCredentials))
	}
	p, _, err := s.oidc.ready(r.Context())
	if err != nil {
		return nil, "", a, err
	}
	tok, err := s.oidc.oauth2Config(p).Exchange(s.oidc.ctx(r.Context()), q.Get("code"), oauth2.VerifierOption(pl.verifier))
	if err != nil {
		a.detail = err
		return fail(fmt.Errorf("browser login: %w: code exchange failed", ErrBadCredentials))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return fail(fmt.Errorf("browser login: %w: no id_token in the token response", ErrBadCredentials))
	}
	claims, err := s.oidc.Verify(r.Context(), raw)
	if err != nil {
		return fail(fmt.Errorf("browser login: %w", err))
	}
	a.claimed = claims.displayName()
	if !constantTimeEqual(claims.Nonce, pl.nonce) {
		return fail(fmt.Errorf("browser login: %w: nonce mismatch", ErrBadCredentials))
	}
	s.limiter.Success("", source)
	a.tokens = tok
	return s.oidcIdentity(claims, MethodSession), pl.returnTo, a, nil
}

func (s *Service) authSession(cookie, source string) (*Identity, attempt, error) {
	a := attempt{method: MethodSession}
	if err := s.limiter.Allow("", source); err != nil {
		return nil, a, fmt.Errorf("session: %w", err)
	}
	s.mu.Lock()
	sess := s.sessions[hashSecret(cookie)]
	s.mu.Unlock()
	if sess == nil {
		s.limiter.Failure("", source)
		return nil, a, fmt.Errorf("session: %w: unknown or ended session, log in again", ErrBadCredentials)
	}
	a.claimed = sess.id.Name
	if !s.now().Before(sess.expires) {
		s.mu.Lock()
		delete(s.sessions, hashSecret(cookie))
		s.mu.Unlock()
		return nil, a, fmt.Errorf("session: %w, log in again", ErrTokenExpired)
	}
	return sess.id, a, nil
}

// CSRFToken returns the CSRF token of r's browser session, for the web
// page to embed (htmx: hx-headers='{"X-CSRF-Token": "..."}').
func (s *Service) CSRFToken(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[hashSecret(c.Value)]
	if sess == nil || !s.now().Before(sess.expires) {
		return "", false
	}
	return sess.csrf, true
}

// SessionHandler (GET, protected by the caller's middleware or by
// itself) answers the caller's identity as JSON and, for browser
// sessions, the CSRF token: {"identity": {...}, "csrf_token": "..."}.
func (s *Service) SessionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if !ok {
			var err error
			if id, err = s.CheckRequest(r); err != nil {
				WriteError(w, err)
				return
			}
		}
		out := struct {
			Identity  *Identity `json:"identity"`
			CSRFToken string    `json:"csrf_token,omitempty"`
		}{Identity: id}
		if id.Method == MethodSession {
			out.CSRFToken, _ = s.CSRFToken(r)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// LogoutHandler ends the browser session (POST with the CSRF token) and
// clears the cookie, then redirects to "/".
func (s *Service) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		id, err := s.CheckRequest(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		if id.Method == MethodSession {
			if c, err := r.Cookie(sessionCookie); err == nil {
				s.mu.Lock()
				delete(s.sessions, hashSecret(c.Value))
				s.mu.Unlock()
			}
			s.rec.RecordAuth(r.Context(), AuthEvent{Time: s.now().UTC(), Kind: EventLogout, Method: MethodSession,
				ActorID: id.ID, ActorName: id.Name, Source: sourceOf(r), Request: r.Method + " " + r.URL.Path})
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}

func sweep[V any](m map[string]V, now time.Time, expires func(V) time.Time) {
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
}

// StillValid reports whether the credential that authenticated id on r
// still holds, for requests that outlive their authentication (event
// streams). A browser session must still be open (it outlives the ID
// token that opened it); any other credential is checked by [Recheck]
// (expired, a revoked or expired API token, a deleted user). It records
// nothing.
func (s *Service) StillValid(r *http.Request, id *Identity) error {
	if id.Method != MethodSession {
		_, err := s.Recheck(id)
		return err
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return fmt.Errorf("%w: no session", ErrBadCredentials)
	}
	s.mu.Lock()
	sess := s.sessions[hashSecret(c.Value)]
	s.mu.Unlock()
	if sess == nil || !s.now().Before(sess.expires) {
		return fmt.Errorf("%w: the session ended", ErrBadCredentials)
	}
	return nil
}
