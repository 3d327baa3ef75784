package rest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// HistoryReader is what the history route and the event stream's
// resumption need; the wiring adapts the history store to it. An error
// that is a *Problem is shown as it is (a bad cursor is a 400); any other
// is a 503.
type HistoryReader interface {
	History(ctx context.Context, q HistoryQuery) (HistoryPage, error)
}

// HistoryQuery selects stored events; see GET /api/v1/history.
type HistoryQuery struct {
	Cluster, Instance string
	Since, Until      time.Time
	Object            string
	Kinds             []model.Kind
	Types             []string
	Severities        []model.Severity
	// AfterSeq selects this daemon's events after a sequence, by sequence;
	// Resume does so from the start too (AfterSeq 0).
	AfterSeq uint64
	Resume   bool
	Cursor   string
	Limit    int
	Desc     bool
}

// HistoryRecord is one stored event and the mgmtd that published it.
type HistoryRecord struct {
	Instance string `json:"instance"`
	model.Event
}

// HistoryStats tells how the history's writer is doing: a failing store,
// the events waiting and those dropped since the start.
type HistoryStats struct {
	Queued  int       `json:"queued"`
	Written uint64    `json:"written"`
	Dropped uint64    `json:"dropped"`
	Failing bool      `json:"failing"`
	Error   string    `json:"error,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// HistoryPage answers GET /api/v1/history.
type HistoryPage struct {
	Records  []HistoryRecord `json:"records"`
	Next     string          `json:"next,omitempty"`
	Recorder *HistoryStats   `json:"recorder,omitempty"`
}

func init() { RegisterSchema("HistoryPage", HistoryPage{}) }

// HistoryRoutes returns the history route.
func HistoryRoutes(s *Server, h HistoryReader) []Route {
	return []Route{{Method: "GET", Path: "/api/v1/history", Perm: PermRead,
		Summary: "Stored events: by time range, object, kind, type and severity, paged with a cursor",
		Query: []Param{
			{Name: "since", Type: "string", Description: "RFC 3339 time (inclusive), or a duration back from now (3h, 90m)"},
			{Name: "until", Type: "string", Description: "RFC 3339 time (exclusive), or a duration back from now"},
			{Name: "object", Type: "string", Description: "an object's name or the node an event happened on"},
			{Name: "kind", Type: "string", Description: "object kinds, comma-separated: cluster, node, resource, vm, host, source, task"},
			{Name: "type", Type: "string", Description: "event types, comma-separated; one ending in a dot is a prefix (resource.)"},
			{Name: "severity", Type: "string", Description: "info, warning, critical (comma-separated)"},
			{Name: "cluster", Type: "string", Description: "the cluster's name"},
			{Name: "instance", Type: "string", Description: "the mgmtd (node) that published the events"},
			{Name: "after_seq", Type: "integer", Description: "this daemon's events after this sequence, by sequence"},
			{Name: "order", Type: "string", Description: "asc (default, oldest first) or desc"},
			{Name: "cursor", Type: "string", Description: "the next page (next of the previous answer)"},
			{Name: "limit", Type: "integer", Description: "page size (default 100, at most 1000)"},
		},
		Response: "HistoryPage", Handler: s.history(h)}}
}

func list(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// historyTime reads an RFC 3339 time or a duration back from now.
func historyTime(v string, now time.Time) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), true
	}
	return time.Time{}, false
}

func historyQuery(c *gin.Context) (HistoryQuery, *Problem) {
	q := HistoryQuery{Cluster: c.Query("cluster"), Instance: c.Query("instance"), Object: c.Query("object"),
		Types: list(c.Query("type")), Cursor: c.Query("cursor")}
	now := time.Now()
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := c.Query(name); v != "" {
			t, ok := historyTime(v, now)
			if !ok {
				return q, BadRequest(name + " must be an RFC 3339 time or a duration (3h)")
			}
			*dst = t
		}
	}
	for _, k := range list(c.Query("kind")) {
		q.Kinds = append(q.Kinds, model.Kind(k))
	}
	for _, v := range list(c.Query("severity")) {
		switch sv := model.Severity(v); sv {
		case model.SeverityInfo, model.SeverityWarning, model.SeverityCritical:
			q.Severities = append(q.Severities, sv)
		default:
			return q, BadRequest("severity must be info, warning or critical")
		}
	}
	switch c.Query("order") {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return q, BadRequest("order must be asc or desc")
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return q, BadRequest("limit must be a positive integer")
		}
		q.Limit = min(n, 1000)
	}
	if v := c.Query("after_seq"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return q, BadRequest("after_seq must be an event sequence number")
		}
		q.AfterSeq = n
	}
	return q, nil
}

func historyProblem(err error) *Problem {
	if p, ok := err.(*Problem); ok {
		return p
	}
	return &Problem{Status: http.StatusServiceUnavailable, Title: "Service Unavailable",
		Detail: "the history store cannot answer: " + err.Error(), RetryAfter: 10}
}

func (s *Server) history(h HistoryReader) gin.HandlerFunc {
	return func(c *gin.Context) {
		q, p := historyQuery(c)
		if p != nil {
			s.problem(c, p)
			return
		}
		page, err := h.History(c.Request.Context(), q)
		if err != nil {
			s.problem(c, historyProblem(err))
			return
		}
		// A scoped caller sees the events of the objects in its view,
		// as on the event stream.
		if v, ok := c.Get(restrictKey); ok {
			view := v.(func(*model.Snapshot) *model.Snapshot)(s.opts.Store.Snapshot())
			kept := page.Records[:0]
			for _, r := range page.Records {
				if eventVisible(view, r.Event) {
					kept = append(kept, r)
				}
			}
			page.Records = kept
		}
		if page.Records == nil {
			page.Records = []HistoryRecord{}
		}
		s.plainJSON(c, http.StatusOK, page)
	}
}

// replay writes the stored events of this daemon after *last that the
// in-memory log no longer holds (those before its oldest), advancing
// *last. It reports whether events after *last are missing from the
// history too (a gap: dropped or past retention).
func (s *Server) replay(ctx context.Context, last *uint64, oldest uint64, write func(model.Event) error) (gap bool, err error) {
	q := HistoryQuery{AfterSeq: *last, Resume: true, Limit: 1000}
	for *last+1 < oldest {
		page, err := s.opts.History.History(ctx, q)
		if err != nil {
			return true, err
		}
		for _, r := range page.Records {
			if r.Seq >= oldest {
				return gap, nil
			}
			if r.Seq != *last+1 {
				gap = true
			}
			if err := write(r.Event); err != nil {
				return gap, err
			}
			*last = r.Seq
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	return gap || *last+1 < oldest, nil
}
