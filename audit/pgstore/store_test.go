package pgstore_test

import (
	"context"
	"testing"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
	"mgmtd/audit/pgstore"
)

func TestConformance(t *testing.T) {
	dbs := map[string]testDB{}
	audittest.RunStore(t, func(t *testing.T, fresh bool) audit.Store {
		if fresh {
			dbs[t.Name()] = newTestDB(t, adminDSN)
		}
		return openWriter(t, dbs[t.Name()])
	})
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t, adminDSN)
	c := adminConn(t, db.admin)
	defer c.Close(ctx)
	for range 2 {
		if err := pgstore.Migrate(ctx, c, db.roles); err != nil {
			t.Fatal(err)
		}
	}
	v, err := pgstore.SchemaVersion(ctx, c)
	if err != nil || v != 3 {
		t.Fatalf("schema version = %d, %v; want 3", v, err)
	}
	var owner string
	if err := c.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE schemaname='audit' AND tablename='event'").Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != db.roles.Owner {
		t.Fatalf("audit.event owned by %q, want %q", owner, db.roles.Owner)
	}
}
