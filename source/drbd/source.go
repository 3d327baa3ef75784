// Package drbd is mgmtd's DRBD source: the DRBD resources of the node it
// runs on, their volumes, connections, peer devices and split brains.
//
// DRBD 9: it keeps one `drbdsetup events2 --full --timestamps --poll`
// running (toolexec.Runner.FollowInput: its own process group, killed with
// the daemon) and builds its picture from the initial dump that ends with
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
// DRBD 8.4 (Debian's own kernel ships it): drbd-utils' drbdsetup for an
// 8.4 kernel refuses --full, --poll and status --json ("unrecognized
// option", exit code 20). The source takes 8.4 when the version line of
// /proc/drbd (Options.ProcDRBD) says 8.x, or at once, without a backoff,
// when drbdsetup refuses DRBD 9's events2 options; it keeps 8.4 until the
// daemon restarts and logs the mode it uses ("DRBD mode"; Source.Mode).
// It then follows `drbdsetup events2 all --timestamps --statistics` (no
// standard input) the same way, and every RefreshInterval runs `drbdsetup
// events2 all --now --timestamps --statistics` once (with Timeout), which
// takes status --json's three places: it is the cross-check (a failure
// makes the part stale, a disagreement that lasts RecheckDelay restarts
// events2; CheckInterval is not used), it refreshes the statistics (8.4's
// events2 prints out-of-sync only with a state change: a dump that agrees
// with the stream and is not older than its last event gives its
// out-of-sync, sent, received and I/O counters to the picture,
// RefreshStatistics), and it is the degraded fallback while events2 is not
// running. What 8.4 does not give stays empty: no resync percentage or
// ETA (its events2 never prints done: or eta:), no may_promote or
// promotion score, no quorum state, no paths.
//
// Split brains are seen in events2's "call helper ... helper:split-brain"
// lines (no custom handler script); the source remembers them across
// restarts of drbdsetup until the connection is Connected again. On 8.4,
// which destroys a connection that goes StandAlone, a remembered split
// brain whose connection a new dump does not show is kept as a StandAlone
// connection while its resource exists (a StandAlone connection and none
// are no difference for the cross-check).
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
	"os"
	"sort"
	"strconv"
	"strings"
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
	// statistics (DRBD 9), or how often `drbdsetup events2 all --now`
	// refreshes them and checks the stream (DRBD 8.4); 0 means 10 s.
	RefreshInterval time.Duration
	// CheckInterval is how often `drbdsetup status --json` checks the
	// stream (DRBD 9 only); 0 means 60 s.
	CheckInterval time.Duration
	// ProcDRBD is the file whose "version:" line tells DRBD 8.4 from
	// DRBD 9; empty means /proc/drbd. Tests point it elsewhere. A file
	// that cannot be read leaves the decision to drbdsetup: DRBD 9's
	// options first, 8.4's once drbdsetup refuses them.
	ProcDRBD string
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

// Source keeps the DRBD part of the model.
type Source struct {
	opts  Options
	rep   model.Reporter
	log   *slog.Logger
	tools toolexec.Runner

	mu sync.Mutex
	// mode is the DRBD drbdsetup talks to: "" (not decided yet), Mode9
	// or Mode84 (for good once decided).
	mode string
	// splitBrain remembers split brains by resource and peer, across
	// restarts of drbdsetup, until the connection is Connected again.
	splitBrain map[string]splitBrain
}

// splitBrain is a remembered split brain.
type splitBrain struct {
	time       time.Time
	res, peer  string
	peerNodeID int
}

// The modes: which drbdsetup options the source uses (Source.Mode).
const (
	// Mode9 follows `drbdsetup events2 --full --timestamps --poll` and
	// checks it against `drbdsetup status --json`.
	Mode9 = "9"
	// Mode84 follows `drbdsetup events2 all --timestamps --statistics`
	// and refreshes and checks it with `drbdsetup events2 all --now`.
	Mode84 = "8.4"
)

// New returns a source; call Run to start it.
func New(opts Options, rep model.Reporter, log *slog.Logger) *Source {
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
	if opts.ProcDRBD == "" {
		opts.ProcDRBD = "/proc/drbd"
	}
	log = log.With("source", Name)
	return &Source{opts: opts, rep: rep, log: log, splitBrain: map[string]splitBrain{},
		tools: toolexec.Runner{Dir: opts.ToolDir, Timeout: opts.Timeout, MaxOutput: opts.MaxOutput, Log: log, Observe: opts.Observe}}
}

