// Package pacemaker is mgmtd's Pacemaker source: it runs crm_mon and
// cibadmin (live on a cluster node, or offline against a CIB file through
// CIB_file), parses their output with the pure parsers in crmmon and cib,
// and reports a complete model.PacemakerPart to the model's store. It also
// asks Pacemaker's scheduler (crm_simulate, on a private copy of the CIB)
// what would happen if a node went into standby or failed.
//
// Every tool runs through toolexec, with a context, a timeout and an
// output limit: a missing, hanging or garbage-printing tool makes the
// source stale with the error; it never crashes the daemon, and the last
// good picture stays served. It imports model, toolexec and its own parsers only.
package pacemaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mgmtd/model"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
	"mgmtd/source/pacemaker/unpack"
	"mgmtd/toolexec"
)

// Name is the source name in the model's source status.
const Name = "pacemaker"

// Options configures the source.
type Options struct {
	// CIBFile, when set, makes every tool work offline on that file.
	CIBFile string
	// Interval between full refreshes (crm_mon and cibadmin) when nothing
	// seems to change: the safety net behind the version check; 0 means
	// 5 minutes.
	Interval time.Duration
	// VersionInterval is how often the CIB's version (admin_epoch, epoch,
	// num_updates, from `cibadmin --query --xpath /cib --no-children`, or
	// the file's size and time with CIBFile) is checked; a full refresh
	// runs only when it changed. 0 means 5 s. Changes are seen faster
	// through Trigger (the alert agent, actions).
	VersionInterval time.Duration
	// Timeout for one tool run; 0 means 30 s.
	Timeout time.Duration
	// ToolDir, when set, is where crm_mon, cibadmin, crm_simulate and
	// crm_attribute are looked up instead of $PATH.
	ToolDir string
	// ReadConfigFiles lets the source read VirtualDomain config files to
	// learn the libvirt domain name.
	ReadConfigFiles bool
	// MaxOutput bounds what one tool may print; 0 means DefaultMaxOutput.
	MaxOutput int64
	// Observe, when set, is told about every tool run (metrics).
	Observe func(toolexec.Run)
	// WatchAgent, when set (and CIBFile is not), is the program the
	// watcher's `crm_mon -E` runs for every cluster operation: the mgmtd
	// binary, which then prints WatchAgent's line (IsWatchAgent). Changes
	// are then seen the moment Pacemaker records them, on every node, and
	// the version check slows to WatchedVersionInterval.
	WatchAgent string
	// Status chooses how the cluster status is computed: StatusNative
	// (the CIB from cibadmin, unpacked in Go), StatusCrmMon (crm_mon, as
	// before) or StatusBoth (native, cross-checked against crm_mon every
	// CrossCheckInterval and after every configuration change; crm_mon's
	// answer wins where they differ). "" means StatusBoth.
	Status string
	// CrossCheckInterval is how often StatusBoth also runs crm_mon; 0
	// means 10 minutes.
	CrossCheckInterval time.Duration
	// CrossCheckTimeout bounds the cross-check's crm_mon, which on a big
	// cluster takes far longer than the other tools (37 CPU-s at 1,000
	// nodes); 0 means 5 minutes (never less than Timeout).
	CrossCheckTimeout time.Duration
	// Disagreement, when set, is told about every cross-check that found
	// differences (metrics).
	Disagreement func(diffs []string)
	// PEngineDir is where the DC's scheduler saves its inputs; default
	// /var/lib/pacemaker/pengine.
	PEngineDir string
	// LogFile is Pacemaker's log, whose "Calculated transition" lines
	// link a transition to its input (its last 8 MiB are read); default
	// /var/log/pacemaker/pacemaker.log, "-" for none.
	LogFile string
}

// Status modes.
const (
	StatusNative = "native"
	StatusCrmMon = "crm_mon"
	StatusBoth   = "both"
)

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Minute
	}
	if o.VersionInterval <= 0 {
		o.VersionInterval = 5 * time.Second
	}
	o.VersionInterval = min(o.VersionInterval, o.Interval)
	if o.CrossCheckTimeout <= 0 {
		o.CrossCheckTimeout = 5 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = DefaultMaxOutput
	}
	if o.Status == "" {
		o.Status = StatusBoth
	}
	if o.CrossCheckInterval <= 0 {
		o.CrossCheckInterval = 10 * time.Minute
	}
	if o.PEngineDir == "" {
		o.PEngineDir = "/var/lib/pacemaker/pengine"
	}
	if o.LogFile == "" {
		o.LogFile = "/var/log/pacemaker/pacemaker.log"
	}
}

