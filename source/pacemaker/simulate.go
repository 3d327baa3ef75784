package pacemaker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"mgmtd/model"
	"mgmtd/source/pacemaker/crmmon"
)

// Scenarios that Impact simulates.
const (
	ScenarioStandby = "standby" // a planned reboot: the node drains
	ScenarioDown    = "down"    // a failure: the node is lost (and fenced)
)

// Impact asks Pacemaker's scheduler what it would do if node went into
// standby and if it failed, each on a private copy of the CIB. It never
// touches the live cluster. An error of one scenario is reported in that
// simulation's Error, not as a failure of the whole answer.
func (s *Source) Impact(ctx context.Context, node string) []*model.Simulation {
	standby := s.Predict(ctx, ScenarioStandby, node, func(ctx context.Context, file string) error {
		_, err := s.onCopy(ctx, file, "crm_attribute", "--node", node, "--name", "standby", "--update", "on")
		return err
	})
	down := s.Predict(ctx, ScenarioDown, node, nil, "--node-fail", node)
	return []*model.Simulation{standby, down}
}

// Predict copies the current CIB (with its status) to a private file,
// applies modify to the copy (with CIB_file pointing at it), runs
// crm_simulate on it with the extra arguments, and returns the predicted
// actions: those the scenario makes Pacemaker take in Actions, those the
// cluster would take anyway (crm_simulate on the unchanged copy) in
// Planned.
func (s *Source) Predict(ctx context.Context, scenario, node string, modify func(ctx context.Context, file string) error, extra ...string) *model.Simulation {
	sim := &model.Simulation{Scenario: scenario, Node: node, Actions: []model.SimAction{}}
	s.simMu.Lock()
	defer s.simMu.Unlock()
	dir, err := os.MkdirTemp("", "mgmtd-sim-")
	if err != nil {
		sim.Error = err.Error()
		return sim
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "cib.xml")
	if err := s.copyCIB(ctx, file); err != nil {
		sim.Error = err.Error()
		return sim
	}
	// What the cluster plans anyway, on the unchanged copy. Without it
	// (the scheduler failed there) every action is shown as the
	// scenario's.
	var baseline []model.SimAction
	if out, err := s.onCopy(ctx, file, "crm_simulate", "--xml-file", file, "--simulate", "--output-as=xml"); err == nil || len(out) > 0 {
		baseline, _ = ParseSimulation(out)
	}
	if modify != nil {
		if err := modify(ctx, file); err != nil {
			sim.Error = err.Error()
			return sim
		}
	}
	args := append([]string{"--xml-file", file, "--simulate", "--output-as=xml"}, extra...)
	out, err := s.onCopy(ctx, file, "crm_simulate", args...)
	if err != nil && len(out) == 0 {
		sim.Error = err.Error()
		return sim
	}
	acts, perr := ParseSimulation(out)
	if perr != nil {
		sim.Error = perr.Error()
		if err != nil {
			sim.Error = err.Error() + " (" + perr.Error() + ")"
		}
		return sim
	}
	sim.Actions = acts
	sim.SubtractPlanned(baseline)
	return sim
}

// ParseSimulation reads the predicted actions of crm_simulate's XML.
func ParseSimulation(out []byte) ([]model.SimAction, error) {
	r, err := crmmon.Parse(out)
	if err != nil && !errors.Is(err, crmmon.ErrStatus) {
		return nil, err
	}
	if r == nil {
		return nil, err
	}
	acts := make([]model.SimAction, 0, len(r.Actions))
	for _, a := range r.Actions {
		sa := model.SimAction{
			Action: a.Action, Resource: a.Resource, Source: a.Source, Dest: a.Dest, Node: a.Node,
			Role: a.Role, Reason: a.Reason, Blocked: crmmon.Bool(a.Blocked),
		}
		if sa.Node != "" && sa.Source == "" && sa.Dest == "" {
			switch sa.Action {
			case "stop", "demote":
				sa.Source = sa.Node
			default: // start, promote, restart, recover, reload, ...
				sa.Dest = sa.Node
			}
		}
		acts = append(acts, sa)
	}
	for _, a := range r.NodeActions {
		act := a.Task
		if act == "" {
			act = a.Action
		}
		acts = append(acts, model.SimAction{Action: act, Resource: a.Node, Reason: a.Reason})
	}
	return acts, err
}

// copyCIB writes the full current CIB (configuration and status) to file.
func (s *Source) copyCIB(ctx context.Context, file string) error {
	var data []byte
	var err error
	if s.opts.CIBFile != "" {
		data, err = readLimited(s.opts.CIBFile, s.opts.MaxOutput)
	} else {
		data, err = s.run(ctx, "cibadmin", "--query", "--local")
	}
	if err != nil {
		return fmt.Errorf("copy cib: %w", err)
	}
	return os.WriteFile(file, data, 0o600)
}

// onCopy runs a tool with CIB_file pointing at the private copy.
func (s *Source) onCopy(ctx context.Context, file, tool string, args ...string) ([]byte, error) {
	return s.runEnv(ctx, []string{"CIB_file=" + file}, tool, args...)
}
