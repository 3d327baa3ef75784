package rest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/auth"
	"mgmtd/model"
)

// restrictKey holds, in the gin context, the function that cuts the
// snapshot down to what a scoped caller may see.
const restrictKey = "mgmtd.restrict"

// IdentityKey holds the caller's *auth.Identity in the gin context.
const IdentityKey = "mgmtd.identity"

// stillValidKey holds, in the gin context, a func() error that tells
// whether the caller's credential still holds (for long requests).
const stillValidKey = "mgmtd.stillvalid"

func actionOf(p Permission) auth.Action {
	switch p {
	case PermAct:
		return auth.ActionOperate
	case PermAdmin:
		return auth.ActionAdmin
	case PermAudit:
		return auth.ActionReadAudit
	case PermPush:
		return auth.ActionPush
	}
	return auth.ActionRead
}

func objectKindOf(p Permission) auth.ObjectKind {
	switch p {
	case PermAdmin:
		return auth.KindSystem
	case PermAudit:
		return auth.KindAudit
	}
	return auth.KindCluster
}

// AuthProblem maps an authentication error to a problem: 401 with the
// challenges, 403, 429 with Retry-After (the real remaining lock or wait,
// auth.RetryAfterSeconds), 503. auth's errors never carry credentials, so
// their text is shown.
func AuthProblem(err error) *Problem {
	st := auth.HTTPStatus(err)
	p := &Problem{Status: st, Title: http.StatusText(st), Detail: err.Error()}
	switch st {
	case http.StatusUnauthorized:
		p.Challenges = []string{`Bearer realm="mgmtd"`, `Basic realm="mgmtd", charset="UTF-8"`}
	case http.StatusTooManyRequests:
		p.RetryAfter = auth.RetryAfterSeconds(err)
		if p.RetryAfter == 0 {
			p.RetryAfter = 60 // a refusal that is not the limiter's (session store full)
		}
	}
	return p
}

// AuthGuard authenticates every non-public request with the auth service
// (fixed order, no fallback), refuses callers whose roles do not allow the
// route's permission anywhere (403, recorded as a denial), and for reads by
// callers scoped to part of the cluster installs a restricted view: what
// they may not see is filtered out, not refused. cluster names the cluster
// of the current snapshot.
func AuthGuard(svc *auth.Service, cluster func() string) Guard {
	return func(c *gin.Context, perm Permission) *Problem {
		if perm == PermPublic {
			return nil
		}
		id, err := svc.CheckRequest(c.Request)
		if err != nil {
			return AuthProblem(err)
		}
		ctx := auth.NewContext(c.Request.Context(), id)
		c.Request = c.Request.WithContext(ctx)
		c.Set(IdentityKey, id)
		req := c.Request
		c.Set(stillValidKey, func() error { return svc.StillValid(req, id) })
		if perm == PermAny {
			return nil
		}
		act := actionOf(perm)
		cl := cluster()
		// The audit log, tokens and mgmtd itself belong to no cluster: only
		// a global grant reaches them, so they are authorized as the
		// object itself. Cluster routes need the role somewhere; reads are
		// then cut to the scope, actions authorized per object.
		obj := auth.Object{Kind: objectKindOf(perm), Cluster: cl, Name: cl}
		if obj.Kind != auth.KindCluster {
			obj = auth.Object{Kind: obj.Kind}
		}
		if !id.Permits(act) || obj.Kind != auth.KindCluster {
			if d := svc.Authorize(ctx, id, act, obj); !d.Allowed {
				return &Problem{Status: http.StatusForbidden, Title: "Forbidden", Detail: d.Reason}
			}
		}
		if act == auth.ActionRead && !auth.Authorize(id, act, auth.Object{Kind: auth.KindCluster, Cluster: cl, Name: cl}).Allowed {
			c.Set(CacheScopeKey, scopeKey(id))
			c.Set(restrictKey, func(sn *model.Snapshot) *model.Snapshot {
				return sn.Restrict(func(k model.Kind, name string) bool {
					kind, member := auth.MemberKind(string(k))
					return member && auth.Authorize(id, auth.ActionRead, auth.Object{Cluster: sn.Cluster.Name, Kind: kind, Name: name}).Allowed
				})
			})
		}
		return nil
	}
}

func scopeKey(id *auth.Identity) string {
	var gs []string
	for _, g := range id.Grants {
		if g.Role.Permits(auth.ActionRead) {
			gs = append(gs, g.String())
		}
	}
	sort.Strings(gs)
	return strings.Join(gs, ",")
}

// identity returns the authenticated caller, if any.
func identity(c *gin.Context) *auth.Identity {
	if v, ok := c.Get(IdentityKey); ok {
		id, _ := v.(*auth.Identity)
		return id
	}
	return nil
}

