package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Errors returned by authentication. They are wrapped with detail that
// names the method and the reason but never the credential; test with
// errors.Is. [HTTPStatus] maps them to status codes.
var (
	// ErrNoCredentials: the request carries no credential at all.
	ErrNoCredentials = errors.New("authentication required")
	// ErrUnsupportedScheme: an Authorization header with a scheme other
	// than Bearer or Basic.
	ErrUnsupportedScheme = errors.New("unsupported authorization scheme")
	// ErrBadCredentials: wrong user or password, unknown or wrong token,
	// unknown or expired session.
	ErrBadCredentials = errors.New("invalid credentials")
	// ErrLockedOut: too many failures for this user or source; try later.
	ErrLockedOut = errors.New("temporarily locked out after repeated failures")
	// ErrRateLimited: failures from this source arrive too fast.
	ErrRateLimited = errors.New("too many failed attempts, slow down")
	// ErrTokenExpired: the token or session is past its expiry.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenRevoked: the API token was revoked.
	ErrTokenRevoked = errors.New("token revoked")
	// ErrMalformedToken: the bearer token is not a well-formed JWT.
	ErrMalformedToken = errors.New("malformed token")
	// ErrUnsigned: the JWT has no signature or uses alg "none".
	ErrUnsigned = errors.New("token is not signed")
	// ErrAlgorithm: the JWT is signed with an algorithm not allowed here.
	ErrAlgorithm = errors.New("signing algorithm not allowed")
	// ErrWrongIssuer: the JWT comes from another issuer.
	ErrWrongIssuer = errors.New("token from wrong issuer")
	// ErrWrongAudience: the JWT was issued for another client.
	ErrWrongAudience = errors.New("token for wrong audience")
	// ErrBadSignature: the JWT signature does not verify with the
	// issuer's keys (e.g. signed by a foreign key).
	ErrBadSignature = errors.New("token signature not valid")
	// ErrMissingGroups: the JWT lacks the configured groups claim.
	ErrMissingGroups = errors.New("token has no groups claim")
	// ErrProviderUnavailable: the OIDC provider could not be reached.
	ErrProviderUnavailable = errors.New("identity provider unavailable")
	// ErrMethodDisabled: the credential's method is not configured.
	ErrMethodDisabled = errors.New("authentication method not enabled")
	// ErrCSRF: a mutating session request without a valid CSRF token, or
	// a cross-origin browser request.
	ErrCSRF = errors.New("missing or invalid CSRF token")
	// ErrUnknownUser is returned by a [PasswordChecker] that does not know
	// the user, so that the next checker is asked. Callers never see it.
	ErrUnknownUser = errors.New("unknown user")
	// ErrForbidden: authenticated, but the policy denies the request.
	ErrForbidden = errors.New("forbidden")
)

// HTTPStatus maps an error from this package to an HTTP status code:
// 401 for missing or bad credentials, 403 for CSRF and policy denials,
// 429 for lockout and rate limiting, 503 when the provider is down.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrLockedOut), errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrCSRF), errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrProviderUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// WriteError writes err as a small JSON body {"error": ..., "status": ...}
// with the status of [HTTPStatus] and, for 401, a WWW-Authenticate
// challenge; a refusal by the limiter carries Retry-After, the seconds
// until the lock ends or the next attempt is allowed. Errors of this package never contain credentials, so the
// text is safe to show.
func WriteError(w http.ResponseWriter, err error) {
	status := HTTPStatus(err)
	h := w.Header()
	if status == http.StatusUnauthorized {
		h.Add("WWW-Authenticate", `Bearer realm="mgmtd"`)
		h.Add("WWW-Authenticate", `Basic realm="mgmtd", charset="UTF-8"`)
	}
	if n := RetryAfterSeconds(err); n > 0 {
		h.Set("Retry-After", strconv.Itoa(n))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{err.Error(), status})
}