// DefaultMaxOutput bounds what crm_mon or cibadmin may print: 64 MiB,
// eight times the status of a 1,000-node, 10,000-resource cluster (8 MB
// of crm_mon XML, a 14 MB CIB). Before the bound was lowered from 256 MiB,
// a tool printing 300 MB took the daemon to 1.3 GB of memory.
const DefaultMaxOutput = 64 << 20

// Source refreshes the Pacemaker part of the model.
type Source struct {
	opts    Options
	rep     model.Reporter
	log     *slog.Logger
	trigger chan struct{}
	tools   toolexec.Runner
	simMu   sync.Mutex // crm_simulate runs one at a time: it is CPU-heavy
	// watching: the watcher's crm_mon runs and has printed.
	watching atomic.Bool

	checkMu   sync.Mutex
	check     model.SourceCheck
	checkedAt time.Time     // last cross-check
	checkConf string        // configuration version (admin_epoch.epoch) at the last cross-check
	checkCost time.Duration // how long crm_mon took at the last cross-check
	// unpackHook, in tests, changes the native answer before it is used.
	unpackHook func(*crmmon.Result)
	links      transitionLinks

	// loadMu serializes reads: they share the parse cache.
	loadMu sync.Mutex
	cache  unpack.Cache // the native path's parsed CIB, for status reads
	doc    *cib.CIB     // the configuration of the last full read
	ops    opsCache     // transition ops by node_state chunk
}

// New returns a source; call Run to start refreshing.
func New(opts Options, rep model.Reporter, log *slog.Logger) *Source {
	opts.defaults()
	log = log.With("source", Name)
	tools := toolexec.Runner{Dir: opts.ToolDir, Timeout: opts.Timeout, MaxOutput: opts.MaxOutput, Log: log, Observe: opts.Observe}
	if opts.CIBFile != "" {
		if abs, err := filepath.Abs(opts.CIBFile); err == nil {
			opts.CIBFile = abs
		}
		tools.Env = []string{"CIB_file=" + opts.CIBFile}
	}
	s := &Source{opts: opts, rep: rep, log: log, trigger: make(chan struct{}, 1), tools: tools}
	s.check.Mode = opts.Status
	return s
}

// Run refreshes until ctx is done: at once, whenever Trigger is called or
// the watcher hears a change, whenever the CIB's version changed (checked
// every VersionInterval, or WatchedVersionInterval while the watcher
// runs), and at least every Interval.
func (s *Source) Run(ctx context.Context) error {
	if s.opts.WatchAgent != "" && s.opts.CIBFile == "" {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.watch(ctx)
		}()
		defer func() {
			cancel()
			<-done
		}()
	}
	t := time.NewTicker(s.opts.VersionInterval)
	defer t.Stop()
	var last string // the version the last refresh saw
	var lastFull, lastCheck time.Time
	// refresh reads the cluster again: the whole CIB when full is set,
	// otherwise only what changed when that is possible (refreshFrom
	// decides). v and tag are the version just read, or "" to read it
	// first.
	refresh := func(v string, tag []byte, full bool) {
		if v == "" {
			v, tag, _ = s.version(ctx)
		}
		var err error
		if full {
			err = s.Refresh(ctx)
		} else {
			full, err = s.refreshFrom(ctx, tag)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("refresh failed", "err", err)
		}
		last, lastCheck = v, time.Now()
		if full {
			lastFull = lastCheck
		}
	}
	refresh("", nil, true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.trigger:
			refresh("", nil, false)
		case <-t.C:
			if time.Since(lastFull) >= s.opts.Interval {
				refresh("", nil, true)
				continue
			}
			if s.watching.Load() && time.Since(lastCheck) < WatchedVersionInterval {
				continue
			}
			lastCheck = time.Now()
			v, tag, err := s.version(ctx)
			if err != nil || v != last {
				// A failing check refreshes too: the refresh reports the
				// error, and the source goes stale.
				refresh(v, tag, false)
			}
		}
	}
}

var versionAttr = regexp.MustCompile(`\b(admin_epoch|epoch|num_updates)="([0-9]+)"`)

