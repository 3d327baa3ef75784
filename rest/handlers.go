package rest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// Envelope wraps every successful body: which node's view it is, the
// generation, whether any source is stale, and the data.
type Envelope struct {
	Cluster    string    `json:"cluster"`
	View       string    `json:"view"`
	Generation uint64    `json:"generation"`
	Stale      bool      `json:"stale"`
	Time       time.Time `json:"time"`
	Data       any       `json:"data"`
	Total      *int      `json:"total,omitempty"`
	Offset     *int      `json:"offset,omitempty"`
	Limit      *int      `json:"limit,omitempty"`
}

func jsonEncode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// snap returns the current snapshot and answers 304 when the client
// already has this generation; ok is false when the response is done.
func (s *Server) snap(c *gin.Context) (*model.Snapshot, bool) {
	sn := s.opts.Store.Snapshot()
	etag := `"g` + strconv.FormatUint(sn.Generation, 10) + `"`
	c.Header("ETag", etag)
	c.Header("Cache-Control", "no-cache")
	if inm := c.GetHeader("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
			if t == etag || t == "*" {
				c.Status(http.StatusNotModified)
				return nil, false
			}
		}
	}
	if body, ok := s.cache.get(sn.Generation, cacheKey(c)); ok {
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusOK)
		_, _ = c.Writer.Write(body)
		return nil, false
	}
	if v, ok := c.Get(restrictKey); ok {
		sn = v.(func(*model.Snapshot) *model.Snapshot)(sn)
	}
	return sn, true
}

// CacheScopeKey is the gin context key under which the guard stores a
// string naming what the caller may see; cached answers are kept apart per
// value, so that a caller never gets an answer filtered for another scope.
const CacheScopeKey = "mgmtd.cache_scope"

func cacheKey(c *gin.Context) string {
	return c.GetString(CacheScopeKey) + "\x00" + c.Request.URL.RequestURI()
}

func (s *Server) write(c *gin.Context, sn *model.Snapshot, data any) {
	s.writeEnv(c, sn.Generation, Envelope{Cluster: sn.Cluster.Name, View: sn.View, Generation: sn.Generation, Stale: sn.Stale(), Time: sn.Time, Data: data})
}

// writeEnv encodes the answer, keeps it for the rest of this generation
// (an immutable snapshot answers the same URL the same way) and sends it.
func (s *Server) writeEnv(c *gin.Context, gen uint64, env Envelope) {
	var buf bytes.Buffer
	_ = jsonEncode(&buf, env)
	s.cache.put(gen, cacheKey(c), buf.Bytes())
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(buf.Bytes())
}

// respCache holds encoded answers of the current generation only.
type respCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string][]byte
}

// maxCached bounds the answers kept per generation.
const maxCached = 1024

func (rc *respCache) get(gen uint64, key string) ([]byte, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.gen != gen || rc.m == nil {
		return nil, false
	}
	b, ok := rc.m[key]
	return b, ok
}

func (rc *respCache) put(gen uint64, key string, body []byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.gen != gen || rc.m == nil {
		rc.gen, rc.m = gen, make(map[string][]byte)
	}
	if len(rc.m) < maxCached {
		rc.m[key] = body
	}
}

