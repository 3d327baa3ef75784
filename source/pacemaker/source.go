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
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"mgmtd/model"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
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
	// 60 s.
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
	// PEngineDir is where the DC's scheduler saves its inputs; default
	// /var/lib/pacemaker/pengine.
	PEngineDir string
	// LogFile is Pacemaker's log, whose "Calculated transition" lines
	// link a transition to its input (its last 8 MiB are read); default
	// /var/log/pacemaker/pacemaker.log, "-" for none.
	LogFile string
}

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = 60 * time.Second
	}
	if o.VersionInterval <= 0 {
		o.VersionInterval = 5 * time.Second
	}
	o.VersionInterval = min(o.VersionInterval, o.Interval)
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = DefaultMaxOutput
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

// Reporter takes refresh results; *model.Store implements it.
type Reporter interface {
	Report(model.Report) *model.Snapshot
}

// Source refreshes the Pacemaker part of the model.
type Source struct {
	opts    Options
	rep     Reporter
	log     *slog.Logger
	trigger chan struct{}
	tools   toolexec.Runner
	simMu   sync.Mutex // crm_simulate runs one at a time: it is CPU-heavy
	links   transitionLinks
}

// New returns a source; call Run to start refreshing.
func New(opts Options, rep Reporter, log *slog.Logger) *Source {
	opts.defaults()
	log = log.With("source", Name)
	tools := toolexec.Runner{Dir: opts.ToolDir, Timeout: opts.Timeout, MaxOutput: opts.MaxOutput, Log: log, Observe: opts.Observe}
	if opts.CIBFile != "" {
		if abs, err := filepath.Abs(opts.CIBFile); err == nil {
			opts.CIBFile = abs
		}
		tools.Env = []string{"CIB_file=" + opts.CIBFile}
	}
	return &Source{opts: opts, rep: rep, log: log, trigger: make(chan struct{}, 1), tools: tools}
}

// Run refreshes until ctx is done: at once, whenever Trigger is called,
// whenever the CIB's version changed (checked every VersionInterval), and
// at least every Interval.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.VersionInterval)
	defer t.Stop()
	var last string // the version the last refresh saw
	var lastFull time.Time
	// refresh runs a full refresh; v is the version just read, or "" to
	// read it first.
	refresh := func(v string) {
		if v == "" {
			v, _ = s.Version(ctx)
		}
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("refresh failed", "err", err)
		}
		last, lastFull = v, time.Now()
	}
	refresh("")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.trigger:
			refresh("")
		case <-t.C:
			if time.Since(lastFull) >= s.opts.Interval {
				refresh("")
				continue
			}
			v, err := s.Version(ctx)
			if err != nil || v != last {
				// A failing check refreshes too: the refresh reports the
				// error, and the source goes stale.
				refresh(v)
			}
		}
	}
}

var versionAttr = regexp.MustCompile(`\b(admin_epoch|epoch|num_updates)="([0-9]+)"`)

// Version returns the CIB's version, "admin_epoch.epoch.num_updates", with
// one cheap query (the cib element without children); on a CIB file, its
// size and modification time.
func (s *Source) Version(ctx context.Context) (string, error) {
	if s.opts.CIBFile != "" {
		fi, err := os.Stat(s.opts.CIBFile)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("file:%d:%d", fi.Size(), fi.ModTime().UnixNano()), nil
	}
	out, err := s.run(ctx, "cibadmin", "--query", "--xpath", "/cib", "--no-children")
	if err != nil {
		return "", err
	}
	head, _, _ := strings.Cut(string(out), ">")
	v := map[string]string{}
	for _, m := range versionAttr.FindAllStringSubmatch(head, -1) {
		v[m[1]] = m[2]
	}
	if len(v) != 3 {
		return "", fmt.Errorf("cibadmin: no CIB version in %.200q", head)
	}
	return v["admin_epoch"] + "." + v["epoch"] + "." + v["num_updates"], nil
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
	s.rep.Report(model.Report{Source: Name, Pacemaker: part, Err: err})
	return err
}

// Load runs crm_mon and cibadmin once and builds the Pacemaker part.
func (s *Source) Load(ctx context.Context) (*model.PacemakerPart, error) {
	monOut, err := s.run(ctx, "crm_mon", "--output-as=xml", "--inactive", "--include=all")
	if code, _ := toolexec.ExitCode(err); code == 64 {
		// Pacemaker before 2.0.3 has no --include (64 = usage error).
		monOut, err = s.run(ctx, "crm_mon", "--output-as=xml", "--inactive")
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
	var cibOut []byte
	if s.opts.CIBFile != "" {
		cibOut, err = readLimited(s.opts.CIBFile, s.opts.MaxOutput)
	} else {
		cibOut, err = s.run(ctx, "cibadmin", "--query", "--local")
	}
	if err != nil {
		return nil, err
	}
	doc, err := cib.Parse(cibOut)
	if err != nil {
		return nil, err
	}
	s.noteOps(cibOut)
	var rd DomainReader
	if s.opts.ReadConfigFiles {
		rd = ReadDomainName
	}
	return Build(mon, doc, rd), nil
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
