// Package demo is the built-in demo cluster: outputs of Pacemaker's own
// tools (the CIB, crm_mon, crm_simulate) recorded on a live three-host
// cluster (the lab, scripts/lab.sh) at each step of a failover story - a
// host fails, is fenced, quorum is lost and regained, the host returns -
// embedded in the binary and played to the model store on a loop, so that
// mgmtd runs on a machine with no cluster, no root and no database. The
// recordings and the commands that made them are in data/ (record again
// with tools/fixtures/demo.sh, as root).
//
// The story is told from hv2's point of view: hv2's tools recorded it. The
// demo's hypervisor view is derived from the recorded placement: each
// physical node is a hypervisor host, each VirtualDomain resource a VM on
// the host Pacemaker runs it on, plus two VMs Pacemaker does not manage.
// Its Corosync view is derived the same way: each member node is a
// corosync member with one vote and one knet link, up while it is online,
// quorate as Pacemaker recorded it. Its DRBD view (hv2's drbdsetup) is
// derived from where Pacemaker runs and promotes the ocf:linbit:drbd clone
// (drbdOf): no DRBD kernel module runs where the story was recorded.
// demo imports model and the Pacemaker source's parsers.
package demo

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"mgmtd/model"
	"mgmtd/source/pacemaker"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
)

//go:embed data
var data embed.FS

// Source names under which the demo reports.
const (
	PacemakerSource = "pacemaker"
	VirtSource      = "virt"
	CorosyncSource  = "corosync"
	DRBDSource      = "drbd"
)

// Step is one recorded state of the story.
type Step struct {
	Name     string
	Caption  string
	Dwell    time.Duration
	Part     *model.PacemakerPart
	Virt     *model.VirtPart
	Corosync *model.CorosyncPart
	DRBD     *model.DRBDPart
	sims     map[string][]*model.Simulation // node -> standby, down
}

type storyEntry struct {
	Dir     string  `json:"dir"`
	Step    string  `json:"step"`
	Name    string  `json:"name"`
	Caption string  `json:"caption"`
	Title   string  `json:"title"`
	Dwell   float64 `json:"dwell_seconds"`
	DwellS  float64 `json:"dwell"`
}

// Load reads the embedded story.
func Load() ([]Step, error) { return load(data) }

// MustLoad is Load for callers that cannot go on without the story
// (tests); the embedded story always loads (the package's tests check
// it), so it panics only on a broken build.
func MustLoad() []Step {
	steps, err := Load()
	if err != nil {
		panic(err)
	}
	return steps
}

func load(fsys fs.FS) ([]Step, error) {
	dirs, err := fs.Glob(fsys, "data/step-*")
	if err != nil || len(dirs) == 0 {
		return nil, fmt.Errorf("demo: no recorded steps (%v)", err)
	}
	sort.Strings(dirs)
	meta := map[string]storyEntry{}
	if b, err := fs.ReadFile(fsys, "data/story.json"); err == nil {
		var list []storyEntry
		var wrapped struct {
			Steps []storyEntry `json:"steps"`
		}
		if json.Unmarshal(b, &list) != nil {
			if err := json.Unmarshal(b, &wrapped); err != nil {
				return nil, fmt.Errorf("demo: story.json: %w", err)
			}
			list = wrapped.Steps
		}
		for _, e := range list {
			k := first(e.Dir, e.Step, e.Name)
			meta[path.Base(k)] = e
		}
	}
	var steps []Step
	for _, d := range dirs {
		st, err := loadStep(fsys, d)
		if err != nil {
			return nil, err
		}
		if e, ok := meta[st.Name]; ok {
			st.Caption = first(e.Caption, e.Title)
			if s := max(e.Dwell, e.DwellS); s > 0 {
				st.Dwell = time.Duration(s * float64(time.Second))
			}
		}
		if st.Dwell == 0 {
			st.Dwell = 8 * time.Second
		}
		steps = append(steps, st)
	}
	return steps, nil
}

