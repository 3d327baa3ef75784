package pgstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"mgmtd/audit"
)

// A lane is the one connection appends are pipelined on. Each batch is one
// simple-protocol Query - COPY of the batch, then audit.append_check -
// followed at once by its COPY data: one implicit transaction, committed
// (synchronous_commit=on) when the query ends. The lane writes a batch as
// soon as it is handed one, without waiting for the batches before it, and
// the server runs them in order, back to back: no round trip to this
// process and no second backend between two commits. A reader goroutine
// matches the server's answers to the batches in order.
//
// pgx cannot send on a connection while it waits for an answer on it, so
// the lane takes over (hijacks) a connection pgx established and speaks
// the simple query and COPY protocol itself, with pgproto3 decoding the
// answers.
type lane struct {
	conn net.Conn
	fe   *pgproto3.Frontend // used by the reader goroutine only

	wmu     sync.Mutex // orders writes; never held while waiting for mu's holders
	mu      sync.Mutex // guards pending and err
	pending []*laneReq // sent (or being sent), not yet answered; in order
	err     error      // set once the lane is broken
	done    chan struct{}
}

// laneReq is one batch on a lane.
type laneReq struct {
	n    int        // records in the batch
	done chan error // buffered; receives the outcome once
	err  error      // the first error the server reported for it
	rows int64      // rows the COPY reported
	tags int        // command completions seen
}

// errLaneBroken reports a lane whose connection failed or was closed: the
// outcome of what was in flight is unknown.
var errLaneBroken = errors.New("audit database connection lost")

// dialLane connects with cfg, assumes role (if any) and takes the
// connection over.
func dialLane(ctx context.Context, cfg *pgconn.Config, role string) (*lane, error) {
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if role != "" {
		if _, err := pc.Exec(ctx, "SET ROLE "+pgx.Identifier{role}.Sanitize()).ReadAll(); err != nil {
			pc.Close(ctx)
			return nil, fmt.Errorf("set role: %w", err)
		}
	}
	// The startup parameters ask for synchronous_commit=on; a lane that
	// could acknowledge a batch a crash would lose is refused.
	res, err := pc.Exec(ctx, "SHOW synchronous_commit").ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "on" {
		pc.Close(ctx)
		return nil, fmt.Errorf("append connection: synchronous_commit is not on (%v)", err)
	}
	if err := pc.SyncConn(ctx); err != nil {
		pc.Close(ctx)
		return nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(ctx)
		return nil, fmt.Errorf("take over connection: %w", err)
	}
	l := &lane{conn: hc.Conn, fe: pgproto3.NewFrontend(hc.Conn, nil), done: make(chan struct{})}
	go l.read()
	return l, nil
}

// quoteLiteral quotes s as an escape string constant, whatever
// standard_conforming_strings says. s holds no NUL (audit.validText).
func quoteLiteral(s string) string {
	return "E'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// broken reports whether the lane can no longer be used.
func (l *lane) broken() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err != nil
}

// send writes msg, the encoded batch of n records, and returns the request
// that will receive its outcome. Batches are answered in the order they
// were sent. The reader is never kept waiting by a write: a server that
// stops reading because its answers are not read would otherwise deadlock
// with us.
func (l *lane) send(msg []byte, n int) (*laneReq, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return nil, l.err
	}
	r := &laneReq{n: n, done: make(chan error, 1)}
	l.pending = append(l.pending, r)
	l.mu.Unlock()
	// A write that blocks (the server stopped reading) is bounded: a lane
	// that cannot take a batch in this time is broken.
	l.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := l.conn.Write(msg); err != nil {
		l.mu.Lock()
		l.failLocked(fmt.Errorf("%w: send: %v", errLaneBroken, err))
		err := l.err
		l.mu.Unlock()
		return nil, err
	}
	return r, nil
}

// close breaks the lane: whatever is in flight fails with errLaneBroken.
func (l *lane) close() {
	l.mu.Lock()
	if l.err == nil {
		if l.wmu.TryLock() { // not in the middle of a batch
			l.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			l.conn.Write([]byte{'X', 0, 0, 0, 4}) // Terminate; best effort
			l.wmu.Unlock()
		}
		l.failLocked(fmt.Errorf("%w: closed", errLaneBroken))
	}
	l.mu.Unlock()
	<-l.done
}

func (l *lane) failLocked(err error) {
	if l.err == nil {
		l.err = err
	}
	l.conn.Close()
	for _, r := range l.pending {
		r.done <- l.err
	}
	l.pending = nil
}

