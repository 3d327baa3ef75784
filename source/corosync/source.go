// Package corosync is mgmtd's Corosync source: membership, votes, quorum
// detail and per-node knet link health, read from corosync-cmapctl's typed
// "key (type) = value" lines and corosync-quorumtool's status. The parsers
// are pure functions over bytes; the tools run through toolexec (timeout,
// output cap). It imports model and toolexec only.
package corosync

import (
	"context"
	"log/slog"
	"regexp"
	"time"

	"mgmtd/model"
	"mgmtd/toolexec"
)

// Name is the source name in the model's source status.
const Name = "corosync"

// Options configures the source.
type Options struct {
	Interval time.Duration // 0 means 5 s
	Timeout  time.Duration // 0 means 10 s
	ToolDir  string        // where the corosync tools are; empty means $PATH
	// MaxOutput bounds what one tool may print; 0 means 16 MiB.
	MaxOutput int64
	// Observe, when set, is told about every tool run (metrics).
	Observe func(toolexec.Run)
}

// Source refreshes the Corosync part of the model.
type Source struct {
	opts    Options
	rep     model.Reporter
	log     *slog.Logger
	tools   toolexec.Runner
	version string
}

// New returns a source; call Run to start refreshing.
func New(opts Options, rep model.Reporter, log *slog.Logger) *Source {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = 16 << 20
	}
	log = log.With("source", Name)
	return &Source{opts: opts, rep: rep, log: log,
		tools: toolexec.Runner{Dir: opts.ToolDir, Timeout: opts.Timeout, MaxOutput: opts.MaxOutput, Log: log, Observe: opts.Observe}}
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
	// Exit status 2 means "not quorate": the output is valid.
	if code, _ := toolexec.ExitCode(qerr); qerr != nil && code != 2 {
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
	return s.tools.Run(ctx, nil, tool, args...)
}
