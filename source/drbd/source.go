// Package drbd is mgmtd's DRBD source: the DRBD resources of the node it
// runs on, their volumes, connections, peer devices and split brains.
//
// It keeps one `drbdsetup events2 --full --timestamps --poll` running
// (toolexec.Runner.FollowInput: its own process group, killed with the
// daemon) and builds its picture from the initial dump that ends with
// "exists -", then from every change line; every RefreshInterval it writes
// "n" on drbdsetup's standard input, which makes drbdsetup fetch the
// state again and print what changed (the statistics: out-of-sync bytes,
// resync progress). A drbdsetup that exits, prints something that is not
// an events2 line, or prints no initial state within Timeout is killed and
// started again with a backoff (1 s doubling to 30 s); the picture is
// rebuilt from the new dump. Meanwhile the part is stale with the error,
// and `drbdsetup status --json` (one run, with Timeout) serves a picture
// marked degraded. Every CheckInterval the same status is run beside the
// stream: a status that fails or hangs makes the part stale, and one that
// still disagrees with the stream's picture RecheckDelay later restarts
// drbdsetup events2.
//
// Split brains are seen in events2's "call helper ... helper:split-brain"
// lines (no custom handler script); the source remembers them across
// restarts of drbdsetup until the connection is Connected again.
//
// DRBD 9 only: drbd-utils' drbdsetup for 8.4 has neither --poll nor
// --full nor status --json (package events says what it prints), so on
// 8.4 the part stays in error with drbdsetup's usage message.
//
// The parsers are in package events; this package imports model and
// toolexec only.
package drbd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"mgmtd/model"
	"mgmtd/source/drbd/events"
	"mgmtd/toolexec"
)

// Name is the source name in the model's source status.
const Name = "drbd"

// Options configures the source.
type Options struct {
	// Node is the name of the node the source runs on (the cluster node
	// name); required.
	Node string
	// ToolDir is where drbdsetup is; empty means $PATH.
	ToolDir string
	// RefreshInterval is how often "n" asks drbdsetup for fresh
	// statistics; 0 means 10 s.
	RefreshInterval time.Duration
	// CheckInterval is how often `drbdsetup status --json` checks the
	// stream; 0 means 60 s.
	CheckInterval time.Duration
	// Timeout bounds the initial dump and one status run; 0 means 10 s.
	Timeout time.Duration
	// MaxOutput bounds status's output; 0 means events.MaxStatus.
	MaxOutput int64
	// Observe, when set, is told about every tool run (metrics).
	Observe func(toolexec.Run)
	// Backoff is the first restart delay; 0 means 1 s (tests shorten
	// it).
	Backoff time.Duration
	// RecheckDelay is how long a disagreement between events2 and status
	// must last before events2 is restarted; 0 means 2 s.
	RecheckDelay time.Duration
}

// Reporter takes refresh results; *model.Store implements it.
type Reporter interface {
	Report(model.Report) *model.Snapshot
}

// Source keeps the DRBD part of the model.
type Source struct {
	opts  Options
	rep   Reporter
	log   *slog.Logger
	tools toolexec.Runner

	mu sync.Mutex
	// splitBrain remembers split brains by resource and peer, across
	// restarts of drbdsetup, until the connection is Connected again.
	splitBrain map[string]time.Time
}

// New returns a source; call Run to start it.
func New(opts Options, rep Reporter, log *slog.Logger) *Source {
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 10 * time.Second
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 60 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = events.MaxStatus
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.RecheckDelay <= 0 {
		opts.RecheckDelay = 2 * time.Second
	}
	log = log.With("source", Name)
	return &Source{opts: opts, rep: rep, log: log, splitBrain: map[string]time.Time{},
		tools: toolexec.Runner{Dir: opts.ToolDir, Timeout: opts.Timeout, MaxOutput: opts.MaxOutput, Log: log, Observe: opts.Observe}}
}

// Run keeps drbdsetup events2 running until ctx ends; it returns nil then.
// A failing drbdsetup never ends Run: the part is stale until it works.
func (s *Source) Run(ctx context.Context) error {
	backoff := s.opts.Backoff
	for {
		start := time.Now()
		err := s.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = s.opts.Backoff
		}
		s.log.Warn("drbdsetup events2 stopped; restarting", "err", err, "restart_in", backoff)
		s.rep.Report(model.Report{Source: Name, Err: err})
		// The fallback: one status, shown as degraded.
		if st, serr := s.status(ctx); serr == nil {
			s.rep.Report(model.Report{Source: Name, DRBD: s.part(st),
				Degraded: "drbdsetup events2 is not running (" + err.Error() + "); the picture is from drbdsetup status --json"})
		} else if ctx.Err() == nil {
			s.rep.Report(model.Report{Source: Name, Err: fmt.Errorf("%w; fallback: %w", err, serr)})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*s.opts.Backoff)
	}
}

