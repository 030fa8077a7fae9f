package qun

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code. Codes are part of the
// protocol (docs/protocol.md) and never change meaning once published.
type Code string

// The error codes. codeTable maps each to its HTTP status; the WebSocket
// protocol sends the code itself.
const (
	CodeInvalid         Code = "invalid"             // input failed validation or could not be decoded
	CodeUnauthenticated Code = "unauthenticated"     // no, expired or forged credentials
	CodeForbidden       Code = "forbidden"           // authenticated, but not allowed to do this
	CodeNotFound        Code = "not_found"           // no such thing (or not visible to this tenant/user)
	CodeConflict        Code = "conflict"            // state does not allow it (already member, closed, ...)
	CodeExhausted       Code = "exhausted"           // a limit was used up: invite uses, member limit, stock
	CodeExpired         Code = "expired"             // past a deadline: invite code, edit window
	CodeRateLimited     Code = "rate_limited"        // too many requests; retry later
	CodeTooLarge        Code = "too_large"           // a frame, message or upload exceeds its bound
	CodeOutOfRange      Code = "out_of_range"        // a byte range past the end (HTTP range requests)
	CodeUnknownOp       Code = "unknown_op"          // the op name is not registered
	CodeTooOld          Code = "too_old"             // resume point no longer in the log; reload history
	CodeRejected        Code = "rejected"            // refused by moderation
	CodeSlowConsumer    Code = "slow_consumer"       // the client did not keep up and was disconnected
	CodeUnavailable     Code = "unavailable"         // shutting down or a backend is down; retry
	CodeInternal        Code = "internal"            // a bug or unexpected backend failure
	CodeUnsupportedVer  Code = "unsupported_version" // protocol version not spoken by this server
)

// codeTable is the one place where codes meet HTTP statuses.
var codeTable = map[Code]int{
	CodeInvalid:         http.StatusBadRequest,
	CodeUnauthenticated: http.StatusUnauthorized,
	CodeForbidden:       http.StatusForbidden,
	CodeNotFound:        http.StatusNotFound,
	CodeConflict:        http.StatusConflict,
	CodeExhausted:       http.StatusConflict,
	CodeExpired:         http.StatusGone,
	CodeRateLimited:     http.StatusTooManyRequests,
	CodeTooLarge:        http.StatusRequestEntityTooLarge,
	CodeOutOfRange:      http.StatusRequestedRangeNotSatisfiable,
	CodeUnknownOp:       http.StatusNotFound,
	CodeTooOld:          http.StatusGone,
	CodeRejected:        http.StatusUnprocessableEntity,
	CodeSlowConsumer:    http.StatusServiceUnavailable,
	CodeUnavailable:     http.StatusServiceUnavailable,
	CodeInternal:        http.StatusInternalServerError,
	CodeUnsupportedVer:  http.StatusBadRequest,
}

// HTTPStatus returns the HTTP status for c; unknown codes map to 500.
func (c Code) HTTPStatus() int {
	if s, ok := codeTable[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is the error type every qun package returns for anything a client
// can cause. Message is safe to show to the end user; it never contains
// another tenant's data.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"msg"`
	// Field names the offending input field, when there is one.
	Field string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return string(e.Code) + ": " + e.Message
}

// Is makes errors.Is(err, &Error{Code: c}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of err: the code of the *Error in its chain,
// CodeUnavailable for context cancellation, CodeInternal otherwise, and ""
// for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, errClosed) {
		return CodeUnavailable
	}
	return CodeInternal
}

// AsError converts any error into an *Error a client may see. Errors that
// are not *Error become CodeInternal with a generic message, so that backend
// details never leak to clients.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, errClosed) {
		return &Error{Code: CodeUnavailable, Message: "server is shutting down"}
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

// errClosed is returned by long-lived values after Close.
var errClosed = errors.New("qun: closed")

// ErrClosed is returned by a Hub, log or store that has been closed.
var ErrClosed = errClosed
