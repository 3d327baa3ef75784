package rest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/auth"
	"mgmtd/hub"
	"mgmtd/model"
)

// PermPush is the fleet hub's push route: a cluster's mgmtd sending its
// picture and events (auth.ActionPush, the sender role).
const PermPush Permission = "push"

// NewFleet builds the fleet hub's API: the same middleware chain and
// problem answers as New, without the one-cluster route table; the
// wiring adds FleetRoutes.
func NewFleet(opts Options) *Server {
	return newServer(opts)
}

// Authorizer decides and records (a denial is audited) whether the
// caller may do action on object: auth.Service.Authorize.
type Authorizer func(ctx context.Context, id *auth.Identity, action auth.Action, object auth.Object) auth.Decision

// FleetEnvelope wraps every fleet answer: when it was made and the data.
type FleetEnvelope struct {
	Time time.Time `json:"time"`
	Data any       `json:"data"`
}

// FleetRoutes returns the fleet hub's routes: the push (a cluster's
// mgmtd, authorized per cluster), the clusters with their health,
// staleness and last contact, objects filterable by cluster and kind,
// where and impact across the fleet, the fleet's event stream, /metrics
// with a cluster label, and /healthz. A caller reads the clusters its
// grants reach (a cluster scope, or global); others are left out of
// lists, and asking for one by name is refused (recorded as a denial).
// Nothing acts through the hub: each cluster's answer carries its own
// mgmtd's URL.
func FleetRoutes(s *Server, h *hub.Hub, authorize Authorizer) []Route {
	f := &fleet{s: s, h: h, authz: authorize}
	RegisterSchema("FleetClusters", []hub.ClusterInfo{})
	RegisterSchema("FleetCluster", fleetCluster{})
	RegisterSchema("FleetObjects", []hub.Object{})
	RegisterSchema("FleetWhere", []hub.ClusterWhere{})
	RegisterSchema("FleetImpact", []hub.ClusterImpact{})
	RegisterSchema("PushReply", hub.PushReply{})
	return []Route{
		{Method: "GET", Path: "/healthz", Perm: PermPublic, Summary: "Liveness of the hub process", Response: "", Handler: f.health},
		{Method: "GET", Path: "/api/v1/openapi.json", Perm: PermPublic, Summary: "This OpenAPI document", Response: "OpenAPI", Handler: s.openapi},
		{Method: "POST", Path: hub.PushPath, Perm: PermPush, Summary: "A cluster's mgmtd pushes its picture and events (gzip JSON); the answer is the last sequence the hub holds",
			Response: "PushReply", Handler: f.push},
		{Method: "GET", Path: "/api/v1/fleet/clusters", Perm: PermRead, Summary: "Every cluster with health, staleness and last contact", Response: "FleetClusters", Handler: f.clusters},
		{Method: "GET", Path: "/api/v1/fleet/clusters/:name", Perm: PermRead, Summary: "One cluster: its information and status", Response: "FleetCluster", Handler: f.cluster},
		{Method: "GET", Path: "/api/v1/fleet/objects", Perm: PermRead, Summary: "Objects across the fleet",
			Query: []Param{{Name: "cluster", Type: "string", Description: "only this cluster"}, {Name: "kind", Type: "string", Description: "node, resource, vm, host, service"},
				{Name: "name", Type: "string", Description: "only objects of this name"}}, Response: "FleetObjects", Handler: f.objects},
		{Method: "GET", Path: "/api/v1/fleet/where", Perm: PermRead, Summary: "Where does it run, in which cluster",
			Query: []Param{{Name: "q", Type: "string", Description: "resource, service, address, node, VM or host", Required: true}}, Response: "FleetWhere", Handler: f.where},
		{Method: "GET", Path: "/api/v1/fleet/impact", Perm: PermRead, Summary: "What goes away with a node or host, whatever cluster it serves",
			Query: []Param{{Name: "node", Type: "string", Description: "node or hypervisor host", Required: true}}, Response: "FleetImpact", Handler: f.impact},
		{Method: "GET", Path: "/api/v1/fleet/events", Perm: PermRead, Summary: "The fleet's events as server-sent events (id: the fleet's order; resume with Last-Event-ID)",
			Query: []Param{{Name: "last_event_id", Type: "integer", Description: "resume after this id"}}, Streaming: true, Handler: f.events},
		{Method: "GET", Path: "/metrics", Perm: PermRead, Summary: "Prometheus metrics of the fleet, label cluster",
			Produces: "text/plain; version=0.0.4", Handler: f.metrics},
	}
}