// status runs `drbdsetup status --json` once.
func (s *Source) status(ctx context.Context) (*events.State, error) {
	out, err := s.tools.Run(ctx, nil, "drbdsetup", "status", "--json")
	if err != nil {
		return nil, err
	}
	return events.ParseStatusJSON(out)
}

// errRestart ends a follow whose stream disagrees with drbdsetup status.
var errRestart = errors.New("drbdsetup events2 disagrees with drbdsetup status --json")

// follow runs one drbdsetup events2 until it fails or ctx ends, reporting
// its picture as it changes. It returns why it stopped.
func (s *Source) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		stream  events.Stream
		bad     error
		changed = make(chan struct{}, 1)
	)
	done := make(chan error, 1)
	go func() {
		done <- s.tools.FollowInput(ctx, nil, func(ctx context.Context, w io.Writer) {
			t := time.NewTicker(s.opts.RefreshInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if _, err := io.WriteString(w, "n\n"); err != nil {
						return
					}
				}
			}
		}, func(b []byte) {
			mu.Lock()
			defer mu.Unlock()
			if bad != nil {
				return
			}
			if err := stream.Write(b); err != nil {
				bad = err
				cancel()
				return
			}
			if stream.State.Complete {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}, "drbdsetup", "events2", "--full", "--timestamps", "--poll")
	}()
	dump := time.NewTimer(s.opts.Timeout)
	defer dump.Stop()
	check := time.NewTicker(s.opts.CheckInterval)
	defer check.Stop()
	complete := false
	var (
		why     error
		pending string           // a disagreement to confirm
		recheck <-chan time.Time // when to confirm it
	)
	for {
		select {
		case err := <-done:
			mu.Lock()
			defer mu.Unlock()
			if bad != nil {
				return fmt.Errorf("drbdsetup events2 printed garbage: %w", bad)
			}
			select {
			case <-changed:
				// What drbdsetup said before it ended is the last good
				// picture.
				s.rep.Report(model.Report{Source: Name, DRBD: s.part(stream.State.Clone())})
			default:
			}
			if why != nil {
				return why
			}
			if err == nil {
				err = ctx.Err()
			}
			return err
		case <-dump.C:
			if !complete {
				why = fmt.Errorf("drbdsetup events2 printed no initial state within %s", s.opts.Timeout)
				cancel()
			}
		case <-changed:
			mu.Lock()
			st := stream.State.Clone()
			mu.Unlock()
			complete = true
			s.rep.Report(model.Report{Source: Name, DRBD: s.part(st)})
		case <-check.C:
			if complete && recheck == nil {
				pending = s.check(ctx, &mu, &stream, "")
				if pending != "" {
					recheck = time.After(s.opts.RecheckDelay)
				}
			}
		case <-recheck:
			// A disagreement may be an event still on its way: only one
			// that is still there a moment later restarts events2.
			recheck = nil
			if d := s.check(ctx, &mu, &stream, pending); d != "" && d == pending {
				s.log.Warn("drbdsetup events2 disagrees with status; restarting it", "difference", d)
				why = fmt.Errorf("%w: %s", errRestart, d)
				cancel()
			}
			pending = ""
		}
	}
}

// check runs drbdsetup status beside the stream and returns how they
// differ ("" when they agree, or status failed: then the part is stale
// with its error). When they agree, the stream's picture is reported
// again, which clears a stale mark an earlier failed check left.
func (s *Source) check(ctx context.Context, mu *sync.Mutex, stream *events.Stream, pending string) string {
	st, err := s.status(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.rep.Report(model.Report{Source: Name, Err: fmt.Errorf("drbdsetup status --json beside events2: %w", err)})
		}
		return ""
	}
	mu.Lock()
	mine := stream.State.Clone()
	mu.Unlock()
	d := Disagreement(mine, st)
	if d == "" {
		s.rep.Report(model.Report{Source: Name, DRBD: s.part(mine)})
	} else if pending == "" {
		s.log.Info("drbdsetup events2 and status differ; checking again", "difference", d)
	}
	return d
}

