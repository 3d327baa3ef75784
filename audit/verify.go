package audit

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// VerifyOptions configures verification.
type VerifyOptions struct {
	// Anchors are trusted anchors from outside the store (an anchor file
	// kept away from the database administrator). They are checked in
	// addition to the anchors the store holds.
	Anchors []Anchor
	// PublicKeys, when set, are the only keys anchors may be signed with.
	PublicKeys []ed25519.PublicKey
	// Heads are trusted heads from daemons' local head files
	// ([ReadHeadFile]: what each instance last acknowledged). Each must be
	// in its chain with its hash: a chain that ends before one lost its
	// tail, even after the last anchor.
	Heads []Head
	// Instance restricts verification to one instance's chain.
	Instance string
	// Partial accepts chains that do not start at the beginning and have
	// gaps (a filtered or time-limited export): each record's hash and
	// every link between consecutive sequence numbers is still checked.
	Partial bool
}

// ChainReport summarises one instance's verified chain.
type ChainReport struct {
	Instance string
	First    uint64 // first sequence number seen
	Head     uint64 // last sequence number seen
	HeadHash string // hex
	Records  int
	Anchors  int // anchors that matched a record of this chain
}

// VerifyReport is the result of a verification.
type VerifyReport struct {
	Chains []ChainReport
	// Problems lists every inconsistency found (at most maxProblems);
	// empty means the log verified.
	Problems []string
}

// OK reports whether verification found no problem.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

const maxProblems = 1000

type anchorRef struct {
	a       Anchor
	matched bool
	source  string
}

type chainState struct {
	rep      ChainReport
	lastHash [32]byte
}

type verifier struct {
	opts    VerifyOptions
	bases   map[string]Head
	chains  map[string]*chainState
	anchors map[string]map[uint64][]*anchorRef
	rep     VerifyReport
}

// newVerifier returns a verifier holding the trusted anchors and heads of
// opts.
func newVerifier(opts VerifyOptions) *verifier {
	v := &verifier{opts: opts, bases: map[string]Head{}, chains: map[string]*chainState{},
		anchors: map[string]map[uint64][]*anchorRef{}}
	for _, a := range opts.Anchors {
		v.addAnchor(a, "trusted")
	}
	for _, h := range opts.Heads {
		// A head file is trusted as it is: it is not signed.
		v.addRef(Anchor{Instance: h.Instance, Seq: h.Seq, Hash: h.Hash}, "local head file")
	}
	return v
}

func (v *verifier) problem(format string, args ...any) {
	if len(v.rep.Problems) < maxProblems {
		v.rep.Problems = append(v.rep.Problems, fmt.Sprintf(format, args...))
	}
}

func (v *verifier) addAnchor(a Anchor, source string) {
	if v.opts.Instance != "" && a.Instance != v.opts.Instance {
		return
	}
	if err := a.Check(v.opts.PublicKeys); err != nil {
		v.problem("%s: %v", source, err)
		return
	}
	v.addRef(a, source)
}

// addRef adds a checked anchor (or head) that the chain must contain.
func (v *verifier) addRef(a Anchor, source string) {
	if v.opts.Instance != "" && a.Instance != v.opts.Instance {
		return
	}
	m := v.anchors[a.Instance]
	if m == nil {
		m = map[uint64][]*anchorRef{}
		v.anchors[a.Instance] = m
	}
	m[a.Seq] = append(m[a.Seq], &anchorRef{a: a, source: source})
}

// add checks the next record; records of an instance must come in
// ascending sequence order.
func (v *verifier) add(r *Record) {
	if v.opts.Instance != "" && r.Instance != v.opts.Instance {
		return
	}
	id := r.Instance + "/" + fmt.Sprint(r.Seq)
	if got := r.ComputeHash(); got != r.Hash {
		v.problem("%s: content hash mismatch (record altered)", id)
	}
	st := v.chains[r.Instance]
	if st == nil {
		st = &chainState{rep: ChainReport{Instance: r.Instance, First: r.Seq}}
		v.chains[r.Instance] = st
		base := v.bases[r.Instance]
		if !v.opts.Partial {
			if r.Seq != base.Seq+1 {
				v.problem("%s: chain starts at %d, expected %d (records deleted at the start)", id, r.Seq, base.Seq+1)
			} else if r.PrevHash != base.Hash {
				v.problem("%s: prev_hash does not match the chain's base (chain broken)", id)
			}
		}
	} else {
		last := st.rep.Head
		switch {
		case r.Seq == last:
			v.problem("%s: duplicate sequence number", id)
		case r.Seq < last:
			v.problem("%s: out of order after %d", id, last)
		case r.Seq != last+1:
			if !v.opts.Partial {
				v.problem("%s: gap: expected seq %d, found %d (records deleted)", id, last+1, r.Seq)
			}
		case r.PrevHash != st.lastHash:
			v.problem("%s: prev_hash does not match the hash of record %d (chain broken)", id, last)
		}
	}
	for _, ref := range v.anchors[r.Instance][r.Seq] {
		ref.matched = true
		if ref.a.Hash != r.Hash {
			v.problem("%s: hash differs from the %s anchor signed %s (chain rewritten)", id, ref.source,
				ref.a.Time.Format(TimeLayout))
		} else {
			st.rep.Anchors++
		}
	}
	if r.Seq >= st.rep.Head {
		st.rep.Head, st.lastHash = r.Seq, r.Hash
	}
	st.rep.Records++
}

