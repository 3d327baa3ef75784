package mgmtd

import (
	"context"
	"log/slog"
	"time"

	"mgmtd/model"
	"mgmtd/toolexec"
)

// The health attribute: with mgmtd on every node, a Pacemaker-managed
// address can follow the nodes whose mgmtd is healthy, so that an NMS
// uses one address. mgmtd sets a transient node attribute (attrd, so it
// vanishes with the node) to 1 while it serves a fresh picture and 0
// when it does not, and deletes it when it stops; a location rule keeps
// the address off nodes where it is not 1 (README, "Every node").

// healthEvery is how often the health attribute is re-evaluated; it is
// also re-written at least every healthRefresh, in case attrd lost it.
const (
	healthEvery   = 5 * time.Second
	healthRefresh = 5 * time.Minute
)

// healthy says whether a snapshot shows every source fresh.
func healthy(s *model.Snapshot) bool {
	if s == nil || len(s.Sources) == 0 {
		return false
	}
	for _, st := range s.Sources {
		if st.State != model.SourceOK {
			return false
		}
	}
	return true
}

// runHealth keeps the attribute name in step with the daemon's health
// until ctx ends, then deletes it.
func (d *Daemon) runHealth(ctx context.Context, name string, tools toolexec.Runner, log *slog.Logger) error {
	set := func(ctx context.Context, args ...string) error {
		_, err := tools.Run(ctx, nil, "attrd_updater", append([]string{"--name", name}, args...)...)
		return err
	}
	last, lastSet := "", time.Time{}
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		v := "0"
		if healthy(d.Store.Snapshot()) {
			v = "1"
		}
		if v != last || time.Since(lastSet) >= healthRefresh {
			if err := set(ctx, "--update", v); err != nil {
				log.Warn("health attribute not set", "attribute", name, "value", v, "err", err)
			} else {
				if v != last {
					log.Info("health attribute set", "attribute", name, "value", v)
				}
				last, lastSet = v, time.Now()
			}
		}
		select {
		case <-ctx.Done():
			// The daemon stops: the address must leave this node now.
			stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := set(stop, "--delete"); err != nil {
				log.Warn("health attribute not deleted", "attribute", name, "err", err)
			}
			return nil
		case <-t.C:
		}
	}
}
