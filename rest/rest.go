// Package rest is mgmtd's JSON API (gin) under /api/v1: the model read
// API (clusters, nodes, resources, where, impact, hosts, VMs), the live
// event stream (server-sent events, resumable with Last-Event-ID), an
// OpenAPI 3 document generated from the same route table the router is
// built from, and /healthz.
//
// Every route is declared once in the route table and registered through
// one function that installs the same middleware chain (request id,
// recovery, authentication, authorization) in front of it, so no route can
// bypass it. Errors are application/problem+json (RFC 9457). Bodies carry
// the view (which node's picture), the snapshot generation and whether any
// source is stale; the ETag is the generation.
//
// rest imports model, auth, audit and action (the leaf of action types
// that actions are submitted as); everything else it uses - the
// simulator, the actuator, the audit reader - comes in through
// consumer-side interfaces the wiring satisfies.
package rest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// Snapshotter gives the current snapshot; *model.Store implements it.
type Snapshotter interface {
	Snapshot() *model.Snapshot
}

// Simulator asks Pacemaker's scheduler about a node's loss.
type Simulator interface {
	Impact(ctx context.Context, node string) []*model.Simulation
}

// Guard authenticates and authorizes one request. It returns nil to let
// the request through, or a *Problem (401, 403, 429 ...) to answer instead.
// It may store the caller's identity in the gin context. Read routes ask
// with the route's Permission.
type Guard func(c *gin.Context, perm Permission) *Problem

// Permission is what a route needs.
type Permission string

// Permissions routes declare.
const (
	PermPublic Permission = "public" // no authentication (health, OIDC callback)
	PermRead   Permission = "read"   // read cluster state
	PermAct    Permission = "act"    // change cluster state
	PermAdmin  Permission = "admin"  // administer mgmtd
	PermAudit  Permission = "audit"  // read the audit log
)

// Options configures the API.
type Options struct {
	Store  Snapshotter
	Events *model.EventLog
	// Simulator answers impact simulations; nil leaves them out.
	Simulator Simulator
	// Guard is the authentication and authorization hook; nil allows every
	// request (tests and the foundation without auth).
	Guard Guard
	// Heartbeat is the event stream's keep-alive interval; 0 means 15 s.
	Heartbeat time.Duration
	// MaxStreams bounds the event streams open at once; 0 means 256.
	MaxStreams int
	// MaxStreamsPerCaller bounds the streams one caller (identity) holds
	// open, so that one caller cannot take every slot; 0 means 8.
	MaxStreamsPerCaller int
	// History, when set, serves the events a resuming stream asks for
	// that the in-memory log no longer holds.
	History HistoryReader
	Log     *slog.Logger
}

// Route is one entry of the route table: the router and the OpenAPI
// document are both built from it.
type Route struct {
	Method    string
	Path      string // gin syntax, e.g. /api/v1/nodes/:name
	Perm      Permission
	Summary   string
	Query     []Param
	Response  string // schema name in the OpenAPI document
	Handler   gin.HandlerFunc
	Streaming bool
	// Produces is the media type of a 200 answer that is not JSON (text
	// such as Prometheus's exposition format).
	Produces string
	// NotAPI marks a route outside the API (the web page's files): it is
	// guarded like every route but left out of the OpenAPI document.
	NotAPI bool
}

// Param is a query parameter of a route.
type Param struct {
	Name, Type, Description string
	Required                bool
}

// Server is the REST API.
type Server struct {
	opts    Options
	engine  *gin.Engine
	routes  []Route
	cache   respCache
	streams atomic.Int64 // event streams open
	// streamsMu guards streamsBy, the open streams per caller id.
	streamsMu sync.Mutex
	streamsBy map[string]int
}

// New builds the API and its router.
func New(opts Options) *Server {
	s := newServer(opts)
	for _, r := range append(s.table(), s.storageRoutes()...) {
		s.Handle(r)
	}
	return s
}

