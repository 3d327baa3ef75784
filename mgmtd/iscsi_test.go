package mgmtd

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/internal/testutil"
	"mgmtd/internal/tgttest"
	"mgmtd/model"
	"mgmtd/rest"
)

// TestISCSISourceRealTgtd (issue 16): with iscsi.enabled, a daemon on the
// drbd fixture's CIB (the target iqn.2026-11.com.example:storage.r0 that
// Pacemaker's iSCSITarget exports on node1) polls a real tgtd exporting
// the same IQN, with a real initiator (libiscsi's iscsi-perf) logged in:
// the REST API shows tgtd's own view of the target beside Pacemaker's,
// and where answers the initiator's IQN with the target it is logged
// into and the storage chain below it.
func TestISCSISourceRealTgtd(t *testing.T) {
	const (
		iqn       = "iqn.2026-11.com.example:storage.r0"
		initiator = "iqn.2026-12.org.example.client:db1"
	)
	d := tgttest.Start(t)
	img := d.Target(t, 1, iqn)
	d.Login(t, initiator, iqn, 1)

	cfg, _ := cibConfig(t, "drbd")
	cfg.View = "node1"
	cfg.ISCSI = ISCSIConfig{Enabled: true, ControlPort: d.Control, Interval: 200 * time.Millisecond}
	dm, _ := runDaemon(t, cfg, slog.New(slog.DiscardHandler), Options{Passwords: []auth.PasswordChecker{cibUsers(t)}})
	hdr := map[string]string{"Authorization": "Basic " + basic("view", "view-secret-pw")}

	var td rest.TargetDetail
	testutil.Eventually(t, 30*time.Second, func() bool {
		code, _, body := call(t, "GET", dm.URL+"/api/v1/iscsi/targets/"+iqn, hdr, "")
		var env struct{ Data rest.TargetDetail }
		if code != 200 || json.Unmarshal(body, &env) != nil {
			return false
		}
		td = env.Data
		return td.Resource != "" && len(td.Live) == 1 && len(td.Live[0].Sessions) == 1
	}, "tgtd's session never showed on the target: %+v", td.Live)
	lt := td.Live[0]
	if td.Resource == "" || td.Node != "node1" || lt.Node != "node1" || lt.Implementation != "tgt" || lt.State != "ready" ||
		lt.Sessions[0].Initiator != initiator || strings.Join(lt.Sessions[0].Addresses, ",") != "127.0.0.1" ||
		len(lt.LUNs) != 1 || lt.LUNs[0].Path != img {
		t.Fatalf("target: Pacemaker's %s on %s, tgtd's %+v", td.Resource, td.Node, lt)
	}
	var where struct{ Data model.WhereAnswer }
	code, _, body := call(t, "GET", dm.URL+"/api/v1/where?q="+url.QueryEscape(initiator), hdr, "")
	if code != 200 || json.Unmarshal(body, &where) != nil {
		t.Fatalf("where %s: %d %s", initiator, code, body)
	}
	if w := where.Data; len(w.Matches) != 1 || w.Matches[0].Kind != model.KindInitiator || !strings.Contains(w.Matches[0].Note, iqn) ||
		len(w.Storage) == 0 || w.Storage[0].Target != iqn {
		t.Fatalf("where %s: %+v", initiator, w)
	}
	if st, ok := dm.Store.Snapshot().Source("iscsi"); !ok || st.State != model.SourceOK {
		t.Fatalf("iscsi source %+v", st)
	}
	// tgtd dies: the iSCSI part is stale, Pacemaker's target stays.
	d.Kill()
	testutil.Eventually(t, 30*time.Second, func() bool {
		st, _ := dm.Store.Snapshot().Source("iscsi")
		return st.State == model.SourceStale && strings.Contains(st.LastError, "tgtadm")
	}, "the iscsi source never went stale after tgtd died")
	if _, ok := dm.Store.Snapshot().Target(iqn); !ok {
		t.Fatal("the target went with tgtd's view")
	}
}
