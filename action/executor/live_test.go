package executor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/action/executor"
	"mgmtd/model"
	"mgmtd/source/pacemaker"
)

// The live test starts a real single-node Corosync + Pacemaker cluster
// (research note virt-corosync.md 4.2/4.3), runs the actions against it
// through the live tools, and checks both the tasks and the cluster with
// crm_mon/crm_resource. It needs root. Only one cluster can run per
// machine (UDP 5405, host-global IPC names, Pacemaker's state dirs), so the
// test takes the lock file liveLock for its whole run and refuses to start
// when a corosync or pacemakerd it did not start is running.
const liveLock = "/run/lock/mgmtd-live-cluster.lock"

var pacemakerDirs = []string{"/var/lib/pacemaker/cib", "/var/lib/pacemaker/pengine", "/var/lib/corosync"}

type liveCluster struct {
	node string
	dir  string
}

// running lists the processes of this network namespace whose command
// starts with one of names: clusters in other namespaces (the lab's
// nodes, scripts/lab.sh) have their own ports and IPC and do not count.
func running(names ...string) []string {
	var out []string
	self, _ := os.Readlink("/proc/self/ns/net")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/net")); err != nil || ns != self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, n := range names {
			if strings.HasPrefix(comm, n) {
				out = append(out, e.Name()+" "+comm)
			}
		}
	}
	return out
}

// children returns the PIDs whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(pid) {
				out = append(out, c)
			}
		}
	}
	return out
}

// stopProcess sends SIGTERM, waits up to limit, then SIGKILL.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}, limit time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
	}
}

