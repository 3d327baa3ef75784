// Package pgstore keeps mgmtd's audit log in PostgreSQL. It is the only
// package of mgmtd that imports pgx; it imports nothing else of ours but
// package audit, whose [audit.Store] it implements.
//
// The schema comes from embedded, versioned migrations (migrations/*.sql,
// applied in order by [Migrate] and recorded in audit.schema_migrations).
// Three roles: an owner that cannot log in and owns every object, a writer
// (the daemon) with INSERT and SELECT only, and a reader with SELECT only.
// Triggers refuse UPDATE, DELETE and TRUNCATE to everyone, the owner
// included. audit.event is partitioned by month of the record's time;
// partitions are created on demand through an owner-privileged function.
// The one legitimate delete is [Purge]: it drops whole monthly partitions
// past retention, and only when a complete JSON Lines export covering them
// has its manifest recorded in the log.
//
// Every writer connection runs with synchronous_commit=on whatever the
// server default, so an append that returned nil survives a server crash.
// Append group-commits a batch in one transaction: a binary COPY of the
// records, then audit.append_check, which takes a per-instance advisory lock
// and refuses the batch unless it continues the stored chain. Appends go
// out on one dedicated connection (the lane), pipelined: a batch is sent
// while the one before is still committing, and the server runs them back
// to back. The lane speaks the simple query and COPY protocol itself on a
// connection pgx established, because pgx cannot send on a connection
// while it waits for an answer on it; everything else uses the pgx pool.
package pgstore
