package mgmtd

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"mgmtd/auth"
)

// BenchmarkWhereInProcess measures the server's own cost of an
// authenticated GET /api/v1/where (auth guard, cache, encoding) without
// network or TLS, to compare with the load test through a socket.
func BenchmarkWhereInProcess(b *testing.B) {
	d := startDemoB(b)
	tok := d.DemoCredentials[auth.RoleViewer].BearerToken
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/api/v1/where?q=web", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			d.REST.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
}
