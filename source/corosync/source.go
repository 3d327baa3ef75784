// Package corosync is mgmtd's Corosync source: membership, votes, quorum
// detail and per-node knet link health, read from corosync-cmapctl's typed
// "key (type) = value" lines and corosync-quorumtool's status. The parsers
// are pure functions over bytes; the tools run through one exec point with
// a timeout. It imports model only.
package corosync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"mgmtd/model"
)

// Name is the source name in the model's source status.
const Name = "corosync"

// Options configures the source.
type Options struct {
	Interval time.Duration // 0 means 5 s
	Timeout  time.Duration // 0 means 10 s
	ToolDir  string        // where the corosync tools are; empty means $PATH
}

// Reporter takes refresh results; *model.Store implements it.
type Reporter interface {
	Report(model.Report) *model.Snapshot
}

// Source refreshes the Corosync part of the model.
type Source struct {
	opts    Options
	rep     Reporter
	log     *slog.Logger
	version string
}

// New returns a source; call Run to start refreshing.
func New(opts Options, rep Reporter, log *slog.Logger) *Source {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Source{opts: opts, rep: rep, log: log.With("source", Name)}
}

// Run refreshes until ctx is done.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh reads corosync once and reports the result to the store.
func (s *Source) Refresh(ctx context.Context) error {
	part, err := s.Load(ctx)
	s.rep.Report(model.Report{Source: Name, Corosync: part, Err: err})
	return err
}

var versionRE = regexp.MustCompile(`version '([^']+)'`)

// Load runs the tools once.
func (s *Source) Load(ctx context.Context) (*model.CorosyncPart, error) {
	out, err := s.run(ctx, "corosync-cmapctl")
	if err != nil {
		return nil, err
	}
	cmap, err := ParseCmap(out)
	if err != nil {
		return nil, err
	}
	qout, qerr := s.run(ctx, "corosync-quorumtool", "-s", "-p")
	var ee *exec.ExitError
	// Exit status 2 means "not quorate": the output is valid.
	if qerr != nil && !(errors.As(qerr, &ee) && ee.ExitCode() == 2) {
		return nil, qerr
	}
	q, err := ParseQuorum(qout)
	if err != nil {
		return nil, err
	}
	if s.version == "" {
		if v, err := s.run(ctx, "corosync", "-v"); err == nil {
			if m := versionRE.FindSubmatch(v); m != nil {
				s.version = string(m[1])
			}
		}
	}
	return &model.CorosyncPart{Membership: Membership(cmap, q), Version: s.version}, nil
}

func (s *Source) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	path := tool
	if s.opts.ToolDir != "" {
		path = filepath.Join(s.opts.ToolDir, tool)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("run %s: timed out after %s", tool, s.opts.Timeout)
	}
	if err != nil {
		msg := bytes.TrimSpace(errb.Bytes())
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return out.Bytes(), fmt.Errorf("run %s: %w: %s", tool, err, msg)
	}
	return out.Bytes(), nil
}
