package virt

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/model"
)

func abs(t testing.TB, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func integrationOptions(hosts ...HostConfig) Options {
	return Options{
		Hosts:             hosts,
		RefreshInterval:   time.Minute,
		HeartbeatInterval: 200 * time.Millisecond,
		HeartbeatTimeout:  300 * time.Millisecond,
		CallTimeout:       time.Second,
		BackoffMin:        100 * time.Millisecond,
		BackoffMax:        400 * time.Millisecond,
		Coalesce:          5 * time.Millisecond,
	}
}

func startReal(t *testing.T, opts Options) *running {
	t.Helper()
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore(model.StoreOptions{Cluster: "c1"})
	return runSource(t, New(opts, store, testLogger(t)), store)
}

// checkAgainstFile compares a host's VMs in the snapshot with the
// test-driver host description it is served from.
func checkAgainstFile(t *testing.T, s *model.Snapshot, host, file string) {
	t.Helper()
	node, err := ParseNodeXML(readFile(t, file))
	if err != nil {
		t.Fatal(err)
	}
	h := hostIn(s, host)
	if h.CPUs != node.CPUs || h.MemoryKiB != node.MemoryKiB || h.Hypervisor != "TEST" {
		t.Errorf("host %s = %+v, want %d CPUs, %d KiB, hypervisor TEST", host, h, node.CPUs, node.MemoryKiB)
	}
	if len(s.VMsOn(host)) != len(node.Domains) {
		t.Errorf("host %s has %d VMs, file has %d domains", host, len(s.VMsOn(host)), len(node.Domains))
	}
	for _, d := range node.Domains {
		v, ok := vmIn(s, host, d.Name)
		want := model.VMRunning
		if d.RunState >= 0 {
			want = vmState(int32(d.RunState))
		}
		if !ok || v.UUID != d.UUID || v.State != want || v.VCPUs != d.VCPUs || v.MemoryKiB != d.MemoryKiB || v.Persistent == d.Transient {
			t.Errorf("VM %s on %s = %+v (found %v), want uuid %s state %s vcpus %d memory %d persistent %v",
				d.Name, host, v, ok, d.UUID, want, d.VCPUs, d.MemoryKiB, !d.Transient)
		}
	}
}

// TestLibvirtdEvents runs the source against two real libvirtds serving the
// test driver, then changes domains with virsh on the same daemon and
// checks that each change reaches the model and the event log within one
// second of virsh returning.
func TestLibvirtdEvents(t *testing.T) {
	tmp := t.TempDir()
	d1 := startLibvirtd(t, filepath.Join(tmp, "h1"))
	d2 := startLibvirtd(t, filepath.Join(tmp, "h2"))
	hostA := abs(t, "testdata/host-a.xml")
	r := startReal(t, integrationOptions(
		HostConfig{Name: "hv1", URI: d1.uri("/default")},
		HostConfig{Name: "hv2", URI: d2.uri(hostA), Node: "node2"},
	))
	s := waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)
	checkAgainstFile(t, s, "hv2", hostA)
	out, err := exec.Command("libvirtd", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if v := hostIn(s, "hv1").LibvirtVersion; v == "" || !strings.HasSuffix(strings.TrimSpace(string(out)), " "+v) {
		t.Errorf("libvirt version %q, libvirtd --version says %q", v, out)
	}
	if h := hostIn(s, "hv2"); h.Node != "node2" || h.Name != "hv2" {
		t.Errorf("host identity = %q/%q, want the configured hv2/node2", h.Name, h.Node)
	}
	if v, ok := vmIn(s, "hv1", "test"); !ok || v.State != model.VMRunning {
		t.Fatalf("hv1/test = %+v, want running", v)
	}

	uri := d1.uri("/default")
	extra := abs(t, "testdata/dom-extra.xml")
	for _, step := range []struct {
		args  []string
		vm    string
		want  model.VMState // "" means gone
		event model.EventType
	}{
		{[]string{"suspend", "test"}, "test", model.VMPaused, model.EventVMState},
		{[]string{"resume", "test"}, "test", model.VMRunning, model.EventVMState},
		{[]string{"destroy", "test"}, "test", model.VMShutoff, model.EventVMState},
		{[]string{"start", "test"}, "test", model.VMRunning, model.EventVMState},
		{[]string{"create", extra}, "vm-extra", model.VMRunning, model.EventVMAppeared},
		{[]string{"destroy", "vm-extra"}, "vm-extra", "", model.EventVMGone},
	} {
		name := strings.Join(step.args[:1], " ") + " " + step.vm
		seq := r.store.Events().Last()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		virsh(t, uri, step.args...)
		done := time.Now()
		// Wake on every new event (a snapshot is published before its
		// events), not on a poll interval: the latency is measured.
		for {
			last := r.store.Events().Last()
			v, ok := vmIn(r.store.Snapshot(), "hv1", step.vm)
			inModel := (step.want == "" && !ok) || (ok && v.State == step.want)
			_, evOK := eventSince(r.store, seq, step.event, step.vm)
			if inModel && evOK {
				break
			}
			if err := r.store.Events().Wait(ctx, last); err != nil {
				t.Fatalf("%s: after 5 s model has %+v (present %v), event %s seen: %v", name, v, ok, step.event, evOK)
			}
		}
		cancel()
		latency := time.Since(done)
		t.Logf("virsh %s: in the model and the event log %.1f ms after virsh returned", name, latency.Seconds()*1000)
		if latency > time.Second {
			t.Errorf("virsh %s: reached the model after %.3f s, later than the 1 s requirement", name, latency.Seconds())
		}
	}
	if v, _ := vmIn(r.store.Snapshot(), "hv1", "test"); v.Reason != "booted" {
		t.Errorf("reason after start = %q, want booted", v.Reason)
	}

	err = r.src.MigrateDomain(context.Background(), "hv1", "hv2", "test")
	if !errors.Is(err, ErrMigrationUnsupported) {
		t.Errorf("migrate on the test driver: err = %v, want ErrMigrationUnsupported", err)
	}
	t.Logf("migration on the test driver: %v", err)
}

// TestLibvirtdHostLoss: a frozen daemon (SIGSTOP: socket open, no answers)
// is caught by the heartbeat, a killed one (SIGKILL) by the closed socket;
// both make the host unreachable with its VMs unknown, and the host comes
// back when the daemon does.
//
// The lost host, hv2, serves test:///default, whose domains the test
// reads with virsh; hv1 serves host-b.xml.
func TestLibvirtdHostLoss(t *testing.T) {
	tmp := t.TempDir()
	d1 := startLibvirtd(t, filepath.Join(tmp, "h1"))
	d2 := startLibvirtd(t, filepath.Join(tmp, "h2"))
	hostB := abs(t, "testdata/host-b.xml")
	opts := integrationOptions(HostConfig{Name: "hv1", URI: d1.uri(hostB)}, HostConfig{Name: "hv2", URI: d2.uri("/default")})
	r := startReal(t, opts)
	s := waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)
	checkAgainstFile(t, s, "hv1", hostB)
	// What hv2 serves, as virsh sees it, is what it must show again after
	// each loss.
	wantVMs := virshVMs(t, d2.uri("/default"))
	checkVMs(t, s, "hv2", wantVMs)

	// The event log's position is taken before the daemon is touched:
	// the source may see the change before the helper starts looking.
	lost := func(sig syscall.Signal, why string, wantErr string, budget time.Duration) {
		t.Helper()
		seq := r.store.Events().Last()
		start := time.Now()
		d2.signal(sig)
		s := waitSnapshot(t, r.store, 5*time.Second, "hv2 unreachable after "+why, func(s *model.Snapshot) bool { return !hostIn(s, "hv2").Reachable })
		took := time.Since(start)
		t.Logf("%s: hv2 unreachable after %.3f s (heartbeat interval %s + timeout %s): %s", why, took.Seconds(),
			opts.HeartbeatInterval, opts.HeartbeatTimeout, hostIn(s, "hv2").Error)
		if took > budget {
			t.Errorf("%s: detected after %.3f s, budget %s", why, took.Seconds(), budget)
		}
		if !strings.Contains(hostIn(s, "hv2").Error, wantErr) {
			t.Errorf("%s: error %q, want it to mention %q", why, hostIn(s, "hv2").Error, wantErr)
		}
		if n := len(s.VMsOn("hv2")); n != len(wantVMs) {
			t.Errorf("%s: lost host shows %d VMs, want its %d last known", why, n, len(wantVMs))
		}
		for _, v := range s.VMsOn("hv2") {
			if v.State != model.VMUnknown {
				t.Errorf("%s: VM %s is %q, want unknown", why, v.Name, v.State)
			}
		}
		if !hostIn(s, "hv1").Reachable {
			t.Errorf("%s: hv1 became unreachable too", why)
		}
		if _, ok := waitEvent(r.store, seq, model.EventHostUnreachable, "hv2"); !ok {
			t.Errorf("%s: no host.unreachable event", why)
		}
	}
	back := func(why string, act func()) {
		t.Helper()
		seq := r.store.Events().Last()
		start := time.Now()
		act()
		s := waitSnapshot(t, r.store, 5*time.Second, "hv2 reachable after "+why, func(s *model.Snapshot) bool { return hostIn(s, "hv2").Reachable })
		t.Logf("%s: hv2 reachable again after %.3f s", why, time.Since(start).Seconds())
		checkVMs(t, s, "hv2", wantVMs)
		if _, ok := waitEvent(r.store, seq, model.EventHostReachable, "hv2"); !ok {
			t.Errorf("%s: no host.reachable event", why)
		}
	}

	budget := opts.HeartbeatInterval + opts.HeartbeatTimeout + time.Second
	lost(syscall.SIGSTOP, "SIGSTOP", "heartbeat", budget)
	back("SIGCONT", func() { d2.signal(syscall.SIGCONT) })

	lost(syscall.SIGKILL, "SIGKILL", "connection lost", budget)
	<-d2.done
	back("restart", d2.start)
}

