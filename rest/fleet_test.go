package rest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"mgmtd/hub"
	"mgmtd/rest"
)

// TestFleetOpenAPI: the hub's API documents its own routes, not the
// one-cluster table.
func TestFleetOpenAPI(t *testing.T) {
	s := rest.NewFleet(rest.Options{})
	for _, r := range rest.FleetRoutes(s, hub.New(hub.Options{}), nil) {
		s.Handle(r)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("openapi: %d %s", w.Code, w.Body)
	}
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/v1/fleet/clusters", "/api/v1/fleet/clusters/{name}", "/api/v1/fleet/where", "/api/v1/fleet/impact", "/api/v1/fleet/objects", "/api/v1/fleet/events", "/api/v1/hub/push", "/metrics"} {
		if doc.Paths[p] == nil {
			t.Errorf("no %s in the hub's OpenAPI document", p)
		}
	}
	if doc.Paths["/api/v1/nodes"] != nil {
		t.Error("the hub documents the one-cluster routes")
	}
}