func (s *Server) table() []Route {
	pg := []Param{{Name: "limit", Type: "integer", Description: "page size (default 100, at most 1000)"},
		{Name: "offset", Type: "integer", Description: "first item (default 0)"}}
	return []Route{
		{Method: "GET", Path: "/healthz", Perm: PermPublic, Summary: "Liveness and per-source status", Response: "Health", Handler: s.health},
		{Method: "GET", Path: "/api/v1/openapi.json", Perm: PermPublic, Summary: "This OpenAPI document", Response: "OpenAPI", Handler: s.openapi},
		{Method: "GET", Path: "/api/v1/clusters", Perm: PermRead, Summary: "Clusters with quorum, DC and source status", Response: "Clusters", Handler: s.clusters},
		{Method: "GET", Path: "/api/v1/clusters/:name", Perm: PermRead, Summary: "One cluster", Response: "Cluster", Handler: s.cluster},
		{Method: "GET", Path: "/api/v1/nodes", Perm: PermRead, Summary: "Cluster nodes", Response: "Nodes",
			Query: append([]Param{{Name: "state", Type: "string", Description: "online, standby, maintenance, pending, offline, unclean, shutdown"},
				{Name: "type", Type: "string", Description: "member, remote, guest"}}, pg...), Handler: s.nodes},
		{Method: "GET", Path: "/api/v1/nodes/:name", Perm: PermRead, Summary: "One node with its instances", Response: "NodeDetail", Handler: s.node},
		{Method: "GET", Path: "/api/v1/resources", Perm: PermRead, Summary: "Resources of every kind", Response: "Resources",
			Query: append([]Param{{Name: "node", Type: "string", Description: "only resources with an instance on this node"},
				{Name: "kind", Type: "string", Description: "primitive, group, clone, promotable, bundle"},
				{Name: "state", Type: "string", Description: "started, stopped, failed, blocked, unmanaged, disabled"},
				{Name: "role", Type: "string", Description: "an instance role as crm_mon prints it (Started, Promoted, ...)"}}, pg...), Handler: s.resources},
		{Method: "GET", Path: "/api/v1/resources/:id", Perm: PermRead, Summary: "One resource with its instances, failures and constraints", Response: "ResourceDetail", Handler: s.resource},
		{Method: "GET", Path: "/api/v1/instances", Perm: PermRead, Summary: "Every resource instance", Response: "Instances", Query: pg, Handler: s.instances},
		{Method: "GET", Path: "/api/v1/failures", Perm: PermRead, Summary: "Failed operations", Response: "Failures", Handler: listOf(s, func(sn *model.Snapshot) []model.Failure { return sn.Failures })},
		{Method: "GET", Path: "/api/v1/fencing", Perm: PermRead, Summary: "Fencing history", Response: "Fencing", Handler: listOf(s, func(sn *model.Snapshot) []model.FenceEvent { return sn.Fencing })},
		{Method: "GET", Path: "/api/v1/constraints", Perm: PermRead, Summary: "Constraints", Response: "Constraints", Handler: listOf(s, func(sn *model.Snapshot) []model.Constraint { return sn.Constraints })},
		{Method: "GET", Path: "/api/v1/membership", Perm: PermRead, Summary: "Corosync membership, votes and links", Response: "Membership", Handler: s.membership},
		{Method: "GET", Path: "/api/v1/services", Perm: PermRead, Summary: "Services and their addresses", Response: "Services", Handler: listOf(s, func(sn *model.Snapshot) []model.Service { return sn.Services })},
		{Method: "GET", Path: "/api/v1/hosts", Perm: PermRead, Summary: "Hypervisor hosts", Response: "Hosts", Handler: listOf(s, func(sn *model.Snapshot) []model.Host { return sn.Hosts })},
		{Method: "GET", Path: "/api/v1/vms", Perm: PermRead, Summary: "Virtual machines", Response: "VMs",
			Query: append([]Param{{Name: "host", Type: "string", Description: "only VMs on this host"},
				{Name: "state", Type: "string", Description: "running, paused, shutoff, crashed, unknown, ..."},
				{Name: "managed", Type: "boolean", Description: "true: managed by Pacemaker; false: not"}}, pg...), Handler: s.vms},
		{Method: "GET", Path: "/api/v1/where", Perm: PermRead, Summary: "Where does it run: every instance with its chain down to the physical host",
			Query:    []Param{{Name: "q", Type: "string", Description: "resource, group, clone, bundle, service, address, node, VM, host, iSCSI target IQN, IQN/LUN, DRBD resource or device; empty for everything"}},
			Response: "Where", Handler: s.where},
		{Method: "GET", Path: "/api/v1/impact", Perm: PermRead, Summary: "What goes away with a node or host, and what Pacemaker would do",
			Query: []Param{{Name: "node", Type: "string", Required: true, Description: "node or host name"},
				{Name: "simulate", Type: "boolean", Description: "run crm_simulate (default true)"}},
			Response: "Impact", Handler: s.impact},
		{Method: "GET", Path: "/api/v1/events", Perm: PermRead, Summary: "Server-sent events of model changes; resume with Last-Event-ID",
			Query:    []Param{{Name: "last_event_id", Type: "integer", Description: "resume after this event (instead of the Last-Event-ID header)"}},
			Response: "EventStream", Handler: s.events, Streaming: true},
		{Method: "GET", Path: "/api/v1/status", Perm: PermRead, Summary: "The cluster at a glance: what is wrong first (worst first), the resource tree, counters",
			Response: "Status", Handler: s.status},
		{Method: "GET", Path: "/api/v1/snapshot", Perm: PermRead, Summary: "The whole current snapshot", Response: "Snapshot", Handler: s.snapshot},
	}
}

// Health is the /healthz body.
type Health struct {
	Status     string         `json:"status"` // ok or degraded
	Generation uint64         `json:"generation"`
	View       string         `json:"view"`
	Sources    []SourceHealth `json:"sources"`
}

// SourceHealth is a source's status with its age.
type SourceHealth struct {
	model.SourceStatus
	AgeSeconds float64 `json:"age_seconds"`
}

