package wbem

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"mgmtd/wbem/cimxml"
)

// Config configures a [Server].
type Config struct {
	// Provider serves classes and instances. Required.
	Provider Provider
	// Authenticate establishes the caller of every request. Required:
	// there is no default identity.
	Authenticate Authenticator
	// Audit records state-changing operations (InvokeMethod,
	// CreateInstance, DeleteInstance) before they run. When nil those
	// operations are refused with CIM_ERR_FAILED; read operations never
	// call it.
	Audit Auditor
	// Logger receives request errors; nil discards.
	Logger *slog.Logger
	// Host is written as HOST in the instance paths of responses; default
	// "localhost".
	Host string
	// Realm is the Basic authentication realm of 401 answers; default
	// "mgmtd".
	Realm string
	// Path is the CIM operations URL path; default "/cimom".
	Path string
	// Limits bound request decoding; zero fields take
	// cimxml.DefaultLimits.
	Limits cimxml.Limits
	// MaxConcurrent bounds the operations processed at once (default 8),
	// MaxConcurrentPerCaller those of one caller (Principal.Owner;
	// default half of MaxConcurrent, at least 1). A request takes a slot
	// only after its caller is authenticated and its body read; without
	// a free slot it waits in a queue of MaxQueued requests (default 4 ×
	// MaxConcurrent; negative: no queue) for QueueTimeout at most
	// (default 10 s), then is answered 503 with Retry-After.
	MaxConcurrent          int
	MaxConcurrentPerCaller int
	MaxQueued              int
	QueueTimeout           time.Duration
	// BodyTimeout bounds the reading of a request body, from the end of
	// authentication (default 10 s); a slower body is answered 408.
	BodyTimeout time.Duration
	// MaxEnumerationContexts bounds the open pull enumeration contexts
	// (default 64), MaxEnumerationContextsPerCaller those of one caller
	// (default 16, at most MaxEnumerationContexts). A caller at its limit
	// that opens another loses its least recently used idle context;
	// when the pool is full, or the caller's contexts are all in use,
	// Open* gets CIM_ERR_SERVER_LIMITS_EXCEEDED.
	MaxEnumerationContexts          int
	MaxEnumerationContextsPerCaller int
	// DefaultOperationTimeout applies to Open* requests without
	// OperationTimeout (default 60 s); MaxOperationTimeout is the largest
	// accepted (default 10 min). Zero OperationTimeout ("never") is refused.
	DefaultOperationTimeout time.Duration
	MaxOperationTimeout     time.Duration
	// MaxObjectCount caps the objects returned by one Open* or Pull*
	// response; larger requests get fewer (DSP0200 allows it). Default
	// 10,000.
	MaxObjectCount int
	// Now is the clock for enumeration context expiry; default time.Now.
	Now func() time.Time
}

