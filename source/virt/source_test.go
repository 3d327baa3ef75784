package virt

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// fastOptions are short intervals for tests.
func fastOptions(hosts ...HostConfig) Options {
	return Options{
		Hosts:             hosts,
		RefreshInterval:   time.Hour, // only events, Refresh and reconnects refresh
		HeartbeatInterval: 20 * time.Millisecond,
		HeartbeatTimeout:  50 * time.Millisecond,
		CallTimeout:       200 * time.Millisecond,
		BackoffMin:        10 * time.Millisecond,
		BackoffMax:        40 * time.Millisecond,
		Coalesce:          time.Millisecond,
	}
}

func fakeFleet() *fakeConnector {
	f := newFakeConnector()
	hv1 := f.host("hv1")
	hv1.info = hostInfo{LibVersion: 9000000, Hypervisor: "QEMU", CPUs: 32, MemoryKiB: 134217728}
	hv1.set(
		domainInfo{Name: "vm-db", UUID: "11111111-0000-0000-0000-000000000001", State: stateRunning, Reason: 1, VCPUs: 4, MemoryKiB: 8388608, Persistent: true, Autostart: true, CPUTime: 5 * time.Second,
			MaxVCPUs: 8, MaxMemoryKiB: 16777216,
			CPUs: []model.VMCPU{{Index: 0, Time: 2 * time.Second}, {Index: 1, Time: time.Second}, {Index: 2, Time: time.Second}, {Index: 3, Time: time.Second}},
			Disks: []model.VMDisk{{Target: "vda", Device: "disk", Type: "file", Source: "/var/lib/libvirt/images/vm-db.qcow2",
				CapacityBytes: 21474836480, AllocationBytes: 5368709120, ReadRequests: 1200, ReadBytes: 49152000, WriteRequests: 300, WriteBytes: 12288000}},
			NICs: []model.VMNIC{{Target: "vnet0", MAC: "52:54:00:11:00:01", Type: "bridge", Source: "br0", Model: "virtio",
				RxBytes: 1000000, RxPackets: 1000, TxBytes: 500000, TxPackets: 600}}},
		domainInfo{Name: "vm-web", UUID: "11111111-0000-0000-0000-000000000002", State: statePaused, Reason: 1, VCPUs: 2, MemoryKiB: 4194304, Persistent: true},
	)
	hv2 := f.host("hv2")
	hv2.info = hostInfo{LibVersion: 10000001, Hypervisor: "QEMU", CPUs: 16, MemoryKiB: 67108864}
	hv2.set(
		domainInfo{Name: "vm-batch", UUID: "22222222-0000-0000-0000-000000000001", State: stateShutoff, Reason: 2, VCPUs: 1, MemoryKiB: 1048576, Persistent: true,
			Disks: []model.VMDisk{{Target: "vda", Device: "disk", Type: "block", Source: "/dev/vg0/vm-batch",
				CapacityBytes: 10737418240, AllocationBytes: 10737418240, ReadRequests: -1, ReadBytes: -1, WriteRequests: -1, WriteBytes: -1}},
			NICs: []model.VMNIC{{MAC: "52:54:00:22:00:01", Type: "network", Source: "default", RxBytes: -1, RxPackets: -1, TxBytes: -1, TxPackets: -1}}},
		domainInfo{Name: "vm-tmp", UUID: "22222222-0000-0000-0000-000000000002", State: stateCrashed, Reason: 1, VCPUs: 1, MemoryKiB: 524288},
	)
	return f
}

func startFake(t *testing.T, f *fakeConnector, opts Options) *running {
	t.Helper()
	store := model.NewStore(model.StoreOptions{Cluster: "c1"})
	src := newSource(opts, store, testLogger(t), f)
	return runSource(t, src, store)
}

var twoHosts = []HostConfig{
	{Name: "hv1", URI: "qemu+ssh://root@hv1.example/system"},
	{Name: "hv2", URI: "qemu+tls://hv2.example/system", Node: "node2"},
}

func bothReachable(s *model.Snapshot) bool {
	return hostIn(s, "hv1").Reachable && hostIn(s, "hv2").Reachable
}

