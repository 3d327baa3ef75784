// Package tgttest starts a private, real tgtd (the userspace iSCSI target
// daemon of Debian's package tgt) for tests: its own control port
// (tgtadm -C PORT), one loopback portal on a free TCP port, killed when the
// test ends. A missing tgtd, tgtadm or iscsi-perf (libiscsi-bin), or a
// test not run as root, fails the test with what to install: the test
// command installs them (scripts/deps.d/iscsi.sh).
package tgttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tgtd is a running private tgtd.
type Tgtd struct {
	// Control is tgtadm's -C; Portal the iSCSI portal (127.0.0.1:PORT).
	Control int
	Portal  string
	// Cmd is the tgtd process (its own process group).
	Cmd     *exec.Cmd
	logFile string
}

// Output returns what tgtd printed.
func (d *Tgtd) Output() string {
	b, _ := os.ReadFile(d.logFile)
	return string(b)
}

// Adm runs one tgtadm against it (bounded by 10 s) and fails the test if
// it fails.
func (d *Tgtd) Adm(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tgtadm", append([]string{"-C", strconv.Itoa(d.Control)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tgtadm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Target creates target tid named iqn with LUN 1 on a new 16 MiB file
// (returned), open to initiators from 127.0.0.1.
func (d *Tgtd) Target(t testing.TB, tid int, iqn string) (backing string) {
	t.Helper()
	backing = filepath.Join(t.TempDir(), fmt.Sprintf("tid%d-lun1.img", tid))
	if err := os.WriteFile(backing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, 16<<20); err != nil {
		t.Fatal(err)
	}
	id := strconv.Itoa(tid)
	d.Adm(t, "--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", id, "--targetname", iqn)
	d.Adm(t, "--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid", id, "--lun", "1", "--backing-store", backing)
	d.Adm(t, "--lld", "iscsi", "--mode", "target", "--op", "bind", "--tid", id, "--initiator-address", "127.0.0.1")
	return backing
}

// Kill stops tgtd at once (SIGKILL to its group: tgtd ignores SIGTERM).
func (d *Tgtd) Kill() { _ = syscall.Kill(-d.Cmd.Process.Pid, syscall.SIGKILL) }

func (d *Tgtd) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "tgtadm", "-C", strconv.Itoa(d.Control), "--mode", "sys", "--op", "show").Run() == nil
}

// NeedTools fails the test when tgtd, tgtadm or iscsi-perf is missing or
// the test does not run as root.
func NeedTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"tgtd", "tgtadm", "iscsi-perf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (%v): run scripts/deps.d/iscsi.sh as root (installs tgt and libiscsi-bin)", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("tgtd must run as root (it creates /var/run/tgtd/socket.N); run the tests as root")
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts tgtd and waits (at most 10 s) until tgtadm answers.
func Start(t testing.TB) *Tgtd {
	t.Helper()
	NeedTools(t)
	for range 5 {
		d := &Tgtd{Control: 1000 + rand.IntN(30000), Portal: "127.0.0.1:" + strconv.Itoa(freePort(t))}
		if d.answers() {
			continue // another tgtd uses this control port
		}
		d.Cmd = exec.Command("tgtd", "-f", "-C", strconv.Itoa(d.Control), "--iscsi", "portal="+d.Portal)
		d.logFile = filepath.Join(t.TempDir(), "tgtd.log")
		lf, err := os.Create(d.logFile)
		if err != nil {
			t.Fatal(err)
		}
		d.Cmd.Stdout, d.Cmd.Stderr = lf, lf
		d.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := d.Cmd.Start(); err != nil {
			lf.Close()
			t.Fatalf("start tgtd: %v", err)
		}
		lf.Close()
		exited := make(chan struct{})
		go func() { _ = d.Cmd.Wait(); close(exited) }()
		stop := func() {
			d.Kill()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Errorf("tgtd (pid %d) did not exit 10 s after SIGKILL", d.Cmd.Process.Pid)
			}
			sock := fmt.Sprintf("/var/run/tgtd/socket.%d", d.Control)
			os.Remove(sock)
			os.Remove(sock + ".lock")
		}
		deadline := time.Now().Add(10 * time.Second)
		up := false
		for !up {
			if up = d.answers(); up {
				break
			}
			select {
			case <-exited:
				t.Logf("tgtd on control port %d exited: %s", d.Control, d.Output())
			default:
				if time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				stop()
				t.Fatalf("tgtd did not answer on control port %d within 10 s: %s", d.Control, d.Output())
			}
			break
		}
		if !up {
			continue
		}
		t.Cleanup(stop)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("tgtd output: %s", d.Output())
			}
		})
		return d
	}
	t.Fatal("could not start tgtd on a free control port in 5 attempts")
	return nil
}

// Login keeps initiator logged into target's LUN lun on d (libiscsi's
// iscsi-perf, one request at a time) until the test ends or the returned
// stop is called.
func (d *Tgtd) Login(t testing.TB, initiator, target string, lun int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	perf := exec.CommandContext(ctx, "iscsi-perf", "-i", initiator, "-m", "1", "-b", "1", "-t", "600",
		fmt.Sprintf("iscsi://%s/%s/%d", d.Portal, target, lun))
	out, err := os.Create(filepath.Join(t.TempDir(), "iscsi-perf.log"))
	if err != nil {
		t.Fatal(err)
	}
	perf.Stdout, perf.Stderr = out, out
	perf.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	perf.WaitDelay = 5 * time.Second
	if err := perf.Start(); err != nil {
		out.Close()
		t.Fatalf("iscsi-perf: %v", err)
	}
	out.Close()
	done := make(chan struct{})
	go func() { _ = perf.Wait(); close(done) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("iscsi-perf did not end 10 s after it was killed")
		}
	}
	t.Cleanup(stop)
	return stop
}