// Version returns the CIB's version, "admin_epoch.epoch.num_updates", with
// one cheap query (the cib element without children); on a CIB file, its
// size and modification time.
func (s *Source) Version(ctx context.Context) (string, error) {
	v, _, err := s.version(ctx)
	return v, err
}

// version is Version and, on a live cluster, the cib element it was read
// from (its attributes carry quorum and the DC with the version).
func (s *Source) version(ctx context.Context) (string, []byte, error) {
	if s.opts.CIBFile != "" {
		fi, err := os.Stat(s.opts.CIBFile)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("file:%d:%d", fi.Size(), fi.ModTime().UnixNano()), nil, nil
	}
	out, err := s.run(ctx, "cibadmin", "--query", "--xpath", "/cib", "--no-children")
	if err != nil {
		return "", nil, err
	}
	head, _, _ := strings.Cut(string(out), ">")
	v := map[string]string{}
	for _, m := range versionAttr.FindAllStringSubmatch(head, -1) {
		v[m[1]] = m[2]
	}
	if len(v) != 3 {
		return "", nil, fmt.Errorf("cibadmin: no CIB version in %.200q", head)
	}
	return v["admin_epoch"] + "." + v["epoch"] + "." + v["num_updates"], out, nil
}

// Trigger asks for a refresh now; it never blocks.
func (s *Source) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Refresh runs the tools once and reports the result (or the error) to the
// store.
func (s *Source) Refresh(ctx context.Context) error {
	part, err := s.Load(ctx)
	s.rep.Report(model.Report{Source: Name, Pacemaker: part, Err: err, Check: s.Check()})
	return err
}

// Check returns the counters of the native status path and its
// cross-check with crm_mon.
func (s *Source) Check() *model.SourceCheck {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	c := s.check
	c.LastDisagreement = append([]string(nil), c.LastDisagreement...)
	return &c
}

// Load reads the cluster status once (natively, with crm_mon, or both, as
// Options.Status says) and builds the Pacemaker part.
func (s *Source) Load(ctx context.Context) (*model.PacemakerPart, error) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.doc = nil
	var cibOut []byte
	var err error
	if s.opts.CIBFile != "" {
		cibOut, err = readLimited(s.opts.CIBFile, s.opts.MaxOutput)
	} else {
		cibOut, err = s.run(ctx, "cibadmin", "--query", "--local")
	}
	if err != nil {
		return nil, err
	}
	var mon *crmmon.Result
	var chunks []unpack.Chunk
	var res *crmmon.Result
	var uerr error
	if s.opts.Status != StatusCrmMon {
		res, uerr = s.cache.Full(cibOut, unpack.Options{})
		s.countRead(true, s.cache.Stats())
		chunks = s.cache.Chunks()
	}
	// The configuration parser needs only the configuration: most of a
	// big CIB's bytes are its status.
	confOut := cibOut
	if conf := s.cache.Configuration(); conf != nil {
		confOut = conf
	} else if conf, ok := unpack.Configuration(cibOut); ok {
		confOut = conf
	}
	doc, err := cib.Parse(confOut)
	if err != nil {
		return nil, err
	}
	if s.opts.Status != StatusCrmMon {
		mon, err = s.native(ctx, res, uerr, doc)
		if err != nil {
			return nil, err
		}
		if s.cache.Version() != "" {
			s.doc = doc
		}
	}
	if chunks == nil {
		chunks, _ = unpack.StatusChunks(cibOut)
	}
	s.noteOps(s.ops.of(cibOut, chunks, s.log))
	if mon == nil {
		if mon, err = s.crmMon(ctx); err != nil {
			return nil, err
		}
	}
	return Build(mon, doc, s.domainReader()), nil
}

func (s *Source) domainReader() DomainReader {
	if s.opts.ReadConfigFiles {
		return ReadDomainName
	}
	return nil
}

// errFullRead says a status read is not possible: read the whole CIB.
var errFullRead = errors.New("pacemaker: a full read is needed")

// refreshFrom refreshes from the status section alone when the
// configuration is the one already held (tag, the cib element just read,
// says so), and from the whole CIB otherwise; full says which it did.
func (s *Source) refreshFrom(ctx context.Context, tag []byte) (full bool, err error) {
	part, err := s.loadStatus(ctx, tag)
	if errors.Is(err, errFullRead) {
		return true, s.Refresh(ctx)
	}
	s.rep.Report(model.Report{Source: Name, Pacemaker: part, Err: err, Check: s.Check()})
	return false, err
}