func first(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func loadStep(fsys fs.FS, dir string) (Step, error) {
	st := Step{Name: path.Base(dir), sims: map[string][]*model.Simulation{}}
	monData, err := fs.ReadFile(fsys, dir+"/crm_mon.xml")
	if err != nil {
		return st, fmt.Errorf("demo %s: %w", st.Name, err)
	}
	cibData, err := fs.ReadFile(fsys, dir+"/cib.xml")
	if err != nil {
		return st, fmt.Errorf("demo %s: %w", st.Name, err)
	}
	mon, err := crmmon.Parse(monData)
	if err != nil {
		return st, fmt.Errorf("demo %s: %w", st.Name, err)
	}
	doc, err := cib.Parse(cibData)
	if err != nil {
		return st, fmt.Errorf("demo %s: %w", st.Name, err)
	}
	st.Part = pacemaker.Build(mon, doc, nil)
	if st.Part.Cluster.Name == "" {
		st.Part.Cluster.Name = "demo"
	}
	sims, _ := fs.Glob(fsys, dir+"/simulate-*-*.xml")
	for _, f := range sims {
		base := strings.TrimSuffix(strings.TrimPrefix(path.Base(f), "simulate-"), ".xml")
		i := strings.LastIndexByte(base, '-')
		node, scenario := base[:i], base[i+1:]
		out, err := fs.ReadFile(fsys, f)
		if err != nil {
			return st, err
		}
		sim := &model.Simulation{Scenario: scenario, Node: node, Actions: []model.SimAction{}}
		acts, err := pacemaker.ParseSimulation(out)
		if err != nil {
			sim.Error = err.Error()
		}
		if acts != nil {
			sim.Actions = acts
		}
		st.sims[node] = append(st.sims[node], sim)
	}
	// What the cluster plans anyway is not what a scenario causes.
	if out, err := fs.ReadFile(fsys, dir+"/simulate-baseline.xml"); err == nil {
		baseline, err := pacemaker.ParseSimulation(out)
		if err != nil {
			return st, fmt.Errorf("demo %s: simulate-baseline.xml: %w", st.Name, err)
		}
		for _, l := range st.sims {
			for _, sim := range l {
				sim.SubtractPlanned(baseline)
			}
		}
	}
	for _, l := range st.sims {
		sort.Slice(l, func(i, j int) bool { return l[i].Scenario > l[j].Scenario }) // standby, down
	}
	st.Virt = virtOf(st.Part)
	st.Corosync = corosyncOf(st.Part)
	st.DRBD = drbdOf(st.Part, View)
	return st, nil
}

// View is the node whose tools recorded the story.
const View = "hv2"

// demoDRBD is the demo's DRBD configuration, which lives in /etc/drbd.d
// on the nodes, not in the CIB: each resource's minor, backing disk, size
// and the nodes that hold a replica.
var demoDRBD = map[string]struct {
	minor   int
	backing string
	sizeKiB uint64
	nodes   []string
}{
	"r0": {0, "/dev/vg0/r0", 100 << 20, []string{"hv1", "hv2"}},
}

// drbdOf derives view's DRBD state (what `drbdsetup events2` would show
// there) from Pacemaker's recorded placement, as virtOf derives the
// hypervisors: no DRBD kernel module runs in the lab, whose ocf:linbit:drbd
// is a stand-in (scripts/lab.sh). A resource exists on view while its
// ocf:linbit:drbd instance runs there (the agent's stop takes it down),
// Primary where Pacemaker promoted it. A peer whose instance runs is
// connected and in sync, unless the agent gave it the promotion score
// -INFINITY, which the lab's stand-in does for an Inconsistent replica:
// then view is the resync's source. A peer away is Connecting; writes on
// a Primary meanwhile leave blocks out of sync.
func drbdOf(p *model.PacemakerPart, view string) *model.DRBDPart {
	part := &model.DRBDPart{Node: view, Resources: []model.DRBDResource{}}
	nodes := map[string]model.Node{}
	for _, n := range p.Nodes {
		nodes[n.Name] = n
	}
	role := func(prim, node string) string {
		for _, in := range p.Instances {
			if in.Primitive == prim && in.Node == node && in.Active {
				if in.Role == "Promoted" {
					return model.DRBDPrimary
				}
				return "Secondary"
			}
		}
		return ""
	}
	for _, r := range p.Resources {
		conf, ok := demoDRBD[r.Params["drbd_resource"]]
		if r.Agent != "ocf:linbit:drbd" || !ok {
			continue
		}
		local := role(r.ID, view)
		if local == "" {
			continue
		}
		name := r.Params["drbd_resource"]
		res := model.DRBDResource{Name: name, Node: view, Role: local, Quorum: true,
			Volumes: []model.DRBDVolume{{Volume: 0, Minor: conf.minor, Device: fmt.Sprintf("/dev/drbd%d", conf.minor), BackingDisk: conf.backing,
				Disk: model.DRBDUpToDate, Quorum: "yes", SizeKiB: conf.sizeKiB}}}
		for i, peer := range conf.nodes {
			if peer == view {
				continue
			}
			n := nodes[peer]
			c := model.DRBDConnection{Peer: peer, PeerNodeID: i, State: "Connecting", PeerRole: "Unknown",
				Paths: []string{fmt.Sprintf("ipv4:192.0.2.%d:7789 -> ipv4:192.0.2.%d:7789", 100+slices.Index(conf.nodes, view), 100+i)}}
			v := model.DRBDPeerVolume{Volume: 0, Replication: "Off", PeerDisk: "DUnknown"}
			if pr := role(r.ID, peer); pr != "" && n.Online && !n.Unclean {
				c.State, c.PeerRole = "Connected", pr
				v.Replication, v.PeerDisk = "Established", model.DRBDUpToDate
				if n.Attributes["master-"+r.ID] == "-INFINITY" {
					pct, eta := 62.5, int64(95)
					v.Replication, v.PeerDisk = "SyncSource", "Inconsistent"
					v.OutOfSyncKiB, v.SyncPercent, v.SyncETA = 1536<<10, &pct, &eta
				}
			} else if local == model.DRBDPrimary {
				v.OutOfSyncKiB = 1536 << 10
			}
			c.Volumes = []model.DRBDPeerVolume{v}
			res.Connections = append(res.Connections, c)
		}
		part.Resources = append(part.Resources, res)
	}
	return part
}

// virtOf derives the demo's hypervisor view from Pacemaker's placement.
func virtOf(p *model.PacemakerPart) *model.VirtPart {
	v := &model.VirtPart{}
	up := map[string]bool{}
	for _, n := range p.Nodes {
		if n.Type != model.NodeMember {
			continue
		}
		reach := n.Online && !n.Unclean
		up[n.Name] = reach
		h := model.Host{Name: n.Name, Node: n.Name, URI: "qemu+tls://" + n.Name + "/system", Reachable: reach,
			LibvirtVersion: "9.0.0", Hypervisor: "QEMU", CPUs: 32, MemoryKiB: 256 << 20}
		if !reach {
			h.Error = "connection timed out (heartbeat)"
			h.LibvirtVersion, h.Hypervisor, h.CPUs, h.MemoryKiB = "", "", 0, 0
		}
		v.Hosts = append(v.Hosts, h)
	}
	for _, in := range p.Instances {
		if !strings.HasSuffix(in.Agent, ":VirtualDomain") || !in.Active || in.Node == "" {
			continue
		}
		vm := model.VM{Name: in.Primitive, UUID: uuidOf(in.Primitive), Host: in.Node, State: model.VMRunning, Reason: "booted",
			VCPUs: 2, MemoryKiB: 4 << 20, Persistent: true, CPUTime: 3 * time.Hour}
		if !up[in.Node] {
			vm.State, vm.Reason = model.VMUnknown, "host unreachable"
		}
		v.VMs = append(v.VMs, vm)
	}
	// Two VMs Pacemaker does not manage: they go down with their host.
	for _, u := range []struct {
		name, host string
		state      model.VMState
	}{
		{"build01", "hv3", model.VMRunning}, {"scratch", "hv2", model.VMShutoff},
	} {
		if _, ok := up[u.host]; !ok {
			continue
		}
		vm := model.VM{Name: u.name, UUID: uuidOf(u.name), Host: u.host, State: u.state, VCPUs: 4, MemoryKiB: 8 << 20, Persistent: true}
		if !up[u.host] {
			vm.State, vm.Reason = model.VMUnknown, "host unreachable"
		}
		v.VMs = append(v.VMs, vm)
	}
	return v
}

// corosyncOf derives the demo's membership from Pacemaker's node list.
func corosyncOf(p *model.PacemakerPart) *model.CorosyncPart {
	m := model.Membership{ClusterName: p.Cluster.Name, Transport: "knet", Quorate: p.Cluster.Quorate}
	for i, n := range p.Nodes {
		if n.Type != model.NodeMember {
			continue
		}
		up := n.Online && !n.Unclean
		mem := model.Member{NodeID: uint32(i + 1), Name: n.Name, Addrs: []string{fmt.Sprintf("192.0.2.%d", 100+i)}, Status: "left",
			Votes: 1, Local: n.Name == "hv2", Links: []model.Link{{Link: 0, Connected: up, Enabled: true}}}
		if n.ID != "" {
			var id uint32
			if _, err := fmt.Sscan(n.ID, &id); err == nil {
				mem.NodeID = id
			}
		}
		m.ExpectedVotes++
		if up {
			mem.Status = "joined"
			m.TotalVotes++
		} else {
			mem.Links[0].DownCount = 1
		}
		if mem.Local {
			m.LocalNodeID = mem.NodeID
		}
		m.Members = append(m.Members, mem)
	}
	m.Quorum = m.ExpectedVotes/2 + 1
	return &model.CorosyncPart{Membership: m, Version: "3.1.7"}
}

func uuidOf(name string) string {
	var h uint64 = 14695981039346656037
	for _, c := range []byte(name) {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h>>32), uint16(h>>16), uint16(h)&0xfff, uint16(h>>20)&0xfff, h&0xffffffffffff)
}

