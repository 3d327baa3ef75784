package snmp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/snmp/agentx"
)

// daemon is a started snmpd or snmptrapd.
type daemon struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	args []string
	env  []string
	done chan struct{}
}

func lookTool(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if dir == "" {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
			continue
		}
		if _, err := os.Stat(dir + name); err == nil {
			return dir + name
		}
	}
	t.Fatalf("%s not found: run scripts/deps.d/snmp.sh (Debian packages snmpd, snmp, snmptrapd)", name)
	return ""
}

func startDaemon(t testing.TB, name string, env []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, out: &testutil.SyncBuffer{}, args: args, env: env}
	d.start()
	t.Cleanup(func() { d.stop(syscall.SIGTERM) })
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	cmd := exec.Command(lookTool(d.t, d.name), d.args...)
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	// If the test binary dies (e.g. a -timeout panic), take the daemon
	// with it instead of leaving it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start %s: %v", d.name, err)
	}
	d.cmd = cmd
	d.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
}

// stop signals the daemon and waits for it; KILL after 5 s.
func (d *daemon) stop(sig syscall.Signal) {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd = nil
}

// agentEnv is the environment of snmpd and the client tools: no default
// MIBs and a private persistent directory.
func agentEnv(dir string) []string {
	return []string{"MIBS=", "SNMP_PERSISTENT_DIR=" + filepath.Join(dir, "persist"), "SNMPCONFPATH=" + filepath.Join(dir, "conf")}
}

type snmpd struct {
	*daemon
	dir    string
	port   int
	agentx string // our --agentx value
	trap   int
}

// startSnmpd starts snmpd with an AgentX socket of the given network
// ("unix" or "tcp") and waits until it answers.
func startSnmpd(t testing.TB, network string) *snmpd {
	t.Helper()
	s := newSnmpd(t, network)
	s.run(t)
	return s
}

func newSnmpd(t testing.TB, network string) *snmpd {
	return newSnmpdTrap(t, network, testutil.FreePort(t, "udp"))
}

// newSnmpdTrap is newSnmpd sending notifications to UDP port trap.
func newSnmpdTrap(t testing.TB, network string, trap int) *snmpd {
	dir := t.TempDir()
	s := &snmpd{dir: dir, port: testutil.FreePort(t, "udp"), trap: trap}
	var master string
	if network == "unix" {
		sock := filepath.Join(dir, "agentx.sock")
		master, s.agentx = "unix:"+sock, "unix:"+sock
	} else {
		addr := testutil.FreeAddr(t)
		master, s.agentx = "tcp:"+addr, "tcp:"+addr
	}
	tmpl, err := os.ReadFile("testdata/snmpd.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("{{PORT}}", strconv.Itoa(s.port), "{{AGENTX}}", master, "{{TRAP}}", strconv.Itoa(s.trap)).Replace(string(tmpl))
	if err := os.WriteFile(filepath.Join(dir, "snmpd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"persist", "conf"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *snmpd) run(t testing.TB) {
	t.Helper()
	if s.daemon == nil {
		s.daemon = startDaemon(t, "snmpd", agentEnv(s.dir), "-f", "-Lo", "-C", "-c", filepath.Join(s.dir, "snmpd.conf"),
			"-p", filepath.Join(s.dir, "snmpd.pid"))
	} else {
		s.daemon.start()
	}
	s.waitReady(t)
}

func (s *snmpd) waitReady(t testing.TB) {
	t.Helper()
	var out string
	var err error
	exited := false
	answers := func() bool {
		out, err = s.tool(t, "snmpget", "-t", "0.3", "-r", "0", ".1.3.6.1.2.1.1.5.0")
		if err == nil && strings.Contains(out, "snmpd-under-test") {
			return true
		}
		select {
		case <-s.done:
			exited = true
			return true
		default:
			return false
		}
	}
	if !testutil.Poll(15*time.Second, answers) || exited {
		t.Fatalf("snmpd not ready (exited: %v): %v %s\nlog:\n%s", exited, err, out, s.out.String())
	}
}

// tool runs a net-snmp client against this snmpd with -v2c -On: options
// first, then OIDs (and for snmpset their types and values).
func (s *snmpd) tool(t testing.TB, name string, args ...string) (string, error) {
	community := "public"
	if name == "snmpset" {
		community = "private"
	}
	// The agent address goes before the first OID (every OID is written
	// with a leading dot).
	cmdArgs := []string{"-v2c", "-c", community, "-On"}
	addr := "127.0.0.1:" + strconv.Itoa(s.port)
	for i, a := range args {
		if strings.HasPrefix(a, ".") {
			cmdArgs = append(append(append(cmdArgs, args[:i]...), addr), args[i:]...)
			break
		}
	}
	cmd := exec.Command(lookTool(t, name), cmdArgs...)
	cmd.Env = append(os.Environ(), agentEnv(s.dir)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), fmt.Errorf("%s %s: %w", name, strings.Join(cmdArgs, " "), err)
	}
	return out.String() + errb.String(), nil
}

// startServer runs a Server against s until the test ends and waits for
// its registration.
func startServer(t testing.TB, srv *Server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitTimeout bounds the tests' waits for the subagent, snmpd and
// snmptrapd.
const waitTimeout = 10 * time.Second

// waitConnects waits until the server has registered n times in total.
func waitConnects(t testing.TB, srv *Server, n uint64) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() bool {
		st := srv.Stats()
		return st.Connects >= n && st.Registered
	}, "the server has registered %d times", n)
}

// waitServed waits until the served table has value v at name.
func waitServed(t testing.TB, srv *Server, name agentx.OID, v agentx.Value) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() bool {
		got, ok := srv.client.Table().Lookup(name)
		return ok && got.Type == v.Type && got.Num == v.Num && string(got.Bytes) == string(v.Bytes)
	}, "the served table has %v = %v", name, v)
}
