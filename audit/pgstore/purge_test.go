package pgstore_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
	"mgmtd/audit/pgstore"
)

func TestPurgeOnlyAfterRecordedExport(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t, adminDSN)
	st := openWriter(t, db)
	jan := audittest.Chain(audit.Head{Instance: "node1"}, 10, time.Date(2018, 1, 10, 0, 0, 0, 0, time.UTC))
	feb := audittest.Chain(audittest.HeadOf(jan), 10, time.Date(2018, 2, 10, 0, 0, 0, 0, time.UTC))
	for _, c := range [][]audit.Record{jan, feb} {
		if err := st.Append(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	su := adminConn(t, db.admin)
	defer su.Close(ctx)
	opts := pgstore.PurgeOptions{Roles: db.roles, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}

	res, err := pgstore.Purge(ctx, su, opts)
	if err != nil || len(res.Partitions) != 0 || !strings.Contains(res.Kept, "no recorded complete JSON Lines export") {
		t.Fatalf("purge without export: %+v %v", res, err)
	}

	l, err := audit.Open(ctx, audit.Options{Instance: "node1", StateDir: t.TempDir(), Primary: st, AnchorInterval: -1}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	by := audit.Event{Actor: "auditor", AuthMethod: "oidc", Channel: audit.ChannelCLI}
	// A CSV export does not count; a JSON Lines export of January does.
	if _, err := l.Export(ctx, audit.Filter{Until: time.Date(2018, 2, 1, 0, 0, 0, 0, time.UTC)}, audit.FormatCSV, io.Discard, by); err != nil {
		t.Fatal(err)
	}
	if res, _ := pgstore.Purge(ctx, su, opts); len(res.Partitions) != 0 {
		t.Fatalf("purged after a CSV export only: %+v", res)
	}
	m, err := l.Export(ctx, audit.Filter{Until: time.Date(2018, 2, 1, 0, 0, 0, 0, time.UTC)}, audit.FormatJSONL, io.Discard, by)
	if err != nil || m.Records != 10 {
		t.Fatalf("export: %+v %v", m, err)
	}
	res, err = pgstore.Purge(ctx, su, opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Partitions, ",") != "event_201801" || len(res.Bases) != 1 || res.Bases[0].Seq != 10 {
		t.Fatalf("purge: %+v", res)
	}
	if !strings.Contains(res.Kept, "event_201802") {
		t.Fatalf("February kept for the wrong reason: %q", res.Kept)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st = openWriter(t, db)
	defer st.Close()
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{})
	if err != nil || rep.Chains[0].First != 11 {
		t.Fatalf("verify after purge: %v %+v", err, rep)
	}
}
