// Package lab drives the lab cluster of scripts/lab.sh from Go tests: a
// real N-node Corosync + Pacemaker cluster on this machine, one node per
// set of namespaces, with real fencing. One lab runs per machine, so Up
// takes a machine-wide lock (a flock on /run/lock/mgmtd-lab.lock) for the
// test's life, and tears the lab down when the test ends. It needs root,
// which CI has; the Pacemaker and Corosync daemons come from
// scripts/deps.d/pacemaker.sh. lab imports only the standard library.
package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Dir is where the lab keeps its nodes' state (scripts/lab.sh's LAB).
const Dir = "/var/lib/mgmtd-lab"

// Lab is a running lab cluster.
type Lab struct {
	t      testing.TB
	script string
	// Nodes are the node names, node1 to nodeN.
	Nodes []string
}

func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "lab.sh")
}

// Up starts an n-node lab and waits until a DC is elected. The lab is
// torn down when the test ends (its logs are kept in the test's log on
// failure).
func Up(t testing.TB, n int) *Lab {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("the lab needs root (network namespaces and bind mounts); CI runs as root")
	}
	lock := takeLock(t, syscall.LOCK_EX)
	l := &Lab{t: t, script: script()}
	t.Cleanup(func() {
		if t.Failed() {
			for _, node := range l.Nodes {
				b, _ := os.ReadFile(filepath.Join(Dir, node, "fs/var/log/pacemaker/pacemaker.log"))
				t.Logf("%s pacemaker.log (tail):\n%s", node, tail(string(b), 3000))
			}
		}
		if out, err := exec.Command("bash", l.script, "down").CombinedOutput(); err != nil {
			t.Errorf("lab down: %v %s", err, out)
		}
		lock.Close()
	})
	// A lab left by a killed test run is taken down first.
	_ = exec.Command("bash", l.script, "down").Run()
	l.run("up", strconv.Itoa(n))
	for i := 1; i <= n; i++ {
		l.Nodes = append(l.Nodes, "node"+strconv.Itoa(i))
	}
	return l
}

// lockFile serialises the lab's users on this machine.
const lockFile = "/run/lock/mgmtd-lab.lock"

func takeLock(t testing.TB, how int) *os.File {
	t.Helper()
	lock, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), how); err != nil {
		t.Fatal(err)
	}
	return lock
}

// Quiet keeps any lab from starting or stopping - creating or deleting
// network interfaces - until the test ends. Browsers drop their requests
// with ERR_NETWORK_CHANGED when interfaces come and go, so the browser
// tests hold it. Quiet tests may run together; a lab waits for them.
func Quiet(t testing.TB) {
	t.Helper()
	lock := takeLock(t, syscall.LOCK_SH)
	t.Cleanup(func() { lock.Close() })
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (l *Lab) run(args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", append([]string{l.script}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("lab %s: %v: %s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// HostAddr is the host's address on the lab network (the bridge's), which
// every node reaches.
const HostAddr = "198.18.0.254"

// Addr is a node's address on the lab network, which the host reaches.
func Addr(node string) string { return "198.18.0." + strings.TrimPrefix(node, "node") }

// PID is the process that holds a node's namespaces; a program run with
// Command joins them.
func (l *Lab) PID(node string) int {
	l.t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(l.run("pid", node)))
	if err != nil {
		l.t.Fatalf("%s is not running", node)
	}
	return pid
}

// Command returns a command that runs inside node (its network, mount
// and UTS namespaces, so it sees that node's cluster).
func (l *Lab) Command(ctx context.Context, node, name string, args ...string) *exec.Cmd {
	pid := l.PID(node)
	return exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-m", "-u", "-n", name}, args...)...)
}

// Exec runs a command inside node and returns its standard output; it
// fails the test when the command fails.
func (l *Lab) Exec(node, name string, args ...string) string {
	l.t.Helper()
	out, err := l.Try(node, name, args...)
	if err != nil {
		l.t.Fatalf("%s: %s %s: %v", node, name, strings.Join(args, " "), err)
	}
	return out
}

// Try runs a command inside node and returns its standard output, or an
// error with its standard error.
func (l *Lab) Try(node, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := l.Command(ctx, node, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Cut cuts node's network: its link to the bridge goes down.
func (l *Lab) Cut(node string) { l.run("cut", node) }

// Heal restores node's network.
func (l *Lab) Heal(node string) { l.run("heal", node) }

// Kill kills every process of node, as a power loss would.
func (l *Lab) Kill(node string) { l.run("kill", node) }

// Remote starts the Pacemaker Remote node name (remote1 to remote9) and
// adds it to the cluster.
func (l *Lab) Remote(name string) { l.run("remote", name) }

// Guest starts the guest node name (guest1 to guest9) and adds the Dummy
// "VM" vm-NAME that Pacemaker runs it in.
func (l *Lab) Guest(name string) { l.run("guest", name) }

// Start starts a node that was killed or fenced.
func (l *Lab) Start(node string) { l.run("start", node) }

// Fenced reports whether the lab's fence agent fenced node (and when).
func (l *Lab) Fenced(node string) (time.Time, bool) {
	b, err := os.ReadFile(filepath.Join(Dir, node, "fenced"))
	if err != nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
	return at, err == nil
}