// Server is the WBEM server: an http.Handler for CIM operations over HTTP
// (DMTF DSP0200) with CIM-XML bodies (DSP0201). It authenticates every
// request through Config.Authenticate, decodes with limits, applies the
// DSP0200 parameter defaults and dispatches to the Provider.
//
// Protocol errors (bad headers, malformed XML, unsupported versions) are
// answered with HTTP 400/413/501 and a CIMError header; CIM errors of a
// well-formed operation with 200 and an ERROR element.
type Server struct {
	cfg  Config
	log  *slog.Logger
	slot *slots
	ops  map[string]opFunc
	pull pullTable
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Provider == nil {
		return nil, errors.New("wbem: Config.Provider is required")
	}
	if cfg.Authenticate == nil {
		return nil, errors.New("wbem: Config.Authenticate is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Host == "" {
		cfg.Host = "localhost"
	}
	if cfg.Realm == "" {
		cfg.Realm = "mgmtd"
	}
	if cfg.Path == "" {
		cfg.Path = "/cimom"
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 8
	}
	if cfg.MaxConcurrentPerCaller <= 0 {
		cfg.MaxConcurrentPerCaller = max(1, cfg.MaxConcurrent/2)
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = 4 * cfg.MaxConcurrent
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = 10 * time.Second
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 10 * time.Second
	}
	if cfg.MaxEnumerationContexts <= 0 {
		cfg.MaxEnumerationContexts = 64
	}
	if cfg.MaxEnumerationContextsPerCaller <= 0 {
		cfg.MaxEnumerationContextsPerCaller = 16
	}
	cfg.MaxEnumerationContextsPerCaller = min(cfg.MaxEnumerationContextsPerCaller, cfg.MaxEnumerationContexts)
	if cfg.DefaultOperationTimeout <= 0 {
		cfg.DefaultOperationTimeout = time.Minute
	}
	if cfg.MaxOperationTimeout <= 0 {
		cfg.MaxOperationTimeout = 10 * time.Minute
	}
	if cfg.MaxObjectCount <= 0 {
		cfg.MaxObjectCount = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger,
		slot: newSlots(cfg.MaxConcurrent, cfg.MaxConcurrentPerCaller, cfg.MaxQueued, cfg.QueueTimeout)}
	s.pull.ctxs = map[string]*enumContext{}
	s.ops = s.intrinsics()
	return s, nil
}

// Close ends all open enumeration contexts. The handler keeps working;
// later Pull requests get CIM_ERR_INVALID_ENUMERATION_CONTEXT.
func (s *Server) Close() { s.pull.closeAll() }

// HTTPServer returns an http.Server for s on addr with transport limits:
// 5 s to read the request header (8 KiB at most), 60 s for the whole
// request (the handler gives the body BodyTimeout from the end of
// authentication), 10 min to write the response (so a stalled client
// cannot hold a processing slot forever), 120 s idle keep-alive. The caller sets
// TLSConfig and runs ListenAndServe(TLS) and Shutdown.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// securityHeaders: a browser must not sniff a type other than the one
// declared and, over TLS, must use HTTPS for this host for a year (the
// same headers as the REST API).
func securityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// protocolError answers an HTTP-level error with a CIMError header.
func protocolError(w http.ResponseWriter, status int, cimError string) {
	if cimError != "" {
		w.Header().Set("CIMError", cimError)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// decodeHeader percent-decodes a CIMMethod/CIMObject header value;
// clients send it either encoded (wbemcli) or raw (pywbem).
func decodeHeader(v string) (string, error) {
	return url.PathUnescape(strings.TrimSpace(v))
}

// ServeHTTP handles one CIM operation request (see the Server doc for
// the HTTP-level answers).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w, r)
	if r.URL.Path != s.cfg.Path {
		http.NotFound(w, r)
		return
	}
	if r.Method == "M-POST" {
		// DSP0200: a server that does not support M-POST answers
		// 501, so that the client falls back to POST (a 405 would make
		// it give up).
		protocolError(w, http.StatusNotImplemented, "")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		protocolError(w, http.StatusMethodNotAllowed, "")
		return
	}
	principal, err := s.cfg.Authenticate(r)
	if err != nil {
		if errors.Is(err, ErrForbidden) {
			protocolError(w, http.StatusForbidden, "")
			return
		}
		if !errors.Is(err, ErrUnauthenticated) {
			s.log.Warn("cim authentication failed", "remote", r.RemoteAddr, "err", err)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+s.cfg.Realm+`"`)
		protocolError(w, http.StatusUnauthorized, "")
		return
	}
	h := r.Header
	if h.Get("CIMExport") != "" {
		protocolError(w, http.StatusBadRequest, "unsupported-operation")
		return
	}
	if !strings.EqualFold(strings.TrimSpace(h.Get("CIMOperation")), "MethodCall") {
		protocolError(w, http.StatusBadRequest, "unsupported-operation")
		return
	}
	if v := h.Get("CIMProtocolVersion"); v != "" {
		if major, _, _ := strings.Cut(strings.TrimSpace(v), "."); major != "1" {
			protocolError(w, http.StatusNotImplemented, "unsupported-protocol-version")
			return
		}
	}
	if h.Get("CIMBatch") != "" {
		protocolError(w, http.StatusNotImplemented, "multiple-requests-unsupported")
		return
	}
	if ct := h.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		cs := strings.ToLower(params["charset"])
		if err != nil || (mt != "application/xml" && mt != "text/xml") || (cs != "" && cs != "utf-8") {
			protocolError(w, http.StatusBadRequest, "header-mismatch")
			return
		}
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		protocolError(w, http.StatusUnsupportedMediaType, "")
		return
	}
	method, err1 := decodeHeader(h.Get("CIMMethod"))
	object, err2 := decodeHeader(h.Get("CIMObject"))
	if err1 != nil || err2 != nil || method == "" || object == "" {
		protocolError(w, http.StatusBadRequest, "header-mismatch")
		return
	}
	lim := s.cfg.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = cimxml.DefaultLimits().MaxBytes
	}
	if r.ContentLength > lim.MaxBytes {
		protocolError(w, http.StatusRequestEntityTooLarge, "request-not-valid")
		return
	}
	body, status := s.readBody(w, r, lim.MaxBytes)
	if status != 0 {
		cimErr := ""
		if status == http.StatusRequestEntityTooLarge {
			cimErr = "request-not-valid"
		}
		protocolError(w, status, cimErr)
		return
	}
	if !s.slot.acquire(r.Context(), principal.Owner()) {
		w.Header().Set("Retry-After", "1")
		protocolError(w, http.StatusServiceUnavailable, "")
		return
	}
	defer s.slot.release(principal.Owner())
	req, err := cimxml.DecodeRequest(bytes.NewReader(body), lim)
	if err != nil {
		se := &cimxml.SyntaxError{Kind: cimxml.NotValid}
		errors.As(err, &se)
		status, cimErr := http.StatusBadRequest, "request-not-valid"
		switch se.Kind {
		case cimxml.NotWellFormed:
			cimErr = "request-not-well-formed"
		case cimxml.TooLarge:
			status = http.StatusRequestEntityTooLarge
		case cimxml.UnsupportedCIMVersion:
			status, cimErr = http.StatusNotImplemented, "unsupported-cim-version"
		case cimxml.UnsupportedDTDVersion:
			status, cimErr = http.StatusNotImplemented, "unsupported-dtd-version"
		case cimxml.UnsupportedProtocolVersion:
			status, cimErr = http.StatusNotImplemented, "unsupported-protocol-version"
		case cimxml.MultipleRequests:
			status, cimErr = http.StatusNotImplemented, "multiple-requests-unsupported"
		}
		s.log.Info("cim request rejected", "remote", r.RemoteAddr, "principal", principal.Name, "err", err)
		protocolError(w, status, cimErr)
		return
	}
	if !strings.EqualFold(method, req.Method) || !objectMatches(object, req) {
		protocolError(w, http.StatusBadRequest, "header-mismatch")
		return
	}
	ctx := context.WithValue(r.Context(), principalKey{}, principal)
	out := &response{w: w, req: req, host: s.cfg.Host}
	var opErr error
	if req.Intrinsic {
		op := s.ops[strings.ToLower(req.Method)]
		if op == nil {
			op = func(context.Context, *call) error {
				return Errorf(StatusNotSupported, "operation %s is not supported", req.Method)
			}
		}
		opErr = op(ctx, &call{s: s, req: req, out: out, principal: principal, remote: r.RemoteAddr})
	} else {
		opErr = s.invokeMethod(ctx, &call{s: s, req: req, out: out, principal: principal, remote: r.RemoteAddr})
	}
	if opErr != nil {
		ce := statusOf(opErr)
		if ce.Status == StatusFailed {
			s.log.Warn("cim operation failed", "op", req.Method, "principal", principal.Name, "err", opErr)
		}
		if out.started {
			// The response is committed: cut the connection so the
			// client sees a truncated document, not a short result.
			s.log.Warn("cim response aborted", "op", req.Method, "err", opErr)
			panic(http.ErrAbortHandler)
		}
		out.error(ce)
	}
	if err := out.finish(); err != nil {
		s.log.Debug("cim response write", "op", req.Method, "err", err)
	}
}

