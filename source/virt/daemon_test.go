package virt

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
)

// libvirtd is one libvirt daemon started for a test: its own config,
// socket directory, pid file and log, and an empty LIBVIRT_DRIVER_DIR so
// that only the built-in test and remote drivers load (no KVM, no
// systemd, no D-Bus needed). See shared/research/virt-corosync.md §1.4.
type libvirtd struct {
	t      testing.TB
	dir    string
	sock   string
	cmd    *exec.Cmd
	done   chan struct{}
	listen bool
	// exit is how the daemon last ended (its Wait result), set before
	// done is closed.
	exit error
}

// requireTools fails the test (never skips) when the libvirt tools are
// missing.
func requireTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"libvirtd", "virsh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (%v): run scripts/deps.d/virt.sh (installs libvirt-daemon and libvirt-clients)", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the libvirtd integration tests run libvirtd in system mode and need root")
	}
}

// startLibvirtd starts a daemon in a new directory under dir.
func startLibvirtd(t testing.TB, dir string) *libvirtd {
	t.Helper()
	return startLibvirtdWith(t, dir, "")
}

// startLibvirtdWith starts a daemon with extra configuration lines; a
// non-empty extra also passes --listen (for listen_tls / listen_tcp).
func startLibvirtdWith(t testing.TB, dir, extra string) *libvirtd {
	t.Helper()
	requireTools(t)
	d := &libvirtd{t: t, dir: dir, sock: filepath.Join(dir, "run", "libvirt-sock"), listen: extra != ""}
	for _, sub := range []string{"run", "nodrivers"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// extra goes first: libvirtd keeps the first value of a repeated key.
	conf := extra + fmt.Sprintf(`unix_sock_dir = %q
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
listen_tls = 0
listen_tcp = 0
log_outputs = "3:file:%s"
max_clients = 100
max_anonymous_clients = 100
max_workers = 4
`, filepath.Join(dir, "run"), filepath.Join(dir, "libvirtd.log"))
	if err := os.WriteFile(filepath.Join(dir, "libvirtd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("libvirtd in %s after the failure:%s", dir, d.diagnosis())
		}
		d.kill()
	})
	return d
}

// diagnosis says whether the daemon is still running and shows the tail
// of its logs, so that a failed test tells a daemon that died from a
// client that did not reconnect.
func (d *libvirtd) diagnosis() string {
	var b strings.Builder
	state := "running"
	select {
	case <-d.done:
		state = fmt.Sprintf("exited (%v)", d.exit)
	default:
		// The kernel's word: R/S running or sleeping, T stopped, ...
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid)); err == nil {
			for _, line := range strings.Split(string(st), "\n") {
				if strings.HasPrefix(line, "State:") {
					state = "running, " + strings.TrimSpace(line)
				}
			}
		}
	}
	fmt.Fprintf(&b, "\n--- process: %s", state)
	b.WriteString(d.logs(4000, "stderr.log", "libvirtd.log"))
	return b.String()
}

// logs shows the named files of the daemon's directory, each cut to its
// last tail bytes when tail > 0.
func (d *libvirtd) logs(tail int, names ...string) string {
	var b strings.Builder
	for _, name := range names {
		content, _ := os.ReadFile(filepath.Join(d.dir, name))
		if tail > 0 && len(content) > tail {
			content = content[len(content)-tail:]
		}
		fmt.Fprintf(&b, "\n--- %s:\n%s", name, content)
	}
	return b.String()
}

// start (re)starts the daemon and waits until its socket accepts.
func (d *libvirtd) start() {
	d.t.Helper()
	out, err := os.OpenFile(filepath.Join(d.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer out.Close()
	_ = os.Remove(d.sock)
	args := []string{"-f", filepath.Join(d.dir, "libvirtd.conf"), "-p", filepath.Join(d.dir, "libvirtd.pid")}
	if d.listen {
		args = append(args, "--listen")
	}
	cmd := exec.Command("libvirtd", args...)
	cmd.Env = append(os.Environ(), "LIBVIRT_DRIVER_DIR="+filepath.Join(d.dir, "nodrivers"))
	cmd.Stdout, cmd.Stderr = out, out
	// The daemon dies with the test binary, even when a test panics.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start libvirtd: %v", err)
	}
	d.cmd = cmd
	d.done = make(chan struct{})
	go func(done chan struct{}) { d.exit = cmd.Wait(); close(done) }(d.done)
	d.waitAccepting("unix", d.sock)
}

// waitAccepting waits up to 10 s until the daemon accepts connections on
// addr, and fails the test with its logs when it exits or the time passes
// first.
func (d *libvirtd) waitAccepting(network, addr string) {
	d.t.Helper()
	const limit = 10 * time.Second
	exited := false
	accepting := func() bool {
		select {
		case <-d.done:
			exited = true
			return true
		default:
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	if testutil.Poll(limit, accepting) && !exited {
		return
	}
	if exited {
		d.t.Fatalf("libvirtd exited before %s %s accepted connections:%s", network, addr, d.logs(0, "stderr.log", "libvirtd.log"))
	}
	d.t.Fatalf("libvirtd: %s %s not accepting after %s (listen=%v):%s", network, addr, limit, d.listen, d.logs(0, "libvirtd.conf", "stderr.log", "libvirtd.log"))
}

// uri returns a test+unix URI served by this daemon; path is
// "/default" or an absolute host-description file.
func (d *libvirtd) uri(path string) string { return "test+unix://" + path + "?socket=" + d.sock }

func (d *libvirtd) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal libvirtd: %v", err)
	}
}

// kill kills the daemon with SIGKILL and reaps it (no-op when it is gone).
func (d *libvirtd) kill() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGCONT)
	_ = d.cmd.Process.Kill()
	<-d.done
	d.cmd = nil
}

// virsh runs virsh against uri and returns its output.
func virsh(t testing.TB, uri string, args ...string) string {
	t.Helper()
	out, err := exec.Command("virsh", append([]string{"-q", "-c", uri}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