// read matches the server's messages to the pending batches.
func (l *lane) read() {
	defer close(l.done)
	for {
		msg, err := l.fe.Receive()
		if err != nil {
			l.mu.Lock()
			l.failLocked(fmt.Errorf("%w: %v", errLaneBroken, err))
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		var cur *laneReq
		if len(l.pending) > 0 {
			cur = l.pending[0]
		}
		var perr error
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			if cur == nil {
				perr = fmt.Errorf("%w: %v", errLaneBroken, pgconn.ErrorResponseToPgError(m))
			} else if cur.err == nil {
				cur.err = pgconn.ErrorResponseToPgError(m)
			}
		case *pgproto3.CommandComplete:
			if cur == nil {
				perr = fmt.Errorf("%w: unexpected command completion", errLaneBroken)
				break
			}
			cur.tags++
			if tag := pgconn.NewCommandTag(string(m.CommandTag)); strings.HasPrefix(tag.String(), "COPY ") {
				cur.rows = tag.RowsAffected()
			}
		case *pgproto3.ReadyForQuery:
			if cur == nil {
				perr = fmt.Errorf("%w: unexpected ready for query", errLaneBroken)
				break
			}
			l.pending = l.pending[1:]
			cur.done <- cur.outcome(m.TxStatus)
		case *pgproto3.CopyInResponse, *pgproto3.RowDescription, *pgproto3.DataRow, *pgproto3.NoticeResponse,
			*pgproto3.ParameterStatus, *pgproto3.NotificationResponse:
		default:
			perr = fmt.Errorf("%w: unexpected message %T", errLaneBroken, msg)
		}
		if perr != nil {
			l.failLocked(perr)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
	}
}

// outcome is the batch's result once the server is ready for the next
// query: the COPY and the check both completed, the implicit transaction
// committed and the connection is idle again.
func (r *laneReq) outcome(tx byte) error {
	switch {
	case r.err != nil:
		return r.err
	case r.tags != 2:
		return fmt.Errorf("append: %d of 2 statements completed", r.tags)
	case r.rows != int64(r.n):
		return fmt.Errorf("append: stored %d of %d records", r.rows, r.n)
	case tx != 'I':
		return fmt.Errorf("append: connection left in transaction state %q", tx)
	}
	return nil
}

// The columns of audit.event an append writes, with the types they are
// encoded as in the binary COPY data (json as its text, which is what
// json's binary form is).
var laneCols = []struct {
	name string
	oid  uint32
}{
	{"instance", pgtype.TextOID}, {"seq", pgtype.Int8OID}, {"ts", pgtype.TimestamptzOID},
	{"actor", pgtype.TextOID}, {"auth_method", pgtype.TextOID}, {"roles", pgtype.TextArrayOID},
	{"channel", pgtype.TextOID}, {"source", pgtype.TextOID}, {"request_id", pgtype.TextOID},
	{"action", pgtype.TextOID}, {"object_type", pgtype.TextOID}, {"object_id", pgtype.TextOID},
	{"outcome", pgtype.TextOID}, {"reason", pgtype.TextOID}, {"before", pgtype.TextOID},
	{"after", pgtype.TextOID}, {"prev_hash", pgtype.ByteaOID}, {"hash", pgtype.ByteaOID},
}

var copySQL = "COPY audit.event (" + eventCols + ") FROM STDIN (FORMAT binary)"

// encodeBatch returns the protocol messages of one append of recs (which
// continue each other): the Query, the COPY data and CopyDone. With gap
// set, the batch continues a chain whose stored part ends at *gap
// (audit.append_check_gap); otherwise it continues the stored chain.
func encodeBatch(m *pgtype.Map, recs []audit.Record, gap *audit.Head) ([]byte, error) {
	first := &recs[0]
	args := quoteLiteral(first.Instance) + ", " + strconv.FormatUint(first.Seq, 10) + ", " + byteaLiteral(first.PrevHash) +
		", " + strconv.Itoa(len(recs))
	check := "audit.append_check(" + args + ")"
	if gap != nil {
		check = "audit.append_check_gap(" + args + ", " + strconv.FormatUint(gap.Seq, 10) + ", " + byteaLiteral(gap.Hash) + ")"
	}
	sql := copySQL + "; SELECT " + check
	buf := make([]byte, 0, 1024+len(recs)*512)
	buf = append(buf, 'Q', 0, 0, 0, 0)
	buf = append(buf, sql...)
	buf = append(buf, 0)
	binary.BigEndian.PutUint32(buf[1:], uint32(len(buf)-1))

	start := len(buf)
	buf = append(buf, 'd', 0, 0, 0, 0)
	buf = append(buf, "PGCOPY\n\377\r\n\000"...)
	buf = binary.BigEndian.AppendUint32(buf, 0) // flags
	buf = binary.BigEndian.AppendUint32(buf, 0) // header extension
	vals := make([]any, len(laneCols))
	for i := range recs {
		r := &recs[i]
		roles := r.Roles
		if roles == nil {
			roles = []string{}
		}
		vals = append(vals[:0], r.Instance, int64(r.Seq), r.Time, r.Actor, r.AuthMethod, roles,
			string(r.Channel), r.Source, r.RequestID, r.Action, r.ObjectType, r.ObjectID, string(r.Outcome),
			r.Reason, nullText(r.Before), nullText(r.After), r.PrevHash[:], r.Hash[:])
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(laneCols)))
		for j, v := range vals {
			if v == nil {
				buf = binary.BigEndian.AppendUint32(buf, 0xFFFFFFFF)
				continue
			}
			at := len(buf)
			buf = append(buf, 0, 0, 0, 0)
			var err error
			if buf, err = m.Encode(laneCols[j].oid, pgtype.BinaryFormatCode, v, buf); err != nil {
				return nil, fmt.Errorf("encode %s of record %d: %w", laneCols[j].name, r.Seq, err)
			}
			binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
		}
	}
	buf = binary.BigEndian.AppendUint16(buf, 0xFFFF) // trailer
	binary.BigEndian.PutUint32(buf[start+1:], uint32(len(buf)-start-1))
	buf = append(buf, 'c', 0, 0, 0, 4) // CopyDone
	return buf, nil
}

// byteaLiteral is h as a bytea constant.
func byteaLiteral(h [32]byte) string { return "E'\\\\x" + hex.EncodeToString(h[:]) + "'::bytea" }

// nullText is b as a string, or nil (NULL) when b is nil.
func nullText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