// readBody reads the request body, at most limit bytes, within
// BodyTimeout. It returns an HTTP status on failure: 408 for a body
// slower than that, 413 for a larger one, 400 for a broken one.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) // not supported by test recorders
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	status := 0
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.log.Info("cim request body too slow", "remote", r.RemoteAddr, "err", err)
		status = http.StatusRequestTimeout
	case err != nil:
		status = http.StatusBadRequest
	case int64(len(b)) > limit:
		status = http.StatusRequestEntityTooLarge
	}
	if status != 0 {
		// The rest of the body is not waited for: closing it before the
		// answer makes net/http close the connection after it instead.
		w.Header().Set("Connection", "close")
		_ = r.Body.Close()
		return nil, status
	}
	// The deadline ends with the body: the connection's background read
	// while the response is written must not time out.
	_ = rc.SetReadDeadline(time.Time{})
	return b, 0
}

// objectMatches checks the CIMObject header against the body (DSP0200
// header-mismatch): the namespace for intrinsic calls, namespace and class
// for extrinsic ones, case-insensitively.
func objectMatches(object string, req *cimxml.Request) bool {
	ns, rest, hasClass := strings.Cut(object, ":")
	if !strings.EqualFold(strings.Trim(ns, "/"), strings.Trim(req.Namespace, "/")) {
		return false
	}
	if req.Intrinsic {
		return !hasClass
	}
	cls, _, _ := strings.Cut(rest, ".")
	want := req.ClassName
	if req.Instance != nil {
		want = req.Instance.ClassName
	}
	return strings.EqualFold(cls, want)
}

