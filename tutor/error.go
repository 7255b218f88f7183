package tutor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// Error codes the domain uses. The HTTP layers map each to one status in
// one place (chatkit and api).
const (
	EINVALID      = "invalid"            // bad input: 400
	ETOOLARGE     = "too_large"          // input over a size limit: 413
	EUNAUTHORIZED = "unauthorized"       // not allowed for this caller: 403
	EUNVERIFIED   = "email_not_verified" // the caller must verify their email first: 403
	ENOTFOUND     = "not_found"          // no such thing, or not the caller's: 404
	ECONFLICT     = "conflict"           // the state does not allow it: 409
	ERATELIMITED  = "rate_limited"       // quota used up: 429
	EBUSY         = "busy"               // too many answers being written (the caller's, or everyone's): 429, try again shortly
	EUNSUPPORTED  = "unsupported"        // a protocol feature the tutor does not offer: 400
	EUNAVAILABLE  = "unavailable"        // a dependency (the database) is down: 503, try again
	EINTERNAL     = "internal"           // anything else: 500, never for bad input
)

// Error is a domain error with a stable code and a message for the caller.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for
// any other error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return ERATELIMITED
	}
	if unavailable(err) {
		return EUNAVAILABLE
	}
	if badValue(err) {
		return EINVALID
	}
	return EINTERNAL
}

// badValue recognises PostgreSQL's data exceptions (class 22: a NUL byte in
// text, a malformed uuid, a number out of range): input the database could
// not take, which is the caller's to fix.
func badValue(err error) bool {
	var state interface{ SQLState() string }
	return errors.As(err, &state) && strings.HasPrefix(state.SQLState(), "22")
}

// unavailable recognises a database that is down or restarting: refused or
// broken connections, and PostgreSQL's connection-exception (08) and
// shutdown (57P0x) states. The caller should try again shortly; nothing
// about the request was wrong.
func unavailable(err error) bool {
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		s := state.SQLState()
		return strings.HasPrefix(s, "08") || strings.HasPrefix(s, "57P0")
	}
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "failed to connect")
}

// ErrorMessage returns the message of the *Error in err's chain; internal
// errors get a generic message so nothing internal leaks to a caller.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.Error()
	}
	if unavailable(err) {
		return "the tutor's database is unavailable right now; please try again in a few seconds"
	}
	if badValue(err) {
		return "a value in the request is not valid (for example a NUL character or a malformed id)"
	}
	return "internal error"
}

// RateLimitError is returned when a student's message quota is used up.
type RateLimitError struct {
	Quota QuotaState
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("you have sent %d messages in the last 24 hours, the most a student may; you can write again at %s",
		e.Quota.Limit, e.Quota.ResetsAt.UTC().Format(time.RFC3339))
}
