package rest

import (
	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// DRBDDetail is one DRBD resource: every node's view of it, and the
// storage chains that lead to it (targets and LUNs on it, its Primary,
// node and host, whether the replicas are in sync).
type DRBDDetail struct {
	Name    string               `json:"name"`
	Views   []model.DRBDResource `json:"views"`
	Storage []model.StorageChain `json:"storage"`
}

// TargetDetail is one iSCSI target with the chain of each of its LUNs.
type TargetDetail struct {
	model.ISCSITarget
	Storage []model.StorageChain `json:"storage"`
}

func init() {
	RegisterSchema("DRBDResources", []model.DRBDResource{})
	RegisterSchema("DRBDDetail", DRBDDetail{})
	RegisterSchema("Targets", []model.ISCSITarget{})
	RegisterSchema("TargetDetail", TargetDetail{})
}

// storageRoutes are the replicated-storage read routes.
func (s *Server) storageRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/drbd", Perm: PermRead, Summary: "DRBD resources as each node's DRBD source sees them, linked to their Pacemaker clone",
			Query: []Param{{Name: "node", Type: "string", Description: "only the views reported by this node"},
				{Name: "split_brain", Type: "boolean", Description: "true: only resources in a split brain"}},
			Response: "DRBDResources", Handler: s.drbdList},
		{Method: "GET", Path: "/api/v1/drbd/:name", Perm: PermRead, Summary: "One DRBD resource: its views, replicas, fencing constraints and the storage chains to it",
			Response: "DRBDDetail", Handler: s.drbdOne},
		{Method: "GET", Path: "/api/v1/iscsi/targets", Perm: PermRead, Summary: "iSCSI targets Pacemaker runs, with their LUNs and backing devices",
			Response: "Targets", Handler: listOf(s, func(sn *model.Snapshot) []model.ISCSITarget { return sn.ISCSITargets })},
		{Method: "GET", Path: "/api/v1/iscsi/targets/:iqn", Perm: PermRead, Summary: "One iSCSI target by IQN, with the chain of each LUN down to its DRBD resource and host",
			Response: "TargetDetail", Handler: s.target},
	}
}

func (s *Server) drbdList(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	node, split := c.Query("node"), c.Query("split_brain")
	if split != "" && split != "true" && split != "false" {
		s.problem(c, BadRequest("split_brain must be true or false"))
		return
	}
	out := []model.DRBDResource{}
	for _, r := range sn.DRBD {
		if (node == "" || r.Node == node) && (split == "" || (split == "true") == r.SplitBrain) {
			out = append(out, r)
		}
	}
	s.write(c, sn, out)
}

func (s *Server) drbdOne(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	name := c.Param("name")
	views := sn.DRBDOf(name)
	if len(views) == 0 {
		s.problem(c, NotFound("no DRBD resource named "+name))
		return
	}
	d := DRBDDetail{Name: name, Views: views, Storage: nonNil(sn.Where(name).Storage)}
	s.write(c, sn, d)
}

func (s *Server) target(c *gin.Context) {
	sn, ok := s.snap(c)
	if !ok {
		return
	}
	t, found := sn.Target(c.Param("iqn"))
	if !found {
		s.problem(c, NotFound("no iSCSI target "+c.Param("iqn")))
		return
	}
	s.write(c, sn, TargetDetail{ISCSITarget: t, Storage: nonNil(sn.Where(t.IQN).Storage)})
}
