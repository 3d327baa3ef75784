package rest

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// Version is the API version reported in the OpenAPI document.
const Version = "1.0.0"

// schemaTypes maps the Response names of the route table to Go types; the
// OpenAPI schemas are generated from them by reflection, so the document
// cannot drift from what the handlers encode.
var schemaTypes = map[string]any{
	"Health":         Health{},
	"Clusters":       []ClusterView{},
	"Cluster":        ClusterView{},
	"Nodes":          []model.Node{},
	"NodeDetail":     NodeDetail{},
	"Resources":      []model.Resource{},
	"ResourceDetail": ResourceDetail{},
	"Instances":      []model.Instance{},
	"Failures":       []model.Failure{},
	"Fencing":        []model.FenceEvent{},
	"Constraints":    []model.Constraint{},
	"Membership":     model.Membership{},
	"Services":       []model.Service{},
	"Hosts":          []model.Host{},
	"VMs":            []model.VM{},
	"Where":          model.WhereAnswer{},
	"Status":         model.StatusReport{},
	"Impact":         model.ImpactAnswer{},
	"Snapshot":       model.Snapshot{},
	"Event":          model.Event{},
	"Problem":        Problem{},
}

// RegisterSchema adds a response schema for routes other packages add.
func RegisterSchema(name string, v any) {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	schemaTypes[name] = v
}

var schemaMu sync.Mutex

var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// OpenAPIPath converts a gin path to an OpenAPI path.
func OpenAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// OpenAPI returns the OpenAPI 3 document for the registered routes.
func (s *Server) OpenAPI() map[string]any {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	comps := map[string]any{}
	g := &schemaGen{defs: comps}
	paths := map[string]any{}
	for _, r := range sortedRoutes(s.routes) {
		if r.NotAPI {
			continue
		}
		p := OpenAPIPath(r.Path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		var params []any
		for _, m := range ginParam.FindAllStringSubmatch(r.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range r.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "required": q.Required,
				"description": q.Description, "schema": map[string]any{"type": q.Type}})
		}
		op := map[string]any{
			"summary":      r.Summary,
			"operationId":  strings.ToLower(r.Method) + strings.NewReplacer("/", "_", ":", "", ".", "_", "-", "_").Replace(r.Path),
			"x-permission": string(r.Perm),
		}
		if params != nil {
			op["parameters"] = params
		}
		resp := map[string]any{}
		switch {
		case r.Streaming:
			resp["200"] = map[string]any{"description": "text/event-stream of Event objects",
				"content": map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Event"}}}}
			g.ref(reflect.TypeOf(model.Event{}), "Event")
		case r.Produces != "":
			resp["200"] = map[string]any{"description": "OK", "content": map[string]any{r.Produces: map[string]any{"schema": map[string]any{"type": "string"}}}}
		case r.Response == "OpenAPI" || r.Response == "Health" || r.Response == "":
			var sch any = map[string]any{"type": "object"}
			if t, ok := schemaTypes[r.Response]; ok {
				sch = g.ref(reflect.TypeOf(t), r.Response)
			}
			resp["200"] = map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": sch}}}
		default:
			t, ok := schemaTypes[r.Response]
			var data any = map[string]any{"type": "object"}
			if ok {
				data = g.ref(reflect.TypeOf(t), r.Response)
			}
			env := map[string]any{"type": "object", "required": []string{"cluster", "view", "generation", "stale", "data"},
				"properties": map[string]any{
					"cluster": map[string]any{"type": "string"}, "view": map[string]any{"type": "string", "description": "the node whose view this is"},
					"generation": map[string]any{"type": "integer", "description": "snapshot generation, also the ETag"},
					"stale":      map[string]any{"type": "boolean", "description": "true when any source is not ok"},
					"time":       map[string]any{"type": "string", "format": "date-time"},
					"total":      map[string]any{"type": "integer"}, "offset": map[string]any{"type": "integer"}, "limit": map[string]any{"type": "integer"},
					"data": data}}
			resp["200"] = map[string]any{"description": "OK", "headers": map[string]any{"ETag": map[string]any{"schema": map[string]any{"type": "string"}}},
				"content": map[string]any{"application/json": map[string]any{"schema": env}}}
			if r.Method == http.MethodGet {
				resp["304"] = map[string]any{"description": "Not Modified (If-None-Match matched the generation)"}
			}
		}
		prob := map[string]any{"content": map[string]any{"application/problem+json": map[string]any{"schema": g.ref(reflect.TypeOf(Problem{}), "Problem")}}}
		for code, d := range map[string]string{"400": "Bad Request", "401": "Unauthorized", "403": "Forbidden", "404": "Not Found", "default": "Error"} {
			if r.Perm == PermPublic && (code == "401" || code == "403") {
				continue
			}
			m := map[string]any{"description": d}
			for k, v := range prob {
				m[k] = v
			}
			resp[code] = m
		}
		op["responses"] = resp
		if r.Perm != PermPublic {
			op["security"] = []any{map[string]any{"bearer": []any{}}, map[string]any{"basic": []any{}}, map[string]any{"session": []any{}}}
		}
		item[strings.ToLower(r.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "mgmtd API", "version": Version,
			"description": "Read and act on a Pacemaker/Corosync cluster and its VMs. Bodies carry view, generation and staleness."},
		"paths": paths,
		"components": map[string]any{
			"schemas": comps,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"basic":   map[string]any{"type": "http", "scheme": "basic"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "mgmtd_session"},
			},
		},
	}
}

func (s *Server) openapi(c *gin.Context) {
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	_ = jsonEncode(c.Writer, s.OpenAPI())
}

type schemaGen struct{ defs map[string]any }

var timeType = reflect.TypeOf(time.Time{})
var durationType = reflect.TypeOf(time.Duration(0))

// ref returns a schema for t, putting named structs in the components.
func (g *schemaGen) ref(t reflect.Type, name string) any {
	if t.Kind() == reflect.Struct && t != timeType {
		if name == "" {
			name = t.Name()
		}
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return g.schema(t)
}

func (g *schemaGen) schema(t reflect.Type) any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == durationType:
		return map[string]any{"type": "integer", "description": "nanoseconds"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.ref(t.Elem(), "")}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.ref(t.Elem(), "")}
	case reflect.Struct:
		return g.ref(t, "")
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	g.fields(t, props)
	return map[string]any{"type": "object", "properties": props}
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		if f.Type.Kind() == reflect.Interface {
			props[name] = map[string]any{}
			continue
		}
		props[name] = g.ref(f.Type, "")
	}
}
