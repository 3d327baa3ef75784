package wbem

import (
	"context"
	"errors"
	"iter"
	"net/http"
)

// Provider serves the classes and instances of the namespaces it knows.
// The server does everything protocol-level (defaults, case folding, path
// normalization, inheritance, association filters, pull contexts, queries);
// a provider only answers these questions about its current data (a
// provider over immutable snapshots, like package cim's, takes the current
// one per request).
//
// Paths handed to a provider are normalized ([Repository.NormalizePath]):
// class and key names in their defined case, keys in declaration order,
// values coerced, no host. All methods must be safe for concurrent use.
type Provider interface {
	// Namespaces lists the served namespaces ("root/cimv2", "interop").
	Namespaces() []string
	// Classes returns the class repository of namespace ns, which must be
	// one of Namespaces (compared case-insensitively by the server, which
	// passes the name as Namespaces spells it).
	Classes(ns string) *Repository
	// Instances yields the instances of exactly class className (not of
	// its subclasses; the server walks the hierarchy) in ns, lazily: pull
	// operations consume it in slices, so memory need not grow with the
	// result. Properties must carry their Type.
	Instances(ctx context.Context, ns, className string) iter.Seq2[*Instance, error]
	// GetInstance returns the instance at path, or an error wrapping
	// ErrNotFound.
	GetInstance(ctx context.Context, path *InstancePath) (*Instance, error)
	// References yields the association instances in ns having a reference
	// property that points at target. The server applies the AssocClass,
	// ResultClass, Role and ResultRole filters.
	References(ctx context.Context, ns string, target *InstancePath) iter.Seq2[*Instance, error]
	// InvokeMethod runs an extrinsic method. The server has checked that
	// the method is declared and coerced the arguments; authorization is
	// the provider's (see PrincipalFrom), auditing the server's.
	InvokeMethod(ctx context.Context, call *MethodCall) (*MethodResult, error)
}

// InstanceWriter is implemented by providers that accept CreateInstance and
// DeleteInstance (for indication subscriptions in interop). Without it both
// operations answer CIM_ERR_NOT_SUPPORTED.
type InstanceWriter interface {
	CreateInstance(ctx context.Context, ns string, in *Instance) (*InstancePath, error)
	DeleteInstance(ctx context.Context, path *InstancePath) error
}

// MethodCall is an extrinsic method invocation.
type MethodCall struct {
	Namespace string
	// ClassName is the target class in its defined case.
	ClassName string
	// Instance is the target instance (normalized), or nil for a static
	// call on the class.
	Instance *InstancePath
	// Method is the resolved declaration (its Name in the defined case).
	Method *Method
	// Args are the input parameters sent, coerced to the declared types
	// and named as declared.
	Args []Argument
}

// Arg returns the argument named name (case-insensitively), or nil.
func (c *MethodCall) Arg(name string) *Argument {
	for i := range c.Args {
		if equalFold(c.Args[i].Name, name) {
			return &c.Args[i]
		}
	}
	return nil
}

// MethodResult is the outcome of an extrinsic method: the return value (in
// the method's declared type) and the output parameters.
type MethodResult struct {
	ReturnValue string
	Out         []Argument
}

// Principal is who is calling, as established by the Authenticate hook.
type Principal struct {
	// ID identifies the caller uniquely and stably (e.g. the auth
	// identity id "token:<id>"): enumeration contexts and indication
	// subscriptions belong to it. Empty means Name.
	ID string
	// Name identifies the caller in logs and audit records.
	Name string
	// Identity is the authenticator's own value (e.g. an auth.Identity
	// with roles), passed through to providers for authorization.
	Identity any
}

// ErrUnauthenticated is returned (possibly wrapped) by an Authenticate hook
// when the request carries no valid credentials; the server answers 401
// with WWW-Authenticate. Every other hook error is answered 401 too: the
// server never falls back to a default identity.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrForbidden is returned (wrapped) by an Authenticate hook when the
// credentials are valid but the caller may not use the server at all
// (its role or scope does not allow it); the server answers 403 without
// a challenge, as DSP0200 maps authorization failures.
var ErrForbidden = errors.New("forbidden")

// Authenticator establishes the caller of an HTTP request.
type Authenticator func(*http.Request) (Principal, error)

// Owner returns the key of what the caller owns: ID, or Name without
// one.
func (p Principal) Owner() string {
	if p.ID != "" {
		return p.ID
	}
	return p.Name
}

type principalKey struct{}

// PrincipalFrom returns the caller of the operation running in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Operation describes a state-changing CIM operation for the audit hook.
type Operation struct {
	Principal  Principal
	RemoteAddr string
	// Name is the intrinsic operation (CreateInstance, DeleteInstance) or
	// the extrinsic method name.
	Name      string
	Namespace string
	// Target is the WBEM URI of the target object (namespace:class[.keys]).
	Target string
	Args   []Argument
}

// ReturnValueError is the outcome handed to an Auditor's done function
// for an extrinsic method that ran but did not succeed: by the DMTF
// convention of CIM methods (CIM_EnabledLogicalElement, CIM_Service,
// jobs) 0 is "Completed with No Error" and 4096 "Method Parameters
// Checked - Job Started"; any other return value is a failure.
type ReturnValueError struct {
	Method      string
	ReturnValue string
}

// Error returns "Method returned N".
func (e *ReturnValueError) Error() string { return e.Method + " returned " + e.ReturnValue }

// Auditor records state-changing operations before they run. It returns a
// function the server calls with the outcome (nil on success, a
// *ReturnValueError for a method that returned a failure code). If Auditor
// returns an error the operation is refused with CIM_ERR_FAILED: nothing
// changes unless its intent was recorded.
type Auditor func(ctx context.Context, op *Operation) (done func(outcome error), err error)