// TestReportGolden checks the complete part reported for two fake hosts.
func TestReportGolden(t *testing.T) {
	store := model.NewStore(model.StoreOptions{Cluster: "c1"})
	rec := &recorder{next: store}
	r := runSource(t, newSource(fastOptions(twoHosts...), rec, testLogger(t), fakeFleet()), store)
	waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)
	reps := rec.all()
	last := reps[len(reps)-1]
	if last.Source != SourceName || last.Err != nil || last.Virt == nil {
		t.Fatalf("last report = %+v", last)
	}
	got, err := json.MarshalIndent(last.Virt, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "fake-report.golden.json"), append(got, '\n'))
}

// TestEventTriggersRefresh: a lifecycle event makes the new state visible
// without waiting for the periodic refresh (which is an hour here).
func TestEventTriggersRefresh(t *testing.T) {
	f := fakeFleet()
	r := startFake(t, f, fastOptions(twoHosts...))
	waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)
	seq := r.store.Events().Last()
	hv1 := f.host("hv1")
	hv1.set(
		domainInfo{Name: "vm-db", UUID: "11111111-0000-0000-0000-000000000001", State: statePaused, Reason: 1, VCPUs: 4, MemoryKiB: 8388608, Persistent: true, Autostart: true},
		domainInfo{Name: "vm-web", UUID: "11111111-0000-0000-0000-000000000002", State: statePaused, Reason: 1, VCPUs: 2, MemoryKiB: 4194304, Persistent: true},
	)
	hv1.emit(lifecycleEvent{Domain: "vm-db", Event: 3})
	s := waitSnapshot(t, r.store, 5*time.Second, "vm-db paused", func(s *model.Snapshot) bool {
		v, _ := vmIn(s, "hv1", "vm-db")
		return v.State == model.VMPaused
	})
	if v, _ := vmIn(s, "hv1", "vm-db"); v.Reason != "user" {
		t.Errorf("reason = %q, want user", v.Reason)
	}
	e, ok := waitEvent(r.store, seq, model.EventVMState, "vm-db")
	if !ok || e.From != "running" || e.To != "paused" || e.Node != "hv1" {
		t.Errorf("vm.state event = %+v (found %v), want running -> paused on hv1", e, ok)
	}
}

// TestHostLossAndReconnect: a dropped connection makes the host
// unreachable and its VMs unknown (not stopped); when the host accepts
// connections again it comes back.
func TestHostLossAndReconnect(t *testing.T) {
	f := fakeFleet()
	r := startFake(t, f, fastOptions(twoHosts...))
	waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)
	seq := r.store.Events().Last()
	f.host("hv2").setUp(false)
	s := waitSnapshot(t, r.store, 5*time.Second, "hv2 unreachable", func(s *model.Snapshot) bool { return !hostIn(s, "hv2").Reachable })
	if h := hostIn(s, "hv2"); h.Error == "" || h.CPUs != 16 {
		t.Errorf("unreachable host = %+v, want an error and the last known CPUs", h)
	}
	if v, _ := vmIn(s, "hv2", "vm-batch"); len(v.Disks) != 1 || v.Disks[0].CapacityBytes != 10737418240 || len(v.NICs) != 1 || v.NICs[0].MAC != "52:54:00:22:00:01" {
		t.Errorf("VM on an unreachable host = %+v, want its last known disk and NIC", v)
	}
	for _, v := range s.VMsOn("hv2") {
		if v.State != model.VMUnknown || v.Reason != "host unreachable" {
			t.Errorf("VM %s on lost host: state %q reason %q, want unknown / host unreachable", v.Name, v.State, v.Reason)
		}
	}
	if len(s.VMsOn("hv2")) != 2 {
		t.Errorf("lost host keeps %d VMs, want its 2 last known", len(s.VMsOn("hv2")))
	}
	if !hostIn(s, "hv1").Reachable {
		t.Error("hv1 became unreachable too")
	}
	if _, ok := waitEvent(r.store, seq, model.EventHostUnreachable, "hv2"); !ok {
		t.Error("no host.unreachable event for hv2")
	}
	seq = r.store.Events().Last()
	f.host("hv2").setUp(true)
	s = waitSnapshot(t, r.store, 5*time.Second, "hv2 reachable again", func(s *model.Snapshot) bool { return hostIn(s, "hv2").Reachable })
	if v, _ := vmIn(s, "hv2", "vm-batch"); v.State != model.VMShutoff {
		t.Errorf("vm-batch after reconnect: %q, want shutoff", v.State)
	}
	if _, ok := waitEvent(r.store, seq, model.EventHostReachable, "hv2"); !ok {
		t.Error("no host.reachable event for hv2")
	}
}

