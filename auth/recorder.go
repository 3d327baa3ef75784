package auth

import (
	"context"
	"time"
)

// EventKind classifies an [AuthEvent].
type EventKind string

// The kinds of auth events.
const (
	EventAuthSuccess  EventKind = "authn.success"  // a request was authenticated
	EventAuthFailure  EventKind = "authn.failure"  // a credential was refused (incl. lockout)
	EventDenied       EventKind = "authz.denied"   // the policy refused a request
	EventLogin        EventKind = "session.login"  // a browser session was created
	EventLogout       EventKind = "session.logout" // a browser session ended
	EventTokenCreated EventKind = "token.created"  // an API token was created
	EventTokenRevoked EventKind = "token.revoked"  // an API token was revoked
	// EventAuthSummary counts the refused requests of one source in one
	// summary window: requests without any credential, refusals by the
	// limiter, and failures beyond the window's budget of failures
	// recorded one by one. Source is "*" for the sources beyond
	// LimitConfig.SummarySources; Summary holds the counts.
	EventAuthSummary EventKind = "authn.summary"
)

// AuthEvent is one authentication outcome or authorization denial. It
// never holds a credential.
type AuthEvent struct {
	Time      time.Time `json:"time"`
	Kind      EventKind `json:"kind"`
	Method    Method    `json:"method,omitempty"`
	ActorID   string    `json:"actor_id,omitempty"`   // Identity.ID if known
	ActorName string    `json:"actor_name,omitempty"` // user name as claimed (even if the claim failed)
	Source    string    `json:"source,omitempty"`     // remote address, or "unix" for the socket
	Action    Action    `json:"action,omitempty"`     // for denials
	Object    string    `json:"object,omitempty"`     // for denials and token events
	Request   string    `json:"request,omitempty"`    // "METHOD /path" without the query
	Reason    string    `json:"reason,omitempty"`     // error text or decision reason
	Summary   *Summary  `json:"summary,omitempty"`    // for EventAuthSummary
}

// Recorder receives every [AuthEvent]: each authentication success and
// failure with a credential (failures beyond LimitConfig.FailureRecords
// per summary window are summarised), each denial, login, logout and token
// change, and one [EventAuthSummary] per source and summary window for
// the noise of unauthenticated callers. auth imports no audit package;
// the wiring adapts the audit log to this interface. RecordAuth must be
// safe for concurrent use and should not block for long (it is called on
// the request path).
type Recorder interface {
	RecordAuth(ctx context.Context, ev AuthEvent)
}

// RecorderFunc adapts a function to [Recorder].
type RecorderFunc func(ctx context.Context, ev AuthEvent)

// RecordAuth calls f.
func (f RecorderFunc) RecordAuth(ctx context.Context, ev AuthEvent) { f(ctx, ev) }

type discardRecorder struct{}

func (discardRecorder) RecordAuth(context.Context, AuthEvent) {}