// Run keeps drbdsetup events2 running until ctx ends; it returns nil then.
// A failing drbdsetup never ends Run: the part is stale until it works.
func (s *Source) Run(ctx context.Context) error {
	backoff := s.opts.Backoff
	for {
		start := time.Now()
		m := s.detect()
		err := s.follow(ctx, m)
		if ctx.Err() != nil {
			return nil
		}
		if m == Mode9 && refused(err) {
			// drbd-utils' drbdsetup for a DRBD 8.4 kernel: at once, no
			// backoff, and for good.
			s.setMode(Mode84, "drbdsetup refused events2 --full --poll (exit 20, unrecognized option)")
			continue
		}
		if time.Since(start) > time.Minute {
			backoff = s.opts.Backoff
		}
		s.log.Warn("drbdsetup events2 stopped; restarting", "err", err, "restart_in", backoff, "drbd", m)
		s.rep.Report(model.Report{Source: Name, Err: err})
		// The fallback: one status (8.4: one events2 --now), shown as
		// degraded.
		if st, serr := s.reference(ctx, m); serr == nil {
			s.rep.Report(model.Report{Source: Name, DRBD: s.part(st),
				Degraded: "drbdsetup events2 is not running (" + err.Error() + "); the picture is from " + refName(m)})
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

// Mode returns the DRBD the source found: Mode9, Mode84, or "" before
// its first start of drbdsetup.
func (s *Source) Mode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// detect decides the mode for the next start of drbdsetup: 8.4 once
// decided; else 8.4 when ProcDRBD's version line says 8.x; else DRBD 9
// (the version line says 9, or there is none to read: drbdsetup's
// refusal of DRBD 9's options will tell).
func (s *Source) detect() string {
	s.mu.Lock()
	m := s.mode
	s.mu.Unlock()
	if m == Mode84 {
		return m
	}
	v, err := procVersion(s.opts.ProcDRBD)
	switch {
	case err == nil && strings.HasPrefix(v, "8."):
		s.setMode(Mode84, s.opts.ProcDRBD+" says version "+v)
		return Mode84
	case m == "" && err == nil:
		s.setMode(Mode9, s.opts.ProcDRBD+" says version "+v)
	case m == "":
		s.setMode(Mode9, "no DRBD version line ("+err.Error()+"): DRBD 9's options first")
	}
	return Mode9
}

// setMode logs the mode when it changes (so once per daemon, twice when
// drbdsetup refuses DRBD 9's options).
func (s *Source) setMode(m, why string) {
	s.mu.Lock()
	old := s.mode
	s.mode = m
	s.mu.Unlock()
	if old != m {
		s.log.Info("DRBD mode", "drbd", m, "why", why, "events2", strings.Join(events2Args(m), " "), "reference", refName(m))
	}
}

// procVersion reads the version from the first line of /proc/drbd
// ("version: 8.4.11 (api:1/proto:86-101)").
func procVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, 512)
	n, err := io.ReadFull(f, b)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", err
	}
	line, _, _ := strings.Cut(string(b[:n]), "\n")
	v, ok := strings.CutPrefix(line, "version:")
	fs := strings.Fields(v)
	if !ok || len(fs) == 0 {
		return "", fmt.Errorf("%s: no version line", path)
	}
	return fs[0], nil
}

// refused reports whether drbdsetup refused its options the way
// drbd-utils' drbdsetup for 8.4 does: exit code 20 and "unrecognized
// option" followed by its usage (about 1 KiB, so the error's standard
// error tail may have lost the first line and keep only the usage).
func refused(err error) bool {
	var te *toolexec.Error
	if !errors.As(err, &te) || te.ExitCode != 20 {
		return false
	}
	return strings.Contains(te.Stderr, "unrecognized option") || strings.Contains(te.Stderr, "USAGE: drbdsetup")
}

// events2Args are the arguments of the followed drbdsetup events2.
func events2Args(m string) []string {
	if m == Mode84 {
		return []string{"events2", "all", "--timestamps", "--statistics"}
	}
	return []string{"events2", "--full", "--timestamps", "--poll"}
}