// response writes the HTTP response of one operation, starting the
// CIM-XML envelope on first use.
type response struct {
	w       http.ResponseWriter
	req     *cimxml.Request
	host    string
	enc     *cimxml.Encoder
	started bool
	retOpen bool
}

func (o *response) begin() *cimxml.Encoder {
	if !o.started {
		o.started = true
		h := o.w.Header()
		h.Set("Content-Type", `application/xml; charset="utf-8"`)
		h.Set("CIMOperation", "MethodResponse")
		o.w.WriteHeader(http.StatusOK)
		o.enc = cimxml.NewEncoder(o.w)
		o.enc.Host = o.host
		if o.req.Intrinsic {
			o.enc.StartIMethodResponse(o.req.MessageID, o.req.Method)
		} else {
			o.enc.StartMethodResponse(o.req.MessageID, o.req.Method)
		}
	}
	return o.enc
}

// ret opens IRETURNVALUE (once) and returns the encoder.
func (o *response) ret() *cimxml.Encoder {
	e := o.begin()
	if !o.retOpen {
		o.retOpen = true
		e.StartIReturnValue()
	}
	return e
}

// endRet closes IRETURNVALUE if open.
func (o *response) endRet() {
	if o.retOpen {
		o.enc.EndIReturnValue()
		o.retOpen = false
	}
}

func (o *response) error(ce *Error) {
	e := o.begin()
	e.Error(int(ce.Status), ce.Error())
}

func (o *response) finish() error {
	e := o.begin()
	o.endRet()
	if o.req.Intrinsic {
		e.EndIMethodResponse()
	} else {
		e.EndMethodResponse()
	}
	return e.Flush()
}

// call is one operation in progress.
type call struct {
	s         *Server
	req       *cimxml.Request
	out       *response
	principal Principal
	remote    string
}

type opFunc func(ctx context.Context, c *call) error

// namespace resolves the request namespace (CIM_ERR_INVALID_NAMESPACE).
func (s *Server) namespace(ns string) (string, *Repository, error) {
	want := strings.Trim(ns, "/")
	for _, n := range s.cfg.Provider.Namespaces() {
		if strings.EqualFold(n, want) {
			if repo := s.cfg.Provider.Classes(n); repo != nil {
				return n, repo, nil
			}
		}
	}
	return "", nil, Errorf(StatusInvalidNamespace, "namespace %s", ns)
}

// audit records op and returns the outcome callback; it refuses the
// operation when no auditor is configured or the auditor fails.
func (c *call) audit(ctx context.Context, op *Operation) (func(error), error) {
	if c.s.cfg.Audit == nil {
		return nil, Errorf(StatusFailed, "operation %s refused: no audit log configured", op.Name)
	}
	op.Principal, op.RemoteAddr = c.principal, c.remote
	done, err := c.s.cfg.Audit(ctx, op)
	if err != nil {
		c.s.log.Error("cim audit failed; operation refused", "op", op.Name, "err", err)
		return nil, Errorf(StatusFailed, "operation %s refused: audit log unavailable", op.Name)
	}
	if done == nil {
		done = func(error) {}
	}
	return done, nil
}

// WBEMURI formats p as an untyped WBEM URI (namespace:Class.k="v",...),
// as in the CIMObject header.
func WBEMURI(p *InstancePath) string {
	var b strings.Builder
	if p.Namespace != "" {
		b.WriteString(p.Namespace)
		b.WriteByte(':')
	}
	b.WriteString(p.ClassName)
	for i, k := range p.Keys {
		if i == 0 {
			b.WriteByte('.')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(k.Name)
		b.WriteByte('=')
		switch {
		case k.Ref != nil:
			b.WriteString(strconv.Quote(WBEMURI(k.Ref)))
		case k.ValueType == "string" || k.ValueType == "":
			b.WriteString(strconv.Quote(k.Value))
		default:
			b.WriteString(k.Value)
		}
	}
	return b.String()
}
