// Package iscsi is mgmtd's iSCSI source: the targets the node's target
// daemon exports, as the daemon itself says - which initiators are logged
// in (and from where), which logical units it exports with which backing
// store, in which state. Pacemaker's configuration says what should run
// (model's ISCSITarget from iSCSITarget and iSCSILogicalUnit primitives);
// this source says what does, and the model merges the two by IQN.
//
// Only tgt (tgtd, the userspace target) is read: every Interval the
// source runs `tgtadm --lld iscsi --mode target --op show` (with
// -C ControlPort when set) through toolexec.Runner (its own process
// group, killed after Timeout, output bounded by MaxOutput) and parses it
// with package tgtadm. LIO (targetcli, configfs) needs kernel modules and
// is not read. A tgtadm that fails (tgtd not running: "can't send the
// request to the tgt daemon"), hangs or prints something that is not a
// target list makes the part stale with the error; the last good part is
// kept (model.Store's rule for a failed refresh).
package iscsi

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"mgmtd/model"
	"mgmtd/source/iscsi/tgtadm"
	"mgmtd/toolexec"
)

// Name is the source name in the model's source status.
const Name = "iscsi"

// Options configures the source.
type Options struct {
	// Node is the name of the node the source runs on (the cluster node
	// name); required.
	Node string
	// ToolDir is where tgtadm is; empty means $PATH.
	ToolDir string
	// ControlPort is tgtd's control port (tgtd -C, tgtadm -C); 0 means
	// tgtd's default (no -C passed).
	ControlPort int
	// Interval is how often tgtadm runs; 0 means 10 s.
	Interval time.Duration
	// Timeout bounds one tgtadm run; 0 means 10 s.
	Timeout time.Duration
	// MaxOutput bounds tgtadm's output; 0 means tgtadm.MaxOutput.
	MaxOutput int64
	// Observe, when set, is told about every tool run (metrics).
	Observe func(toolexec.Run)
}

// Source polls tgtd.
type Source struct {
	opts  Options
	rep   model.Reporter
	log   *slog.Logger
	tools toolexec.Runner
}

// New returns a source; call Run to start it.
func New(opts Options, rep model.Reporter, log *slog.Logger) *Source {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxOutput <= 0 || opts.MaxOutput > tgtadm.MaxOutput {
		opts.MaxOutput = tgtadm.MaxOutput
	}
	log = log.With("source", Name)
	return &Source{opts: opts, rep: rep, log: log,
		tools: toolexec.Runner{Dir: opts.ToolDir, Timeout: opts.Timeout, MaxOutput: opts.MaxOutput, Log: log, Observe: opts.Observe}}
}

// Run polls every Interval until ctx ends; it returns nil then. A failing
// tgtadm never ends Run: the part is stale until it works again.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh runs tgtadm once and reports the part, or the error (unless ctx
// ended).
func (s *Source) Refresh(ctx context.Context) (*model.ISCSIPart, error) {
	p, err := s.read(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		s.log.Warn("tgtadm failed", "err", err)
		s.rep.Report(model.Report{Source: Name, Err: err})
		return nil, err
	}
	s.rep.Report(model.Report{Source: Name, ISCSI: p})
	return p, nil
}

// Args are tgtadm's arguments for the target list.
func (s *Source) Args() []string {
	var a []string
	if s.opts.ControlPort != 0 {
		a = append(a, "-C", strconv.Itoa(s.opts.ControlPort))
	}
	return append(a, "--lld", "iscsi", "--mode", "target", "--op", "show")
}

func (s *Source) read(ctx context.Context) (*model.ISCSIPart, error) {
	out, err := s.tools.Run(ctx, nil, "tgtadm", s.Args()...)
	if err != nil {
		return nil, err
	}
	ts, err := tgtadm.Parse(out)
	if err != nil {
		return nil, fmt.Errorf("tgtadm printed something that is not a target list: %w", err)
	}
	return Part(s.opts.Node, ts), nil
}

// Part converts tgtd's targets to the model's part for node. Targets of
// another driver than iscsi/iser are left out (tgtadm --lld iscsi lists
// only iSCSI's anyway), and so is LUN 0, the controller tgt gives every
// target.
func Part(node string, ts []tgtadm.Target) *model.ISCSIPart {
	p := &model.ISCSIPart{Node: node, Implementation: "tgt", Targets: []model.ISCSILiveTarget{}}
	for _, t := range ts {
		lt := model.ISCSILiveTarget{IQN: t.Name, Node: node, Implementation: "tgt", TID: t.TID, State: t.State,
			Sessions: []model.ISCSISession{}, LUNs: []model.ISCSILiveLUN{}, ACL: append([]string{}, t.ACL...), Accounts: []string{}}
		for _, n := range t.Nexuses {
			se := model.ISCSISession{Initiator: n.Initiator, Alias: n.Alias, Addresses: []string{}}
			for _, c := range n.Connections {
				if c.Address != "" {
					se.Addresses = append(se.Addresses, c.Address)
				}
			}
			lt.Sessions = append(lt.Sessions, se)
		}
		for _, l := range t.LUNs {
			if l.Type == "controller" && l.BackingPath == "" {
				continue
			}
			lt.LUNs = append(lt.LUNs, model.ISCSILiveLUN{LUN: int(l.LUN), Type: l.Type, Path: l.BackingPath, BackingType: l.BackingType,
				SizeMB: l.SizeMB, Online: l.Online, Readonly: l.Readonly})
		}
		for _, a := range t.Accounts {
			u := a.User
			if a.Outgoing {
				u += " (outgoing)"
			}
			lt.Accounts = append(lt.Accounts, u)
		}
		p.Targets = append(p.Targets, lt)
	}
	return p
}