// TestLibvirtdSSH reaches a daemon through the ssh transport. The ssh
// client is replaced by a script that runs the remote command locally, so
// the proxy (nc -U to the daemon socket) and the process-backed connection
// are real; only the ssh hop is not.
func TestLibvirtdSSH(t *testing.T) {
	tmp := t.TempDir()
	d := startLibvirtd(t, filepath.Join(tmp, "h1"))
	fake := filepath.Join(tmp, "fake-ssh")
	script := "#!/bin/sh\n# fake ssh: skip options up to --, drop the host, run the command here\n" +
		"while [ \"$1\" != -- ]; do shift; done\nshift 2\nexec sh -c \"$1\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	hostB := abs(t, "testdata/host-b.xml")
	opts := integrationOptions(HostConfig{Name: "hv1", URI: "test+ssh://root@hv1.invalid" + hostB + "?socket=" + d.sock})
	opts.SSHCommand = fake
	r := startReal(t, opts)
	s := waitSnapshot(t, r.store, 5*time.Second, "hv1 reachable over ssh", func(s *model.Snapshot) bool { return hostIn(s, "hv1").Reachable })
	checkAgainstFile(t, s, "hv1", hostB)
	d.signal(syscall.SIGKILL)
	s = waitSnapshot(t, r.store, 5*time.Second, "hv1 unreachable", func(s *model.Snapshot) bool { return !hostIn(s, "hv1").Reachable })
	t.Logf("ssh transport, daemon killed: %s", hostIn(s, "hv1").Error)
}

