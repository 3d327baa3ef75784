package toolexec_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/toolexec"
)

// script writes an executable shell script named tool into a new
// directory and returns a Runner that looks tools up there.
func script(t *testing.T, tool, body string) toolexec.Runner {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, tool), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return toolexec.Runner{Dir: dir}
}

func TestOutputAndEnv(t *testing.T) {
	r := script(t, "tool", `echo "$1 $CIB_file $EXTRA"`)
	r.Env = []string{"EXTRA=x"}
	var seen []toolexec.Run
	r.Observe = func(run toolexec.Run) { seen = append(seen, run) }
	out, err := r.Run(context.Background(), []string{"CIB_file=/f"}, "tool", "arg")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "arg /f x\n" {
		t.Errorf("output %q", got)
	}
	if len(seen) != 1 || seen[0].Tool != "tool" || seen[0].Bytes != len(out) || seen[0].Err != nil {
		t.Errorf("observed %+v", seen)
	}
}

func TestExitCodeKeepsOutputAndStderrTail(t *testing.T) {
	r := script(t, "tool", `echo '<status/>'; i=0; while [ $i -lt 300 ]; do echo "noise line $i" >&2; i=$((i+1)); done; echo "the real reason" >&2; exit 64`)
	out, err := r.Run(context.Background(), nil, "tool")
	var te *toolexec.Error
	if !errors.As(err, &te) {
		t.Fatalf("err %v, want *toolexec.Error", err)
	}
	if te.ExitCode != 64 {
		t.Errorf("exit code %d", te.ExitCode)
	}
	if code, ok := toolexec.ExitCode(err); !ok || code != 64 {
		t.Errorf("ExitCode = %d, %v", code, ok)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Errorf("err does not unwrap to *exec.ExitError")
	}
	if string(out) != "<status/>\n" {
		t.Errorf("output %q", out)
	}
	if !strings.HasSuffix(te.Stderr, "the real reason") || len(te.Stderr) > toolexec.StderrTail+3 || !strings.HasPrefix(te.Stderr, "...") {
		t.Errorf("stderr tail %d bytes: %q", len(te.Stderr), te.Stderr)
	}
}

func TestMissingTool(t *testing.T) {
	r := toolexec.Runner{Dir: t.TempDir()}
	_, err := r.Run(context.Background(), nil, "crm_mon")
	var te *toolexec.Error
	if !errors.As(err, &te) || te.ExitCode != -1 || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err %v", err)
	}
	if _, ok := toolexec.ExitCode(err); ok {
		t.Error("a missing tool has no exit code")
	}
}

func TestOutputLimit(t *testing.T) {
	r := script(t, "tool", `yes garbage`)
	r.MaxOutput = 1 << 16
	out, err := r.Run(context.Background(), nil, "tool")
	if !errors.Is(err, toolexec.ErrOutputLimit) || out != nil {
		t.Fatalf("out %d bytes, err %v", len(out), err)
	}
}

// TestTimeoutKillsTheGroup: a tool that started a child and hangs is
// killed with its child when the timeout ends.
func TestTimeoutKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	r := script(t, "tool", `sleep 300 & echo $! > `+pidFile+`; wait`)
	r.Timeout = 300 * time.Millisecond
	_, err := r.Run(context.Background(), nil, "tool")
	if !errors.Is(err, toolexec.ErrTimeout) {
		t.Fatalf("err %v, want timeout", err)
	}
	waitGone(t, readPid(t, pidFile))
}

// TestCancelReportsTheCaller: a caller's cancellation is not a timeout.
func TestCancelReportsTheCaller(t *testing.T) {
	r := script(t, "tool", `sleep 300`)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := r.Run(ctx, nil, "tool")
	if !errors.Is(err, context.Canceled) || errors.Is(err, toolexec.ErrTimeout) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// TestChildDiesWithTheDaemon runs a tool from a helper process (this test
// binary again), kills the helper with SIGKILL as a crash would, and
// checks that the tool it ran dies too.
func TestChildDiesWithTheDaemon(t *testing.T) {
	if os.Getenv("TOOLEXEC_HELPER") != "" {
		r := toolexec.Runner{Timeout: time.Hour}
		_, _ = r.Run(context.Background(), nil, "sh", "-c", "echo $$ > "+os.Getenv("TOOLEXEC_HELPER")+"; exec sleep 300")
		os.Exit(0)
	}
	pidFile := filepath.Join(t.TempDir(), "tool")
	helper := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithTheDaemon$")
	helper.Env = append(os.Environ(), "TOOLEXEC_HELPER="+pidFile)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, pidFile)
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	waitGone(t, pid)
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	var pid int
	testutil.Eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(file)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, "the tool wrote its pid to %s", file)
	return pid
}

// waitGone waits until pid no longer runs (a zombie counts as gone).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || strings.Contains(string(b), ") Z ")
	}, "process %d ended", pid)
}

// A followed tool's output arrives while it runs, not when it exits; its
// exit is an *Error with the exit code and standard error; cancelling
// ends it (and a grandchild holding its output) with no error.
func TestFollow(t *testing.T) {
	// A FIFO makes the tool wait until the test lets it go on.
	fifo := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r := script(t, "watch", `echo "first $EXTRA"; read line < `+fifo+`; echo "second"; echo "bad news" >&2; exit 3`)
	r.Env = []string{"EXTRA=x"}
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- r.Follow(context.Background(), nil, func(b []byte) { got <- string(b) }, "watch")
	}()
	if s := <-got; s != "first x\n" {
		t.Fatalf("first chunk %q", s)
	}
	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if s := <-got; s != "second\n" {
		t.Errorf("second chunk %q", s)
	}
	var te *toolexec.Error
	if !errors.As(err, &te) || te.ExitCode != 3 || te.Stderr != "bad news" {
		t.Errorf("exit: %v", err)
	}

	r = script(t, "watch", `sleep 60 & echo started; wait`)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		done <- r.Follow(ctx, nil, func(b []byte) { got <- string(b) }, "watch")
	}()
	<-got
	cancel()
	if err := <-done; err != nil {
		t.Errorf("cancelled: %v", err)
	}

	err = r.Follow(context.Background(), nil, func([]byte) {}, "missing")
	if !errors.As(err, &te) || te.ExitCode != -1 {
		t.Errorf("missing tool: %v", err)
	}
}

// A followed tool reads what input writes on its standard input while it
// runs; input's context ends when the tool exited, and FollowInput
// returns only after input returned.
func TestFollowInput(t *testing.T) {
	r := script(t, "poll", `echo ready; while read cmd; do [ "$cmd" = q ] && exit 0; echo "got $cmd"; done`)
	got := make(chan string, 10)
	inputDone := make(chan struct{})
	err := r.FollowInput(context.Background(), nil, func(ctx context.Context, w io.Writer) {
		defer close(inputDone)
		for _, c := range []string{"n", "n", "q"} {
			if _, err := io.WriteString(w, c+"\n"); err != nil {
				t.Errorf("write: %v", err)
			}
		}
		<-ctx.Done()
	}, func(b []byte) { got <- string(b) }, "poll")
	select {
	case <-inputDone:
	default:
		t.Fatal("FollowInput returned before input did")
	}
	var te *toolexec.Error
	// A watcher that ends is an error even when it exits 0.
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("exit: %v", err)
	}
	close(got)
	var all strings.Builder
	for s := range got {
		all.WriteString(s)
	}
	if all.String() != "ready\ngot n\ngot n\n" {
		t.Fatalf("output %q", all.String())
	}
}
