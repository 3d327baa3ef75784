package snmp

import (
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
)

// socketFDs counts this process's open sockets.
func socketFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// checkServing asserts that a GET through snmpd reaches the subagent.
func checkServing(t *testing.T, d *snmpd) {
	t.Helper()
	out, err := d.tool(t, "snmpget", "-t", "2", "-r", "1", entStr+".1.1.1.0", sysName)
	if err != nil || !strings.Contains(out, `"democluster"`) {
		t.Fatalf("not serving through snmpd: %v\n%s", err, out)
	}
}

// waitNoLeaks waits until goroutines and sockets are back to the baseline.
func waitNoLeaks(t *testing.T, goroutines, sockets int) {
	t.Helper()
	var g, s int
	if !testutil.Poll(5*time.Second, func() bool {
		g, s = runtime.NumGoroutine(), socketFDs(t)
		return g <= goroutines && s <= sockets
	}) {
		buf := make([]byte, 1<<16)
		t.Fatalf("leak: %d goroutines (baseline %d), %d sockets (baseline %d)\n%s", g, goroutines, s, sockets,
			buf[:runtime.Stack(buf, true)])
	}
}

// TestRestartSnmpd kills snmpd with TERM and KILL while the subagent is
// registered; it must re-register each time, keep one socket, and leave
// no goroutine or socket behind when stopped.
func TestRestartSnmpd(t *testing.T) {
	d := startSnmpd(t, "unix")
	goroutines, sockets := runtime.NumGoroutine(), socketFDs(t)
	srv := newTestServer(t, d.agentx)
	stop := startServer(t, srv)
	waitConnects(t, srv, 1)
	checkServing(t, d)
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGTERM} {
		d.stop(sig)
		testutil.Eventually(t, waitTimeout, func() bool { return !srv.Stats().Registered }, "the server has lost its session")
		d.run(t)
		up := time.Now()
		waitConnects(t, srv, uint64(i+2))
		t.Logf("after %v: re-registered %.0f ms after snmpd answered", sig, time.Since(up).Seconds()*1000)
		checkServing(t, d)
		if s := socketFDs(t); s != sockets+1 {
			t.Errorf("after %v: %d sockets open, want %d (old connection not closed?)", sig, s, sockets+1)
		}
	}
	stop()
	waitNoLeaks(t, goroutines, sockets)
}

// TestSnmpdLate starts the subagent before snmpd exists.
func TestSnmpdLate(t *testing.T) {
	d := newSnmpd(t, "unix")
	goroutines, sockets := runtime.NumGoroutine(), socketFDs(t)
	srv := newTestServer(t, d.agentx)
	stop := startServer(t, srv)
	if srv.Stats().Registered {
		t.Fatal("registered without a master")
	}
	d.run(t)
	waitConnects(t, srv, 1)
	checkServing(t, d)
	stop()
	d.stop(syscall.SIGTERM)
	waitNoLeaks(t, goroutines, sockets)
}

// resetProxy forwards TCP connections to target and can reset the
// connections it accepted (RST, via SO_LINGER 0).
type resetProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newResetProxy(t *testing.T, target string) *resetProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &resetProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.close)
	return p
}

// reset sends RST on every accepted client connection and closes the
// upstream side.
func (p *resetProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok && i%2 == 0 {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

func (p *resetProxy) close() {
	p.ln.Close()
	p.reset()
	p.wg.Wait()
}

// TestTCPReset resets the AgentX TCP connection under the subagent.
func TestTCPReset(t *testing.T) {
	d := startSnmpd(t, "tcp")
	proxy := newResetProxy(t, strings.TrimPrefix(d.agentx, "tcp:"))
	goroutines, sockets := runtime.NumGoroutine(), socketFDs(t)
	srv := newTestServer(t, "tcp:"+proxy.ln.Addr().String())
	stop := startServer(t, srv)
	waitConnects(t, srv, 1)
	checkServing(t, d)
	for i := range 3 {
		proxy.reset()
		waitConnects(t, srv, uint64(i+2))
		checkServing(t, d)
	}
	stop()
	proxy.reset()
	waitNoLeaks(t, goroutines, sockets)
}
