package auth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"mgmtd/auth"
)

// A front-end protects its routes with the middleware (or, in gin, with
// CheckRequest + WriteError), maps each request to an action and an
// object, and asks the policy.
func ExampleService_Middleware() {
	dir, _ := os.MkdirTemp("", "mgmtd-example-")
	defer os.RemoveAll(dir)
	tokens, err := auth.OpenTokenStore(filepath.Join(dir, auth.TokenFile), nil)
	if err != nil {
		log.Fatal(err)
	}
	svc, err := auth.New(auth.Options{Tokens: tokens})
	if err != nil {
		log.Fatal(err)
	}
	viewerToken, _, _ := tokens.Create(auth.TokenSpec{Name: "nms", Grants: []auth.Grant{{Role: auth.RoleViewer}}})

	stop := svc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.FromContext(r.Context())
		obj := auth.Object{Kind: auth.KindResource, Cluster: "c1", Name: r.PathValue("name")}
		if d := svc.Authorize(r.Context(), id, auth.ActionOperate, obj); !d.Allowed {
			auth.WriteError(w, d.Err())
			return
		}
		fmt.Fprintln(w, "stopped")
	}))
	mux := http.NewServeMux()
	mux.Handle("POST /resources/{name}/stop", stop)

	for _, bearer := range []string{"", viewerToken} {
		r := httptest.NewRequestWithContext(context.Background(), "POST", "/resources/web/stop", nil)
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// 401 {"error":"authentication required","status":401}
	// 403 {"error":"forbidden: no role of the caller (viewer) allows operate","status":403}
}