func poll(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func startLiveCluster(t *testing.T) *liveCluster {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("the live cluster test must run as root (it starts corosync and pacemakerd); scripts/test.sh runs as root")
	}
	for _, b := range []string{"corosync", "corosync-quorumtool", "pacemakerd", "crm_mon", "crm_resource", "cibadmin"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found: run scripts/deps.d/pacemaker.sh", b)
		}
	}
	lock, err := os.OpenFile(liveLock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); lock.Close() })
	if ps := running("corosync", "pacemaker"); len(ps) > 0 {
		t.Fatalf("a cluster is already running on this machine (%s); the live test needs the machine to itself", strings.Join(ps, ", "))
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	lc := &liveCluster{node: strings.SplitN(host, ".", 2)[0], dir: t.TempDir()}
	if out, err := exec.Command("uname", "-n").Output(); err == nil {
		lc.node = strings.TrimSpace(string(out))
	}
	// Remember what the state dirs held, to remove only what the daemons
	// write for this cluster.
	before := map[string]bool{}
	for _, d := range pacemakerDirs {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			before[filepath.Join(d, e.Name())] = true
		}
	}
	if before["/var/lib/pacemaker/cib/cib.xml"] {
		t.Fatal("/var/lib/pacemaker/cib/cib.xml exists: this machine has a cluster configuration the test must not touch")
	}
	t.Cleanup(func() {
		for _, d := range pacemakerDirs {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				p := filepath.Join(d, e.Name())
				n := e.Name()
				if before[p] || !(strings.HasPrefix(n, "cib") || strings.HasPrefix(n, "pe-") || strings.HasPrefix(n, "ringid_")) {
					continue
				}
				if err := os.Remove(p); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		}
	})
	// A seeded CIB with dc-deadtime 2s brings the node online in ~5 s
	// instead of ~22 s; no fencing (one node), quorum policy ignore.
	seed := filepath.Join(lc.dir, "seed.xml")
	if err := os.WriteFile(seed, []byte(tool(t, nil, "cibadmin", "--empty")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"dc-deadtime", "2s"}, {"stonith-enabled", "false"}, {"no-quorum-policy", "ignore"}} {
		tool(t, []string{"CIB_file=" + seed}, "crm_attribute", "--type", "crm_config", "--name", kv[0], "--update", kv[1])
	}
	b, _ := os.ReadFile(seed)
	if err := os.WriteFile("/var/lib/pacemaker/cib/cib.xml", b, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("chown", "hacluster:haclient", "/var/lib/pacemaker/cib/cib.xml").Run()

	conf := filepath.Join(lc.dir, "corosync.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `totem {
	version: 2
	cluster_name: mgmtdact
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	token: 3000
}
nodelist {
	node {
		name: %s
		nodeid: 1
		ring0_addr: 127.0.0.1
	}
}
quorum {
	provider: corosync_votequorum
}
logging {
	to_stderr: no
	to_logfile: yes
	logfile: %s
	to_syslog: no
}
`, lc.node, filepath.Join(lc.dir, "corosync.log")), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(name string, env []string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		logf, err := os.Create(filepath.Join(lc.dir, name+".out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		// If the test binary dies, the daemons get SIGTERM.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
		t.Cleanup(func() {
			kids := children(cmd.Process.Pid)
			stopProcess(cmd, done, 2*time.Minute)
			for _, k := range kids {
				if p, err := os.FindProcess(k); err == nil && p.Signal(syscall.Signal(0)) == nil {
					_ = p.Kill()
				}
			}
			if t.Failed() {
				if b, err := os.ReadFile(filepath.Join(lc.dir, name+".out")); err == nil && len(b) > 0 {
					t.Logf("%s output (tail):\n%s", name, tail(string(b), 3000))
				}
			}
		})
	}
	start("corosync", nil, "-f", "-c", conf)
	poll(t, "corosync quorum", 30*time.Second, func() bool { return exec.Command("corosync-quorumtool", "-s").Run() == nil })
	start("pacemakerd", []string{"PCMK_logfile=" + filepath.Join(lc.dir, "pacemaker.log")})
	poll(t, "the node online with a DC", 120*time.Second, func() bool {
		out, _ := exec.Command("crm_mon", "--output-as=xml").Output()
		return bytes.Contains(out, []byte(`<current_dc present="true"`)) && bytes.Contains(out, []byte(`name="`+lc.node+`" id="1" online="true"`))
	})
	return lc
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// dummy creates a Dummy primitive with extra instance attributes and meta
// attributes (nvpairs).
func (lc *liveCluster) dummy(t *testing.T, id, extra, meta string) {
	t.Helper()
	if meta != "" {
		meta = `<meta_attributes id="` + id + `-meta">` + meta + `</meta_attributes>`
	}
	tool(t, nil, "cibadmin", "--create", "--scope", "resources", "--xml-text", fmt.Sprintf(
		`<primitive id="%[1]s" class="ocf" provider="pacemaker" type="Dummy"><instance_attributes id="%[1]s-ia">`+
			`<nvpair id="%[1]s-state" name="state" value="%[2]s"/>%[3]s</instance_attributes>%[4]s`+
			`<operations><op id="%[1]s-mon" name="monitor" interval="10s"/></operations></primitive>`,
		id, filepath.Join(lc.dir, id+".state"), extra, meta))
}

// located asks Pacemaker itself where a resource runs.
func located(t *testing.T, rsc string) string {
	t.Helper()
	out, _ := exec.Command("crm_resource", "--locate", "--resource", rsc).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func TestLiveCluster(t *testing.T) {
	lc := startLiveCluster(t)
	lc.dummy(t, "d1", "", "")
	lc.dummy(t, "d2", "", "")
	// "bad" fails to start on this node (the Dummy agent's fail_start_on).
	// It is created stopped: set to Stopped afterwards, the cluster could
	// try (and fail) to start it first, and with that failure on record it
	// would not try the start the test asks for.
	lc.dummy(t, "bad", fmt.Sprintf(`<nvpair id="bad-fail" name="fail_start_on" value="%s"/>`, lc.node),
		`<nvpair id="bad-meta-target-role" name="target-role" value="Stopped"/>`)
	tool(t, nil, "crm_resource", "--wait", "--timeout", "60s")

	log := slogDiscard()
	store := model.NewStore(model.StoreOptions{Cluster: "mgmtdact"})
	store.Register(pacemaker.Name)
	src := pacemaker.New(pacemaker.Options{}, store, log)
	rec := &memRecorder{}
	ex, err := executor.New(executor.Options{Store: store, Events: store.Events(), Refresher: src, Simulator: src,
		Authorizer: executor.AuthorizerFunc(allow), Recorder: rec, Timeout: 90 * time.Second, PollInterval: 200 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	poll(t, "the model to show d1 and d2 started", 60*time.Second, func() bool {
		_ = src.Refresh(context.Background())
		sn := store.Snapshot()
		return len(activeOnNodes(sn, "d1")) == 1 && len(activeOnNodes(sn, "d2")) == 1
	})
	n := lc.node
	steps := []struct {
		req    action.Request
		state  action.State
		errHas string
		check  func(t *testing.T)
	}{
		{req: action.Request{Op: action.NodeStandby, Name: n}, state: action.StateSucceeded, check: func(t *testing.T) {
			if out := located(t, "d1"); !strings.Contains(out, "NOT running") {
				t.Errorf("d1 after standby: %s", out)
			}
		}},
		{req: action.Request{Op: action.NodeOnline, Name: n}, state: action.StateSucceeded, check: func(t *testing.T) {
			if out := located(t, "d1"); !strings.Contains(out, "running on: "+n) {
				t.Errorf("d1 after online: %s", out)
			}
		}},
		{req: action.Request{Op: action.ResourceStop, Name: "d1"}, state: action.StateSucceeded, check: func(t *testing.T) {
			if out := located(t, "d1"); !strings.Contains(out, "NOT running") {
				t.Errorf("d1 after stop: %s", out)
			}
		}},
		{req: action.Request{Op: action.ResourceStart, Name: "d1"}, state: action.StateSucceeded, check: func(t *testing.T) {
			if out := located(t, "d1"); !strings.Contains(out, "running on: "+n) {
				t.Errorf("d1 after start: %s", out)
			}
		}},
		{req: action.Request{Op: action.ResourceBan, Name: "d2", Node: n, Lifetime: "10m"}, state: action.StateSucceeded, check: func(t *testing.T) {
			if out := located(t, "d2"); !strings.Contains(out, "NOT running") {
				t.Errorf("d2 after ban: %s", out)
			}
		}},
		{req: action.Request{Op: action.ResourceClear, Name: "d2"}, state: action.StateSucceeded, check: func(t *testing.T) {
			if out := located(t, "d2"); !strings.Contains(out, "running on: "+n) {
				t.Errorf("d2 after clear: %s", out)
			}
		}},
		// One node: a move can only be a ban and a clear (crm_resource
		// --move to the node it runs on fails with "already exists").
		{req: action.Request{Op: action.ResourceRestart, Name: "d2"}, state: action.StateSucceeded},
		{req: action.Request{Op: action.ResourceUnmanage, Name: "d2"}, state: action.StateSucceeded},
		{req: action.Request{Op: action.ResourceManage, Name: "d2"}, state: action.StateSucceeded},
		{req: action.Request{Op: action.NodeMaintenanceOn, Name: n}, state: action.StateSucceeded},
		{req: action.Request{Op: action.NodeMaintenanceOff, Name: n}, state: action.StateSucceeded},
		{req: action.Request{Op: action.ClusterMaintenanceOn}, state: action.StateSucceeded},
		{req: action.Request{Op: action.ClusterMaintenanceOff}, state: action.StateSucceeded},
		// A start that fails on the node ends failed with the cluster's reason.
		{req: action.Request{Op: action.ResourceStart, Name: "bad"}, state: action.StateFailed, errHas: "bad start on " + n + " failed"},
		{req: action.Request{Op: action.ResourceStop, Name: "bad"}, state: action.StateSucceeded},
		{req: action.Request{Op: action.ResourceCleanup, Name: "bad"}, state: action.StateSucceeded, check: func(t *testing.T) {
			if out := tool(t, nil, "crm_mon", "--output-as=xml"); strings.Contains(out, `op_key="bad_start_0"`) {
				t.Error("bad's failure still recorded after cleanup")
			}
		}},
	}
	for _, s := range steps {
		name := string(s.req.Op) + " " + s.req.Name
		s.req.Actor = action.Actor{ID: "test:live", Channel: "cli"}
		task, err := ex.Submit(context.Background(), s.req)
		if err != nil {
			t.Fatalf("%s: submit: %v", name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		task, err = ex.Wait(ctx, task.ID)
		cancel()
		if err != nil {
			t.Fatalf("%s: wait: %v", name, err)
		}
		t.Logf("%s: %s in %.1fs; predicted %d actions; result %s", name, task.State, task.Finished.Sub(task.Started).Seconds(), len(task.Prediction.Actions), task.Result)
		if task.State != s.state || !strings.Contains(task.Error, s.errHas) {
			t.Fatalf("%s: state %s error %q, want %s with %q (commands %q)", name, task.State, task.Error, s.state, s.errHas, task.Commands)
		}
		if task.Prediction == nil || task.Prediction.Error != "" {
			t.Errorf("%s: prediction %+v", name, task.Prediction)
		}
		if s.check != nil {
			s.check(t)
		}
		if es := rec.forTask(task.ID); len(es) != 2 || len(es[1].After) == 0 {
			t.Errorf("%s: records %+v", name, es)
		}
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func activeOnNodes(sn *model.Snapshot, rsc string) []string {
	var out []string
	for _, in := range sn.InstancesOf(rsc) {
		if in.Active {
			out = append(out, in.Node)
		}
	}
	return out
}
