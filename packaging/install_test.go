// Tests of the Debian package (scripts/package.sh) and the container
// image (Dockerfile): built from this checkout, installed into a clean
// Debian 12 system (a debootstrap chroot) and run there the way systemd
// would run the unit. Root only (the test machine and CI run as root).
package packaging_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
)

// repo is the checkout's top directory.
const repo = ".."

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the package tests run as root (debootstrap, chroot, dpkg); run them as root like scripts/test.sh")
	}
}

// command runs name with args and returns its standard output, failing the
// test with its standard error when it fails.
func command(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// buildDeb runs scripts/package.sh with VERSION=version into dir and
// returns the package's path.
func buildDeb(t *testing.T, dir, version string) string {
	t.Helper()
	out := strings.TrimSpace(command(t, []string{"VERSION=" + version}, "bash", "scripts/package.sh", dir))
	lines := strings.Split(out, "\n")
	deb := lines[len(lines)-1]
	if filepath.Base(deb) != "mgmtd_"+version+"_amd64.deb" {
		t.Fatalf("package.sh printed %q", out)
	}
	return deb
}

// unitFile is the [Service] section of a systemd unit: each key's values
// in order.
type unitFile map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q", path, line)
			}
			u[k] = append(u[k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unitFile) get(k string) string {
	if v := u[k]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// chroot is a clean Debian system unpacked from the cached debootstrap
// tarball, with /proc mounted; it is unmounted and deleted when the test
// ends (never while anything is still mounted below it).
type chroot struct {
	t    *testing.T
	root string
}

func newChroot(t *testing.T) *chroot {
	t.Helper()
	tarball := strings.TrimSpace(command(t, nil, "bash", "scripts/debian-chroot.sh"))
	root, err := os.MkdirTemp("/var/tmp", "mgmtd-install-test-")
	if err != nil {
		t.Fatal(err)
	}
	c := &chroot{t: t, root: root}
	t.Cleanup(func() {
		if err := syscall.Unmount(filepath.Join(root, "proc"), syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
			t.Errorf("umount %s/proc: %v", root, err)
		}
		mounts, _ := os.ReadFile("/proc/self/mounts")
		if bytes.Contains(mounts, []byte(" "+root+"/")) {
			t.Errorf("mounts left under %s; not deleting it", root)
			return
		}
		os.RemoveAll(root)
	})
	command(t, nil, "tar", "-C", root, "-xf", tarball)
	if err := syscall.Mount("proc", filepath.Join(root, "proc"), "proc", 0, ""); err != nil {
		t.Fatalf("mount proc: %v", err)
	}
	return c
}

// path is p inside the chroot, seen from outside.
func (c *chroot) path(p string) string { return filepath.Join(c.root, p) }

// run runs a command in the chroot as root and returns its output.
func (c *chroot) run(args ...string) string {
	c.t.Helper()
	return command(c.t, []string{"DEBIAN_FRONTEND=noninteractive", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"},
		"chroot", append([]string{c.root}, args...)...)
}

// statusOf runs `mgmtd status` through the local socket in the chroot.
// Its exit status says how the cluster is (0 OK, 3 warnings, 4
// critical: the CIB may well have findings); only a failure to answer
// (1, 2) is an error here.
func statusOf(c *chroot) string {
	out, err := c.try("mgmtd", "status", "--server", "unix:/run/mgmtd/mgmtd.sock")
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || (ee.ExitCode() != 3 && ee.ExitCode() != 4)) {
		return out + "\n(" + err.Error() + ")"
	}
	return out
}

// fresh says whether a status shows the cluster's picture (the source
// has refreshed: nothing stale, the nodes listed).
func fresh(status string) bool {
	return strings.Contains(status, "node1") && !strings.Contains(status, "STALE") && !strings.Contains(status, "no refresh yet") &&
		!strings.Contains(status, "exit status")
}

// try is run that returns the error instead of failing.
func (c *chroot) try(args ...string) (string, error) {
	cmd := exec.Command("chroot", append([]string{c.root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// id resolves a user or group name in the chroot's own databases.
func (c *chroot) id(db, name string) int {
	c.t.Helper()
	out := strings.TrimSpace(c.run("getent", db, name))
	f := strings.Split(out, ":")
	if len(f) < 3 {
		c.t.Fatalf("getent %s %s: %q", db, name, out)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// process is a long-running command in the chroot.
type process struct {
	cmd    *exec.Cmd
	out    *testutil.SyncBuffer
	exited chan error
}

func (c *chroot) start(env []string, userspec, groups string, argv ...string) *process {
	c.t.Helper()
	args := []string{}
	if userspec != "" {
		args = append(args, "--userspec="+userspec)
	}
	if groups != "" {
		args = append(args, "--groups="+groups)
	}
	args = append(append(args, c.root), argv...)
	cmd := exec.Command("chroot", args...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}, env...)
	p := &process{cmd: cmd, out: &testutil.SyncBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	c.t.Cleanup(func() { p.stop(c.t) })
	return p
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 30 s); it
// returns the exit error, once.
func (p *process) stop(t *testing.T) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("%s did not stop in 30 s after SIGTERM", p.cmd.Args)
		return <-p.exited
	}
}

// startUnit runs the mgmtd unit's ExecStart in the chroot as systemd
// would: as its User with its Group and SupplementaryGroups, its UMask,
// its state, runtime and logs directories created with their modes and
// owner, and the environment systemd gives (NOTIFY_SOCKET to a test
// socket, WATCHDOG_USEC from WatchdogSec, the directory variables). It
// returns once the daemon said READY=1.
func (c *chroot) startUnit(u unitFile) *process {
	c.t.Helper()
	uid, gid := c.id("passwd", u.get("User")), c.id("group", u.get("Group"))
	var groups []string
	for _, g := range strings.Fields(u.get("SupplementaryGroups")) {
		groups = append(groups, strconv.Itoa(c.id("group", g)))
	}
	env := []string{"HOME=/var/lib/mgmtd", "USER=" + u.get("User"), "LOGNAME=" + u.get("User")}
	for _, d := range []struct{ key, base, envName string }{
		{"StateDirectory", "/var/lib", "STATE_DIRECTORY"},
		{"RuntimeDirectory", "/run", "RUNTIME_DIRECTORY"},
		{"LogsDirectory", "/var/log", "LOGS_DIRECTORY"},
		{"ConfigurationDirectory", "/etc", "CONFIGURATION_DIRECTORY"},
	} {
		name := u.get(d.key)
		if name == "" {
			continue
		}
		dir := c.path(filepath.Join(d.base, name))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.t.Fatal(err)
		}
		if d.key != "ConfigurationDirectory" { // systemd leaves /etc's owner alone
			mode := uint64(0o755)
			if m := u.get(strings.TrimSuffix(d.key, "y") + "yMode"); m != "" {
				var err error
				if mode, err = strconv.ParseUint(m, 8, 32); err != nil {
					c.t.Fatalf("%sMode=%s: %v", d.key, m, err)
				}
			}
			if err := os.Chown(dir, uid, gid); err != nil {
				c.t.Fatal(err)
			}
			if err := os.Chmod(dir, os.FileMode(mode)); err != nil {
				c.t.Fatal(err)
			}
		}
		env = append(env, d.envName+"="+filepath.Join(d.base, name))
	}
	if env := u["Environment"]; len(env) > 0 {
		c.t.Fatalf("the test does not pass Environment= yet: %q", env)
	}
	wd, err := time.ParseDuration(u.get("WatchdogSec"))
	if err != nil {
		c.t.Fatalf("WatchdogSec=%q: %v", u.get("WatchdogSec"), err)
	}
	env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(wd.Microseconds(), 10))

	// The notification socket, inside the chroot so the daemon can reach it.
	sockPath := c.path("/run/test-notify")
	_ = os.Remove(sockPath)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { notify.Close() })
	if err := os.Chown(sockPath, uid, gid); err != nil {
		c.t.Fatal(err)
	}
	env = append(env, "NOTIFY_SOCKET=/run/test-notify")

	execStart := u.get("ExecStart")
	if strings.ContainsAny(execStart, `"'\$%`) || strings.HasPrefix(execStart, "-") || strings.HasPrefix(execStart, "@") {
		c.t.Fatalf("ExecStart=%s: the test splits it on spaces only", execStart)
	}
	umask := u.get("UMask")
	if umask == "" {
		umask = "0022"
	}
	argv := append([]string{"/bin/sh", "-c", `umask "$0" && exec "$@"`, umask}, strings.Fields(execStart)...)
	p := c.start(env, fmt.Sprintf("%d:%d", uid, gid), strings.Join(groups, ","), argv...)

	ready := make(chan string, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			n, _, err := notify.ReadFromUnix(buf)
			if err != nil {
				return
			}
			if s := string(buf[:n]); s == "READY=1" {
				ready <- s
				return
			}
		}
	}()
	select {
	case <-ready:
	case err := <-p.exited:
		c.t.Fatalf("mgmtd exited before READY=1: %v\n%s", err, p.out.String())
	case <-time.After(60 * time.Second):
		c.t.Fatalf("no READY=1 from mgmtd in 60 s\n%s", p.out.String())
	}
	return p
}

// TestInstall installs the package into a clean Debian 12 chroot and runs
// it there: the unit's ExecStart as the unit's user reaches READY=1, `mgmtd
// status` answers through the local socket, Debian's snmpd (configured by
// the package's snippet) serves the AgentX subagent's MIB to snmpwalk; an
// upgrade to a higher version and `apt-get remove` keep the configuration
// and the state directory.
func TestInstall(t *testing.T) {
	requireRoot(t)
	debs := t.TempDir()
	v1, v2 := "0.1.0~test1", "0.1.0~test2"
	deb1, deb2 := buildDeb(t, debs, v1), buildDeb(t, debs, v2)

	c := newChroot(t)
	for _, d := range []string{deb1, deb2} {
		command(t, nil, "cp", d, c.path("/tmp/"))
	}
	c.run("apt-get", "install", "-y", "/tmp/"+filepath.Base(deb1))
	if got := strings.TrimSpace(c.run("mgmtd", "version")); got != "mgmtd "+v1 {
		t.Fatalf("installed mgmtd version: %q", got)
	}
	if g := c.run("id", "-nG", "mgmtd"); !strings.Contains(" "+g, " haclient") {
		t.Errorf("mgmtd's groups: %q, want haclient", g)
	}
	if sh := strings.Split(strings.TrimSpace(c.run("getent", "passwd", "mgmtd")), ":"); sh[len(sh)-1] != "/usr/sbin/nologin" {
		t.Errorf("mgmtd's shell: %q", sh[len(sh)-1])
	}

	unitPath := c.path("/lib/systemd/system/mgmtd.service")
	u := parseUnit(t, unitPath)
	if u.get("Type") != "notify" {
		t.Errorf("Type=%s, want notify", u.get("Type"))
	}
	verifyUnit(t, c)

	// Local configuration: a free port (other daemons run on this
	// machine), a CIB captured from Pacemaker (crm_mon runs in the chroot
	// on it), and snmpd on a free port with a community on the package's
	// view.
	restPort, snmpPort := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "udp")
	cib, err := os.ReadFile(filepath.Join(repo, "source/pacemaker/testdata/primitives/cib.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path("/etc/mgmtd/cib.xml"), cib, 0o644); err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("\n# local (the install test)\nlisten: 127.0.0.1:%d\npacemaker: {cib_file: /etc/mgmtd/cib.xml}\n", restPort)
	appendFile(t, c.path("/etc/mgmtd/mgmtd.yaml"), local)
	snmpdConf := c.path("/etc/snmp/snmpd.conf")
	conf, err := os.ReadFile(snmpdConf)
	if err != nil {
		t.Fatal(err)
	}
	conf = bytes.Replace(conf, []byte("agentaddress  127.0.0.1,[::1]"), fmt.Appendf(nil, "agentaddress udp:127.0.0.1:%d", snmpPort), 1)
	if !bytes.Contains(conf, fmt.Appendf(nil, ":%d", snmpPort)) {
		t.Fatalf("Debian's snmpd.conf has no agentaddress line to change:\n%s", conf)
	}
	if err := os.WriteFile(snmpdConf, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	appendFile(t, c.path("/etc/snmp/snmpd.conf.d/test.conf"), "rocommunity mgmtdtest 127.0.0.1 -V mgmtdview\n")

	// snmpd as Debian's unit runs it.
	su := parseUnit(t, c.path("/lib/systemd/system/snmpd.service"))
	if err := os.MkdirAll(c.path("/run/"+su.get("RuntimeDirectory")), 0o755); err != nil {
		t.Fatal(err)
	}
	snmpd := c.start(nil, "", "", strings.Fields(su.get("ExecStart"))...)
	testutil.Eventually(t, 20*time.Second, func() bool {
		_, err := os.Stat(c.path("/var/agentx/master"))
		return err == nil
	}, "snmpd made no AgentX socket:\n%s", snmpd.out)
	if fi, err := os.Stat(c.path("/var/agentx/master")); err == nil {
		if gid := int(fi.Sys().(*syscall.Stat_t).Gid); gid != c.id("group", "mgmtd") || fi.Mode().Perm() != 0o660 {
			t.Errorf("AgentX socket: group %d mode %v; the snippet asks for group mgmtd, 0660", gid, fi.Mode().Perm())
		}
	}

	daemon := c.startUnit(u)
	// READY=1 means listening; the first picture of the cluster follows.
	var status string
	if !testutil.Poll(30*time.Second, func() bool {
		status = statusOf(c)
		return fresh(status)
	}) {
		t.Fatalf("mgmtd status through the local socket:\n%s\nmgmtd:\n%s", status, daemon.out)
	}
	for _, n := range []string{"node1", "node2", "node3", "dummy-a"} {
		if !strings.Contains(status, n) {
			t.Errorf("mgmtd status lacks %s:\n%s", n, status)
		}
	}
	// snmpd serves the subagent's rows (the node names are table
	// indexes and values of MGMTD-CLUSTER-MIB).
	var walk string
	if !testutil.Poll(30*time.Second, func() bool {
		walk, _ = c.try("snmpwalk", "-v2c", "-c", "mgmtdtest", "-On", fmt.Sprintf("udp:127.0.0.1:%d", snmpPort), ".1.3.6.1.4.1.32473")
		return strings.Contains(walk, `"node3"`)
	}) {
		t.Fatalf("snmpwalk of enterprises.32473 through the chroot's snmpd:\n%s\nmgmtd:\n%s\nsnmpd:\n%s", walk, daemon.out, snmpd.out)
	}
	if _, err := os.Stat(c.path("/usr/share/snmp/mibs/MGMTD-CLUSTER-MIB.txt")); err != nil {
		t.Error(err)
	}
	if err := daemon.stop(t); err != nil {
		t.Errorf("mgmtd on SIGTERM: %v\n%s", err, daemon.out)
	}
	state := readState(t, c)

	// Upgrade: the higher version replaces the binary and keeps the
	// changed configuration and the state.
	c.run("apt-get", "install", "-y", "/tmp/"+filepath.Base(deb2))
	if got := strings.TrimSpace(c.run("mgmtd", "version")); got != "mgmtd "+v2 {
		t.Fatalf("after the upgrade: %q", got)
	}
	checkKept(t, c, local, state)
	daemon = c.startUnit(u)
	if !testutil.Poll(30*time.Second, func() bool {
		status = statusOf(c)
		return fresh(status)
	}) {
		t.Errorf("mgmtd status after the upgrade:\n%s\nmgmtd:\n%s", status, daemon.out)
	}
	if err := daemon.stop(t); err != nil {
		t.Errorf("mgmtd on SIGTERM: %v", err)
	}
	state = readState(t, c)

	// Removal (not purge) keeps /etc/mgmtd and the state directory.
	c.run("apt-get", "remove", "-y", "mgmtd")
	if _, err := os.Stat(c.path("/usr/sbin/mgmtd")); !os.IsNotExist(err) {
		t.Errorf("/usr/sbin/mgmtd after remove: %v", err)
	}
	if st := c.run("dpkg-query", "-W", "-f=${Status}", "mgmtd"); st != "deinstall ok config-files" {
		t.Errorf("dpkg status after remove: %q", st)
	}
	checkKept(t, c, local, state)
	if err := snmpd.stop(t); err != nil {
		t.Logf("snmpd: %v", err)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// readState reads the files of the state directory that must survive:
// the generated certificate and the token store (the journal grows with
// each start).
func readState(t *testing.T, c *chroot) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(c.path("/var/lib/mgmtd"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, c.root)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var tls bool
	for p := range out {
		tls = tls || strings.HasPrefix(p, "/var/lib/mgmtd/tls/")
	}
	if !tls {
		t.Fatalf("no generated certificate in the state directory: %v", keys(out))
	}
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkKept: the configuration still has the local change, and every
// state file is still there, the certificate and keys unchanged.
func checkKept(t *testing.T, c *chroot, local string, state map[string]string) {
	t.Helper()
	conf, err := os.ReadFile(c.path("/etc/mgmtd/mgmtd.yaml"))
	if err != nil || !strings.Contains(string(conf), local) {
		t.Errorf("/etc/mgmtd/mgmtd.yaml lost the local change (%v)", err)
	}
	for p, was := range state {
		now, err := os.ReadFile(c.path(p))
		if err != nil {
			t.Errorf("state file %s: %v", p, err)
			continue
		}
		if strings.HasPrefix(p, "/var/lib/mgmtd/tls/") && string(now) != was {
			t.Errorf("state file %s changed", p)
		}
	}
	fi, err := os.Stat(c.path("/var/lib/mgmtd"))
	if err != nil {
		t.Fatal(err)
	}
	if owner := int(fi.Sys().(*syscall.Stat_t).Uid); owner != c.id("passwd", "mgmtd") {
		t.Errorf("/var/lib/mgmtd belongs to uid %d", owner)
	}
}

// verifyUnit runs systemd-analyze verify on the installed unit with the
// chroot as root directory (so ExecStart's binary is the package's); it
// must print nothing.
func verifyUnit(t *testing.T, c *chroot) {
	t.Helper()
	cmd := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+c.root, "/lib/systemd/system/mgmtd.service")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