// vmSeen is a domain as virsh lists it.
type vmSeen struct {
	name, uuid string
	state      model.VMState
}

// virshVMs lists uri's domains with virsh: name, UUID and state.
func virshVMs(t *testing.T, uri string) []vmSeen {
	t.Helper()
	words := map[string]model.VMState{"running": model.VMRunning, "paused": model.VMPaused, "shut off": model.VMShutoff}
	var out []vmSeen
	for _, name := range strings.Fields(virsh(t, uri, "list", "--all", "--name")) {
		state, ok := words[strings.TrimSpace(virsh(t, uri, "domstate", name))]
		if !ok {
			t.Fatalf("virsh domstate %s: state not mapped here", name)
		}
		out = append(out, vmSeen{name: name, uuid: strings.TrimSpace(virsh(t, uri, "domuuid", name)), state: state})
	}
	if len(out) == 0 {
		t.Fatalf("virsh lists no domain on %s", uri)
	}
	return out
}

// checkVMs compares a host's VMs in the model with what virsh listed.
func checkVMs(t *testing.T, s *model.Snapshot, host string, want []vmSeen) {
	t.Helper()
	if n := len(s.VMsOn(host)); n != len(want) {
		t.Errorf("host %s has %d VMs, virsh lists %d", host, n, len(want))
	}
	for _, w := range want {
		v, ok := vmIn(s, host, w.name)
		if !ok || v.UUID != w.uuid || v.State != w.state {
			t.Errorf("VM %s on %s = %+v (found %v), virsh says uuid %s state %s", w.name, host, v, ok, w.uuid, w.state)
		}
	}
}