func (v *verifier) finish() *VerifyReport {
	for inst, m := range v.anchors {
		for seq, refs := range m {
			for _, ref := range refs {
				if ref.matched {
					continue
				}
				st := v.chains[inst]
				switch {
				case st == nil && !v.opts.Partial:
					v.problem("%s/%d: %s anchor for an instance without records (log deleted)", inst, seq, ref.source)
				case st == nil:
				case seq > st.rep.Head && !v.opts.Partial:
					v.problem("%s/%d: %s anchor beyond the chain head %d (tail deleted)", inst, seq, ref.source, st.rep.Head)
				case !v.opts.Partial && seq > v.bases[inst].Seq:
					v.problem("%s/%d: %s anchored record missing", inst, seq, ref.source)
				}
			}
		}
	}
	for _, st := range v.chains {
		st.rep.HeadHash = hex.EncodeToString(st.lastHash[:])
		v.rep.Chains = append(v.rep.Chains, st.rep)
	}
	slices.SortFunc(v.rep.Chains, func(a, b ChainReport) int { return cmp.Compare(a.Instance, b.Instance) })
	slices.Sort(v.rep.Problems)
	return &v.rep
}

func (v *verifier) result() (*VerifyReport, error) {
	rep := v.finish()
	if !rep.OK() {
		return rep, fmt.Errorf("%w: %d problems, first: %s", ErrTampered, len(rep.Problems), rep.Problems[0])
	}
	return rep, nil
}

// Verify recomputes every chain in src, checks sequence numbers, links and
// anchors (the store's and opts.Anchors), and returns a report. The error
// wraps ErrTampered when problems were found.
func Verify(ctx context.Context, src Store, opts VerifyOptions) (*VerifyReport, error) {
	v := newVerifier(opts)
	if b, ok := src.(Based); ok {
		bases, err := b.Bases(ctx)
		if err != nil {
			return nil, fmt.Errorf("verify: read bases: %w", err)
		}
		for _, h := range bases {
			v.bases[h.Instance] = h
		}
	}
	stored, err := src.Anchors(ctx, opts.Instance)
	if err != nil {
		return nil, fmt.Errorf("verify: read anchors: %w", err)
	}
	for _, a := range stored {
		v.addAnchor(a, "stored")
	}
	if err := src.Scan(ctx, opts.Instance, 0, func(r *Record) error { v.add(r); return nil }); err != nil {
		return nil, fmt.Errorf("verify: scan: %w", err)
	}
	return v.result()
}

// VerifyJSONL verifies a JSON Lines export (or journal) read from r. Lines
// may come in any order; they are checked in (instance, seq) order. A
// malformed line is reported as a problem, not a parse abort.
func VerifyJSONL(ctx context.Context, r io.Reader, opts VerifyOptions) (*VerifyReport, error) {
	v := newVerifier(opts)
	var recs []Record
	err := readLines(r, -1, func(line []byte, n int) error {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := ParseJSONL(line)
		if err != nil {
			v.problem("line %d: %v", n, err)
			return nil
		}
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	slices.SortStableFunc(recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Instance, b.Instance), cmp.Compare(a.Seq, b.Seq))
	})
	for i := range recs {
		v.add(&recs[i])
	}
	return v.result()
}

// VerifyJSONLFile verifies the JSON Lines file at path; see [VerifyJSONL].
func VerifyJSONLFile(ctx context.Context, path string, opts VerifyOptions) (*VerifyReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	return VerifyJSONL(ctx, f, opts)
}

// VerifyStateDir verifies the journal a daemon keeps in stateDir (when it
// runs without a database), with the anchors stored beside it, without
// modifying anything.
func VerifyStateDir(ctx context.Context, stateDir string, opts VerifyOptions) (*VerifyReport, error) {
	path := filepath.Join(stateDir, JournalFile)
	anchors, err := ReadAnchorFile(path + ".anchors")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v := newVerifier(opts)
	for _, a := range anchors {
		v.addAnchor(a, "stored")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	err = readLines(f, -1, func(line []byte, n int) error {
		rec, err := ParseJSONL(line)
		if err != nil {
			v.problem("line %d: %v", n, err)
			return nil
		}
		v.add(&rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return v.result()
}

// ReadPublicKeyFile reads a PEM Ed25519 public key (as the daemon leaves in
// StateDir/audit-anchor.pub).
func ReadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	return ParsePublicKey(b)
}