// refName names the one-shot run beside events2.
func refName(m string) string {
	if m == Mode84 {
		return "drbdsetup events2 --now"
	}
	return "drbdsetup status --json"
}

// reference runs the one-shot picture once: `drbdsetup status --json`
// (DRBD 9) or `drbdsetup events2 all --now --timestamps --statistics`
// (8.4: its dump, ending in "exists -").
func (s *Source) reference(ctx context.Context, m string) (*events.State, error) {
	if m != Mode84 {
		return s.status(ctx)
	}
	out, err := s.tools.Run(ctx, nil, "drbdsetup", "events2", "all", "--now", "--timestamps", "--statistics")
	if err != nil {
		return nil, err
	}
	return ParseNow(out)
}

// ParseNow parses the output of `drbdsetup events2 --now` (with or
// without --timestamps and --statistics): a complete dump that ends in
// "exists -".
func ParseNow(out []byte) (*events.State, error) {
	var st events.Stream
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	if err := st.Write(out); err != nil {
		return nil, fmt.Errorf("drbdsetup events2 --now: %w", err)
	}
	if !st.State.Complete {
		return nil, errors.New(`drbdsetup events2 --now: no "exists -" at the end of its dump`)
	}
	return &st.State, nil
}

// status runs `drbdsetup status --json` once.
func (s *Source) status(ctx context.Context) (*events.State, error) {
	out, err := s.tools.Run(ctx, nil, "drbdsetup", "status", "--json")
	if err != nil {
		return nil, err
	}
	return events.ParseStatusJSON(out)
}

// errRestart ends a follow whose stream disagrees with the one-shot
// picture beside it.
var errRestart = errors.New("drbdsetup events2 disagrees with")

// follow runs one drbdsetup events2 until it fails or ctx ends, reporting
// its picture as it changes. It returns why it stopped. Beside it runs the
// one-shot reference: status --json every CheckInterval (DRBD 9), or
// events2 --now every RefreshInterval (8.4), whose statistics also
// refresh the picture's.
func (s *Source) follow(ctx context.Context, m string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		stream  events.Stream
		bad     error
		changed = make(chan struct{}, 1)
	)
	// DRBD 9: "n" on drbdsetup's standard input every RefreshInterval
	// makes it print fresh statistics. 8.4 reads no standard input.
	var input func(context.Context, io.Writer)
	every := s.opts.CheckInterval
	if m == Mode84 {
		every = s.opts.RefreshInterval
	} else {
		input = func(ctx context.Context, w io.Writer) {
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
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- s.tools.FollowInput(ctx, nil, input, func(b []byte) {
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
		}, "drbdsetup", events2Args(m)...)
	}()
	dump := time.NewTimer(s.opts.Timeout)
	defer dump.Stop()
	check := time.NewTicker(every)
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
			if len(done) > 0 {
				// drbdsetup ended: let the done case take it rather
				// than a reference run (which may hang for Timeout)
				// that select might pick again and again.
				continue
			}
			if complete && recheck == nil {
				pending = s.check(ctx, m, &mu, &stream, "")
				if pending != "" {
					recheck = time.After(s.opts.RecheckDelay)
				}
			}
		case <-recheck:
			// A disagreement may be an event still on its way: only one
			// that is still there a moment later restarts events2.
			recheck = nil
			if len(done) > 0 {
				continue
			}
			if d := s.check(ctx, m, &mu, &stream, pending); d != "" && d == pending {
				s.log.Warn("drbdsetup events2 disagrees with "+refName(m)+"; restarting it", "difference", d)
				why = fmt.Errorf("%w %s: %s", errRestart, refName(m), d)
				cancel()
			}
			pending = ""
		}
	}
}

// check runs the reference (status --json, 8.4: events2 --now) beside the
// stream and returns how they differ ("" when they agree, or the
// reference failed: then the part is stale with its error). When they
// agree, the stream's picture is reported again, which clears a stale
// mark an earlier failed check left; on 8.4 it first takes the
// reference's statistics (RefreshStatistics).
func (s *Source) check(ctx context.Context, m string, mu *sync.Mutex, stream *events.Stream, pending string) string {
	st, err := s.reference(ctx, m)
	if err != nil {
		if ctx.Err() == nil {
			s.rep.Report(model.Report{Source: Name, Err: fmt.Errorf("%s beside events2: %w", refName(m), err)})
		}
		return ""
	}
	mu.Lock()
	d := Disagreement(&stream.State, st)
	if d == "" && m == Mode84 {
		RefreshStatistics(&stream.State, st)
	}
	mine := stream.State.Clone()
	mu.Unlock()
	if d == "" {
		s.rep.Report(model.Report{Source: Name, DRBD: s.part(mine)})
	} else if pending == "" {
		s.log.Info("drbdsetup events2 and "+refName(m)+" differ; checking again", "difference", d)
	}
	return d
}

