package wbem

import (
	"errors"
	"fmt"
)

// Status is a CIM status code (DSP0200 CIM_ERR_*).
type Status int

// The CIM status codes.
const (
	StatusFailed                          Status = 1
	StatusAccessDenied                    Status = 2
	StatusInvalidNamespace                Status = 3
	StatusInvalidParameter                Status = 4
	StatusInvalidClass                    Status = 5
	StatusNotFound                        Status = 6
	StatusNotSupported                    Status = 7
	StatusClassHasChildren                Status = 8
	StatusClassHasInstances               Status = 9
	StatusInvalidSuperclass               Status = 10
	StatusAlreadyExists                   Status = 11
	StatusNoSuchProperty                  Status = 12
	StatusTypeMismatch                    Status = 13
	StatusQueryLanguageNotSupported       Status = 14
	StatusInvalidQuery                    Status = 15
	StatusMethodNotAvailable              Status = 16
	StatusMethodNotFound                  Status = 17
	StatusInvalidEnumerationContext       Status = 21
	StatusInvalidOperationTimeout         Status = 22
	StatusPullHasBeenAbandoned            Status = 23
	StatusPullCannotBeAbandoned           Status = 24
	StatusFilteredEnumerationNotSupported Status = 25
	StatusContinuationOnErrorNotSupported Status = 26
	StatusServerLimitsExceeded            Status = 27
	StatusServerIsShuttingDown            Status = 28
)

var statusNames = map[Status]string{
	1: "CIM_ERR_FAILED", 2: "CIM_ERR_ACCESS_DENIED", 3: "CIM_ERR_INVALID_NAMESPACE",
	4: "CIM_ERR_INVALID_PARAMETER", 5: "CIM_ERR_INVALID_CLASS", 6: "CIM_ERR_NOT_FOUND",
	7: "CIM_ERR_NOT_SUPPORTED", 8: "CIM_ERR_CLASS_HAS_CHILDREN", 9: "CIM_ERR_CLASS_HAS_INSTANCES",
	10: "CIM_ERR_INVALID_SUPERCLASS", 11: "CIM_ERR_ALREADY_EXISTS", 12: "CIM_ERR_NO_SUCH_PROPERTY",
	13: "CIM_ERR_TYPE_MISMATCH", 14: "CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED", 15: "CIM_ERR_INVALID_QUERY",
	16: "CIM_ERR_METHOD_NOT_AVAILABLE", 17: "CIM_ERR_METHOD_NOT_FOUND",
	21: "CIM_ERR_INVALID_ENUMERATION_CONTEXT", 22: "CIM_ERR_INVALID_OPERATION_TIMEOUT",
	23: "CIM_ERR_PULL_HAS_BEEN_ABANDONED", 24: "CIM_ERR_PULL_CANNOT_BE_ABANDONED",
	25: "CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED", 26: "CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED",
	27: "CIM_ERR_SERVER_LIMITS_EXCEEDED", 28: "CIM_ERR_SERVER_IS_SHUTTING_DOWN",
}

// String returns the CIM_ERR_* name.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("CIM_ERR_%d", int(s))
}

// Error is a CIM operation error: it is answered as
// <ERROR CODE="Status" DESCRIPTION="..."/> with HTTP 200. Providers return
// *Error (possibly wrapped) to choose the status; any other error becomes
// CIM_ERR_FAILED with a generic description.
type Error struct {
	Status      Status
	Description string
}

// Error returns "CIM_ERR_NAME: description".
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Status.String()
	}
	return e.Status.String() + ": " + e.Description
}

// Is reports whether target is an *Error with the same status, so that
// errors.Is(err, wbem.ErrNotFound) works for any description.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Errorf returns an *Error with status s and a formatted description.
func Errorf(s Status, format string, args ...any) *Error {
	return &Error{Status: s, Description: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is; compare by status only.
var (
	ErrNotFound     = &Error{Status: StatusNotFound}
	ErrNotSupported = &Error{Status: StatusNotSupported}
	ErrAccessDenied = &Error{Status: StatusAccessDenied}
)

// statusOf maps any error to the CIM error answered to the client. Errors
// that are not *Error are reported as CIM_ERR_FAILED without their text
// (which may hold internal detail); the caller logs them.
func statusOf(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return &Error{Status: StatusFailed, Description: "internal error"}
}