type fleet struct {
	s     *Server
	h     *hub.Hub
	authz Authorizer
}

type fleetCluster struct {
	Cluster hub.ClusterInfo     `json:"cluster"`
	Status  *model.StatusReport `json:"status,omitempty"`
}

func clusterObject(name string) auth.Object {
	return auth.Object{Kind: auth.KindCluster, Cluster: name, Name: name}
}

// visible is the caller's reach: the clusters a read grant covers.
func visible(c *gin.Context) hub.Visible {
	id := identity(c)
	return func(cluster string) bool {
		return id == nil || auth.Authorize(id, auth.ActionRead, clusterObject(cluster)).Allowed
	}
}

// allow authorizes action on a named cluster, recording a denial; false
// means the answer (403) is sent.
func (f *fleet) allow(c *gin.Context, action auth.Action, cluster string) bool {
	id := identity(c)
	if id == nil || f.authz == nil {
		return true // no auth configured (tests)
	}
	if d := f.authz(c.Request.Context(), id, action, clusterObject(cluster)); !d.Allowed {
		f.s.problem(c, &Problem{Status: http.StatusForbidden, Title: "Forbidden", Detail: d.Reason})
		return false
	}
	return true
}

func (f *fleet) reply(c *gin.Context, data any) {
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	_ = jsonEncode(c.Writer, FleetEnvelope{Time: time.Now().UTC(), Data: data})
}

func (f *fleet) health(c *gin.Context) {
	st := http.StatusOK
	if !f.h.Ready() {
		st = http.StatusServiceUnavailable
	}
	c.JSON(st, gin.H{"ready": f.h.Ready(), "last_event_id": f.h.LastID()})
}

func (f *fleet) push(c *gin.Context) {
	var r io.Reader = http.MaxBytesReader(c.Writer, c.Request.Body, hub.MaxPushBytes)
	if strings.EqualFold(c.GetHeader("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			f.s.problem(c, BadRequest("push: "+err.Error()))
			return
		}
		defer zr.Close()
		// The decoded size is bounded too: a small bomb stays small.
		r = io.LimitReader(zr, hub.MaxPushBytes+1)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		f.s.problem(c, &Problem{Status: http.StatusRequestEntityTooLarge, Title: "Request Entity Too Large", Detail: "push: " + err.Error()})
		return
	}
	if len(body) > hub.MaxPushBytes {
		f.s.problem(c, &Problem{Status: http.StatusRequestEntityTooLarge, Title: "Request Entity Too Large", Detail: "push: over " + strconv.Itoa(hub.MaxPushBytes) + " bytes"})
		return
	}
	var p hub.Push
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		f.s.problem(c, BadRequest("push: "+err.Error()))
		return
	}
	if !f.allow(c, auth.ActionPush, p.Cluster) {
		return
	}
	reply, err := f.h.Ingest(c.Request.Context(), &p)
	switch {
	case errors.Is(err, hub.ErrInvalid):
		f.s.problem(c, BadRequest(err.Error()))
		return
	case err != nil:
		f.s.problem(c, &Problem{Status: http.StatusServiceUnavailable, Title: "Service Unavailable", Detail: err.Error(), RetryAfter: 1})
		return
	}
	c.JSON(http.StatusOK, reply)
}

func (f *fleet) clusters(c *gin.Context) {
	f.reply(c, f.h.Clusters(visible(c)))
}