// Reporter takes the demo's reports; *model.Store implements it.
type Reporter interface {
	ReportAll(...model.Report) *model.Snapshot
}

// Player plays the story to a store on a loop.
type Player struct {
	steps []Step
	rep   Reporter
	speed float64
	cur   atomic.Int64
}

// NewPlayer returns a player; speed > 1 plays faster (tests).
func NewPlayer(steps []Step, rep Reporter, speed float64) *Player {
	if speed <= 0 {
		speed = 1
	}
	return &Player{steps: steps, rep: rep, speed: speed}
}

// Show reports step i now.
func (p *Player) Show(i int) {
	st := p.steps[i%len(p.steps)]
	p.cur.Store(int64(i % len(p.steps)))
	var down []string
	for _, h := range st.Virt.Hosts {
		if !h.Reachable {
			down = append(down, h.Name+": "+h.Error)
		}
	}
	degraded := ""
	if len(down) > 0 {
		degraded = "unreachable hosts: " + strings.Join(down, "; ")
	}
	p.rep.ReportAll(model.Report{Source: PacemakerSource, Pacemaker: st.Part}, model.Report{Source: VirtSource, Virt: st.Virt, Degraded: degraded},
		model.Report{Source: CorosyncSource, Corosync: st.Corosync}, model.Report{Source: DRBDSource, DRBD: st.DRBD})
}

