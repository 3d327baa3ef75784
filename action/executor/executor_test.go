package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/action/executor"
	"mgmtd/model"
	"mgmtd/source/pacemaker"
	"mgmtd/toolexec"
)

// memRecorder is an in-memory audit log; fail makes it unavailable.
type memRecorder struct {
	mu      sync.Mutex
	entries []executor.Entry
	fail    error
}

func (m *memRecorder) Record(_ context.Context, e executor.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.entries = append(m.entries, e)
	return nil
}

func (m *memRecorder) forTask(id string) []executor.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []executor.Entry
	for _, e := range m.entries {
		if e.Task == id {
			out = append(out, e)
		}
	}
	return out
}

// toolLog runs the real tools and remembers every invocation; gate, when
// set for a tool, holds that tool until the channel is closed.
type toolLog struct {
	real executor.Runner
	mu   sync.Mutex
	runs []string
	gate map[string]chan struct{}
}

func (l *toolLog) Run(ctx context.Context, env []string, tool string, args ...string) ([]byte, error) {
	l.mu.Lock()
	l.runs = append(l.runs, tool+" "+strings.Join(args, " "))
	g := l.gate[tool]
	l.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return l.real.Run(ctx, env, tool, args...)
}

func (l *toolLog) ran(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.runs {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

type rig struct {
	file  string
	store *model.Store
	src   *pacemaker.Source
	exec  *executor.Executor
	rec   *memRecorder
	tools *toolLog
}

func allow(context.Context, executor.Check) error { return nil }

// newRig copies a fixture CIB to a temp dir and builds an executor in
// rehearsal mode on it, with the real Pacemaker source feeding the model.
func newRig(t *testing.T, fixture string, mod func(*executor.Options)) *rig {
	t.Helper()
	for _, tool := range []string{"crm_mon", "crm_resource", "crm_attribute", "crm_simulate", "cibadmin"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/deps.d/pacemaker.sh (%v)", tool, err)
		}
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "source", "pacemaker", "testdata", fixture, "cib.xml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cib.xml")
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}
	r := &rig{file: file, rec: &memRecorder{}, tools: &toolLog{real: toolexec.Runner{}, gate: map[string]chan struct{}{}}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.store = model.NewStore(model.StoreOptions{Cluster: "lab"})
	r.store.Register(pacemaker.Name)
	r.src = pacemaker.New(pacemaker.Options{CIBFile: file}, r.store, log)
	if err := r.src.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	opts := executor.Options{Store: r.store, Events: r.store.Events(), Refresher: r.src, Simulator: r.src,
		Authorizer: executor.AuthorizerFunc(allow), Recorder: r.rec, Runner: r.tools, CIBFile: file,
		Timeout: time.Minute, PollInterval: 20 * time.Millisecond, Log: log}
	if mod != nil {
		mod(&opts)
	}
	r.exec, err = executor.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.exec.Close() })
	return r
}