// newServer builds the router and its middleware, without routes.
func newServer(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	positive(&opts.Heartbeat, 15*time.Second)
	positive(&opts.MaxStreamsPerCaller, 8)
	positive(&opts.MaxStreams, 256)
	gin.SetMode(gin.ReleaseMode)
	s := &Server{opts: opts, engine: gin.New()}
	s.engine.HandleMethodNotAllowed = true
	s.engine.NoRoute(func(c *gin.Context) { s.problem(c, NotFound("no such route: "+c.Request.URL.Path)) })
	s.engine.NoMethod(func(c *gin.Context) {
		s.problem(c, &Problem{Status: http.StatusMethodNotAllowed, Title: "Method Not Allowed", Detail: c.Request.Method + " is not allowed here"})
	})
	s.engine.Use(s.requestID, securityHeaders, s.recover)
	return s
}

// Handle registers a route behind the one middleware chain. Other
// packages' routes (actions, audit, UI) are added through it as well.
func (s *Server) Handle(r Route) {
	s.routes = append(s.routes, r)
	perm := r.Perm
	guard := func(c *gin.Context) {
		if s.opts.Guard != nil {
			if p := s.opts.Guard(c, perm); p != nil {
				s.problem(c, p)
				c.Abort()
				return
			}
		}
		c.Next()
	}
	s.engine.Handle(r.Method, r.Path, guard, r.Handler)
}

// securityHeaders: browsers must not sniff a type other than the one
// declared, and, over TLS, must use HTTPS for this host for a year.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if c.Request.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	c.Next()
}

// Routes returns the route table (for the OpenAPI test and for route
// enumeration tests).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Engine returns the gin engine (for the wiring to mount it).
func (s *Server) Engine() *gin.Engine { return s.engine }

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if id == "" || len(id) > 64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set("request_id", id)
	c.Header("X-Request-Id", id)
	c.Next()
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.opts.Log.Error("handler panic", "path", c.Request.URL.Path, "panic", fmt.Sprint(v))
			s.problem(c, &Problem{Status: http.StatusInternalServerError, Title: "Internal Server Error", Detail: "internal error"})
			c.Abort()
		}
	}()
	c.Next()
}

// Problem is an RFC 9457 problem document; it is also the error type the
// handlers return.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// RetryAfter, when set, is sent as a Retry-After header in seconds.
	RetryAfter int `json:"-"`
	// Challenges are sent as WWW-Authenticate headers, one header each:
	// browsers (Chromium) do not read a second challenge from a header.
	Challenges []string `json:"-"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// NotFound is a 404 problem.
func NotFound(detail string) *Problem {
	return &Problem{Status: http.StatusNotFound, Title: "Not Found", Detail: detail}
}

// BadRequest is a 400 problem.
func BadRequest(detail string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Title: "Bad Request", Detail: detail}
}

// ProblemFrom maps an error to a problem: a *Problem stays as it is,
// anything else is a 500 whose detail is not shown to the client.
func ProblemFrom(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return &Problem{Status: http.StatusInternalServerError, Title: "Internal Server Error", Detail: "internal error"}
}

func (s *Server) problem(c *gin.Context, p *Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = c.Request.URL.Path
	if p.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	for _, ch := range p.Challenges {
		c.Writer.Header().Add("WWW-Authenticate", ch)
	}
	c.Header("Content-Type", "application/problem+json")
	c.Status(p.Status)
	_ = jsonEncode(c.Writer, p)
}

// Problem writes p as the response; handlers of other packages use it.
func (s *Server) Problem(c *gin.Context, p *Problem) { s.problem(c, p) }

// positive sets *v to def unless it is positive.
func positive[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// PageRoutes serves a web page's files (files, an http.Handler such as
// package ui's) beside the API: under prefix ("/ui/"), and a redirect from
// / to it. The files are public (they hold no data), left out of the
// OpenAPI document; the API calls the page makes are authenticated as
// usual.
func PageRoutes(s *Server, files http.Handler, prefix string) {
	PageRoutesHome(s, files, prefix, prefix)
}

// PageRoutesHome is PageRoutes with / redirected to home (the fleet hub's
// page is prefix + "fleet.html").
func PageRoutesHome(s *Server, files http.Handler, prefix, home string) {
	h := gin.WrapH(files)
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		s.Handle(Route{Method: m, Path: prefix + "*file", Perm: PermPublic, NotAPI: true,
			Summary: "The web page for operators", Handler: h})
	}
	s.Handle(Route{Method: http.MethodGet, Path: "/", Perm: PermPublic, NotAPI: true,
		Summary: "Redirect to the web page", Handler: func(c *gin.Context) { c.Redirect(http.StatusFound, home) }})
}
