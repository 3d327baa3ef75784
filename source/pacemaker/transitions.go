package pacemaker

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"mgmtd/model"
	"mgmtd/source/pacemaker/transition"
	"mgmtd/source/pacemaker/unpack"
)

// transitionLinks is what Link reads: for each resource on each node, the
// transition of its newest recorded operation, computed by the refresh
// (which may read files) so that Link, called under the event log's lock,
// only looks up a map.
type transitionLinks struct {
	mu    sync.RWMutex
	refs  map[string]*model.TransitionRef // resource \x00 node
	byLog map[int]string                  // transition -> input, from the log
	logAt time.Time                       // the log's mtime when read
}

// timeLinkWindow is how long before an operation's result its input may
// have been saved for the time rule to link them.
const timeLinkWindow = 5 * time.Minute

// maxInputs bounds how many scheduler inputs are listed (Pacemaker keeps
// pe-input-series-max, default 4,000, of each kind).
const maxInputs = 20_000

// noteOps records the transitions of the CIB's operations. A failure to
// read them only loses the links.
func (s *Source) noteOps(ops []transition.Op) {
	newest := map[string]transition.Op{}
	for _, op := range ops {
		if op.Transition < 0 || op.Resource == "" || op.Node == "" {
			continue
		}
		k := op.Resource + "\x00" + op.Node
		if o, ok := newest[k]; !ok || op.LastChange > o.LastChange || (op.LastChange == o.LastChange && op.Call > o.Call) {
			newest[k] = op
		}
	}
	// The log is read again only for a transition it did not name yet.
	s.links.mu.RLock()
	byLog := s.links.byLog
	s.links.mu.RUnlock()
	for _, op := range newest {
		if _, ok := byLog[op.Transition]; !ok {
			byLog = s.readLog()
			break
		}
	}
	var inputs []model.TransitionInput // listed when the log does not tell
	refs := make(map[string]*model.TransitionRef, len(newest))
	for k, op := range newest {
		ref := &model.TransitionRef{Number: op.Transition, Key: op.Key}
		if in, ok := byLog[op.Transition]; ok {
			ref.Input, ref.InputBy = in, "log"
		} else if op.LastChange > 0 {
			if inputs == nil {
				inputs, _ = s.listInputs(byLog)
			}
			// The newest input saved at or before the operation's result
			// (the scheduler saves it before the controller runs it), and
			// not long before: an older one is from a time this node was
			// DC, while the input of this transition is on another node.
			at := time.Unix(op.LastChange+1, 0)
			for _, in := range inputs { // newest first
				if !in.Time.After(at) {
					if at.Sub(in.Time) <= timeLinkWindow {
						ref.Input, ref.InputBy = in.Name, "time"
					}
					break
				}
			}
		}
		refs[k] = ref
	}
	s.links.mu.Lock()
	s.links.refs = refs
	s.links.mu.Unlock()
}

// Link adds to a resource event the transition that produced it: that of
// the newest operation of the resource on the event's node. It is
// model.EventLogOptions.Annotate.
func (s *Source) Link(e *model.Event) {
	if e.Object.Kind != model.KindResource || e.Node == "" || e.Transition != nil {
		return
	}
	s.links.mu.RLock()
	defer s.links.mu.RUnlock()
	for _, id := range []string{e.Object.Name, model.PrimitiveOf(e.Object.Name)} {
		if r, ok := s.links.refs[id+"\x00"+e.Node]; ok {
			c := *r
			e.Transition = &c
			return
		}
	}
}

// readLog returns the transition -> input map of the log's tail, read
// again only when the log changed.
func (s *Source) readLog() map[int]string {
	if s.opts.LogFile == "-" {
		return nil
	}
	f, err := os.Open(s.opts.LogFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	s.links.mu.RLock()
	same := fi.ModTime().Equal(s.links.logAt) && s.links.byLog != nil
	cached := s.links.byLog
	s.links.mu.RUnlock()
	if same {
		return cached
	}
	const tail = 8 << 20
	if fi.Size() > tail {
		if _, err := f.Seek(fi.Size()-tail, io.SeekStart); err != nil {
			return nil
		}
	}
	m, err := transition.ParseLog(io.LimitReader(f, tail))
	if err != nil {
		s.log.Debug("transition links: log", "err", err)
	}
	s.links.mu.Lock()
	s.links.byLog, s.links.logAt = m, fi.ModTime()
	s.links.mu.Unlock()
	return m
}

// Transitions lists the scheduler inputs the DC saved, newest first, with
// the transition number where the log tells it.
func (s *Source) Transitions(ctx context.Context) ([]model.TransitionInput, error) {
	return s.listInputs(s.readLog())
}

func (s *Source) listInputs(byLog map[int]string) ([]model.TransitionInput, error) {
	ents, err := os.ReadDir(s.opts.PEngineDir)
	if err != nil {
		return nil, fmt.Errorf("scheduler inputs: %w", err)
	}
	num := map[string]int{}
	for n, in := range byLog {
		num[in] = n
	}
	out := []model.TransitionInput{}
	for _, e := range ents {
		in, ok := transition.ParseInputName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		t := model.TransitionInput{Name: in.Name, Kind: in.Kind, Series: in.Series, Time: fi.ModTime().UTC(), Size: fi.Size(), Transition: -1}
		if n, ok := num[in.Name]; ok {
			t.Transition = n
		}
		out = append(out, t)
		if len(out) == maxInputs {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].Series > out[j].Series
	})
	return out, nil
}

