package limits

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/learnplatform/platform/kit/kratos"
)

// Codes are limited per recipient (any case or spacing of the address)
// and per client address, within the window; a refusal says when to try
// again.
func TestMailLimits(t *testing.T) {
	e := newRig(t)
	for i, kind := range []kratos.Kind{kratos.Verification, kratos.Recovery} {
		if _, refused := e.codeRequest(kind, "192.0.2.10", []string{"ivy@example.org", " IVY@example.org"}[i]); refused != nil {
			t.Fatalf("code %d refused: %d", i, refused.Code)
		}
	}
	_, refused := e.codeRequest(kratos.Recovery, "192.0.2.11", "ivy@example.org")
	if refused == nil || refused.Code != http.StatusTooManyRequests || refused.Header().Get("Retry-After") != "3600" {
		t.Fatalf("the third code to one address: %+v", refused)
	}
	if code, msgID, _ := apiError(t, refused); code != "too_many_emails" || msgID != MsgMailThrottle {
		t.Fatalf("%s %d", code, msgID)
	}
	if e.counter("identity_mail_refused_total", "kind", "recovery") != 1 {
		t.Fatal("not counted")
	}

	// Per client: three codes in all, then refused, whatever the address.
	for i := range 2 {
		if _, refused := e.codeRequest(kratos.Verification, "192.0.2.10", fmt.Sprintf("jo%d@example.org", i)); i < 1 && refused != nil {
			t.Fatalf("address %d refused", i)
		} else if i == 1 && refused == nil {
			t.Fatal("the fourth code from one client went out")
		}
	}

	// The window passes: codes go out again.
	e.advance(time.Hour)
	if _, refused := e.codeRequest(kratos.Recovery, "192.0.2.10", "ivy@example.org"); refused != nil {
		t.Fatalf("after the window: %d", refused.Code)
	}
}

// A request Kratos refused, or never received, is given back; one Kratos
// may have acted on is not.
func TestMailGivenBack(t *testing.T) {
	e := newRig(t)
	take := func() *MailRequest {
		m, refused := e.codeRequest(kratos.Verification, "192.0.2.12", "kim@example.org")
		if refused != nil {
			t.Fatalf("refused: %d", refused.Code)
		}
		return m
	}
	m := take()
	m.Return(context.Background())
	m.Return(context.Background()) // once only
	take().Unanswered(context.Background(), fmt.Errorf("dial: %w", syscall.ECONNREFUSED))
	if n := e.mail.Taken("kim@example.org"); n != 0 {
		t.Fatalf("%d counted after two refunds", n)
	}
	take().Unanswered(context.Background(), errors.New("client disconnected"))
	if n := e.mail.Taken("kim@example.org"); n != 1 {
		t.Fatalf("%d counted, want 1", n)
	}
}

// A browser gets the flow's page with the message; a malformed address is
// refused; a store that cannot be reached stops the request; without
// limits nothing is counted.
func TestMailRefusals(t *testing.T) {
	e := newRig(t)
	for range testMailLimits.PerAddress {
		e.codeRequest(kratos.Recovery, "192.0.2.13", "lu@example.org")
	}
	_, refused := e.codeRequest(kratos.Recovery, "192.0.2.13", "lu@example.org")
	if refused == nil {
		t.Fatal("not refused")
	}
	// The fake has no browser recovery flows: the error page says it.
	rec, _ := e.codeRequestAs("text/html", "lu@example.org")
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "Too many emails were requested. Try again in 60 minutes.") {
		t.Fatalf("browser: %d %s", rec.Code, rec.Body)
	}

	if rec, _ := e.codeRequestAs("application/json", "not an\naddress"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "bad_email") {
		t.Fatalf("malformed: %d %s", rec.Code, rec.Body)
	}
	e.mail.Err = errors.New("connection refused")
	if rec, _ := e.codeRequestAs("application/json", "mo@example.org"); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "30" {
		t.Fatalf("store down: %d %s", rec.Code, rec.Body)
	}
	off := New(Options{Logger: e.logs.Logger()})
	if m, ok := off.Mail(nil, nil, e.client(), kratos.Recovery, "mo@example.org"); m != nil || !ok {
		t.Fatal("counted without limits")
	}
}