// TestHeartbeatTimeout: a host that stops answering (socket open, no
// replies) is detected by the heartbeat.
func TestHeartbeatTimeout(t *testing.T) {
	f := fakeFleet()
	r := startFake(t, f, fastOptions(twoHosts...))
	waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)
	f.host("hv1").setHang(true)
	s := waitSnapshot(t, r.store, 5*time.Second, "hv1 unreachable", func(s *model.Snapshot) bool { return !hostIn(s, "hv1").Reachable })
	if h := hostIn(s, "hv1"); !strings.Contains(h.Error, "heartbeat") {
		t.Errorf("error = %q, want a heartbeat timeout", h.Error)
	}
	f.host("hv1").setHang(false)
	waitSnapshot(t, r.store, 5*time.Second, "hv1 reachable again", func(s *model.Snapshot) bool { return hostIn(s, "hv1").Reachable })
}

// TestUnreachableAtStart: a host that never answers is reported
// unreachable (with no VMs) while the others are reported normally, and
// reconnects are retried.
func TestUnreachableAtStart(t *testing.T) {
	f := fakeFleet()
	f.host("hv2").setUp(false)
	r := startFake(t, f, fastOptions(twoHosts...))
	s := waitSnapshot(t, r.store, 5*time.Second, "hv1 reachable, hv2 tried", func(s *model.Snapshot) bool {
		return hostIn(s, "hv1").Reachable && strings.Contains(hostIn(s, "hv2").Error, "refused")
	})
	if n := len(s.VMsOn("hv2")); n != 0 {
		t.Errorf("never-reached host has %d VMs", n)
	}
	if !testutil.Poll(5*time.Second, func() bool { return f.host("hv2").connAttempts() >= 3 }) {
		t.Fatalf("only %d connection attempts to hv2", f.host("hv2").connAttempts())
	}
}

// TestRefreshRereadsHost: Refresh re-reads the host facts, not only the
// domains.
func TestRefreshRereadsHost(t *testing.T) {
	f := fakeFleet()
	r := startFake(t, f, fastOptions(twoHosts...))
	waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)
	h := f.host("hv2")
	h.mu.Lock()
	h.info.CPUs = 24
	h.mu.Unlock()
	r.src.Refresh()
	waitSnapshot(t, r.store, 5*time.Second, "hv2 with 24 CPUs", func(s *model.Snapshot) bool { return hostIn(s, "hv2").CPUs == 24 })
}

// TestCoalesce: changes of several hosts that arrive together become one
// report.
func TestCoalesce(t *testing.T) {
	rec := &recorder{}
	opts := fastOptions(twoHosts...)
	opts.Coalesce = 200 * time.Millisecond
	src := newSource(opts, rec, testLogger(t), newFakeConnector())
	src.updates <- hostState{host: model.Host{Name: "hv1", Reachable: true}}
	src.updates <- hostState{host: model.Host{Name: "hv2", Reachable: true}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.aggregate(ctx); close(done) }()
	testutil.Eventually(t, 5*time.Second, func() bool { return rec.count() > 0 }, "a report arrives")
	cancel()
	<-done
	reps := rec.all()
	if len(reps) != 1 || len(reps[0].Virt.Hosts) != 2 || !reps[0].Virt.Hosts[0].Reachable || !reps[0].Virt.Hosts[1].Reachable {
		t.Errorf("reports = %+v, want one report with both hosts reachable", reps)
	}
	if reps[0].Source != SourceName {
		t.Errorf("source = %q", reps[0].Source)
	}
}

// recorder is a Reporter that keeps every report and forwards it to next
// when next is set.
type recorder struct {
	mu   sync.Mutex
	reps []model.Report
	next model.Reporter
}

