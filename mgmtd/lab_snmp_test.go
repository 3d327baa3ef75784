package mgmtd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/lab"
	"mgmtd/internal/testutil"
)

// The lab's SNMP: net-snmp's snmpd inside every node (the AgentX master
// of that node's mgmtd, its socket in the node's own /run), all sending
// their notifications to one snmptrapd on the lab's host address - as an
// NMS would receive them from a cluster.

// labTrapPort is where the host's snmptrapd listens, on lab.HostAddr.
const labTrapPort = "1162"

// labTrap is one notification snmptrapd received: from which node's
// snmpd, its mgmtdNotifyMessage, and when it arrived.
type labTrap struct {
	from, msg string
	at        time.Time
}

// labTrapd is the host's snmptrapd, read line by line as it prints.
type labTrapd struct {
	mu    sync.Mutex
	traps []labTrap
	ch    chan labTrap
}

// startLabTrapd starts snmptrapd on the lab's host address; every
// notification arrives as one "TRAP <sender> <varbinds>" line on its
// standard output.
func startLabTrapd(t testing.TB) *labTrapd {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmptrapd.conf")
	if err := os.WriteFile(conf, []byte("authCommunity log public\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/snmptrapd", "-f", "-C", "-c", conf, "-On", "-Lo", "-F", "TRAP %b\t%v\n",
		"-p", filepath.Join(dir, "pid"), "udp:"+lab.HostAddr+":"+labTrapPort)
	cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("snmptrapd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	d := &labTrapd{ch: make(chan labTrap, 4096)}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "NET-SNMP version") {
				once.Do(func() { close(started) })
			}
			rest, ok := strings.CutPrefix(line, "TRAP ")
			if !ok {
				continue
			}
			tr := labTrap{at: time.Now()}
			// %b: "UDP: [198.18.0.1]:37911->[198.18.0.254]:1162"
			if i, j := strings.Index(rest, "["), strings.Index(rest, "]"); i >= 0 && j > i {
				tr.from = rest[i+1 : j]
			}
			if _, v, ok := strings.Cut(rest, ".1.3.6.1.4.1.32473.1.20.2.0 = STRING: "); ok {
				v, _, _ = strings.Cut(v, "\t")
				tr.msg = strings.Trim(v, `"`)
			}
			d.mu.Lock()
			d.traps = append(d.traps, tr)
			d.mu.Unlock()
			select {
			case d.ch <- tr:
			default:
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("snmptrapd did not start")
	}
	return d
}

// all returns the notifications received so far.
func (d *labTrapd) all() []labTrap {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]labTrap(nil), d.traps...)
}

// until waits for a notification whose message contains every one of
// words, received after since.
func (d *labTrapd) until(t testing.TB, since time.Time, words ...string) labTrap {
	t.Helper()
	return d.untilFunc(t, since, fmt.Sprintf("with %q", words), func(msg string) bool {
		for _, w := range words {
			if !strings.Contains(msg, w) {
				return false
			}
		}
		return true
	})
}

// untilFunc waits for a notification received after since whose message
// match accepts.
func (d *labTrapd) untilFunc(t testing.TB, since time.Time, what string, match func(string) bool) labTrap {
	t.Helper()
	var found labTrap
	testutil.Eventually(t, 90*time.Second, func() bool {
		for _, tr := range d.all() {
			if tr.at.Before(since) {
				continue
			}
			if match(tr.msg) {
				found = tr
				return true
			}
		}
		return false
	}, "a notification %s at snmptrapd", what)
	return found
}

// startLabSnmpd runs snmpd inside node: its AgentX socket in the node's
// own /run (where the node's mgmtd connects, snmpConfig), its agent on
// the node's address, its notifications to the host's snmptrapd.
func startLabSnmpd(t testing.TB, l *lab.Lab, node string) {
	t.Helper()
	host := filepath.Join(lab.Dir, node, "fs", "var/lib/mgmtd/snmp")
	if err := os.MkdirAll(filepath.Join(host, "persist"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`agentaddress udp:%s:161
rocommunity public
master agentx
agentXSocket /run/agentx.sock
trap2sink %s:%s public
sysName %s
`, lab.Addr(node), lab.HostAddr, labTrapPort, node)
	if err := os.WriteFile(filepath.Join(host, "snmpd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &testutil.SyncBuffer{}
	cmd := l.Command(context.Background(), node, "/usr/sbin/snmpd", "-f", "-Lo", "-C", "-c", "/var/lib/mgmtd/snmp/snmpd.conf",
		"-p", "/run/snmpd.pid")
	cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR=/var/lib/mgmtd/snmp/persist")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	testutil.Eventually(t, 15*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(lab.Dir, node, "fs", "run/agentx.sock"))
		return err == nil
	}, "snmpd on %s listens for AgentX: %s", node, log)
}

// snmpConfig is a lab daemon's configuration for the node's snmpd.
var snmpConfig = map[string]any{"snmp": map[string]any{"agentx": "unix:/run/agentx.sock"}}