// Disagreement compares the states that matter (roles, disk states,
// connection and replication states) of an events2 picture with a
// status one, and describes the first difference ("" when they agree).
// Statistics are not compared: they move between the two reads.
func Disagreement(a, b *events.State) string {
	ka, kb := keyStates(a), keyStates(b)
	keys := make([]string, 0, len(ka)+len(kb))
	for k := range ka {
		keys = append(keys, k)
	}
	for k := range kb {
		if _, ok := ka[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if ka[k] != kb[k] {
			return fmt.Sprintf("%s: events2 %q, status %q", k, ka[k], kb[k])
		}
	}
	return ""
}

func keyStates(s *events.State) map[string]string {
	m := map[string]string{}
	for _, r := range s.Resources() {
		m[r.Name+" role"] = r.Role
		for _, v := range r.Volumes {
			m[fmt.Sprintf("%s/%d disk", r.Name, v.Volume)] = v.Disk
		}
		for _, c := range r.Connections {
			m[r.Name+" "+c.Name+" connection"] = c.State
			for _, p := range c.PeerDevices {
				m[fmt.Sprintf("%s/%d %s replication", r.Name, p.Volume, c.Name)] = p.Replication + " " + p.PeerDisk
			}
		}
	}
	return m
}

// part converts a State to the model's part, carrying split brains over
// restarts of drbdsetup: a split brain stays until its connection is
// Connected again.
func (s *Source) part(st *events.State) *model.DRBDPart {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Part(s.opts.Node, st)
	seen := map[string]bool{}
	for i := range p.Resources {
		r := &p.Resources[i]
		for j := range r.Connections {
			c := &r.Connections[j]
			key := r.Name + "\x00" + c.Peer
			seen[key] = true
			switch {
			case c.State == "Connected":
				delete(s.splitBrain, key)
			case c.SplitBrain:
				s.splitBrain[key] = c.SplitBrainTime
			}
			if t, ok := s.splitBrain[key]; ok {
				c.SplitBrain, c.SplitBrainTime = true, t
				r.SplitBrain = true
			}
		}
	}
	for k := range s.splitBrain {
		if !seen[k] {
			delete(s.splitBrain, k)
		}
	}
	return p
}

// Part converts what drbdsetup said (a State) to the model's part for
// node: one DRBDResource per resource, its volumes with their device
// (/dev/drbd<minor>), its connections with their peer volumes.
func Part(node string, st *events.State) *model.DRBDPart {
	p := &model.DRBDPart{Node: node, Resources: []model.DRBDResource{}}
	for _, r := range st.Resources() {
		mr := model.DRBDResource{Name: r.Name, Node: node, Role: r.Role, Quorum: true,
			Volumes: []model.DRBDVolume{}, Connections: []model.DRBDConnection{}}
		if r.Suspended != "no" {
			mr.Suspended = r.Suspended
		}
		if r.HasPromotion {
			mp, sc := r.MayPromote, r.PromotionScore
			mr.MayPromote, mr.PromotionScore = &mp, &sc
		}
		for _, v := range r.Volumes {
			mr.Volumes = append(mr.Volumes, model.DRBDVolume{Volume: v.Volume, Minor: v.Minor, Device: device(v.Minor),
				BackingDisk: v.BackingDev, Disk: v.Disk, Client: v.Client, Quorum: v.Quorum, SizeKiB: v.SizeKiB})
			if v.Quorum == "no" {
				mr.Quorum = false
			}
		}
		for _, c := range r.Connections {
			mc := model.DRBDConnection{Peer: c.Name, PeerNodeID: c.PeerNodeID, State: c.State, PeerRole: c.PeerRole,
				SplitBrain: c.SplitBrain, SplitBrainTime: c.SplitBrainTime, Volumes: []model.DRBDPeerVolume{}}
			if c.SplitBrain {
				mr.SplitBrain = true
			}
			for _, pa := range c.Paths {
				t := pa.Local + " -> " + pa.Peer
				if pa.Established {
					t += " (established)"
				}
				mc.Paths = append(mc.Paths, t)
			}
			for _, pd := range c.PeerDevices {
				pv := model.DRBDPeerVolume{Volume: pd.Volume, Replication: pd.Replication, PeerDisk: pd.PeerDisk, OutOfSyncKiB: pd.OutOfSyncKiB}
				if pd.Done >= 0 {
					d := pd.Done
					pv.SyncPercent = &d
				}
				if pd.ETA >= 0 {
					e := int64(pd.ETA)
					pv.SyncETA = &e
				}
				mc.Volumes = append(mc.Volumes, pv)
			}
			mr.Connections = append(mr.Connections, mc)
		}
		p.Resources = append(p.Resources, mr)
	}
	return p
}

func device(minor int) string {
	if minor < 0 {
		return ""
	}
	return "/dev/drbd" + strconv.Itoa(minor)
}
