package rest

import (
	"bytes"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// MetricsRenderer writes the Prometheus exposition of snap (already cut
// to what the caller may see) into buf; internals adds the daemon's own
// metrics, which only callers who see the whole cluster get.
type MetricsRenderer func(buf *bytes.Buffer, snap *model.Snapshot, internals bool) error

// MetricsRoutes returns GET /metrics, Prometheus's default path: the
// snapshot as metrics, authenticated like every route (a viewer token is
// the scrape credential: Prometheus's authorization or bearer_token_file),
// cut to the caller's scope like every read.
func MetricsRoutes(s *Server, render MetricsRenderer) []Route {
	return []Route{{Method: "GET", Path: "/metrics", Perm: PermRead, Summary: "Prometheus metrics (text exposition format 0.0.4) of the snapshot and of mgmtd itself",
		Produces: "text/plain; version=0.0.4", Handler: func(c *gin.Context) {
			sn := s.opts.Store.Snapshot()
			v, scoped := c.Get(restrictKey)
			if scoped {
				sn = v.(func(*model.Snapshot) *model.Snapshot)(sn)
			}
			var buf bytes.Buffer
			if err := render(&buf, sn, !scoped); err != nil {
				s.problem(c, &Problem{Status: http.StatusInternalServerError, Title: "Internal Server Error", Detail: "metrics: " + err.Error()})
				return
			}
			c.Header("Cache-Control", "no-store")
			c.Header("Last-Modified", sn.Time.UTC().Format(http.TimeFormat))
			c.Data(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", buf.Bytes())
		}}}
}

// EventStreams is the number of open event streams (for the metrics).
func (s *Server) EventStreams() int { return int(s.streams.Load()) }

// NotifyRoute is the status of one notification route, as
// GET /api/v1/notifications shows it.
type NotifyRoute struct {
	Name                string    `json:"name"`
	Kind                string    `json:"kind"`
	Target              string    `json:"target"`
	Degraded            bool      `json:"degraded"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorTime       time.Time `json:"last_error_time,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	Sent                uint64    `json:"sent"`
	FailedAttempts      uint64    `json:"failed_attempts"`
	Retries             uint64    `json:"retries"`
	Dropped             uint64    `json:"dropped"`
	Deduplicated        uint64    `json:"deduplicated"`
	DeadLettered        uint64    `json:"dead_lettered"`
	Queued              int       `json:"queued"`
	QueueSize           int       `json:"queue_size"`
	DeadLetters         int       `json:"dead_letters"`
}

// DeadLetter is a notification a route gave up on.
type DeadLetter struct {
	Route    string      `json:"route"`
	ID       string      `json:"id"`
	Event    model.Event `json:"event"`
	Attempts int         `json:"attempts"`
	Error    string      `json:"error"`
	Time     time.Time   `json:"time"`
}

// Notifications is what the notification routes need; the wiring adapts
// the notification router to it.
type Notifications interface {
	Routes() []NotifyRoute
	// DeadLetters of the route named ("" for all); false for no such
	// route.
	DeadLetters(route string) ([]DeadLetter, bool)
}

func init() {
	RegisterSchema("NotifyRoutes", []NotifyRoute{})
	RegisterSchema("DeadLetters", []DeadLetter{})
}

// NotificationRoutes returns the notification routes' status (degraded,
// counters, last error) and their dead letters. Both are mgmtd's own
// state, for admins: dead letters carry events of the whole cluster.
func NotificationRoutes(s *Server, n Notifications) []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/notifications", Perm: PermAdmin, Summary: "Notification routes: degraded or not, counters, last error", Response: "NotifyRoutes",
			Handler: func(c *gin.Context) { s.plainJSON(c, http.StatusOK, nonNil(n.Routes())) }},
		{Method: "GET", Path: "/api/v1/notifications/dead-letters", Perm: PermAdmin, Summary: "Notifications a route gave up on after its retries, oldest first",
			Query: []Param{{Name: "route", Type: "string", Description: "only this route's"}}, Response: "DeadLetters",
			Handler: func(c *gin.Context) {
				d, ok := n.DeadLetters(c.Query("route"))
				if !ok {
					s.problem(c, NotFound("no notification route "+c.Query("route")))
					return
				}
				s.plainJSON(c, http.StatusOK, nonNil(d))
			}},
	}
}
