package svc

import (
	"fmt"
	"strings"

	"svc/internal/capi"
)

// Code is an svc error code; the values are the C library's svc_code.
type Code int

// The error codes (append-only, never renumbered).
const (
	CodeOK       Code = 0  // SVC_OK
	CodeInvalid  Code = 1  // SVC_EINVAL: a bad argument
	CodePhase    Code = 2  // SVC_EPHASE: not allowed in the request's phase
	CodeNotFound Code = 3  // SVC_ENOTFOUND: no such upstream or target
	CodeExists   Code = 4  // SVC_EEXIST: the target already exists
	CodeConfig   Code = 5  // SVC_ECONFIG: an entity or document failed validation
	CodeNoPeer   Code = 6  // SVC_ENOPEER: the balancer has no available peer
	CodeDNS      Code = 7  // SVC_EDNS: name resolution failed
	CodeConnect  Code = 8  // SVC_ECONNECT: connecting to the peer failed
	CodeTimeout  Code = 9  // SVC_ETIMEOUT: a timeout expired
	CodeTLS      Code = 10 // SVC_ETLS: TLS handshake or verification failed
	CodeProtocol Code = 11 // SVC_EPROTO: the peer broke the protocol
	CodeClosed   Code = 12 // SVC_ECLOSED: the object was closed
	CodeNoMemory Code = 13 // SVC_ENOMEM: out of memory
	CodeInternal Code = 14 // SVC_EINTERNAL: a bug in svc
	CodeCanceled Code = 15 // SVC_ECANCELED: the operation was cancelled
)

var codeNames = [...]string{
	"SVC_OK", "SVC_EINVAL", "SVC_EPHASE", "SVC_ENOTFOUND", "SVC_EEXIST", "SVC_ECONFIG",
	"SVC_ENOPEER", "SVC_EDNS", "SVC_ECONNECT", "SVC_ETIMEOUT", "SVC_ETLS", "SVC_EPROTO",
	"SVC_ECLOSED", "SVC_ENOMEM", "SVC_EINTERNAL", "SVC_ECANCELED",
}

// String returns the C name of the code ("SVC_EINVAL"), as svc_code_name
// does, or "SVC_UNKNOWN".
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "SVC_UNKNOWN"
}

// Error is an error returned by svc: the C library's code and message
// (Kong's text, e.g. "could not find an Upstream named 'x'"). Errors made by
// the Go layer itself (closed objects, arguments C cannot represent) use the
// same codes.
type Error struct {
	Code    Code
	Message string
}

// Error returns the message, exactly as the C library wrote it.
func (e *Error) Error() string { return e.Message }

// Timeout reports whether the error is a timeout (CodeTimeout), so that an
// svc timeout satisfies net.Error's Timeout() like the net package's.
func (e *Error) Timeout() bool { return e != nil && e.Code == CodeTimeout }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, svc.ErrNotFound) matches any not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// Sentinels for errors.Is; each matches every *Error with its code.
var (
	ErrInvalid  = &Error{CodeInvalid, "invalid argument"}
	ErrPhase    = &Error{CodePhase, "not allowed in this phase"}
	ErrNotFound = &Error{CodeNotFound, "not found"}
	ErrExists   = &Error{CodeExists, "already exists"}
	ErrConfig   = &Error{CodeConfig, "invalid configuration"}
	ErrNoPeer   = &Error{CodeNoPeer, "no peer available"}
	ErrDNS      = &Error{CodeDNS, "name resolution failed"}
	ErrConnect  = &Error{CodeConnect, "connect failed"}
	ErrTimeout  = &Error{CodeTimeout, "timeout"}
	ErrTLS      = &Error{CodeTLS, "TLS failure"}
	ErrProtocol = &Error{CodeProtocol, "protocol error"}
	ErrClosed   = &Error{CodeClosed, "closed"}
	ErrNoMemory = &Error{CodeNoMemory, "out of memory"}
	ErrInternal = &Error{CodeInternal, "internal error"}
	ErrCanceled = &Error{CodeCanceled, "canceled"}
)

// takeError converts an svc_error (nil on success) into a Go error and frees it.
func takeError(e capi.Struct_SS_svc_error) error {
	if e == nil || e.Swigcptr() == 0 {
		return nil
	}
	err := &Error{Code: Code(capi.SvcErrorCode(e)), Message: capi.SvcErrorMessage(e)}
	capi.SvcErrorFree(e)
	return err
}

func invalidf(format string, args ...any) error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

func closedError(what string) error {
	return &Error{Code: CodeClosed, Message: "the " + what + " is closed"}
}

// checkText rejects strings C would silently cut at a NUL byte.
func checkText(name, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return invalidf("%s must not contain a NUL byte", name)
	}
	return nil
}

// checkTexts is checkText over name/value pairs.
func checkTexts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkText(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}
