package pgstore

import (
	"context"
	"io"
	"log/slog"

	"mgmtd/audit"
)

// VerifyDSN verifies the audit log in the database at dsn (any role that
// may SELECT, typically the reader; nothing is migrated or written): what
// `mgmtd audit verify --dsn` runs. Pass the anchor file's anchors in
// opts.Anchors.
func VerifyDSN(ctx context.Context, dsn string, opts audit.VerifyOptions, log *slog.Logger) (*audit.VerifyReport, error) {
	s, err := Open(ctx, Options{DSN: dsn}, log)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return audit.Verify(ctx, s, opts)
}

// ExportDSN writes the records matching f from the database at dsn to w,
// read-only: what `mgmtd audit export --dsn` runs. It records nothing (the
// reader role cannot); the audited path is [audit.Log.Export].
func ExportDSN(ctx context.Context, dsn string, f audit.Filter, format audit.Format, w io.Writer, log *slog.Logger) (audit.Manifest, error) {
	s, err := Open(ctx, Options{DSN: dsn}, log)
	if err != nil {
		return audit.Manifest{}, err
	}
	defer s.Close()
	return audit.WriteExport(ctx, s, f, format, w)
}

// OpenLog opens the audit log as the daemon wiring needs it: with an empty
// db.DSN the local journal in opts.StateDir is the system of record;
// otherwise the PostgreSQL store at db.DSN (migrated first when db.Migrate)
// is opts.Primary and the journal the bounded spool. The database need not
// be reachable yet.
func OpenLog(ctx context.Context, db Options, opts audit.Options, log *slog.Logger) (*audit.Log, error) {
	if db.DSN != "" {
		s, err := Open(ctx, db, log)
		if err != nil {
			return nil, err
		}
		opts.Primary = s
	}
	l, err := audit.Open(ctx, opts, log)
	if err != nil && opts.Primary != nil {
		opts.Primary.Close()
	}
	return l, err
}