// AuthRoutes returns the login, session and API token routes of svc.
// Login and its callback are public (the callback is where the provider
// sends the browser back); everything else needs a caller.
func AuthRoutes(s *Server, svc *auth.Service) []Route {
	wrap := func(h http.Handler) gin.HandlerFunc { return gin.WrapH(h) }
	return []Route{
		{Method: "GET", Path: "/api/v1/auth/login", Perm: PermPublic, Summary: "Start the OIDC browser login (code flow with PKCE)", Response: "", Handler: wrap(svc.LoginHandler())},
		{Method: "GET", Path: "/api/v1/auth/callback", Perm: PermPublic, Summary: "OIDC redirect target", Response: "", Handler: wrap(svc.CallbackHandler())},
		{Method: "GET", Path: "/api/v1/auth/methods", Perm: PermPublic, Summary: "How a browser may sign in: oidc (a login page) and basic (the browser's own prompt)", Response: "AuthMethods",
			Handler: func(c *gin.Context) {
				s.plainJSON(c, http.StatusOK, AuthMethods{OIDC: svc.BrowserLogin(), Basic: true})
			}},
		{Method: "GET", Path: "/api/v1/auth/session", Perm: PermAny, Summary: "The caller's identity and, for browser sessions, the CSRF token", Response: "", Handler: wrap(svc.SessionHandler())},
		// The page asks this one first: a browser that answers a Basic
		// challenge sends the credentials unasked only to the directory
		// of the challenged URL (RFC 7617's protection space), so the
		// first challenge must be directly under /api/v1/ - challenged at
		// /api/v1/auth/session, every other route was first tried without
		// credentials, each an authentication failure in the audit log.
		{Method: "GET", Path: "/api/v1/whoami", Perm: PermAny, Summary: "The caller's identity (as /api/v1/auth/session)", Response: "", Handler: wrap(svc.SessionHandler())},
		{Method: "POST", Path: "/api/v1/auth/logout", Perm: PermAny, Summary: "End the browser session", Response: "", Handler: wrap(svc.LogoutHandler())},
		{Method: "GET", Path: "/api/v1/tokens", Perm: PermAdmin, Summary: "List API tokens (never their secrets)", Response: "Tokens", Handler: s.listTokens(svc)},
		{Method: "POST", Path: "/api/v1/tokens", Perm: PermAdmin, Summary: "Create an API token; the secret is shown once", Response: "NewToken", Handler: s.createToken(svc)},
		{Method: "DELETE", Path: "/api/v1/tokens/:id", Perm: PermAdmin, Summary: "Revoke an API token", Response: "Token", Handler: s.revokeToken(svc)},
	}
}

// AuthMethods answers GET /api/v1/auth/methods.
type AuthMethods struct {
	OIDC  bool `json:"oidc"`  // /api/v1/auth/login leads to the identity provider
	Basic bool `json:"basic"` // HTTP Basic (demo users, PAM)
}

// PermAny needs an authenticated caller with any role.
const PermAny Permission = "any"

// NewTokenRequest is the body of POST /api/v1/tokens.
type NewTokenRequest struct {
	Name   string       `json:"name"`
	Grants []auth.Grant `json:"grants"`
	TTL    string       `json:"ttl,omitempty"` // Go duration, e.g. "720h"
}

// NewToken answers POST /api/v1/tokens.
type NewToken struct {
	Secret string     `json:"secret"`
	Token  auth.Token `json:"token"`
}

func init() {
	RegisterSchema("Tokens", []auth.Token{})
	RegisterSchema("Token", auth.Token{})
	RegisterSchema("NewToken", NewToken{})
	RegisterSchema("AuthMethods", AuthMethods{})
}

func (s *Server) plainJSON(c *gin.Context, status int, v any) {
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Status(status)
	_ = jsonEncode(c.Writer, v)
}

func (s *Server) listTokens(svc *auth.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		ts, err := svc.ListTokens(c.Request.Context(), identity(c))
		if err != nil {
			s.problem(c, AuthProblem(err))
			return
		}
		s.plainJSON(c, http.StatusOK, nonNil(ts))
	}
}

func (s *Server) createToken(svc *auth.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req NewTokenRequest
		dec := json.NewDecoder(io.LimitReader(c.Request.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.problem(c, BadRequest("body: "+err.Error()))
			return
		}
		var ttl time.Duration
		if req.TTL != "" {
			d, err := time.ParseDuration(req.TTL)
			if err != nil {
				s.problem(c, BadRequest("ttl: "+err.Error()))
				return
			}
			ttl = d
		}
		id := identity(c)
		secret, tok, err := svc.CreateToken(c.Request.Context(), id, auth.TokenSpec{Name: req.Name, Grants: req.Grants, TTL: ttl, CreatedBy: id.ID})
		if err != nil {
			if st := auth.HTTPStatus(err); st == http.StatusForbidden {
				s.problem(c, AuthProblem(err))
			} else {
				s.problem(c, BadRequest(err.Error()))
			}
			return
		}
		s.plainJSON(c, http.StatusCreated, NewToken{Secret: secret, Token: tok})
	}
}

func (s *Server) revokeToken(svc *auth.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		tok, err := svc.RevokeToken(c.Request.Context(), identity(c), c.Param("id"))
		if err != nil {
			if errors.Is(err, auth.ErrForbidden) {
				s.problem(c, AuthProblem(err))
			} else {
				s.problem(c, NotFound(err.Error()))
			}
			return
		}
		s.plainJSON(c, http.StatusOK, tok)
	}
}
