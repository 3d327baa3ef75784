// Package audit is mgmtd's SOX-style audit log: the record, its canonical
// encoding and hash chain, the group-committing writer, signed anchors,
// verification and export.
//
// Every mutating action, authentication outcome, authorization denial and
// access to the audit log itself is recorded through a [Recorder] (a [*Log]
// in production). Record answers only after the record is durable: committed
// in the [Store] (PostgreSQL via package audit/pgstore, or the local
// [Journal] when no database is configured), or fsync'd to the bounded local
// spool while the database is unreachable. When the record cannot be made
// durable Record returns an error wrapping [ErrUnavailable] and the caller
// must refuse the action (HTTP 503): the log fails closed.
//
// Each instance of mgmtd writes its own chain: records carry a gap-free
// sequence number per instance and
//
//	hash = SHA-256(prev_hash || canonical(record))
//
// where canonical is the length-prefixed encoding of [Record.Canonical] and
// the first record's prev_hash is 32 zero bytes. Periodically and at
// shutdown the writer signs an [Anchor] (instance, sequence, head hash,
// time) with Ed25519 and writes it to the store and to an anchor file that
// the database administrator cannot rewrite. [Verify] recomputes the chain
// and checks it against trusted anchors: an edited, deleted or reordered
// record breaks the chain; a deleted tail or a rewrite with recomputed hashes
// is caught by an anchor.
//
// Package audit sits at the bottom of the dependency graph: it imports only
// the standard library. Package audit/pgstore is the only package that
// imports pgx.
package audit
