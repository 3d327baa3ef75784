package pacemaker

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/unpack"
)

// The random differential test: starting from the fixture CIBs and a
// generated one, crm_simulate is driven through seeded random sequences
// of injected operation results (--op-inject, --op-fail), node failures
// and returns (--node-fail, --node-down, --node-up), standby changes
// (crm_attribute), quorum loss, with or without running the transition
// (--simulate or --run, always --save-output); after every step the saved
// CIB is unpacked natively and by crm_mon and the answers compared.
//
// Each step's CIB is also followed incrementally (incrementalCheck): the
// status section applied to the cached configuration must unpack exactly
// as the whole document does.
//
// MGMTD_DIFF_CASES sets the number of compared CIBs (default 2000, a few
// minutes on two cores), MGMTD_DIFF_SEED the seed (default 1). Case c's
// steps depend only on the seed and c, so a run is the same whatever the
// number of workers (one per CPU). A disagreement prints the seed, the
// case, the steps and both answers, and keeps the CIB in the temporary
// directory for replay.
func TestNativeMatchesCrmMonSimulated(t *testing.T) {
	requireTool(t, "crm_mon")
	requireTool(t, "crm_simulate")
	requireTool(t, "crm_attribute")
	requireTool(t, "cibadmin")
	cases := int64(envInt("MGMTD_DIFF_CASES", 2000))
	seed := int64(envInt("MGMTD_DIFF_SEED", 1))
	dir := t.TempDir()

	var pool []string
	for _, f := range fixtureCIBs(t) {
		if strings.Contains(f, "bundle") || strings.Contains(f, "live") {
			continue // bundles are declined; the live CIB's feature set is newer than crm_simulate accepts
		}
		pool = append(pool, f)
	}
	gen := filepath.Join(dir, "gen.xml")
	if out, err := exec.Command("go", "run", "../../tools/gencib", "-nodes", "6", "-resources", "40", "-o", gen).CombinedOutput(); err != nil {
		t.Fatalf("gencib: %v\n%s", err, out)
	}
	pool = append(pool, gen)

	var compared, declined, simFailed, next atomic.Int64
	var inc incrementalCounts
	runCase := func(c int64) {
		rng := rand.New(rand.NewSource(seed<<24 + c))
		base := pool[rng.Intn(len(pool))]
		cur := filepath.Join(dir, fmt.Sprintf("case%d-0.xml", c))
		copyFile(t, base, cur)
		check := newIncrementalCheck(t, cur, &inc)
		var steps []string
		for s := 1; s <= 1+rng.Intn(4) && compared.Load() < cases; s++ {
			next := filepath.Join(dir, fmt.Sprintf("case%d-%d.xml", c, s))
			desc, ok := simStep(t, rng, cur, next)
			if !ok {
				simFailed.Add(1)
				continue
			}
			steps = append(steps, desc)
			cur = next
			diffs, dec := diffCase(t, cur)
			if dec != nil {
				declined.Add(1)
				continue
			}
			compared.Add(1)
			if d := check.step(cur); d != "" {
				t.Errorf("seed %d case %d (base %s), steps:\n  %s\nincremental: %s", seed, c, base, strings.Join(steps, "\n  "), d)
			}
			if len(diffs) > 0 {
				keep := filepath.Join(os.TempDir(), fmt.Sprintf("mgmtd-diff-seed%d-case%d.xml", seed, c))
				copyFile(t, cur, keep)
				t.Errorf("seed %d case %d (base %s, CIB kept as %s), steps:\n  %s\ndisagreements:\n  %s",
					seed, c, base, keep, strings.Join(steps, "\n  "), strings.Join(diffs, "\n  "))
			}
		}
	}
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for compared.Load() < cases && !t.Failed() {
				c := next.Add(1) - 1
				if c > cases*20 {
					t.Errorf("only %d of %d cases could be compared", compared.Load(), cases)
					return
				}
				runCase(c)
			}
		}()
	}
	wg.Wait()
	t.Logf("seed %d: %d CIBs compared with crm_mon, %d declined, %d simulator runs failed; incremental reads: %d status, %d full, all equal to a whole read",
		seed, compared.Load(), declined.Load(), simFailed.Load(), inc.status.Load(), inc.full.Load())
}

// incrementalCounts counts what the incremental checks did, for the log.
type incrementalCounts struct{ status, full atomic.Int64 }

// incrementalCheck follows one case's CIBs as the daemon follows a live
// cluster: a full read first, then, for each next CIB, a status read
// (the cib element and the status section as Pacemaker's cibadmin prints
// them) applied to the cache, or a full read when the configuration
// moved; every answer must equal Unpack of the whole document.
type incrementalCheck struct {
	t      *testing.T
	cache  unpack.Cache
	counts *incrementalCounts
}

var incOpts = unpack.Options{Now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), Location: time.UTC}

func newIncrementalCheck(t *testing.T, first string, counts *incrementalCounts) *incrementalCheck {
	c := &incrementalCheck{t: t, counts: counts}
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	c.cache.Full(data, incOpts) // a declined CIB leaves the cache empty: the next step reads in full
	return c
}

