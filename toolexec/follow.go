package toolexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Follow runs a long-lived tool (a watcher such as `crm_mon -E`) until it
// exits or ctx ends, and hands everything it prints on standard output to
// out, a chunk at a time, as it arrives; out must not keep the slice. The
// Runner's Timeout does not apply (the tool is meant to run for as long as
// the daemon does); its process group, parent-death signal, environment
// and Dir do. Follow returns nil when ctx ended, else an *Error: the tool
// could not start or exited (ExitCode, the tail of its standard error).
func (r Runner) Follow(ctx context.Context, env []string, out func([]byte), tool string, args ...string) error {
	return r.FollowInput(ctx, env, nil, out, tool, args...)
}

// FollowInput is Follow for a tool that reads commands on its standard
// input (`drbdsetup events2 --poll` refreshes on "n"). input, when not
// nil, runs in its own goroutine once the tool started, with the write
// end of the tool's standard input and a context that ends when the tool
// exited or ctx ended; it must return then (a write to a tool that
// exited fails). FollowInput returns only after input returned. With a
// nil input the tool's standard input is /dev/null, as with Follow.
func (r Runner) FollowInput(ctx context.Context, env []string, input func(context.Context, io.Writer), out func([]byte), tool string, args ...string) error {
	path := tool
	if r.Dir != "" {
		path = filepath.Join(r.Dir, tool)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(append(os.Environ(), r.Env...), env...)
	cmd.WaitDelay = 2 * time.Second
	ownProcessGroup(cmd)
	// Read only after Wait, which waits for exec's copier.
	errb := &tailBuffer{max: 64 << 10}
	cmd.Stderr = errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return &Error{Tool: tool, ExitCode: -1, Err: err}
	}
	var stdin io.WriteCloser
	if input != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return &Error{Tool: tool, ExitCode: -1, Err: err}
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return &Error{Tool: tool, ExitCode: -1, Err: err}
	}
	if input != nil {
		ictx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			input(ictx, stdin)
		}()
		// Runs after Wait (deferred before it returns): Wait closed stdin.
		defer func() { stop(); <-done }()
	}
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, rerr := stdout.Read(buf)
		if k > 0 {
			n += k
			out(buf[:k])
		}
		if rerr != nil {
			break
		}
	}
	err = cmd.Wait()
	if r.Log != nil {
		r.Log.Debug("tool followed", "tool", tool, "args", args, "dur", time.Since(start), "bytes", n, "err", err)
	}
	if ctx.Err() != nil {
		return nil
	}
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	if err == nil {
		err = errors.New("exited")
	}
	e := &Error{Tool: tool, ExitCode: code, Err: fmt.Errorf("%w after %s", err, time.Since(start).Round(time.Millisecond)), Stderr: errb.tail()}
	if r.Observe != nil {
		r.Observe(Run{Tool: tool, Args: args, Dur: time.Since(start), Bytes: n, Err: e})
	}
	return e
}
