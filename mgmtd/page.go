package mgmtd

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"mgmtd/rest"
	"mgmtd/ui"
)

// pageRoutes serves the web page (package ui) beside the API: its files
// under /ui/ and a redirect from / to it. The files are public (they hold
// no data); the API calls the page makes are authenticated as usual.
func pageRoutes(s *rest.Server) {
	files := gin.WrapH(ui.Handler())
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		s.Handle(rest.Route{Method: m, Path: ui.Prefix + "*file", Perm: rest.PermPublic, NotAPI: true,
			Summary: "The web page for operators", Handler: files})
	}
	s.Handle(rest.Route{Method: http.MethodGet, Path: "/", Perm: rest.PermPublic, NotAPI: true,
		Summary: "Redirect to the web page", Handler: func(c *gin.Context) { c.Redirect(http.StatusFound, ui.Prefix) }})
}
