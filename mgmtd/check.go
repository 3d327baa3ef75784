package mgmtd

import (
	"context"
	"sync"
	"time"

	"mgmtd/check"
	"mgmtd/metrics"
	"mgmtd/rest"
	"mgmtd/source/pacemaker"
	"mgmtd/toolexec"
)

// checkReuse is how long a check's report answers again for the same
// generation of the model: the check runs cibadmin, crm_verify and
// corosync-cmapctl, so a page or an NMS polling it does not run them on
// every request.
const checkReuse = 30 * time.Second

// configChecker runs package check for the REST route: one run at a
// time, the report reused while the model's generation is unchanged and
// it is younger than checkReuse.
type configChecker struct {
	d  *Daemon
	mu sync.Mutex
	// last is the last report, of generation gen, made at at.
	last *check.Report
	gen  uint64
	at   time.Time
}

// Check implements rest.Checker.
func (c *configChecker) Check(ctx context.Context) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sn := c.d.Store.Snapshot()
	if c.last != nil && c.gen == sn.Generation && time.Since(c.at) < checkReuse {
		return c.last, nil
	}
	cfg := c.d.cfg
	o := check.Options{CIBFile: cfg.Pacemaker.CIBFile, Corosync: cfg.Corosync.Enabled != nil && *cfg.Corosync.Enabled}
	if st, ok := sn.Source(pacemaker.Name); ok && !st.LastSuccess.IsZero() && cfg.Pacemaker.CIBFile == "" {
		// crm_mon's fencing history of a live cluster (a CIB file has
		// none): has a fencing action ever succeeded?
		ok := false
		for _, f := range sn.Fencing {
			ok = ok || f.Status == "success"
		}
		o.FencingSucceeded = &ok
	}
	in, err := check.Gather(ctx, toolexec.Runner{Dir: cfg.Pacemaker.ToolDir, Timeout: time.Minute, MaxOutput: 16 << 20,
		Log: c.d.log.With("component", "check")}, o)
	if err != nil {
		return nil, err
	}
	r := check.Run(in, time.Now())
	c.last, c.gen, c.at = &r, sn.Generation, time.Now()
	return &r, nil
}

// stats reduces the newest report for the metrics; nil before one ran.
func (c *configChecker) stats() *metrics.CheckStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return nil
	}
	st := &metrics.CheckStats{Time: c.last.Time, Findings: map[metrics.CheckKey]int{}}
	for _, f := range c.last.Findings {
		st.Findings[metrics.CheckKey{Check: f.Check, Severity: string(f.Severity)}]++
	}
	return st
}

var _ rest.Checker = (*configChecker)(nil)
