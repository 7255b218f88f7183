package tutor

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
)

type sqlStateError string

func (e sqlStateError) Error() string    { return "pg: " + string(e) }
func (e sqlStateError) SQLState() string { return string(e) }

func TestDatabaseOutagesAreUnavailable(t *testing.T) {
	down := []error{
		fmt.Errorf("load thread: %w", sqlStateError("57P01")), // admin shutdown
		sqlStateError("08006"),                                // connection failure
		&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED},
		fmt.Errorf("query: %w", syscall.ECONNRESET),
		errors.New("conn closed"),
	}
	for _, err := range down {
		if ErrorCode(err) != EUNAVAILABLE {
			t.Errorf("%v: code %s", err, ErrorCode(err))
		}
	}
	if ErrorCode(fmt.Errorf("q: %w", sqlStateError("22021"))) != EINVALID {
		t.Error("a data exception (NUL byte in text) is the caller's error")
	}
	for _, err := range []error{sqlStateError("23505"), errors.New("boom")} {
		if ErrorCode(err) != EINTERNAL || ErrorMessage(err) != "internal error" {
			t.Errorf("%v: code %s", err, ErrorCode(err))
		}
	}
}