// loadStatus reads only the CIB's status section (cibadmin --scope
// status) and applies it to the configuration of the last full read,
// re-parsing only the node_state elements whose bytes changed. It returns
// errFullRead when that is not possible or in any doubt: a CIB file, the
// crm_mon mode, no configuration held, the configuration version moved,
// or a status section that does not apply.
func (s *Source) loadStatus(ctx context.Context, tag []byte) (*model.PacemakerPart, error) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.opts.CIBFile != "" || s.opts.Status == StatusCrmMon || s.doc == nil || tag == nil {
		return nil, errFullRead
	}
	out, err := s.run(ctx, "cibadmin", "--query", "--local", "--scope", "status")
	if err != nil {
		return nil, err
	}
	res, err := s.cache.Status(tag, out, unpack.Options{})
	s.countRead(false, s.cache.Stats())
	if errors.Is(err, unpack.ErrConfigChanged) {
		return nil, errFullRead
	}
	if err != nil {
		s.log.Warn("status read did not apply; reading the whole CIB", "err", err)
		return nil, errFullRead
	}
	head, err := cib.Parse(tag)
	if err != nil {
		return nil, errFullRead
	}
	doc := *s.doc
	doc.NumUpdates, doc.HaveQuorum, doc.DCUUID, doc.CIBLastWritten = head.NumUpdates, head.HaveQuorum, head.DCUUID, head.CIBLastWritten
	mon, err := s.native(ctx, res, nil, &doc)
	if err != nil {
		return nil, err
	}
	s.noteOps(s.ops.of(out, s.cache.Chunks(), s.log))
	if mon == nil {
		if mon, err = s.crmMon(ctx); err != nil {
			return nil, err
		}
	}
	return Build(mon, &doc, s.domainReader()), nil
}

// countRead copies the parse cache's counters into the source's check.
func (s *Source) countRead(full bool, st unpack.CacheStats) {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	if full {
		s.check.FullReads++
	}
	s.check.StatusReads = int64(st.Incremental)
	s.check.NodeStatesParsed, s.check.NodeStatesReused = int64(st.Parsed), int64(st.Reused)
}