// RefreshStatistics copies the statistics of a one-shot dump (8.4's
// `events2 --now --statistics`) into the stream's picture: the size and
// I/O counters of every volume, the out-of-sync, received and sent of
// every peer device both know. DRBD 8.4's events2 prints statistics only
// with a state change and has no --poll to ask for them. A dump older
// than the stream's last event (both with --timestamps) is not copied:
// that event's statistics are newer.
func RefreshStatistics(dst, src *events.State) {
	if !src.Last.IsZero() && dst.Last.After(src.Last) {
		return
	}
	for _, r := range dst.Resources() {
		sr, ok := src.Resource(r.Name)
		if !ok {
			continue
		}
		for _, v := range r.Volumes {
			for _, sv := range sr.Volumes {
				if sv.Volume == v.Volume {
					v.SizeKiB, v.ReadKiB, v.WrittenKiB = sv.SizeKiB, sv.ReadKiB, sv.WrittenKiB
				}
			}
		}
		for _, c := range r.Connections {
			for _, sc := range sr.Connections {
				if sc.PeerNodeID != c.PeerNodeID {
					continue
				}
				for _, p := range c.PeerDevices {
					for _, sp := range sc.PeerDevices {
						if sp.Volume == p.Volume {
							p.OutOfSyncKiB, p.ReceivedKiB, p.SentKiB = sp.OutOfSyncKiB, sp.ReceivedKiB, sp.SentKiB
						}
					}
				}
			}
		}
	}
}

// Disagreement compares the states that matter (roles, disk states,
// connection and replication states) of an events2 picture with a
// status (or 8.4 events2 --now) one, and describes the first difference
// ("" when they agree). Statistics are not compared: they move between the
// two reads. A StandAlone connection counts as none (8.4 destroys it).
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
			if c.State == "StandAlone" {
				// DRBD 8.4 destroys a StandAlone connection, which the
				// stream keeps while it has a split brain: StandAlone
				// and absent are the same.
				continue
			}
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
// Connected again. On DRBD 8.4, whose drbdsetup destroys a connection
// when it goes StandAlone (where a split brain leaves it), a remembered
// split brain whose connection a new dump no longer shows stays as a
// StandAlone connection for as long as its resource exists.
func (s *Source) part(st *events.State) *model.DRBDPart {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Part(s.opts.Node, st)
	seen := map[string]bool{}
	res := map[string]bool{}
	for i := range p.Resources {
		r := &p.Resources[i]
		res[r.Name] = true
		for j := range r.Connections {
			c := &r.Connections[j]
			key := r.Name + "\x00" + c.Peer
			seen[key] = true
			switch {
			case c.State == "Connected":
				delete(s.splitBrain, key)
			case c.SplitBrain:
				s.splitBrain[key] = splitBrain{time: c.SplitBrainTime, res: r.Name, peer: c.Peer, peerNodeID: c.PeerNodeID}
			}
			if sb, ok := s.splitBrain[key]; ok {
				c.SplitBrain, c.SplitBrainTime = true, sb.time
				r.SplitBrain = true
			}
		}
	}
	for k, sb := range s.splitBrain {
		if seen[k] {
			continue
		}
		if s.mode != Mode84 || !res[sb.res] {
			delete(s.splitBrain, k)
			continue
		}
		for i := range p.Resources {
			r := &p.Resources[i]
			if r.Name != sb.res {
				continue
			}
			r.SplitBrain = true
			r.Connections = append(r.Connections, model.DRBDConnection{Peer: sb.peer, PeerNodeID: sb.peerNodeID, State: "StandAlone",
				PeerRole: "Unknown", SplitBrain: true, SplitBrainTime: sb.time, Volumes: []model.DRBDPeerVolume{}})
			sort.SliceStable(r.Connections, func(a, b int) bool { return r.Connections[a].PeerNodeID < r.Connections[b].PeerNodeID })
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