func (s *Server) health(c *gin.Context) {
	sn := s.opts.Store.Snapshot()
	h := Health{Status: "ok", Generation: sn.Generation, View: sn.View, Sources: []SourceHealth{}}
	now := time.Now()
	for _, st := range sn.Sources {
		h.Sources = append(h.Sources, SourceHealth{SourceStatus: st, AgeSeconds: st.Age(now).Seconds()})
		if st.State != model.SourceOK {
			h.Status = "degraded"
		}
	}
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	_ = jsonEncode(c.Writer, h)
}

// ClusterView is a cluster with its source status.
type ClusterView struct {
	model.Cluster
	Nodes     int                  `json:"nodes"`
	Resources int                  `json:"resources"`
	Sources   []model.SourceStatus `json:"sources"`
}

func clusterView(sn *model.Snapshot) ClusterView {
	return ClusterView{Cluster: sn.Cluster, Nodes: len(sn.Nodes), Resources: len(sn.Resources), Sources: sn.Sources}
}

func (s *Server) clusters(c *gin.Context) {
	if sn, ok := s.snap(c); ok {
		s.write(c, sn, []ClusterView{clusterView(sn)})
	}
}

func (s *Server) cluster(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	if c.Param("name") != sn.Cluster.Name {
		s.problem(c, NotFound("no cluster named "+c.Param("name")))
		return
	}
	s.write(c, sn, clusterView(sn))
}

// page applies limit/offset to n items.
func page(c *gin.Context, n int) (lo, hi, limit, offset int, p *Problem) {
	limit, offset = 100, 0
	if v := c.Query("limit"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 || x > 1000 {
			return 0, 0, 0, 0, BadRequest("limit must be an integer from 1 to 1000")
		}
		limit = x
	}
	if v := c.Query("offset"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return 0, 0, 0, 0, BadRequest("offset must be a non-negative integer")
		}
		offset = x
	}
	lo = min(offset, n)
	hi = min(lo+limit, n)
	return lo, hi, limit, offset, nil
}

func writePage[T any](s *Server, c *gin.Context, sn *model.Snapshot, items []T) {
	lo, hi, limit, offset, p := page(c, len(items))
	if p != nil {
		s.problem(c, p)
		return
	}
	total := len(items)
	out := items[lo:hi]
	if out == nil {
		out = []T{}
	}
	s.writeEnv(c, sn.Generation, Envelope{Cluster: sn.Cluster.Name, View: sn.View, Generation: sn.Generation, Stale: sn.Stale(), Time: sn.Time,
		Data: out, Total: &total, Offset: &offset, Limit: &limit})
}

func (s *Server) nodes(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	state, typ := c.Query("state"), c.Query("type")
	out := []model.Node{}
	for _, n := range sn.Nodes {
		if (state == "" || string(n.State) == state) && (typ == "" || string(n.Type) == typ) {
			out = append(out, n)
		}
	}
	writePage(s, c, sn, out)
}

// NodeDetail is a node with what runs on it.
type NodeDetail struct {
	model.Node
	Instances []model.Instance `json:"instances"`
	Member    *model.Member    `json:"member,omitempty"`
	Host      *model.Host      `json:"host,omitempty"`
}

func (s *Server) node(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	n, found := sn.Node(c.Param("name"))
	if !found {
		s.problem(c, NotFound("no node named "+c.Param("name")))
		return
	}
	d := NodeDetail{Node: n, Instances: sn.InstancesOn(n.Name)}
	if d.Instances == nil {
		d.Instances = []model.Instance{}
	}
	for _, m := range sn.Membership.Members {
		if m.Name == n.Name {
			m := m
			d.Member = &m
		}
	}
	if h, ok := sn.Host(n.Name); ok {
		d.Host = &h
	}
	s.write(c, sn, d)
}

var validKinds = map[string]bool{"primitive": true, "group": true, "clone": true, "promotable": true, "bundle": true}
var validStates = map[string]bool{"started": true, "stopped": true, "failed": true, "blocked": true, "unmanaged": true, "disabled": true}