func (f *fleet) cluster(c *gin.Context) {
	name := c.Param("name")
	if !f.allow(c, auth.ActionRead, name) {
		return
	}
	info, snap, ok := f.h.Cluster(name)
	if !ok {
		f.s.problem(c, NotFound("no cluster "+name+" at this hub"))
		return
	}
	out := fleetCluster{Cluster: info}
	if snap != nil {
		st := snap.Status()
		out.Status = &st
	}
	f.reply(c, out)
}

func (f *fleet) objects(c *gin.Context) {
	q := hub.ObjectQuery{Cluster: c.Query("cluster"), Kind: model.Kind(c.Query("kind")), Name: c.Query("name")}
	if !hub.ValidKind(q.Kind) {
		f.s.problem(c, BadRequest("kind: give node, resource, vm, host or service"))
		return
	}
	if q.Cluster != "" && !f.allow(c, auth.ActionRead, q.Cluster) {
		return
	}
	f.reply(c, f.h.Objects(q, visible(c)))
}

func (f *fleet) where(c *gin.Context) {
	q := c.Query("q")
	if q == "" {
		f.s.problem(c, BadRequest("q is required"))
		return
	}
	f.reply(c, f.h.Where(q, visible(c)))
}

func (f *fleet) impact(c *gin.Context) {
	n := c.Query("node")
	if n == "" {
		f.s.problem(c, BadRequest("node is required"))
		return
	}
	f.reply(c, f.h.Impact(n, visible(c)))
}

// events streams the fleet's events: id is the fleet's order, event the
// event type, data the event with its cluster and instance. Without
// Last-Event-ID it starts with what comes next.
func (f *fleet) events(c *gin.Context) {
	caller := ""
	if id := identity(c); id != nil {
		caller = id.ID
	}
	if p := f.s.openStream(caller); p != nil {
		f.s.problem(c, p)
		return
	}
	defer f.s.closeStream(caller)
	after := int64(-1)
	resume := c.GetHeader("Last-Event-ID")
	if resume == "" {
		resume = c.Query("last_event_id")
	}
	if resume != "" {
		v, err := strconv.ParseInt(resume, 10, 64)
		if err != nil || v < 0 {
			f.s.problem(c, BadRequest("Last-Event-ID must be a fleet event id"))
			return
		}
		after = v
	}
	stillValid := func() error { return nil }
	if v, ok := c.Get(stillValidKey); ok {
		stillValid = v.(func() error)
	}
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetWriteDeadline(time.Time{})
	hd := c.Writer.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	if _, err := io.WriteString(c.Writer, ": mgmtd fleet event stream\nretry: 2000\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	var buf bytes.Buffer
	err := f.h.Stream(c.Request.Context(), after, f.s.opts.Heartbeat, visible(c), func(e *hub.FleetEvent) error {
		if err := stillValid(); err != nil {
			_, _ = io.WriteString(c.Writer, "event: end\ndata: "+strconv.Quote(err.Error())+"\n\n")
			return err
		}
		buf.Reset()
		if e == nil {
			buf.WriteString(": heartbeat\n\n")
		} else {
			buf.WriteString("id: " + strconv.FormatInt(e.ID, 10) + "\nevent: " + string(e.Type) + "\ndata: ")
			if err := jsonEncode(&buf, e); err != nil {
				return err
			}
			buf.WriteString("\n")
		}
		if _, err := c.Writer.Write(buf.Bytes()); err != nil {
			return err
		}
		return rc.Flush()
	})
	if errors.Is(err, hub.ErrOverrun) {
		_, _ = io.WriteString(c.Writer, "event: end\ndata: "+strconv.Quote(err.Error())+"\n\n")
		_ = rc.Flush()
	}
}

func (f *fleet) metrics(c *gin.Context) {
	var buf bytes.Buffer
	if err := f.h.WriteMetrics(&buf, visible(c)); err != nil {
		f.s.problem(c, &Problem{Status: http.StatusInternalServerError, Title: "Internal Server Error", Detail: "metrics: " + err.Error()})
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", buf.Bytes())
}