func (r *recorder) Report(rep model.Report) *model.Snapshot {
	r.mu.Lock()
	r.reps = append(r.reps, rep)
	r.mu.Unlock()
	if r.next != nil {
		return r.next.Report(rep)
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reps)
}

func (r *recorder) all() []model.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]model.Report(nil), r.reps...)
}

// TestMigrateDomain checks the argument errors and that the destination's
// migrate URI is handed to the source host's connection.
func TestMigrateDomain(t *testing.T) {
	f := fakeFleet()
	hosts := []HostConfig{twoHosts[0], {Name: "hv2", URI: "qemu+tls://hv2.example/system", MigrateURI: "qemu+tcp://10.0.0.2/system"}, {Name: "hv3", URI: "qemu:///system"}}
	f.host("hv3").setUp(false)
	r := startFake(t, f, fastOptions(hosts...))
	waitSnapshot(t, r.store, 5*time.Second, "hv1 and hv2 reachable", bothReachable)
	ctx := context.Background()
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"unknown source", "nope", "hv2", `unknown host "nope"`},
		{"unknown destination", "hv1", "nope", `unknown host "nope"`},
		{"same host", "hv1", "hv1", "both"},
		{"source not connected", "hv3", "hv1", "not connected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.src.MigrateDomain(ctx, tc.from, tc.to, "vm-db")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if err := r.src.MigrateDomain(ctx, "hv1", "hv2", "vm-db"); err != nil {
		t.Fatal(err)
	}
	h := f.host("hv1")
	h.mu.Lock()
	got := h.migrated
	h.migErr = ErrMigrationUnsupported
	h.mu.Unlock()
	if diff := cmp.Diff([]string{"vm-db->qemu+tcp://10.0.0.2/system"}, got); diff != "" {
		t.Errorf("migrations (-want +got):\n%s", diff)
	}
	if err := r.src.MigrateDomain(ctx, "hv1", "hv2", "vm-db"); !errors.Is(err, ErrMigrationUnsupported) {
		t.Errorf("err = %v, want ErrMigrationUnsupported", err)
	}
}

// TestRunTwice: a second concurrent Run is refused.
func TestRunTwice(t *testing.T) {
	r := startFake(t, fakeFleet(), fastOptions(twoHosts...))
	waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)
	if err := r.src.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

// TestNoHosts: without hosts the source reports an empty part and stops.
func TestNoHosts(t *testing.T) {
	store := model.NewStore(model.StoreOptions{})
	r := runSource(t, newSource(Options{}, store, nil, newFakeConnector()), store)
	waitSnapshot(t, store, 5*time.Second, "virt source ok", func(s *model.Snapshot) bool {
		st, ok := s.Source(SourceName)
		return ok && st.State == model.SourceOK
	})
	r.stop()
}

func TestNextBackoff(t *testing.T) {
	for _, tc := range []struct{ cur, limit, want time.Duration }{
		{time.Second, 30 * time.Second, 2 * time.Second},
		{16 * time.Second, 30 * time.Second, 30 * time.Second},
		{30 * time.Second, 30 * time.Second, 30 * time.Second},
		{time.Millisecond, time.Millisecond, time.Millisecond},
	} {
		if got := nextBackoff(tc.cur, tc.limit); got != tc.want {
			t.Errorf("nextBackoff(%s, %s) = %s, want %s", tc.cur, tc.limit, got, tc.want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string // substring of the error; empty means valid
	}{
		{"ok", Options{Hosts: twoHosts}, ""},
		{"empty name", Options{Hosts: []HostConfig{{URI: "qemu:///system"}}}, "virt.hosts[0].name"},
		{"duplicate", Options{Hosts: []HostConfig{{Name: "a", URI: "qemu:///system"}, {Name: "a", URI: "qemu:///system"}}}, "virt.hosts[1].name: duplicate"},
		{"bad uri", Options{Hosts: []HostConfig{{Name: "a", URI: "qemu+libssh2://h/system"}}}, "virt.hosts[0].uri"},
		{"bad migrate uri", Options{Hosts: []HostConfig{{Name: "a", URI: "qemu:///system", MigrateURI: "nope"}}}, "virt.hosts[0].migrate_uri"},
		{"negative", Options{CallTimeout: -1}, "virt.call_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