func (r *rig) do(t *testing.T, req action.Request) action.Task {
	t.Helper()
	if req.Actor.ID == "" {
		req.Actor = action.Actor{ID: "test:ops", Name: "ops", Channel: "cli"}
	}
	task, err := r.exec.Submit(context.Background(), req)
	if err != nil {
		t.Fatalf("submit %s %s: %v", req.Op, req.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	task, err = r.exec.Wait(ctx, task.ID)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return task
}

// query runs cibadmin --query --xpath on the file (exit 0: found).
func (r *rig) query(t *testing.T, xpath string) (string, bool) {
	t.Helper()
	cmd := exec.Command("cibadmin", "--query", "--xpath", xpath)
	cmd.Env = append(os.Environ(), "CIB_file="+r.file)
	out, err := cmd.Output()
	return string(out), err == nil
}

func predicted(sim *model.Simulation) []string {
	var out []string
	for _, a := range sim.Actions {
		s := a.Action + " " + a.Resource
		if a.Source != "" {
			s += " from " + a.Source
		}
		if a.Dest != "" {
			s += " to " + a.Dest
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestActionsOnCIBFile(t *testing.T) {
	cases := []struct {
		name    string
		fixture string
		req     action.Request
		tool    string   // the tool invocation that made the change
		xpath   string   // must exist in the CIB afterwards
		gone    string   // must not exist afterwards
		predict []string // the predicted transition (the request's own actions)
		planned []string // what the cluster does anyway (Prediction.Planned), when checked
		check   func(t *testing.T, sn *model.Snapshot)
	}{
		{name: "stop", fixture: "primitives", req: action.Request{Op: action.ResourceStop, Name: "dummy-a"},
			tool:    "crm_resource --resource dummy-a --meta --set-parameter target-role --parameter-value Stopped",
			xpath:   "//primitive[@id='dummy-a']/meta_attributes/nvpair[@name='target-role'][@value='Stopped']",
			predict: []string{"stop dummy-a from node1", "stop dummy-c from node2"},
			check:   func(t *testing.T, sn *model.Snapshot) { wantActive(t, sn, "dummy-a") }},
		{name: "start", fixture: "primitives", req: action.Request{Op: action.ResourceStart, Name: "svc-stopped"},
			tool:    "crm_resource --resource svc-stopped --meta --set-parameter target-role --parameter-value Started",
			xpath:   "//primitive[@id='svc-stopped']/meta_attributes/nvpair[@name='target-role'][@value='Started']",
			predict: []string{"start svc-stopped to node3"},
			check:   func(t *testing.T, sn *model.Snapshot) { wantActive(t, sn, "svc-stopped", "node3") }},
		{name: "move with lifetime", fixture: "primitives", req: action.Request{Op: action.ResourceMove, Name: "dummy-b", Node: "node3", Lifetime: "1h"},
			tool:    "crm_resource --move --resource dummy-b --node node3 --lifetime PT3600S",
			xpath:   "//rsc_location[@id='cli-prefer-dummy-b']/rule[expression[@attribute='#uname'][@value='node3']][date_expression[@operation='lt']]",
			predict: []string{"move dummy-b from node2 to node3"},
			check:   func(t *testing.T, sn *model.Snapshot) { wantActive(t, sn, "dummy-b", "node3") }},
		{name: "ban", fixture: "primitives", req: action.Request{Op: action.ResourceBan, Name: "dummy-a", Node: "node1"},
			tool:    "crm_resource --ban --resource dummy-a --node node1",
			xpath:   "//rsc_location[@id='cli-ban-dummy-a-on-node1'][@score='-INFINITY']",
			predict: []string{"move dummy-a from node1 to node3", "move svc-systemd from node3 to node1", "restart dummy-c from node2"},
			check:   func(t *testing.T, sn *model.Snapshot) { wantActive(t, sn, "dummy-a", "node3") }},
		{name: "clear", fixture: "primitives", req: action.Request{Op: action.ResourceClear, Name: "svc-systemd"},
			tool:    "crm_resource --clear --resource svc-systemd",
			gone:    "//rsc_location[@id='cli-ban-svc-systemd-on-node2']",
			predict: []string{},
			check:   func(t *testing.T, sn *model.Snapshot) { wantActive(t, sn, "svc-systemd", "node3") }},
		{name: "unmanage", fixture: "primitives", req: action.Request{Op: action.ResourceUnmanage, Name: "dummy-a"},
			tool:    "crm_resource --resource dummy-a --meta --set-parameter is-managed --parameter-value false",
			xpath:   "//primitive[@id='dummy-a']/meta_attributes/nvpair[@name='is-managed'][@value='false']",
			predict: []string{},
			check: func(t *testing.T, sn *model.Snapshot) {
				if r, _ := sn.Resource("dummy-a"); r.Managed {
					t.Error("dummy-a still managed")
				}
			}},
		{name: "manage", fixture: "primitives", req: action.Request{Op: action.ResourceManage, Name: "dummy-b"},
			tool:    "crm_resource --resource dummy-b --meta --set-parameter is-managed --parameter-value true",
			xpath:   "//primitive[@id='dummy-b']/meta_attributes/nvpair[@name='is-managed'][@value='true']",
			predict: []string{}},
		{name: "restart", fixture: "primitives", req: action.Request{Op: action.ResourceRestart, Name: "dummy-b"},
			tool:    "crm_resource --resource dummy-b --meta --delete-parameter target-role",
			gone:    "//primitive[@id='dummy-b']/meta_attributes/nvpair[@name='target-role']",
			predict: []string{"stop dummy-b from node2"},
			check:   func(t *testing.T, sn *model.Snapshot) { wantActive(t, sn, "dummy-b", "node2") }},
		{name: "cleanup", fixture: "failed", req: action.Request{Op: action.ResourceCleanup, Name: "svc-mon", Node: "node1"},
			tool: "cibadmin --delete-all --force --xpath //node_state[@uname='node1']//lrm_resource[@id='svc-mon' or starts-with(@id,'svc-mon:')]",
			gone: "//node_state[@uname='node1']//nvpair[@name='fail-count-svc-mon#monitor_10000']",
			// svc-timeout's recovery to node3 happens anyway: it is in
			// Prediction.Planned, not among the cleanup's own actions.
			predict: []string{"start svc-mon to node1"},
			planned: []string{"recover svc-timeout to node3"},
			check: func(t *testing.T, sn *model.Snapshot) {
				if fs := sn.FailuresOf("svc-mon"); len(fs) != 0 {
					t.Errorf("failures left: %+v", fs)
				}
			}},
		{name: "standby", fixture: "primitives", req: action.Request{Op: action.NodeStandby, Name: "node2"},
			tool:    "crm_attribute --node node2 --name standby --update on --lifetime forever",
			xpath:   "//node[@uname='node2']/instance_attributes/nvpair[@name='standby'][@value='on']",
			predict: []string{"move dummy-b from node2 to node3", "move dummy-c from node2 to node3", "move svc-systemd from node3 to node1"},
			check: func(t *testing.T, sn *model.Snapshot) {
				if len(sn.InstancesOn("node2")) != 0 {
					t.Errorf("node2 still runs %+v", sn.InstancesOn("node2"))
				}
			}},
		{name: "online", fixture: "standby", req: action.Request{Op: action.NodeOnline, Name: "node2"},
			tool:  "crm_attribute --node node2 --name standby --update off --lifetime forever",
			xpath: "//node[@uname='node2']/instance_attributes/nvpair[@name='standby'][@value='off']",
			check: func(t *testing.T, sn *model.Snapshot) {
				if n, _ := sn.Node("node2"); n.Standby {
					t.Error("node2 still in standby")
				}
			}},
		{name: "node maintenance on", fixture: "primitives", req: action.Request{Op: action.NodeMaintenanceOn, Name: "node3"},
			tool:    "crm_attribute --node node3 --name maintenance --update on --lifetime forever",
			xpath:   "//node[@uname='node3']/instance_attributes/nvpair[@name='maintenance'][@value='on']",
			predict: []string{}},
		{name: "node maintenance off", fixture: "maintenance", req: action.Request{Op: action.NodeMaintenanceOff, Name: "node2"},
			tool:  "crm_attribute --node node2 --name maintenance --update off --lifetime forever",
			xpath: "//node[@uname='node2']/instance_attributes/nvpair[@name='maintenance'][@value='off']"},
		{name: "cluster maintenance on", fixture: "primitives", req: action.Request{Op: action.ClusterMaintenanceOn},
			tool:    "crm_attribute --type crm_config --name maintenance-mode --update true",
			xpath:   "//crm_config//nvpair[@name='maintenance-mode'][@value='true']",
			predict: []string{}},
		{name: "cluster maintenance off", fixture: "maintenance-mode", req: action.Request{Op: action.ClusterMaintenanceOff},
			tool:  "crm_attribute --type crm_config --name maintenance-mode --update false",
			xpath: "//crm_config//nvpair[@name='maintenance-mode'][@value='false']"},
		{name: "fence", fixture: "primitives", req: action.Request{Op: action.NodeFence, Name: "node3", Confirm: true},
			tool:  "crm_simulate --xml-file",
			xpath: "//node_state[@uname='node3'][@in_ccm='false']",
			check: func(t *testing.T, sn *model.Snapshot) {
				if n, _ := sn.Node("node3"); n.Online {
					t.Error("node3 still online")
				}
			}},
		{name: "vm migrate managed", fixture: "guest", req: action.Request{Op: action.VMMigrate, Name: "vm-app", Node: "node2"},
			tool:  "crm_resource --move --resource vm-app --node node2",
			xpath: "//rsc_location[@id='cli-prefer-vm-app'][@node='node2']",
			check: func(t *testing.T, sn *model.Snapshot) { wantActive(t, sn, "vm-app", "node2") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.fixture, nil)
			task := r.do(t, tc.req)
			if task.State != action.StateSucceeded {
				t.Fatalf("state %s, error %q, result %q, commands %q", task.State, task.Error, task.Result, task.Commands)
			}
			if !r.tools.ran(tc.tool) {
				t.Errorf("tool %q not run; ran %q", tc.tool, r.tools.runs)
			}
			if tc.xpath != "" {
				if out, ok := r.query(t, tc.xpath); !ok {
					t.Errorf("CIB lacks %s (%s)", tc.xpath, out)
				}
			}
			if tc.gone != "" {
				if out, ok := r.query(t, tc.gone); ok {
					t.Errorf("CIB still has %s: %s", tc.gone, out)
				}
			}
			if task.Prediction == nil || task.Prediction.Error != "" {
				t.Fatalf("prediction: %+v", task.Prediction)
			}
			if tc.planned != nil {
				got := predicted(&model.Simulation{Actions: task.Prediction.Planned})
				if !slices.Equal(got, tc.planned) {
					t.Errorf("planned anyway %q, want %q", got, tc.planned)
				}
			}
			if tc.predict != nil {
				got := predicted(task.Prediction)
				if !slices.Equal(got, tc.predict) && !(len(got) == 0 && len(tc.predict) == 0) {
					t.Errorf("prediction %q, want %q", got, tc.predict)
				}
			}
			if tc.check != nil {
				tc.check(t, r.store.Snapshot())
			}
			checkRecords(t, r.rec, task)
			checkPublished(t, r.store.Events(), task)
		})
	}
}

// checkRecords: the audit log holds the intent (with the state before) and
// the outcome (with before and after) of the task, in that order.
func checkRecords(t *testing.T, rec *memRecorder, task action.Task) {
	t.Helper()
	es := rec.forTask(task.ID)
	if len(es) != 2 || es[0].Phase != executor.PhaseIntent || es[1].Phase != executor.PhaseOutcome {
		t.Fatalf("records %+v, want intent and outcome", es)
	}
	if es[0].Op != task.Op || es[0].Actor.ID != task.Actor.ID || len(es[0].Before) == 0 {
		t.Errorf("intent %+v", es[0])
	}
	if es[1].State != task.State || len(es[1].Before) == 0 || len(es[1].After) == 0 {
		t.Errorf("outcome %+v", es[1])
	}
	var before, after map[string]any
	if json.Unmarshal(es[1].Before, &before) != nil || json.Unmarshal(es[1].After, &after) != nil {
		t.Fatalf("before/after not JSON: %s / %s", es[1].Before, es[1].After)
	}
	if task.State == action.StateSucceeded && before["generation"] == after["generation"] {
		t.Errorf("before and after are the same generation %v", before["generation"])
	}
}

func checkPublished(t *testing.T, log *model.EventLog, task action.Task) {
	t.Helper()
	evs, _ := log.Since(0)
	var states []string
	for _, e := range evs {
		if e.Type == model.EventTask && e.Object.Name == task.ID {
			states = append(states, e.To)
			if _, ok := e.Data.(action.Task); !ok {
				t.Errorf("event data %T, want action.Task", e.Data)
			}
		}
	}
	if len(states) == 0 || states[len(states)-1] != string(task.State) {
		t.Errorf("published states %q, want ending in %s", states, task.State)
	}
}

func wantActive(t *testing.T, sn *model.Snapshot, rsc string, nodes ...string) {
	t.Helper()
	var got []string
	for _, in := range sn.InstancesOf(rsc) {
		if in.Active {
			got = append(got, in.Node)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, nodes) {
		t.Errorf("%s active on %q, want %q", rsc, got, nodes)
	}
}

func TestRefusals(t *testing.T) {
	stop := action.Request{Op: action.ResourceStop, Name: "dummy-a"}
	cases := []struct {
		name    string
		fixture string
		setup   func(r *rig)
		opts    func(*executor.Options)
		req     action.Request
		want    error
	}{
		{name: "forbidden", fixture: "primitives", req: stop, want: action.ErrForbidden,
			opts: func(o *executor.Options) {
				o.Authorizer = executor.AuthorizerFunc(func(context.Context, executor.Check) error { return errors.New("viewer may not operate") })
			}},
		{name: "stale model", fixture: "primitives", req: stop, want: action.ErrStale,
			setup: func(r *rig) {
				r.store.Report(model.Report{Source: pacemaker.Name, Err: errors.New("crm_mon timed out")})
			}},
		{name: "no quorum", fixture: "noquorum", req: action.Request{Op: action.ResourceStop, Name: "svc-1"}, want: action.ErrNoQuorum},
		{name: "audit log unavailable", fixture: "primitives", req: stop, want: action.ErrUnavailable,
			setup: func(r *rig) { r.rec.fail = errors.New("journal: disk full") }},
		{name: "fence without confirmation", fixture: "primitives", req: action.Request{Op: action.NodeFence, Name: "node3"}, want: action.ErrInvalid},
		{name: "vm without allow-migrate", fixture: "guest", req: action.Request{Op: action.VMMigrate, Name: "vm-db", Node: "node3"}, want: action.ErrInvalid},
		{name: "unknown resource", fixture: "primitives", req: action.Request{Op: action.ResourceStop, Name: "nope"}, want: action.ErrNotFound},
		{name: "unknown node", fixture: "primitives", req: action.Request{Op: action.ResourceMove, Name: "dummy-a", Node: "node9"}, want: action.ErrNotFound},
		{name: "bad lifetime", fixture: "primitives", req: action.Request{Op: action.ResourceBan, Name: "dummy-a", Node: "node1", Lifetime: "soon"}, want: action.ErrInvalid},
		{name: "xpath injection", fixture: "primitives", req: action.Request{Op: action.ResourceCleanup, Name: "a' or '1'='1"}, want: action.ErrInvalid},
		{name: "unknown op", fixture: "primitives", req: action.Request{Op: "resource.delete", Name: "dummy-a"}, want: action.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.fixture, tc.opts)
			if tc.setup != nil {
				tc.setup(r)
			}
			before, err := os.ReadFile(r.file)
			if err != nil {
				t.Fatal(err)
			}
			tc.req.Actor = action.Actor{ID: "test:ops"}
			task, err := r.exec.Submit(context.Background(), tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if task.ID != "" && task.State != action.StateRefused {
				t.Errorf("task state %s, want refused", task.State)
			}
			after, _ := os.ReadFile(r.file)
			if string(before) != string(after) {
				t.Error("the CIB file changed although the action was refused")
			}
			for _, e := range r.rec.entries {
				if e.Phase != executor.PhaseRefused {
					t.Errorf("unexpected record %+v", e)
				}
			}
		})
	}
}

func TestForceOverridesStale(t *testing.T) {
	var checks []executor.Check
	r := newRig(t, "primitives", func(o *executor.Options) {
		o.Authorizer = executor.AuthorizerFunc(func(_ context.Context, c executor.Check) error { checks = append(checks, c); return nil })
	})
	r.store.Report(model.Report{Source: pacemaker.Name, Err: errors.New("crm_mon timed out")})
	// The forced task refreshes the model itself, so the staleness clears.
	task := r.do(t, action.Request{Op: action.ResourceStop, Name: "dummy-a", Force: true})
	if task.State != action.StateSucceeded {
		t.Fatalf("state %s: %s", task.State, task.Error)
	}
	if len(checks) != 1 || !checks[0].Privileged {
		t.Errorf("checks %+v, want one privileged check for force", checks)
	}
}

func TestConcurrentActionOnSameObject(t *testing.T) {
	r := newRig(t, "primitives", nil)
	gate := make(chan struct{})
	r.tools.mu.Lock()
	r.tools.gate["crm_simulate"] = gate // holds the first task in its transition
	r.tools.mu.Unlock()
	actor := action.Actor{ID: "test:ops"}
	first, err := r.exec.Submit(context.Background(), action.Request{Op: action.ResourceStop, Name: "dummy-a", Actor: actor})
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.exec.Submit(context.Background(), action.Request{Op: action.ResourceMove, Name: "dummy-a", Node: "node3", Actor: actor})
	if !errors.Is(err, action.ErrBusy) || second.State != action.StateRefused {
		t.Fatalf("second: %v %s, want busy", err, second.State)
	}
	// Another object is not held up.
	other, err := r.exec.Submit(context.Background(), action.Request{Op: action.NodeMaintenanceOn, Name: "node2", DryRun: true, Actor: actor})
	if err != nil || other.State != action.StateSucceeded {
		t.Fatalf("other object: %v %s", err, other.State)
	}
	close(gate)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if done, err := r.exec.Wait(ctx, first.ID); err != nil || done.State != action.StateSucceeded {
		t.Fatalf("first: %v %s %s", err, done.State, done.Error)
	}
	// The object is free again.
	if task := r.do(t, action.Request{Op: action.ResourceStart, Name: "dummy-a"}); task.State != action.StateSucceeded {
		t.Fatalf("after: %s %s", task.State, task.Error)
	}
	if got := len(r.exec.Tasks()); got != 4 {
		t.Errorf("%d tasks listed, want 4", got)
	}
}

func TestFailedStartEndsFailed(t *testing.T) {
	r := newRig(t, "primitives", func(o *executor.Options) {
		o.SettleArgs = []string{"--op-fail", "dummy-b_start_0@node3=1"}
	})
	task := r.do(t, action.Request{Op: action.ResourceMove, Name: "dummy-b", Node: "node3"})
	if task.State != action.StateFailed {
		t.Fatalf("state %s, want failed (error %q)", task.State, task.Error)
	}
	if !strings.Contains(task.Error, "dummy-b start on node3 failed") || !strings.Contains(task.Error, "User-injected result") {
		t.Errorf("error %q lacks the cluster's reason", task.Error)
	}
	if !strings.Contains(task.Result, "dummy-b") {
		t.Errorf("result %q", task.Result)
	}
	es := r.rec.forTask(task.ID)
	if len(es) != 2 || es[1].State != action.StateFailed || !strings.Contains(es[1].Reason, "User-injected result") {
		t.Errorf("records %+v", es)
	}
}

func TestDryRunAndIdempotency(t *testing.T) {
	r := newRig(t, "primitives", nil)
	before, _ := os.ReadFile(r.file)
	req := action.Request{Op: action.NodeStandby, Name: "node1", DryRun: true, IdempotencyKey: "k1", Actor: action.Actor{ID: "test:ops"}}
	a, err := r.exec.Submit(context.Background(), req)
	if err != nil || a.State != action.StateSucceeded || !a.DryRun {
		t.Fatalf("dry run: %v %+v", err, a)
	}
	if got := predicted(a.Prediction); !slices.Contains(got, "move dummy-a from node1 to node3") {
		t.Errorf("prediction %q", got)
	}
	b, err := r.exec.Submit(context.Background(), req)
	if err != nil || b.ID != a.ID {
		t.Fatalf("retry: %v, id %s want %s", err, b.ID, a.ID)
	}
	req.Name = "node2"
	if _, err := r.exec.Submit(context.Background(), req); !errors.Is(err, action.ErrIdempotency) {
		t.Fatalf("reuse: %v", err)
	}
	req.Actor.ID = "test:other" // keys are per actor
	if _, err := r.exec.Submit(context.Background(), req); err != nil {
		t.Fatalf("other actor: %v", err)
	}
	after, _ := os.ReadFile(r.file)
	if string(before) != string(after) || r.tools.ran("crm_attribute --node node1 --name standby --update on --lifetime forever") && r.tools.ran("crm_simulate") {
		t.Error("a dry run changed the CIB")
	}
	if len(r.rec.entries) != 0 {
		t.Errorf("dry runs recorded %+v", r.rec.entries)
	}
}

func TestLifetime(t *testing.T) {
	for in, want := range map[string]string{"": "", "PT1H": "PT1H", "P1D": "P1D", "90m": "PT5400S", "1h30m": "PT5400S"} {
		if got, err := executor.Lifetime(in); err != nil || got != want {
			t.Errorf("Lifetime(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"P", "PT", "soon", "-1h", "1ms", "PT1H; rm"} {
		if _, err := executor.Lifetime(bad); !errors.Is(err, action.ErrInvalid) {
			t.Errorf("Lifetime(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzLifetime: whatever the input, Lifetime either refuses it with
// ErrInvalid or returns an ISO 8601 duration made of digits and unit
// letters only (it is passed to crm_resource as an argument).
func FuzzLifetime(f *testing.F) {
	for _, s := range []string{"", "PT1H", "P1D", "90m", "1h30m", "P", "PT", "soon", "-1h", "1ms", "PT1H; rm", "P1Y2M3W4DT5H6M7S", "9999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := executor.Lifetime(in)
		if err != nil {
			if !errors.Is(err, action.ErrInvalid) {
				t.Fatalf("Lifetime(%q): %v not ErrInvalid", in, err)
			}
			return
		}
		if in == "" {
			if out != "" {
				t.Fatalf("Lifetime(\"\") = %q", out)
			}
			return
		}
		if !strings.HasPrefix(out, "P") || strings.Trim(out, "0123456789PYMWDTHS") != "" {
			t.Fatalf("Lifetime(%q) = %q: not a plain ISO 8601 duration", in, out)
		}
	})
}

// hypervisor stands in for libvirt hosts with live migration (the libvirt
// test driver has none): it reports the VM where it runs, as the virt
// source would, and moves it when asked.
type hypervisor struct {
	store *model.Store
	err   error
	calls []string
}

func (h *hypervisor) report(host string) {
	h.store.Report(model.Report{Source: "virt", Virt: &model.VirtPart{
		Hosts: []model.Host{{Name: "hv1", Reachable: true}, {Name: "hv2", Reachable: true}},
		VMs:   []model.VM{{Name: "scratch", UUID: "u-1", Host: host, State: model.VMRunning}}}})
}

func (h *hypervisor) MigrateDomain(_ context.Context, from, to, name string) error {
	h.calls = append(h.calls, name+" "+from+" -> "+to)
	if h.err != nil {
		return h.err
	}
	h.report(to)
	return nil
}

func TestUnmanagedVMMigration(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		state action.State
	}{
		{"succeeds", nil, action.StateSucceeded},
		{"libvirt refuses", errors.New("operation not supported: migration"), action.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hypervisor{err: tc.err}
			r := newRig(t, "primitives", func(o *executor.Options) { o.Migrator = h })
			h.store = r.store
			h.report("hv1")
			task := r.do(t, action.Request{Op: action.VMMigrate, Name: "scratch", Node: "hv2"})
			if task.State != tc.state {
				t.Fatalf("state %s, want %s (error %q)", task.State, tc.state, task.Error)
			}
			if len(h.calls) != 1 || h.calls[0] != "scratch hv1 -> hv2" {
				t.Errorf("migrator calls %q", h.calls)
			}
			if got := predicted(task.Prediction); len(got) != 1 || got[0] != "migrate scratch from hv1 to hv2" {
				t.Errorf("prediction %q", got)
			}
			if tc.err != nil && !strings.Contains(task.Error, "operation not supported") {
				t.Errorf("error %q lacks libvirt's reason", task.Error)
			}
			checkRecords(t, r.rec, task)
		})
	}
	r := newRig(t, "primitives", nil)
	(&hypervisor{store: r.store}).report("hv1")
	if _, err := r.exec.Submit(context.Background(), action.Request{Op: action.VMMigrate, Name: "scratch", Node: "hv1", Actor: action.Actor{ID: "x"}}); !errors.Is(err, action.ErrInvalid) {
		t.Errorf("migrate to its own host: %v", err)
	}
}

func TestRefusedKeyMayBeRetried(t *testing.T) {
	r := newRig(t, "primitives", nil)
	r.rec.fail = errors.New("journal: disk full")
	req := action.Request{Op: action.ResourceStop, Name: "dummy-a", IdempotencyKey: "k", Actor: action.Actor{ID: "test:ops"}}
	first, err := r.exec.Submit(context.Background(), req)
	if !errors.Is(err, action.ErrUnavailable) {
		t.Fatalf("first: %v", err)
	}
	r.rec.mu.Lock()
	r.rec.fail = nil
	r.rec.mu.Unlock()
	second, err := r.exec.Submit(context.Background(), req)
	if err != nil || second.ID == first.ID || second.State != action.StateRunning {
		t.Fatalf("retry: %v %s %s", err, second.ID, second.State)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if done, err := r.exec.Wait(ctx, second.ID); err != nil || done.State != action.StateSucceeded {
		t.Fatalf("retry: %v %s", err, done.State)
	}
}