// Current returns the step being shown.
func (p *Player) Current() Step { return p.steps[p.cur.Load()] }

// Run shows the steps in order, each for its dwell time, looping until ctx
// is done.
func (p *Player) Run(ctx context.Context) error { return p.RunFrom(ctx, 0) }

// RunFrom is Run starting at step start.
func (p *Player) RunFrom(ctx context.Context, start int) error {
	for i := start; ; i++ {
		p.Show(i)
		d := time.Duration(float64(p.steps[i%len(p.steps)].Dwell) / p.speed)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Steps returns the story.
func (p *Player) Steps() []Step { return p.steps }

// Impact returns the recorded crm_simulate predictions of the current step
// for node.
func (p *Player) Impact(_ context.Context, node string) []*model.Simulation {
	sims := p.Current().sims[node]
	if sims == nil {
		return []*model.Simulation{{Scenario: "standby", Node: node, Actions: []model.SimAction{}, Error: "no recorded simulation for " + node}}
	}
	return sims
}

// Rename gives the story's cluster another name (several demos with
// different names make a fleet for a hub).
func Rename(steps []Step, cluster string) {
	for i := range steps {
		if steps[i].Part != nil {
			steps[i].Part.Cluster.Name = cluster
		}
		if steps[i].Corosync != nil {
			steps[i].Corosync.Membership.ClusterName = cluster
		}
	}
}