// step returns what differed, or "".
func (c *incrementalCheck) step(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		c.t.Fatal(err)
	}
	want, err := unpack.Unpack(data, incOpts)
	if err != nil {
		c.cache.Reset()
		return ""
	}
	cibadmin := func(args ...string) []byte {
		cmd := exec.Command("cibadmin", args...)
		cmd.Env = append(os.Environ(), "CIB_file="+file)
		out, err := cmd.Output()
		if err != nil {
			c.t.Fatalf("cibadmin %v on %s: %v", args, file, err)
		}
		return out
	}
	tag := cibadmin("--query", "--xpath", "/cib", "--no-children")
	status := cibadmin("--query", "--local", "--scope", "status")
	got, err := c.cache.Status(tag, status, incOpts)
	if errors.Is(err, unpack.ErrConfigChanged) {
		c.counts.full.Add(1)
		got, err = c.cache.Full(data, incOpts)
	} else {
		c.counts.status.Add(1)
	}
	if err != nil {
		return "error " + err.Error()
	}
	if !reflect.DeepEqual(got, want) {
		return strings.Join(Compare(got, want), "; ") + " (or a difference Compare does not show)"
	}
	return ""
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// simStep runs one random crm_simulate step from in to out and describes
// it; false when the simulator failed (its known crashes, see
// testdata/README.md), which leaves nothing to compare.
func simStep(t testing.TB, rng *rand.Rand, in, out string) (string, bool) {
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cib.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", in, err)
	}
	var nodes, rscs []string
	for _, n := range doc.Configuration.Nodes {
		if n.Type == "" || n.Type == "member" {
			nodes = append(nodes, n.Uname)
		}
	}
	res := doc.Configuration.Resources
	for _, p := range res.Primitives {
		rscs = append(rscs, p.ID)
	}
	for _, g := range res.Groups {
		for _, p := range g.Primitives {
			rscs = append(rscs, p.ID)
		}
	}
	for _, c := range append(res.Clones, res.Masters...) {
		ps := []cib.Primitive{}
		if c.Primitive != nil {
			ps = append(ps, *c.Primitive)
		}
		if c.Group != nil {
			ps = append(ps, c.Group.Primitives...)
		}
		unique := cib.Values(c.Meta)["globally-unique"] == "true"
		for _, p := range ps {
			if unique {
				rscs = append(rscs, p.ID+":"+strconv.Itoa(rng.Intn(3)))
			} else {
				rscs = append(rscs, p.ID)
			}
		}
	}
	if len(nodes) == 0 || len(rscs) == 0 {
		return "", false
	}
	node := func() string { return nodes[rng.Intn(len(nodes))] }
	var desc []string
	if rng.Intn(7) == 0 {
		v := "on"
		if rng.Intn(2) == 0 {
			v = "off"
		}
		n := node()
		cmd := exec.Command("crm_attribute", "--node", n, "--name", "standby", "--update", v)
		cmd.Env = append(os.Environ(), "CIB_file="+in)
		if err := cmd.Run(); err != nil {
			return "", false
		}
		desc = append(desc, "standby "+n+"="+v)
	}
	args := []string{"--xml-file", in, "--save-output", out, "--quiet"}
	if rng.Intn(4) == 0 {
		args = append(args, "--run")
	} else {
		args = append(args, "--simulate")
	}
	switch rng.Intn(8) {
	case 0:
		args = append(args, "--node-fail", node())
	case 1:
		args = append(args, "--node-down", node())
	case 2, 3:
		args = append(args, "--node-up", node())
	}
	tasks := []string{"start_0", "stop_0", "monitor_0", "monitor_10000", "monitor_10000", "promote_0", "demote_0", "migrate_to_0", "migrate_from_0"}
	rcs := []int{0, 1, 1, 7, 7, 8, 2, 5, 6, 3, 4, 9}
	for range rng.Intn(3) {
		args = append(args, "--op-inject", fmt.Sprintf("%s_%s@%s=%d", rscs[rng.Intn(len(rscs))], tasks[rng.Intn(len(tasks))], node(), rcs[rng.Intn(len(rcs))]))
	}
	if rng.Intn(4) == 0 {
		args = append(args, "--op-fail", fmt.Sprintf("%s_%s@%s=%d", rscs[rng.Intn(len(rscs))], tasks[rng.Intn(3)], node(), rcs[1+rng.Intn(len(rcs)-1)]))
	}
	if rng.Intn(20) == 0 {
		args = append(args, "--quorum", strconv.Itoa(rng.Intn(2)))
	}
	cmd := exec.Command("crm_simulate", args...)
	if outb, err := cmd.CombinedOutput(); err != nil {
		if _, serr := os.Stat(out); serr != nil {
			_ = outb
			return "", false
		}
	}
	if _, err := os.Stat(out); err != nil {
		return "", false
	}
	desc = append(desc, "crm_simulate "+strings.Join(args[4:], " "))
	return strings.Join(desc, "; "), true
}
