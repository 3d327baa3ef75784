package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Channel is the front-end through which an audited request arrived.
type Channel string

// The channels of mgmtd. ChannelSystem is used for events the daemon raises
// itself (start, stop, configuration reload, audit store degraded).
const (
	ChannelREST   Channel = "rest"
	ChannelCIM    Channel = "cim"
	ChannelUI     Channel = "ui"
	ChannelCLI    Channel = "cli"
	ChannelSNMP   Channel = "snmp"
	ChannelSystem Channel = "system"
)

// Outcome is the result of an audited action.
type Outcome string

// The outcomes of an audited action.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeDenied  Outcome = "denied"
	OutcomeError   Outcome = "error"
)

// Well-known actions recorded by mgmtd itself. Front-ends use their own
// dotted names (resource.move, auth.login, authz.denied, ...).
const (
	ActionDaemonStart  = "daemon.start"
	ActionDaemonStop   = "daemon.stop"
	ActionConfigReload = "config.reload"
	// ActionNotifyRoutesChanged records a notification route added,
	// changed or removed in the configuration file since the last start
	// (before and after without secrets).
	ActionNotifyRoutesChanged = "notify.routes.changed"
	ActionAuditDegraded       = "audit.degraded"
	ActionAuditRecovered      = "audit.recovered"
	// ActionAuditTampered records that the database lost or changed
	// records this instance acknowledged (found by the local head file);
	// the chain continues after its own head, leaving the gap to Verify.
	ActionAuditTampered = "audit.tampered"
	ActionAuditQuery    = "audit.query"
	ActionAuditExport   = "audit.export"
	// ActionAuditExportManifest records the manifest (hash and chain
	// ranges) of a completed export; a retention purge requires one.
	ActionAuditExportManifest = "audit.export.manifest"
)

// Limits enforced by [Event.Validate].
const (
	MaxFieldLen = 4 << 10  // any text field, bytes
	MaxRoles    = 64       // roles per event
	MaxStateLen = 64 << 10 // Before or After, bytes
)

// Event is what a caller records: who did what, when, where, from where, on
// what, with which outcome.
type Event struct {
	Actor      string   // stable actor id: OIDC issuer+subject, PAM user, token id, cert subject, uid:N
	AuthMethod string   // oidc, pam, token, cert, peercred, snmp, none ...
	Roles      []string // roles effective for the decision; stored sorted
	Action     string   // e.g. resource.move, auth.login, authz.denied
	// Time is the decision time; zero means "now". It is kept with
	// microsecond precision in UTC.
	Time       time.Time
	Channel    Channel
	Source     string // client ip:port or unix peer
	RequestID  string
	ObjectType string
	ObjectID   string
	Outcome    Outcome
	Reason     string
	// Before and After are the object's state as JSON, or nil. They are
	// stored compacted (insignificant whitespace removed); the JSON literal
	// null is stored as nil.
	Before json.RawMessage
	After  json.RawMessage
}

// Record is an [Event] as stored: placed in an instance's chain.
type Record struct {
	Event
	Instance string   // the mgmtd instance whose chain holds the record
	Seq      uint64   // gap-free position in the instance's chain, from 1
	PrevHash [32]byte // hash of record Seq-1, zero for Seq 1
	Hash     [32]byte // SHA-256(PrevHash || Canonical())
}

// Receipt is the answer to a durable Record.
type Receipt struct {
	Instance string
	Seq      uint64
	Hash     [32]byte
	Time     time.Time
	// Spooled is true when the record went to the local spool because the
	// database was unreachable; it is replayed into the database later.
	Spooled bool
}

// Errors of the audit package. Callers test them with errors.Is.
var (
	// ErrUnavailable means the record could not be made durable: the
	// caller must fail closed (HTTP 503) and not perform the action.
	ErrUnavailable = errors.New("audit log unavailable")
	// ErrInvalid means an event or filter was malformed.
	ErrInvalid = errors.New("invalid audit event")
	// ErrConflict means an append did not continue the stored chain.
	ErrConflict = errors.New("audit chain conflict")
	// ErrTampered means verification found the log altered.
	ErrTampered = errors.New("audit log verification failed")
	// ErrClosed means the log was closed.
	ErrClosed = errors.New("audit log closed")
)

var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

func validText(name, s string) error {
	if len(s) > MaxFieldLen {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, name, MaxFieldLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, name)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalid, name)
	}
	return nil
}

func validState(name string, b json.RawMessage) error {
	if b == nil {
		return nil
	}
	if len(b) > MaxStateLen {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, name, MaxStateLen)
	}
	if !utf8.Valid(b) || !json.Valid(b) {
		return fmt.Errorf("%w: %s is not valid UTF-8 JSON", ErrInvalid, name)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalid, name)
	}
	return nil
}

