package rest

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"mgmtd/auth"
)

// Alert is what Pacemaker's alert agent (`mgmtd alert notify`, run by the
// cluster with the CRM_alert_* environment) hands to the local daemon.
type Alert struct {
	Kind      string `json:"kind"` // node, fencing, resource, attribute
	Node      string `json:"node,omitempty"`
	Resource  string `json:"resource,omitempty"`
	Task      string `json:"task,omitempty"`
	Desc      string `json:"desc,omitempty"`
	Timestamp string `json:"timestamp,omitempty"`
}

func init() { RegisterSchema("Alert", Alert{}) }

// AlertRoutes returns the route the alert agent posts to. Only callers on
// the local socket may post (the agent runs on the node, as hacluster,
// with no role): an alert is a hint to look at the cluster now, never a
// source of truth. notify must not block.
func AlertRoutes(s *Server, notify func(Alert)) []Route {
	return []Route{{Method: "POST", Path: "/api/v1/alert", Perm: PermAny, Response: "",
		Summary: "A Pacemaker alert from the local alert agent (local socket only): refresh now",
		Handler: func(c *gin.Context) {
			if id := identity(c); id == nil || id.Method != auth.MethodLocal {
				s.problem(c, &Problem{Status: http.StatusForbidden, Detail: "alerts are taken on the local socket only"})
				return
			}
			var a Alert
			if err := json.NewDecoder(io.LimitReader(c.Request.Body, 16<<10)).Decode(&a); err != nil {
				s.problem(c, BadRequest("body: "+err.Error()))
				return
			}
			notify(a)
			c.Status(http.StatusAccepted)
		}}}
}
