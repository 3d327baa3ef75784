package rest

import (
	"context"
	"errors"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// Explainer answers "why did the cluster do that": the scheduler inputs
// the DC saved, and the actions Pacemaker takes from one of them
// (crm_simulate on a private copy). A name that is not an input is an
// error wrapping fs.ErrInvalid, a missing one fs.ErrNotExist.
type Explainer interface {
	Transitions(ctx context.Context) ([]model.TransitionInput, error)
	Explain(ctx context.Context, name string, scores bool) (*model.Explanation, error)
}

func init() {
	RegisterSchema("TransitionInputs", []model.TransitionInput{})
	RegisterSchema("Explanation", model.Explanation{})
}

// TransitionRoutes returns the routes of the scheduler inputs.
func TransitionRoutes(s *Server, x Explainer) []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/transitions", Perm: PermRead,
			Summary:  "The scheduler inputs the DC saved (pe-input, pe-warn, pe-error), newest first, with their transition number when the log tells it",
			Response: "TransitionInputs", Handler: s.transitions(x)},
		{Method: "GET", Path: "/api/v1/transitions/:name", Perm: PermRead,
			Summary:  "Explain a transition: the actions Pacemaker takes from that input, by crm_simulate on a private copy (never the live cluster)",
			Query:    []Param{{Name: "scores", Type: "boolean", Description: "also the allocation scores (crm_simulate --show-scores)"}},
			Response: "Explanation", Handler: s.explain(x)},
	}
}

func transitionProblem(err error) *Problem {
	switch {
	case errors.Is(err, fs.ErrInvalid):
		return BadRequest(err.Error())
	case errors.Is(err, fs.ErrNotExist):
		return NotFound(err.Error())
	}
	return &Problem{Status: http.StatusInternalServerError, Title: "Internal Server Error", Detail: err.Error()}
}

func (s *Server) transitions(x Explainer) gin.HandlerFunc {
	return func(c *gin.Context) {
		ins, err := x.Transitions(c.Request.Context())
		if err != nil {
			s.problem(c, transitionProblem(err))
			return
		}
		s.plainJSON(c, http.StatusOK, ins)
	}
}

func (s *Server) explain(x Explainer) gin.HandlerFunc {
	return func(c *gin.Context) {
		scores := false
		switch c.Query("scores") {
		case "", "false", "0":
		case "true", "1":
			scores = true
		default:
			s.problem(c, BadRequest("scores must be true or false"))
			return
		}
		ex, err := x.Explain(c.Request.Context(), c.Param("name"), scores)
		if err != nil {
			s.problem(c, transitionProblem(err))
			return
		}
		s.plainJSON(c, http.StatusOK, ex)
	}
}