// Validate reports whether e can be stored. Action, Actor, Channel and
// Outcome are required; every text field must be valid UTF-8 without NUL
// bytes (PostgreSQL's text cannot hold them) and Before/After valid JSON.
func (e *Event) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"actor", e.Actor}, {"auth_method", e.AuthMethod}, {"action", e.Action},
		{"channel", string(e.Channel)}, {"source", e.Source}, {"request_id", e.RequestID},
		{"object_type", e.ObjectType}, {"object_id", e.ObjectID}, {"outcome", string(e.Outcome)},
		{"reason", e.Reason},
	} {
		if err := validText(f.name, f.v); err != nil {
			return err
		}
	}
	if e.Actor == "" || e.Action == "" || e.Channel == "" {
		return fmt.Errorf("%w: actor, action and channel are required", ErrInvalid)
	}
	switch e.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeDenied, OutcomeError:
	default:
		return fmt.Errorf("%w: outcome %q not one of success, failure, denied, error", ErrInvalid, e.Outcome)
	}
	if len(e.Roles) > MaxRoles {
		return fmt.Errorf("%w: more than %d roles", ErrInvalid, MaxRoles)
	}
	for _, r := range e.Roles {
		if err := validText("role", r); err != nil {
			return err
		}
	}
	if !e.Time.IsZero() && (e.Time.Before(minTime) || e.Time.After(maxTime)) {
		return fmt.Errorf("%w: time %s outside 1970..9999", ErrInvalid, e.Time)
	}
	if err := validState("before", e.Before); err != nil {
		return err
	}
	return validState("after", e.After)
}

// Sanitized returns e with its content made storable, so that no record
// is ever refused for what a caller put into it (a request path with %ff
// or %00, a 5 KiB path, a token name):
//
//   - invalid UTF-8 in a text field is replaced by U+FFFD;
//   - a NUL byte is written as the four characters \x00;
//   - a text field longer than [MaxFieldLen] is cut (at a character
//     boundary) and ends with the marker "…[truncated, N bytes]", N the
//     original length;
//   - more than [MaxRoles] roles keep the first MaxRoles-1 and a last role
//     "…[N more]";
//   - Before or After that is not valid JSON, or is longer than
//     [MaxStateLen], is replaced by a small JSON object that says so with
//     the original's length and SHA-256 ({"invalid":true,...} or
//     {"truncated":true,...}).
//
// Required fields, the outcome and the time are not content and are left
// to [Event.Validate]. [Log.Record] sanitises every event.
func (e Event) Sanitized() Event {
	for _, f := range []*string{&e.Actor, &e.AuthMethod, &e.Action, (*string)(&e.Channel), &e.Source, &e.RequestID,
		&e.ObjectType, &e.ObjectID, (*string)(&e.Outcome), &e.Reason} {
		*f = sanitizeText(*f)
	}
	if len(e.Roles) > 0 {
		roles := make([]string, 0, min(len(e.Roles), MaxRoles))
		for i, r := range e.Roles {
			if i == MaxRoles-1 && len(e.Roles) > MaxRoles {
				roles = append(roles, fmt.Sprintf("…[%d more]", len(e.Roles)-i))
				break
			}
			roles = append(roles, sanitizeText(r))
		}
		e.Roles = roles
	}
	e.Before = sanitizeState(e.Before)
	e.After = sanitizeState(e.After)
	return e
}

// sanitizeText makes s a valid text field (see [Event.Sanitized]).
func sanitizeText(s string) string {
	if validText("", s) == nil {
		return s
	}
	n := len(s)
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", `\x00`)
	if len(s) <= MaxFieldLen {
		return s
	}
	marker := fmt.Sprintf("…[truncated, %d bytes]", n)
	cut := MaxFieldLen - len(marker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}

// sanitizeState makes b a valid Before/After state (see [Event.Sanitized]).
func sanitizeState(b json.RawMessage) json.RawMessage {
	if validState("", b) == nil {
		return b
	}
	sum := sha256.Sum256(b)
	what := "invalid"
	if len(b) > MaxStateLen {
		what = "truncated"
	}
	out, _ := json.Marshal(map[string]any{what: true, "bytes": len(b), "sha256": hex.EncodeToString(sum[:])})
	return out
}

// normalize returns a copy of e in stored form: time in UTC truncated to
// microseconds (now if zero), roles sorted, Before/After compacted, JSON null
// as nil. It assumes e is valid.
func (e Event) normalize(now time.Time) Event {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Roles = slices.Clone(e.Roles)
	slices.Sort(e.Roles)
	e.Before = compactState(e.Before)
	e.After = compactState(e.After)
	return e
}

func compactState(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return slices.Clone(b) // unreachable for validated input
	}
	if buf.String() == "null" {
		return nil
	}
	return buf.Bytes()
}
