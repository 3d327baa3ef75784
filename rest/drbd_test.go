package rest_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mgmtd/internal/testutil"
	"mgmtd/model"
	"mgmtd/rest"
	"mgmtd/source/drbd"
	"mgmtd/source/drbd/events"
	"mgmtd/source/pacemaker"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
)

// storageServer serves the drbd-fenced fixture (captured with Pacemaker's
// tools) with node1's DRBD view in the middle of a resync (events2 lines
// written from drbdsetup(8) and drbd-utils' code: no DRBD runs here).
func storageServer(t *testing.T) *httptest.Server {
	t.Helper()
	read := func(p ...string) []byte {
		b, err := os.ReadFile(filepath.Join(append([]string{".."}, p...)...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mon, err := crmmon.Parse(read("source", "pacemaker", "testdata", "drbd-fenced", "crm_mon.xml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cib.Parse(read("source", "pacemaker", "testdata", "drbd-fenced", "cib.xml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(read("source", "drbd", "events", "testdata", "events2-failover.txt")), "\n")
	var st events.Stream
	if err := st.Write([]byte(strings.Join(lines[:17], ""))); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore(model.StoreOptions{View: "node1", Cluster: "storage"})
	store.ReportAll(model.Report{Source: "pacemaker", Pacemaker: pacemaker.Build(mon, doc, nil)},
		model.Report{Source: "drbd", DRBD: drbd.Part("node1", &st.State)})
	ts := httptest.NewServer(rest.New(rest.Options{Store: store, Events: store.Events()}))
	t.Cleanup(ts.Close)
	return ts
}

func TestStorageRoutes(t *testing.T) {
	ts := storageServer(t)
	get := func(path string, want int, into any) {
		t.Helper()
		resp, b := httpGet(t, ts.URL+path)
		if resp != want {
			t.Fatalf("%s: %d %s", path, resp, b)
		}
		if into == nil {
			return
		}
		var e struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(e.Data, into); err != nil {
			t.Fatalf("%s: %v: %s", path, err, e.Data)
		}
	}
	var list []model.DRBDResource
	get("/api/v1/drbd", 200, &list)
	if len(list) != 1 || list[0].Name != "r0" || list[0].Node != "node1" || list[0].Clone != "ms_drbd_r0" ||
		len(list[0].Fencing) != 1 || list[0].Connections[0].Volumes[0].SyncPercent == nil || *list[0].Connections[0].Volumes[0].SyncPercent != 45.2 {
		t.Fatalf("drbd list %+v", list)
	}
	get("/api/v1/drbd?split_brain=true", 200, &list)
	if len(list) != 0 {
		t.Fatalf("split brains %+v", list)
	}
	get("/api/v1/drbd?split_brain=maybe", 400, nil)
	var d rest.DRBDDetail
	get("/api/v1/drbd/r0", 200, &d)
	if len(d.Views) != 1 || len(d.Storage) != 2 || d.Storage[0].InSync || d.Storage[0].Primary != "node1" ||
		!strings.Contains(d.Storage[0].Sync, "45.2% done") {
		t.Fatalf("drbd r0 %+v", d)
	}
	get("/api/v1/drbd/nosuch", 404, nil)
	var ts2 []model.ISCSITarget
	get("/api/v1/iscsi/targets", 200, &ts2)
	if len(ts2) != 1 || ts2[0].IQN != "iqn.2026-11.com.example:storage.r0" || len(ts2[0].LUNs) != 2 {
		t.Fatalf("targets %+v", ts2)
	}
	var td rest.TargetDetail
	get("/api/v1/iscsi/targets/iqn.2026-11.com.example:storage.r0", 200, &td)
	if td.Address != "192.0.2.50" || len(td.Storage) != 2 || td.Storage[0].DRBD != "r0" || td.Storage[0].Chain[0].Kind != model.KindTarget {
		t.Fatalf("target %+v", td)
	}
	get("/api/v1/iscsi/targets/iqn.nosuch", 404, nil)
	var w model.WhereAnswer
	get("/api/v1/where?q=iqn.2026-11.com.example:storage.r0/1", 200, &w)
	if len(w.Storage) != 1 || *w.Storage[0].LUN != 1 {
		t.Fatalf("where LUN %+v", w)
	}
	var im model.ImpactAnswer
	get("/api/v1/impact?node=node1&simulate=false", 200, &im)
	if im.StandbySafe || len(im.Unsafe) != 1 || len(im.Replication) != 1 {
		t.Fatalf("impact %+v", im)
	}
	// The OpenAPI document describes the new routes and their schemas.
	_, b := httpGet(t, ts.URL+"/api/v1/openapi.json")
	for _, s := range []string{`"/api/v1/drbd/{name}"`, `"/api/v1/iscsi/targets/{iqn}"`, `"DRBDDetail"`, `"TargetDetail"`, `"standby_safe"`, `"StorageChain"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("openapi lacks %s", s)
		}
	}
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, b := testutil.HTTP(t, nil, "GET", url, "")
	return resp.StatusCode, b
}
