package ui_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"mgmtd/ui"
)

func serve(method, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	ui.Handler().ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestServesThePage(t *testing.T) {
	for path, ctype := range map[string]string{
		"/ui/": "text/html", "/ui/app.js": "text/javascript", "/ui/app.css": "text/css", "/ui/favicon.svg": "image/svg+xml",
		"/ui/map.js": "text/javascript", "/ui/detail.js": "text/javascript", "/ui/storage.js": "text/javascript",
	} {
		w := serve("GET", path)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
	b := serve("GET", "/ui/").Body.String()
	for _, js := range []string{"app.js", "status.js", "ops.js", "nav.js", "check.js", "map.js", "detail.js", "storage.js"} {
		if !strings.Contains(b, `<script src="`+js+`" defer></script>`) {
			t.Errorf("index does not load %s:\n%s", js, b)
		}
	}
}

// TestPageHasNoInlineCode: the CSP allows no inline script or style, so
// the page must not need any.
func TestPageHasNoInlineCode(t *testing.T) {
	b := serve("GET", "/ui/").Body.String()
	for _, bad := range []string{"<script>", "style=", " onclick=", " onload=", " onsubmit=", "javascript:"} {
		if strings.Contains(b, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
}

func TestRefusesTheRest(t *testing.T) {
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/ui/nope.js", 404},
		{"GET", "/ui/../go.mod", 404},
		{"GET", "/ui/static/app.js", 404},
		{"GET", "/other", 404},
		{"POST", "/ui/", 405},
		{"DELETE", "/ui/app.js", 405},
	} {
		if w := serve(c.method, c.path); w.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, w.Code, c.code)
		}
	}
	if w := serve("HEAD", "/ui/app.js"); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := serve("GET", "/ui/index.html"); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "./" {
		t.Errorf("index.html: %d %q", w.Code, w.Header().Get("Location"))
	}
}
