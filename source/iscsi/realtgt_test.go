package iscsi

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/tgttest"
	"mgmtd/model"
)

// TestRealTgtd runs the source against a real tgtd with a real initiator
// (libiscsi's iscsi-perf) logged in.
func TestRealTgtd(t *testing.T) {
	d := tgttest.Start(t)
	const (
		iqn       = "iqn.2026-12.org.example.test:real"
		initiator = "iqn.2026-12.org.example.client:realtest"
	)
	img := d.Target(t, 1, iqn)

	store := model.NewStore(model.StoreOptions{Cluster: "c"})
	opts := Options{Node: "node1", ControlPort: d.Control, Interval: 100 * time.Millisecond, Timeout: 5 * time.Second}
	start(t, opts, store)
	s := waitFor(t, store, "live target", func(s *model.Snapshot) bool { _, ok := live(s, iqn); return ok })
	tg, _ := s.Target(iqn)
	// 16 MiB: tgt prints 17 MB (its rounding of 16.8 10^6 bytes).
	if lt := tg.Live[0]; lt.State != "ready" || len(lt.Sessions) != 0 || len(lt.LUNs) != 1 || lt.LUNs[0].Path != img ||
		lt.LUNs[0].SizeMB != 17 || !lt.LUNs[0].Online || strings.Join(lt.ACL, ",") != "127.0.0.1" {
		t.Errorf("live target %+v", lt)
	}

	// An initiator logs in: the I_T nexus shows, with its address.
	ctx, cancel := context.WithCancel(context.Background())
	perf := exec.CommandContext(ctx, "iscsi-perf", "-i", initiator, "-m", "1", "-b", "1", "-t", "60",
		"iscsi://"+d.Portal+"/"+iqn+"/1")
	var perfOut bytes.Buffer
	perf.Stdout, perf.Stderr = &perfOut, &perfOut
	perf.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	perf.WaitDelay = 5 * time.Second
	if err := perf.Start(); err != nil {
		t.Fatalf("iscsi-perf: %v", err)
	}
	perfDone := make(chan struct{})
	go func() { perf.Wait(); close(perfDone) }()
	t.Cleanup(func() {
		cancel()
		<-perfDone
	})
	s = waitFor(t, store, "session", func(s *model.Snapshot) bool {
		return len(s.Logins(initiator)) > 0
	})
	lg := s.Logins(initiator)[0]
	if lg.Target != iqn || lg.Node != "node1" || strings.Join(lg.Session.Addresses, ",") != "127.0.0.1" {
		t.Errorf("login %+v", lg)
	}
	w := s.Where(initiator)
	if len(w.Matches) != 1 || w.Matches[0].Kind != model.KindInitiator || len(w.Storage) != 1 || w.Storage[0].Path != img {
		t.Errorf("where %s: %+v", initiator, w)
	}

	// It logs out: the session goes.
	cancel()
	select {
	case <-perfDone:
	case <-time.After(10 * time.Second):
		t.Fatal("iscsi-perf did not end 10 s after it was killed")
	}
	waitFor(t, store, "logout", func(s *model.Snapshot) bool {
		tg, ok := live(s, iqn)
		return ok && len(s.Logins(initiator)) == 0 && len(tg.Live[0].Sessions) == 0
	})

	// tgtd dies: the part is stale with tgtadm's reason, the last good
	// picture stays.
	d.Kill()
	s = waitFor(t, store, "stale source", func(s *model.Snapshot) bool { return state(s).State == model.SourceStale })
	if st := state(s); !strings.Contains(st.LastError, "tgtadm") {
		t.Errorf("state %+v", st)
	}
	if _, ok := live(s, iqn); !ok {
		t.Error("last good part lost")
	}
}
