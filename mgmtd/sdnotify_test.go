package mgmtd

import (
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// notifySocket is a test $NOTIFY_SOCKET: a unixgram socket whose
// datagrams arrive on the returned channel.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := c.ReadFromUnix(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

func next(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("notify socket closed waiting for %s", what)
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s on the notify socket", what)
	}
	return ""
}

// TestSystemdNotify runs the daemon as systemd would run a Type=notify
// unit with WatchdogSec: READY=1 comes only when the REST listener and the
// local socket answer, WATCHDOG=1 follows at half of WATCHDOG_USEC, and
// STOPPING=1 ends it.
func TestSystemdNotify(t *testing.T) {
	sock, ch := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "100000") // 100 ms: pings every 50 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.StateDir, cfg.Cluster, cfg.PlainHTTP = "127.0.0.1:0", t.TempDir(), "demo", true
	d, err := NewDaemon(cfg, slog.New(slog.DiscardHandler), Options{Demo: true, DemoSpeed: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	if d.watchdogEvery != 50*time.Millisecond {
		t.Fatalf("watchdog interval %v, want 50ms", d.watchdogEvery)
	}
	_, stop := runDaemonWith(t, d)

	if m := next(t, ch, "READY=1"); m != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", m)
	}
	// Ready means bound: both listeners answer now, without waiting.
	resp, err := http.Get(d.URL + "/api/v1/healthz")
	if err != nil {
		t.Fatalf("REST after READY=1: %v", err)
	}
	resp.Body.Close()
	c, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatalf("local socket after READY=1: %v", err)
	}
	c.Close()

	start := time.Now()
	for i := 0; i < 3; i++ {
		if m := next(t, ch, "WATCHDOG=1"); m != "WATCHDOG=1" {
			t.Fatalf("notification %q, want WATCHDOG=1", m)
		}
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		// Three pings take at least two intervals; faster means no ticker.
		t.Errorf("3 watchdog pings in %v", el)
	}
	stop()
	var last string
	for m := range drain(ch) {
		if m != "WATCHDOG=1" {
			last = m
		}
	}
	if last != "STOPPING=1" {
		t.Errorf("after stop: %q, want STOPPING=1", last)
	}
	// No ping after the daemon returned.
	select {
	case m := <-ch:
		t.Errorf("notification after stop: %q", m)
	case <-time.After(200 * time.Millisecond):
	}
}

// drain yields what is queued on ch now.
func drain(ch <-chan string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for {
			select {
			case m := <-ch:
				if !yield(m) {
					return
				}
			default:
				return
			}
		}
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 15 * time.Second, false},
		{"30000000", pid, 15 * time.Second, false},
		{"30000000", "1", 0, false}, // another process's watchdog
		{"0", "", 0, true},
		{"-5", "", 0, true},
		{"30s", "", 0, true},
	} {
		env := map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid}
		got, err := watchdogInterval(func(k string) string { return env[k] })
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, %v; want %v, error %v", tc.usec, tc.pid, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "WATCHDOG_USEC") {
			t.Errorf("error %q does not name WATCHDOG_USEC", err)
		}
	}
}
