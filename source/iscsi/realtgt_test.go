package iscsi

import (
	"bytes"
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

	"mgmtd/model"
)

// realTgtd is a private tgtd started by a test: its own control port (so
// tgtadm -C PORT; a distribution tgtd uses 0) and one loopback portal on
// a free TCP port, killed by PID when the test ends.
type realTgtd struct {
	control int
	portal  string
	logFile string // tgtd's output
}

func (d *realTgtd) output() string {
	b, _ := os.ReadFile(d.logFile)
	return string(b)
}

// adm runs one tgtadm against it (bounded by 10 s).
func (d *realTgtd) adm(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tgtadm", append([]string{"-C", strconv.Itoa(d.control)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tgtadm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (d *realTgtd) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "tgtadm", "-C", strconv.Itoa(d.control), "--mode", "sys", "--op", "show").Run() == nil
}

func needTools(t *testing.T) {
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

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startTgtd starts tgtd and waits (at most 10 s) until tgtadm answers.
func startTgtd(t *testing.T) (*realTgtd, *exec.Cmd) {
	t.Helper()
	needTools(t)
	for attempt := 0; attempt < 5; attempt++ {
		d := &realTgtd{control: 1000 + rand.IntN(30000), portal: "127.0.0.1:" + strconv.Itoa(freePort(t))}
		if d.answers() {
			continue // another tgtd uses this control port
		}
		cmd := exec.Command("tgtd", "-f", "-C", strconv.Itoa(d.control), "--iscsi", "portal="+d.portal)
		d.logFile = filepath.Join(t.TempDir(), "tgtd.log")
		lf, err := os.Create(d.logFile)
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start tgtd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			// tgtd ignores SIGTERM; it is ours, so SIGKILL its group.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Errorf("tgtd (pid %d) did not exit 10 s after SIGKILL", cmd.Process.Pid)
			}
			sock := fmt.Sprintf("/var/run/tgtd/socket.%d", d.control)
			os.Remove(sock)
			os.Remove(sock + ".lock")
		}
		deadline := time.Now().Add(10 * time.Second)
		for !d.answers() {
			select {
			case <-exited:
				t.Logf("tgtd on control port %d exited: %s", d.control, d.output())
			default:
				if time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				stop()
				t.Fatalf("tgtd did not answer on control port %d within 10 s: %s", d.control, d.output())
			}
			break
		}
		if !d.answers() {
			continue
		}
		t.Cleanup(stop)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("tgtd output: %s", d.output())
			}
		})
		return d, cmd
	}
	t.Fatal("could not start tgtd on a free control port in 5 attempts")
	return nil, nil
}

// TestRealTgtd runs the source against a real tgtd with a real initiator
// (libiscsi's iscsi-perf) logged in.
func TestRealTgtd(t *testing.T) {
	d, tgtd := startTgtd(t)
	const (
		iqn       = "iqn.2026-12.org.example.test:real"
		initiator = "iqn.2026-12.org.example.client:realtest"
	)
	img := filepath.Join(t.TempDir(), "lun1.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	d.adm(t, "--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", "1", "--targetname", iqn)
	d.adm(t, "--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid", "1", "--lun", "1", "--backing-store", img)
	d.adm(t, "--lld", "iscsi", "--mode", "target", "--op", "bind", "--tid", "1", "--initiator-address", "127.0.0.1")

	store := model.NewStore(model.StoreOptions{Cluster: "c"})
	opts := Options{Node: "node1", ControlPort: d.control, Interval: 100 * time.Millisecond, Timeout: 5 * time.Second}
	start(t, opts, store)
	s := waitFor(t, store, "live target", func(s *model.Snapshot) bool { _, ok := live(s, iqn); return ok })
	tg, _ := s.Target(iqn)
	// 32 MiB: tgt prints 34 MB (its rounding of 33.5 10^6 bytes).
	if lt := tg.Live[0]; lt.State != "ready" || len(lt.Sessions) != 0 || len(lt.LUNs) != 1 || lt.LUNs[0].Path != img ||
		lt.LUNs[0].SizeMB != 34 || !lt.LUNs[0].Online || strings.Join(lt.ACL, ",") != "127.0.0.1" {
		t.Errorf("live target %+v", lt)
	}

	// An initiator logs in: the I_T nexus shows, with its address.
	ctx, cancel := context.WithCancel(context.Background())
	perf := exec.CommandContext(ctx, "iscsi-perf", "-i", initiator, "-m", "1", "-b", "1", "-t", "60",
		"iscsi://"+d.portal+"/"+iqn+"/1")
	var perfOut bytes.Buffer
	perf.Stdout, perf.Stderr = &perfOut, &perfOut
	perf.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	perf.WaitDelay = 5 * time.Second
	if err := perf.Start(); err != nil {
		t.Fatalf("iscsi-perf: %v", err)
	}
	perfDone := make(chan struct{})
	go func() { perf.Wait(); close(perfDone) }()
	t.Cleanup(func() {
		cancel()
		<-perfDone
	})
	s = waitFor(t, store, "session", func(s *model.Snapshot) bool {
		return len(s.Logins(initiator)) > 0
	})
	lg := s.Logins(initiator)[0]
	if lg.Target != iqn || lg.Node != "node1" || strings.Join(lg.Session.Addresses, ",") != "127.0.0.1" {
		t.Errorf("login %+v", lg)
	}
	w := s.Where(initiator)
	if len(w.Matches) != 1 || w.Matches[0].Kind != model.KindInitiator || len(w.Storage) != 1 || w.Storage[0].Path != img {
		t.Errorf("where %s: %+v", initiator, w)
	}

	// It logs out: the session goes.
	cancel()
	select {
	case <-perfDone:
	case <-time.After(10 * time.Second):
		t.Fatal("iscsi-perf did not end 10 s after it was killed")
	}
	waitFor(t, store, "logout", func(s *model.Snapshot) bool {
		tg, ok := live(s, iqn)
		return ok && len(s.Logins(initiator)) == 0 && len(tg.Live[0].Sessions) == 0
	})

	// tgtd dies: the part is stale with tgtadm's reason, the last good
	// picture stays.
	syscall.Kill(-tgtd.Process.Pid, syscall.SIGKILL)
	s = waitFor(t, store, "stale source", func(s *model.Snapshot) bool { return state(s).State == model.SourceStale })
	if st := state(s); !strings.Contains(st.LastError, "tgtadm") {
		t.Errorf("state %+v", st)
	}
	if _, ok := live(s, iqn); !ok {
		t.Error("last good part lost")
	}
}
