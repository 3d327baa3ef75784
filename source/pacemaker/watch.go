package pacemaker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
)

// WatchRecipient is the recipient the watcher gives crm_mon for its
// external agent (crm_mon sets CRM_notify_recipient to it): the mgmtd
// binary run with it is the watch agent (WatchAgent), not the CLI.
const WatchRecipient = "mgmtd-watch"

// watchPrefix starts the line the watch agent prints.
const watchPrefix = "mgmtd-watch:"

// WatchedVersionInterval is how often the version check runs while the
// watcher is seeing the cluster: it then only guards against a watcher
// that stopped hearing changes without exiting.
const WatchedVersionInterval = 30 * time.Second

// IsWatchAgent reports whether this process was started by the watcher's
// crm_mon as its external agent.
func IsWatchAgent(getenv func(string) string) bool {
	return getenv("CRM_notify_recipient") == WatchRecipient
}

// WatchAgent is what the mgmtd binary does when crm_mon runs it as its
// external agent: it prints one line describing the operation (from the
// CRM_notify_* environment) to its standard output, which is the
// watcher's pipe, and exits. It never blocks the cluster: crm_mon does
// not wait for its agent, and the line is one short write.
func WatchAgent(w io.Writer, getenv func(string) string) error {
	var b strings.Builder
	b.WriteString(watchPrefix)
	for _, k := range []string{"node", "rsc", "task", "desc", "rc", "target_rc", "status"} {
		v := getenv("CRM_notify_" + k)
		if v == "" {
			continue
		}
		// One line, one field per word: no spaces or newlines inside.
		fmt.Fprintf(&b, " %s=%s", k, strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				return '_'
			}
			return r
		}, v))
	}
	b.WriteByte('\n')
	line := b.String()
	if len(line) > 512 {
		line = line[:511] + "\n"
	}
	_, err := io.WriteString(w, line)
	return err
}

// WatchEvent is an operation the watch agent reported.
type WatchEvent struct {
	Node, Resource, Task, Desc string
}

// ParseWatchLine parses a line the watch agent printed; ok is false for
// any other line (crm_mon's own status output shares the pipe).
func ParseWatchLine(line []byte) (e WatchEvent, ok bool) {
	rest, found := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte(watchPrefix))
	if !found {
		return e, false
	}
	for _, f := range strings.Fields(string(rest)) {
		k, v, found := strings.Cut(f, "=")
		if !found {
			return WatchEvent{}, false
		}
		switch k {
		case "node":
			e.Node = v
		case "rsc":
			e.Resource = v
		case "task":
			e.Task = v
		case "desc":
			e.Desc = v
		}
	}
	return e, true
}

// watch keeps `crm_mon -E` running for as long as ctx lives: crm_mon
// follows the CIB through Pacemaker's own change notifications and, on
// every node, runs the watch agent for every resource operation anywhere
// in the cluster and (-W) every fencing operation, the moment it is
// recorded; and it re-renders its status on the first change after a
// quiet spell. Anything on its output is a hint to refresh now. A crm_mon
// that exits is restarted with a backoff (1 s doubling to 30 s); while
// none runs, the version check is back to its short interval.
func (s *Source) watch(ctx context.Context) {
	backoff := time.Second
	for {
		start := time.Now()
		var partial []byte
		err := s.tools.Follow(ctx, nil, func(b []byte) {
			s.watching.Store(true)
			var news bool
			partial, news = s.watchLines(append(partial, b...))
			if news {
				s.Trigger()
			}
		}, "crm_mon", "--output-as=text", "--output-to=-", "--external-agent="+s.opts.WatchAgent,
			"--external-recipient="+WatchRecipient, "--watch-fencing")
		s.watching.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		s.log.Warn("crm_mon watcher stopped; changes are seen by the version check until it restarts", "err", err, "restart_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// watchLines logs the watch agent's lines among crm_mon's output and
// returns what is left of an unfinished line (bounded: crm_mon's status
// lines are kept only to find line ends), and whether the output says
// something changed: any of crm_mon's own status, or an operation that
// ended. An operation that only began (pending) is not worth a refresh:
// its end follows within moments, and a refresh started for the one
// would delay the refresh that shows the other.
func (s *Source) watchLines(b []byte) (rest []byte, news bool) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		if e, ok := ParseWatchLine(b[:i]); ok {
			s.log.Debug("cluster operation", "node", e.Node, "resource", e.Resource, "task", e.Task, "desc", e.Desc)
			news = news || e.Desc != "pending"
		} else {
			news = true
		}
		b = b[i+1:]
	}
	if len(b) > 0 {
		// Part of a line: crm_mon's status (an agent's line is one write).
		news = true
	}
	if len(b) > 4096 {
		return nil, news
	}
	return append([]byte(nil), b...), news
}

// Watching reports whether the crm_mon watcher is running and has seen
// the cluster.
func (s *Source) Watching() bool { return s.watching.Load() }
