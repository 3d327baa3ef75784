// Package toolexec is the one way mgmtd runs a cluster tool (crm_mon,
// cibadmin, crm_simulate, crm_resource, corosync-cmapctl, ...): every
// source and the action executor go through a Runner, so every run has a
// context, a timeout, a cap on its output, a typed error carrying the
// tool's exit code and the tail of its standard error, and a hook for
// metrics.
//
// A tool runs in its own process group and receives SIGKILL when the
// daemon dies (Linux's parent-death signal), and cancellation kills the
// whole group: no child, and no grandchild a tool started, outlives the
// run or the daemon.
//
// toolexec imports only the standard library; any package may import it.
package toolexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
	"unicode/utf8"
)

// Defaults of a Runner's zero fields.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultMaxOutput = 64 << 20
	// StderrTail is how much of a tool's standard error an Error keeps:
	// its last bytes, where tools print the reason they failed.
	StderrTail = 1000
)

// Errors wrapped by an *Error.
var (
	// ErrOutputLimit: the tool printed more than the Runner's MaxOutput;
	// it was killed and its output discarded.
	ErrOutputLimit = errors.New("output exceeds limit")
	// ErrTimeout: the run outlived the Runner's Timeout.
	ErrTimeout = errors.New("timed out")
)

// Error is a tool run that failed: the tool is missing, timed out, printed
// too much or exited non-zero. It unwraps to ErrTimeout, ErrOutputLimit,
// the *exec.ExitError, or the error of starting the tool.
type Error struct {
	Tool string
	// ExitCode is the tool's exit status, or -1 when it did not exit by
	// itself (not started, killed, timed out).
	ExitCode int
	Err      error
	// Stderr is the tail of the tool's standard error, trimmed.
	Stderr string
}

func (e *Error) Error() string {
	msg := "run " + e.Tool + ": " + e.Err.Error()
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode returns the exit status of a tool that exited non-zero by
// itself, and false for any other error.
func ExitCode(err error) (int, bool) {
	var te *Error
	if errors.As(err, &te) && te.ExitCode > 0 {
		return te.ExitCode, true
	}
	return 0, false
}

// Run describes one finished tool run, for the Observe hook.
type Run struct {
	Tool string
	Args []string
	Dur  time.Duration
	// Bytes is the size of the standard output kept.
	Bytes int
	Err   error
}

// Runner runs tools. Its zero value is usable: tools from $PATH, the
// default timeout and output cap. A Runner is safe for concurrent use and
// is passed by value.
type Runner struct {
	// Dir, when set, is where tools are looked up instead of $PATH.
	Dir string
	// Timeout bounds one run unless the context ends sooner; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxOutput bounds the standard output; 0 means DefaultMaxOutput.
	MaxOutput int64
	// Env is added to the daemon's environment for every run (before the
	// run's own env).
	Env []string
	// Log, when set, gets one debug line per run.
	Log *slog.Logger
	// Observe, when set, is called after every run (metrics).
	Observe func(Run)
}

// Run runs tool with args and the extra environment env, and returns its
// standard output. A tool that exits non-zero returns its output too
// (crm_mon prints an XML status even then) along with an *Error; a tool
// that timed out or printed too much returns no output.
func (r Runner) Run(ctx context.Context, env []string, tool string, args ...string) ([]byte, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := r.MaxOutput
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	path := tool
	if r.Dir != "" {
		path = filepath.Join(r.Dir, tool)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(append(os.Environ(), r.Env...), env...)
	cmd.WaitDelay = 2 * time.Second
	ownProcessGroup(cmd)
	out := &capBuffer{limit: limit, cancel: cancel}
	errb := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, errb
	start := time.Now()
	err := cmd.Run()
	dur := time.Since(start)
	var res []byte
	switch {
	case out.over:
		err = &Error{Tool: tool, ExitCode: -1, Err: fmt.Errorf("%w of %d bytes", ErrOutputLimit, limit)}
	case context.Cause(ctx) == ErrTimeout && ctx.Err() != nil:
		err = &Error{Tool: tool, ExitCode: -1, Err: fmt.Errorf("%w after %s", ErrTimeout, timeout), Stderr: errb.tail()}
	case err != nil:
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = ctx.Err() // the caller's context ended
		}
		err = &Error{Tool: tool, ExitCode: code, Err: err, Stderr: errb.tail()}
		res = out.buf.Bytes()
	default:
		res = out.buf.Bytes()
	}
	if r.Log != nil {
		r.Log.Debug("tool run", "tool", tool, "args", args, "dur", dur, "bytes", len(res), "err", err)
	}
	if r.Observe != nil {
		r.Observe(Run{Tool: tool, Args: args, Dur: dur, Bytes: len(res), Err: err})
	}
	return res, err
}

// capBuffer keeps output up to limit; past it, it stops the run.
type capBuffer struct {
	buf    bytes.Buffer
	limit  int64
	over   bool
	cancel context.CancelFunc
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if int64(c.buf.Len())+int64(len(p)) > c.limit {
		c.over = true
		c.cancel()
		return 0, ErrOutputLimit
	}
	return c.buf.Write(p)
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) tail() string {
	b := bytes.TrimSpace(t.buf)
	if len(b) <= StderrTail {
		return string(b)
	}
	b = b[len(b)-StderrTail:]
	for len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	return "..." + string(b)
}
