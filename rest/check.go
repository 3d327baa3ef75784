package rest

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Checker runs the configuration health check (package check, wired by
// package mgmtd) and returns its report; an error means it could not run
// at all (no CIB).
type Checker interface {
	Check(ctx context.Context) (any, error)
}

// CheckRoute is GET /api/v1/check: the health check of the cluster's
// configuration, each finding with severity, explanation and fixing
// command. schema names the report's registered schema (RegisterSchema).
// It covers the whole cluster, so a caller with a scoped role is refused;
// answers are not cached (the check runs the cluster's tools, and its
// wiring bounds how often).
func CheckRoute(s *Server, ch Checker, schema string) Route {
	return Route{Method: "GET", Path: "/api/v1/check", Perm: PermRead, Response: schema,
		Summary: "Health check of the cluster's configuration: crm_verify, fencing, quorum policy, monitors, constraints, DRBD, Corosync",
		Handler: func(c *gin.Context) {
			if _, scoped := c.Get(restrictKey); scoped {
				s.problem(c, &Problem{Status: http.StatusForbidden, Detail: "the check covers the whole cluster's configuration; a role scoped to part of it cannot read it"})
				return
			}
			sn := s.opts.Store.Snapshot()
			report, err := ch.Check(c.Request.Context())
			if err != nil {
				s.problem(c, &Problem{Status: http.StatusServiceUnavailable, Detail: "the check could not run: " + err.Error()})
				return
			}
			c.Header("Content-Type", "application/json; charset=utf-8")
			c.Header("Cache-Control", "no-store")
			c.Status(http.StatusOK)
			_ = jsonEncode(c.Writer, Envelope{Cluster: sn.Cluster.Name, View: sn.View, Generation: sn.Generation, Stale: sn.Stale(), Time: sn.Time, Data: report})
		}}
}