// Explain answers "explain transition": it copies the scheduler input
// name (pe-input-N.bz2, pe-warn-N.bz2, pe-error-N.bz2 in PEngineDir),
// decompressed, to a private file and runs crm_simulate --simulate on that
// copy (with --show-scores when scores is set): the actions Pacemaker took
// from that input. It never touches the live cluster or the saved input.
// A name that is not an input wraps fs.ErrInvalid; a missing input
// fs.ErrNotExist.
func (s *Source) Explain(ctx context.Context, name string, scores bool) (*model.Explanation, error) {
	in, ok := transition.ParseInputName(name)
	if !ok {
		return nil, fmt.Errorf("%q is not a scheduler input name (pe-input-N.bz2): %w", name, fs.ErrInvalid)
	}
	path := filepath.Join(s.opts.PEngineDir, in.Name)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("scheduler input %s: %w", in.Name, err)
	}
	if fi.Size() > s.opts.MaxOutput {
		return nil, fmt.Errorf("scheduler input %s: %d bytes, more than %d", in.Name, fi.Size(), s.opts.MaxOutput)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scheduler input %s: %w", in.Name, err)
	}
	xml, err := transition.Decode(in.Name, raw, s.opts.MaxOutput)
	if err != nil {
		return nil, errors.Join(err, fs.ErrInvalid)
	}
	ex := &model.Explanation{Input: model.TransitionInput{Name: in.Name, Kind: in.Kind, Series: in.Series, Time: fi.ModTime().UTC(),
		Size: fi.Size(), Transition: -1}, Actions: []model.SimAction{}}
	for n, v := range s.readLog() {
		if v == in.Name {
			ex.Input.Transition = n
		}
	}
	s.simMu.Lock()
	defer s.simMu.Unlock()
	dir, err := os.MkdirTemp("", "mgmtd-explain-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "cib.xml")
	if err := os.WriteFile(file, xml, 0o600); err != nil {
		return nil, err
	}
	args := []string{"--xml-file", file, "--simulate", "--output-as=xml"}
	if scores {
		args = append(args, "--show-scores")
	}
	out, err := s.onCopy(ctx, file, "crm_simulate", args...)
	if err != nil && len(out) == 0 {
		return nil, err
	}
	acts, perr := ParseSimulation(out)
	if perr != nil {
		return nil, errors.Join(err, perr)
	}
	ex.Actions = acts
	if scores {
		sc, err := transition.Scores(out)
		if err != nil {
			return nil, err
		}
		for _, x := range sc {
			ex.Scores = append(ex.Scores, model.Score{Resource: x.Resource, Node: x.Node, Score: x.Score, Function: x.Function})
		}
	}
	return ex, nil
}

// opsCache keeps the operations of each node_state chunk, so that a
// refresh reads the operations only of the node states whose bytes
// changed.
type opsCache map[[sha256.Size]byte][]transition.Op

// of returns the operations of a CIB or status section: chunk by chunk
// (kept in the cache for the next call) when it was split into chunks,
// otherwise from the whole of data.
func (c *opsCache) of(data []byte, chunks []unpack.Chunk, log *slog.Logger) []transition.Op {
	if chunks == nil {
		*c = nil
		ops, err := transition.Ops(data)
		if err != nil {
			log.Debug("transition links: cib status", "err", err)
		}
		return ops
	}
	next := make(opsCache, len(chunks))
	var out []transition.Op
	for _, ch := range chunks {
		ops, ok := (*c)[ch.Key]
		if !ok {
			var err error
			if ops, err = transition.Ops(ch.Raw); err != nil {
				log.Debug("transition links: node_state", "err", err)
			}
		}
		next[ch.Key] = ops
		out = append(out, ops...)
	}
	*c = next
	return out
}