// native takes the native unpacking's answer (res, err) and, in
// StatusBoth, cross-checks it with crm_mon when it is due. It returns nil
// (and no error) when crm_mon must answer: the CIB uses what the unpacker
// does not model, or the cross-check found a disagreement.
func (s *Source) native(ctx context.Context, res *crmmon.Result, err error, doc *cib.CIB) (*crmmon.Result, error) {
	if errors.Is(err, unpack.ErrUnsupported) {
		s.checkMu.Lock()
		s.check.Fallbacks++
		first := s.check.LastFallback != err.Error()
		s.check.LastFallback = err.Error()
		s.checkMu.Unlock()
		if first {
			s.log.Info("native status unpacking declined this CIB; crm_mon answers", "reason", err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.opts.CIBFile == "" {
		// The fencing history is the fencer's, not the CIB's.
		fh, err := s.fenceHistory(ctx)
		if err != nil {
			s.log.Warn("fencing history: stonith_admin failed; crm_mon answers this refresh", "err", err)
			return nil, nil
		}
		res.FenceHistory = fh
	}
	if s.unpackHook != nil {
		s.unpackHook(res)
	}
	if s.opts.Status != StatusBoth {
		return res, nil
	}
	conf := doc.AdminEpoch + "." + doc.Epoch
	s.checkMu.Lock()
	// On a big cluster crm_mon costs seconds of CPU: the periodic check
	// then waits at least 200 times its last run, so it costs at
	// most 0.5% of a core; a configuration change is checked at once.
	every := max(s.opts.CrossCheckInterval, 200*s.checkCost)
	due := s.checkedAt.IsZero() || time.Since(s.checkedAt) >= every || conf != s.checkConf
	s.checkMu.Unlock()
	if !due {
		return res, nil
	}
	start := time.Now()
	mon, err := s.crossCheckMon(ctx)
	cost := time.Since(start)
	if err != nil {
		// The native answer stands. The check is retried when it is due
		// again, counting the failed run's cost: a crm_mon that fails
		// (or times out) must not run again at every refresh.
		s.log.Warn("cross-check: crm_mon failed; the native answer stands", "err", err, "next_in", max(s.opts.CrossCheckInterval, 200*cost).Round(time.Second))
		s.checkMu.Lock()
		s.checkedAt, s.checkConf, s.checkCost = time.Now(), conf, cost
		s.checkMu.Unlock()
		return res, nil
	}
	diffs := Compare(res, mon)
	now := time.Now()
	s.checkMu.Lock()
	s.checkedAt, s.checkConf, s.checkCost = now, conf, cost
	s.check.Checks++
	s.check.LastCheck = now
	if len(diffs) > 0 {
		s.check.Disagreements++
		s.check.LastDisagreement = append([]string(nil), diffs[:min(len(diffs), 20)]...)
		s.check.LastDisagreementTime = now
	}
	s.checkMu.Unlock()
	if len(diffs) == 0 {
		return res, nil
	}
	s.log.Warn("cross-check: native status unpacking disagrees with crm_mon; using crm_mon's answer",
		"cib_version", doc.AdminEpoch+"."+doc.Epoch+"."+doc.NumUpdates, "differences", len(diffs), "diff", strings.Join(diffs, "; "))
	if s.opts.Disagreement != nil {
		s.opts.Disagreement(diffs)
	}
	return mon, nil
}

// fenceHistory reads the fencer's history of every target, as crm_mon
// shows it, with stonith_admin (its XML has crm_mon's fence_history).
func (s *Source) fenceHistory(ctx context.Context) ([]crmmon.FenceEvent, error) {
	out, err := s.run(ctx, "stonith_admin", "--output-as=xml", "--history", "*")
	if err != nil {
		return nil, err
	}
	fh, err := crmmon.ParseFenceHistory(out)
	if err != nil {
		return nil, fmt.Errorf("stonith_admin: %w", err)
	}
	return fh, nil
}

func (s *Source) crmMon(ctx context.Context) (*crmmon.Result, error) {
	return s.crmMonWith(ctx, s.tools)
}

// crossCheckMon is crmMon with the cross-check's longer timeout.
func (s *Source) crossCheckMon(ctx context.Context) (*crmmon.Result, error) {
	r := s.tools
	r.Timeout = max(s.opts.CrossCheckTimeout, s.opts.Timeout)
	return s.crmMonWith(ctx, r)
}

func (s *Source) crmMonWith(ctx context.Context, r toolexec.Runner) (*crmmon.Result, error) {
	monOut, err := r.Run(ctx, nil, "crm_mon", "--output-as=xml", "--inactive", "--include=all")
	if code, _ := toolexec.ExitCode(err); code == 64 {
		// Pacemaker before 2.0.3 has no --include (64 = usage error).
		monOut, err = r.Run(ctx, nil, "crm_mon", "--output-as=xml", "--inactive")
	}
	if err != nil && len(monOut) == 0 {
		return nil, err
	}
	mon, perr := crmmon.Parse(monOut)
	if perr != nil {
		if err != nil {
			return nil, fmt.Errorf("%w (%v)", err, perr)
		}
		return nil, perr
	}
	return mon, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read cib: %w", err)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("read cib: %s has %d bytes, more than the limit of %d", path, fi.Size(), limit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cib: %w", err)
	}
	return b, nil
}

var domainName = regexp.MustCompile(`<name>\s*([^<\s]+)\s*</name>`)

// ReadDomainName returns the libvirt domain name in a VirtualDomain config
// file: the first <name> element, as the VirtualDomain agent itself reads
// it.
func ReadDomainName(path string) (string, error) {
	b, err := readLimited(path, 1<<20)
	if err != nil {
		return "", err
	}
	m := domainName.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s: no <name> element", path)
	}
	return string(m[1]), nil
}

// run is the one exec point: tool looked up in ToolDir or $PATH, CIB_file
// set when offline, a timeout, and a bounded output. It returns stdout
// even when the tool exits non-zero (crm_mon prints an XML error status).
func (s *Source) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	return s.tools.Run(ctx, nil, tool, args...)
}

func (s *Source) runEnv(ctx context.Context, env []string, tool string, args ...string) ([]byte, error) {
	return s.tools.Run(ctx, env, tool, args...)
}
