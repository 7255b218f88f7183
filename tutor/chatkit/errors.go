package chatkit

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
)

// errorBody is how this endpoint answers an error before any stream
// starts: the protocol's error event (type, code, message, allow_retry) so
// a ChatKit client shows the message, plus the platform's error object
// (error.code, error.message) that every other API of the platform uses,
// plus the quota on 429.
type errorBody struct {
	protocol.ErrorEvent
	Error     server.ErrorDetail `json:"error"`
	Limit     *int               `json:"limit,omitempty"`
	Remaining *int               `json:"remaining,omitempty"`
	ResetsAt  *time.Time         `json:"resets_at,omitempty"`
}

// status maps the domain's error codes to HTTP, in one place.
func status(code string) int {
	switch code {
	case tutor.EINVALID, tutor.EUNSUPPORTED:
		return http.StatusBadRequest
	case tutor.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case tutor.EUNAUTHORIZED, tutor.EUNVERIFIED:
		return http.StatusForbidden
	case tutor.ENOTFOUND:
		return http.StatusNotFound
	case tutor.ECONFLICT:
		return http.StatusConflict
	case tutor.ERATELIMITED, tutor.EBUSY:
		return http.StatusTooManyRequests
	case tutor.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers err in the protocol's shape with its status.
func writeError(w http.ResponseWriter, err error) {
	code := tutor.ErrorCode(err)
	body := errorBody{
		ErrorEvent: protocol.ErrorEvent{Type: protocol.EvError, Code: protocol.ErrorCodeCustom, Message: ptr(tutor.ErrorMessage(err))},
		Error:      server.ErrorDetail{Code: code, Message: tutor.ErrorMessage(err)},
	}
	var rl *tutor.RateLimitError
	if errors.As(err, &rl) {
		q := rl.Quota
		body.Limit, body.Remaining = &q.Limit, ptr(0)
		body.ResetsAt = ptr(q.ResetsAt.UTC())
		secs := int(math.Ceil(time.Until(q.ResetsAt).Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	if code == tutor.EUNAVAILABLE {
		w.Header().Set("Retry-After", "5")
	}
	if code == tutor.EBUSY {
		w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter.Seconds())))
	}
	if code == tutor.EINTERNAL || code == tutor.EUNAVAILABLE || code == tutor.EBUSY {
		body.AllowRetry = true
	}
	writeJSON(w, status(code), body)
}

// writeAuthError answers a request the token checks refused, reshaped from
// the platform's error body into the protocol's.
func writeAuthError(w http.ResponseWriter, st int, platform []byte) {
	var pe server.ErrorBody
	if json.Unmarshal(platform, &pe) != nil || pe.Error.Code == "" {
		pe.Error = server.ErrorDetail{Code: "unauthenticated", Message: http.StatusText(st)}
	}
	writeJSON(w, st, errorBody{
		ErrorEvent: protocol.ErrorEvent{Type: protocol.EvError, Code: protocol.ErrorCodeCustom, Message: ptr(pe.Error.Message)},
		Error:      pe.Error,
	})
}

func writeJSON(w http.ResponseWriter, st int, v any) {
	b, err := protocol.Marshal(v)
	if err != nil {
		b = []byte(`{"type":"error","code":"custom","allow_retry":true,"error":{"code":"internal","message":"internal error"}}`)
		st = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	_, _ = w.Write(b)
}

func ptr[T any](v T) *T { return &v }
