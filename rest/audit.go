package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/audit"
)

// AuditLog is what the audit routes need; *audit.Log implements it. Query
// and Export record the access itself before returning anything.
type AuditLog interface {
	Query(ctx context.Context, f audit.Filter, by audit.Event) (audit.Page, error)
	Export(ctx context.Context, f audit.Filter, format audit.Format, w io.Writer, by audit.Event) (audit.Manifest, error)
}

// AuditRecord is one record as the API shows it: the JSON Lines form
// (hashes in hex), verifiable offline.
type AuditRecord = json.RawMessage

// AuditPage answers GET /api/v1/audit.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	Next    string        `json:"next,omitempty"`
}

func init() { RegisterSchema("AuditPage", AuditPage{}) }

// AuditRoutes returns the auditor's routes: query (paginated with a
// cursor) and export as JSON Lines, CSV or CEF.
func AuditRoutes(s *Server, l AuditLog) []Route {
	filters := []Param{
		{Name: "since", Type: "string", Description: "RFC 3339 time, inclusive"},
		{Name: "until", Type: "string", Description: "RFC 3339 time, exclusive"},
		{Name: "actor", Type: "string"}, {Name: "action", Type: "string"},
		{Name: "object_type", Type: "string"}, {Name: "object_id", Type: "string"},
		{Name: "outcome", Type: "string", Description: "success, failure, denied, error"},
		{Name: "instance", Type: "string", Description: "the mgmtd instance whose chain"},
	}
	return []Route{
		{Method: "GET", Path: "/api/v1/audit", Perm: PermAudit, Summary: "Query the audit log (the query is itself recorded)",
			Query: append(filters, Param{Name: "cursor", Type: "string"}, Param{Name: "limit", Type: "integer"},
				Param{Name: "order", Type: "string", Description: "oldest (default: query order) or newest (newest first; the cursor continues towards older records)"}),
			Response: "AuditPage", Handler: s.auditQuery(l)},
		{Method: "GET", Path: "/api/v1/audit/export", Perm: PermAudit, Summary: "Export the audit log (jsonl, csv or cef); recorded with its manifest hash",
			Query: append(filters, Param{Name: "format", Type: "string", Description: "jsonl (default), csv, cef"}), Response: "", Handler: s.auditExport(l)},
	}
}

func auditFilter(c *gin.Context) (audit.Filter, *Problem) {
	f := audit.Filter{Actor: c.Query("actor"), Action: c.Query("action"), ObjectType: c.Query("object_type"),
		ObjectID: c.Query("object_id"), Outcome: audit.Outcome(c.Query("outcome")), Instance: c.Query("instance"), Cursor: c.Query("cursor")}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, BadRequest(name + " must be an RFC 3339 time")
			}
			*dst = t
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, BadRequest("limit must be a positive integer")
		}
		f.Limit = n
	}
	return f, nil
}

// ClientHeader is the request header a client names itself with; the web
// page sends "ui".
const ClientHeader = "X-Mgmtd-Client"

// ChannelOf is the audit channel of an API request: ui for the web page's
// requests (which say so in [ClientHeader], or in the query parameter
// client=ui for the downloads it links to; like User-Agent it is the
// client's own statement, recorded for the reader, never used to decide),
// rest for every other.
func ChannelOf(c *gin.Context) audit.Channel {
	if c.GetHeader(ClientHeader) == "ui" || c.Query("client") == "ui" {
		return audit.ChannelUI
	}
	return audit.ChannelREST
}

// Accessor describes the caller of a request for the audit log.
func Accessor(c *gin.Context, channel audit.Channel) audit.Event {
	e := audit.Event{Channel: channel, Source: c.Request.RemoteAddr, RequestID: c.GetString("request_id"), Actor: "anonymous", AuthMethod: "none"}
	if id := identity(c); id != nil {
		e.Actor, e.AuthMethod = id.ID, string(id.Method)
		for _, r := range id.Roles {
			e.Roles = append(e.Roles, string(r))
		}
	}
	return e
}

func auditProblem(err error) *Problem {
	switch {
	case errors.Is(err, audit.ErrUnavailable):
		return &Problem{Status: http.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "the audit log cannot record this access: " + err.Error(), RetryAfter: 30}
	case errors.Is(err, audit.ErrInvalid):
		return BadRequest(err.Error())
	}
	return ProblemFrom(err)
}

func (s *Server) auditQuery(l AuditLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, p := auditFilter(c)
		if p != nil {
			s.problem(c, p)
			return
		}
		switch c.Query("order") {
		case "", "oldest":
		case "newest":
			f.Newest = true
		default:
			s.problem(c, BadRequest("order must be oldest or newest"))
			return
		}
		page, err := l.Query(c.Request.Context(), f, Accessor(c, ChannelOf(c)))
		if err != nil {
			s.problem(c, auditProblem(err))
			return
		}
		out := AuditPage{Records: make([]AuditRecord, 0, len(page.Records)), Next: page.Next}
		for i := range page.Records {
			out.Records = append(out.Records, AuditRecord(page.Records[i].MarshalJSONL()))
		}
		s.plainJSON(c, http.StatusOK, out)
	}
}

func (s *Server) auditExport(l AuditLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, p := auditFilter(c)
		if p != nil {
			s.problem(c, p)
			return
		}
		format, err := audit.ParseFormat(c.DefaultQuery("format", "jsonl"))
		if err != nil {
			s.problem(c, BadRequest(err.Error()))
			return
		}
		ct := map[audit.Format]string{audit.FormatJSONL: "application/jsonl", audit.FormatCSV: "text/csv", audit.FormatCEF: "text/plain"}[format]
		c.Header("Content-Type", ct+"; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="mgmtd-audit.`+strings.ToLower(string(format))+`"`)
		c.Header("Cache-Control", "no-store")
		w := &deferredWriter{c: c}
		m, err := l.Export(c.Request.Context(), f, format, w, Accessor(c, ChannelOf(c)))
		if err != nil {
			if !w.started {
				c.Writer.Header().Del("Content-Disposition")
				s.problem(c, auditProblem(err))
			}
			return
		}
		if !w.started {
			c.Status(http.StatusOK)
		}
		_ = m
	}
}

// deferredWriter sends the status only with the first byte, so that an
// export refused before any data is still a problem document.
type deferredWriter struct {
	c       *gin.Context
	started bool
}

func (w *deferredWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		w.c.Status(http.StatusOK)
	}
	return w.c.Writer.Write(p)
}
