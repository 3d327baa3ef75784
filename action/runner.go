package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Runner runs one cluster tool with extra environment (CIB_file, CIB_user)
// and returns its standard output. An error carries the tool's standard
// error text.
type Runner interface {
	Run(ctx context.Context, env []string, tool string, args ...string) ([]byte, error)
}

// ExecRunner runs the tools as processes: looked up in ToolDir (or $PATH),
// with a timeout and bounded output.
type ExecRunner struct {
	// ToolDir, when set, is where the tools are looked up instead of $PATH.
	ToolDir string
	// Timeout bounds one run unless the context ends sooner; 0 means 5 min.
	Timeout time.Duration
	// MaxOutput bounds standard output; 0 means 64 MiB.
	MaxOutput int64
}

// ToolError is a tool that failed: missing, timed out or non-zero exit.
type ToolError struct {
	Tool     string
	ExitCode int // -1 when the tool did not exit normally
	Err      error
	Stderr   string
}

func (e *ToolError) Error() string {
	msg := "run " + e.Tool + ": " + e.Err.Error()
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *ToolError) Unwrap() error { return e.Err }

type capBuffer struct {
	buf   bytes.Buffer
	limit int64
	over  bool
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if int64(c.buf.Len())+int64(len(p)) > c.limit {
		c.over = true
		return 0, errors.New("output exceeds limit")
	}
	return c.buf.Write(p)
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, env []string, tool string, args ...string) ([]byte, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	limit := r.MaxOutput
	if limit <= 0 {
		limit = 64 << 20
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := tool
	if r.ToolDir != "" {
		path = filepath.Join(r.ToolDir, tool)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 2 * time.Second
	out := &capBuffer{limit: limit}
	errb := &capBuffer{limit: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, errb
	err := cmd.Run()
	stderr := strings.TrimSpace(errb.buf.String())
	if len(stderr) > 1000 {
		stderr = stderr[:1000] + "..."
	}
	switch {
	case out.over:
		return nil, &ToolError{Tool: tool, ExitCode: -1, Err: errors.New("output exceeds limit")}
	case ctx.Err() == context.DeadlineExceeded:
		return out.buf.Bytes(), &ToolError{Tool: tool, ExitCode: -1, Err: fmt.Errorf("timed out after %s", timeout), Stderr: stderr}
	case err != nil:
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return out.buf.Bytes(), &ToolError{Tool: tool, ExitCode: code, Err: err, Stderr: stderr}
	}
	return out.buf.Bytes(), nil
}