func (s *Server) resources(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	node, kind, state, role := c.Query("node"), c.Query("kind"), c.Query("state"), c.Query("role")
	if kind != "" && !validKinds[kind] {
		s.problem(c, BadRequest("kind must be one of primitive, group, clone, promotable, bundle"))
		return
	}
	if state != "" && !validStates[state] {
		s.problem(c, BadRequest("state must be one of started, stopped, failed, blocked, unmanaged, disabled"))
		return
	}
	out := []model.Resource{}
	for _, r := range sn.Resources {
		if kind != "" && string(r.Kind) != kind {
			continue
		}
		ins := sn.InstancesOf(r.ID)
		if node != "" || role != "" || state == "started" || state == "stopped" {
			onNode, hasRole, active := node == "", role == "", false
			for _, in := range ins {
				if in.Active {
					active = true
				}
				if node != "" && in.Node == node && in.Active {
					onNode = true
				}
				if role != "" && strings.EqualFold(string(in.Role), role) && (node == "" || in.Node == node) {
					hasRole = true
				}
			}
			if !onNode || !hasRole || (state == "started" && !active) || (state == "stopped" && active) {
				continue
			}
		}
		switch state {
		case "failed":
			if !r.Failed {
				continue
			}
		case "blocked":
			if !r.Blocked {
				continue
			}
		case "unmanaged":
			if r.Managed {
				continue
			}
		case "disabled":
			if !r.Disabled {
				continue
			}
		}
		out = append(out, r)
	}
	writePage(s, c, sn, out)
}

// ResourceDetail is a resource with everything about it.
type ResourceDetail struct {
	model.Resource
	Instances   []model.Instance   `json:"instances"`
	Failures    []model.Failure    `json:"failures"`
	Constraints []model.Constraint `json:"constraints"`
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (s *Server) resource(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	r, found := sn.Resource(c.Param("id"))
	if !found {
		s.problem(c, NotFound("no resource with id "+c.Param("id")))
		return
	}
	var fails []model.Failure
	for _, d := range append([]string{r.ID}, r.Children...) {
		fails = append(fails, sn.FailuresOf(d)...)
	}
	s.write(c, sn, ResourceDetail{Resource: r, Instances: nonNil(sn.InstancesOf(r.ID)),
		Failures: nonNil(fails), Constraints: nonNil(sn.ConstraintsOf(r.ID))})
}

func (s *Server) instances(c *gin.Context) {
	if sn, ok := s.snap(c); ok {
		writePage(s, c, sn, sn.Instances)
	}
}

// listOf answers a whole list of the snapshot.
func listOf[T any](s *Server, get func(*model.Snapshot) []T) gin.HandlerFunc {
	return func(c *gin.Context) {
		if sn, ok := s.snap(c); ok {
			s.write(c, sn, nonNil(get(sn)))
		}
	}
}

func (s *Server) membership(c *gin.Context) {
	if sn, ok := s.snap(c); ok {
		m := sn.Membership
		m.Members = nonNil(m.Members)
		s.write(c, sn, m)
	}
}

func (s *Server) vms(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	host, state, managed := c.Query("host"), c.Query("state"), c.Query("managed")
	if managed != "" && managed != "true" && managed != "false" {
		s.problem(c, BadRequest("managed must be true or false"))
		return
	}
	out := []model.VM{}
	for _, v := range sn.VMs {
		if (host == "" || v.Host == host) && (state == "" || string(v.State) == state) &&
			(managed == "" || strconv.FormatBool(v.Managed) == managed) {
			out = append(out, v)
		}
	}
	writePage(s, c, sn, out)
}

func (s *Server) status(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	s.write(c, sn, sn.Status())
}

func (s *Server) where(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	q := c.Query("q")
	ans := sn.Where(q)
	if q != "" && len(ans.Matches) == 0 {
		s.problem(c, NotFound("nothing named "+strconv.Quote(q)+" (not a resource, service, address, node, VM, host, iSCSI target or LUN, DRBD resource or device)"))
		return
	}
	s.write(c, sn, ans)
}

func (s *Server) impact(c *gin.Context) {
	node := c.Query("node")
	if node == "" {
		s.problem(c, BadRequest("the node parameter is required"))
		return
	}
	simulate := c.DefaultQuery("simulate", "true")
	if simulate != "true" && simulate != "false" {
		s.problem(c, BadRequest("simulate must be true or false"))
		return
	}
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	ans := sn.Impact(node)
	if !ans.Known {
		s.problem(c, NotFound("no node or host named "+node))
		return
	}
	if simulate == "true" && s.opts.Simulator != nil {
		if n, ok := sn.Node(node); ok && n.Type == model.NodeMember {
			ans.Simulations = s.opts.Simulator.Impact(c.Request.Context(), node)
		}
	}
	if _, scoped := c.Get(restrictKey); scoped {
		for i, sim := range ans.Simulations {
			if sim != nil {
				r := sn.RestrictSimulation(*sim)
				ans.Simulations[i] = &r
			}
		}
	}
	s.write(c, sn, ans)
}

func (s *Server) snapshot(c *gin.Context) {
	if sn, ok := s.snap(c); ok {
		s.write(c, sn, sn)
	}
}

// sortedRoutes returns the routes ordered by path and method.
func sortedRoutes(rs []Route) []Route {
	out := append([]Route(nil), rs...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}
