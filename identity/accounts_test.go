package identity

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// steps records the calls an account action makes, in order, and fails
// those named in fail.
type steps struct {
	calls []string
	fail  map[string]error
}

func (s *steps) call(name string) error {
	s.calls = append(s.calls, name)
	return s.fail[name]
}

func (s *steps) SetRole(_ context.Context, id, role string) (string, error) {
	return "student", s.call("set_role " + id + " " + role)
}

func (s *steps) SetState(_ context.Context, id, state string) (string, error) {
	return "active", s.call("set_state " + id + " " + state)
}

func (s *steps) EndSessions(_ context.Context, id string) error {
	return s.call("kratos_sessions " + id)
}

type hydraSteps struct{ *steps }

func (h hydraSteps) EndSessions(_ context.Context, id string) error {
	return h.call("hydra_sessions " + id)
}

func (s *steps) RevokeSubject(_ context.Context, subject, keep, reason string) error {
	return s.call("revoke " + subject + " keep=" + keep + " " + reason)
}

func (s *steps) RevokeSession(_ context.Context, id, reason string) error {
	return s.call("revoke_session " + id + " " + reason)
}

func newAccounts(fail map[string]error) (*Accounts, *steps) {
	s := &steps{fail: fail}
	return &Accounts{Identities: s, OAuth: hydraSteps{s}, Revoker: s}, s
}

var errDown = errors.New("down")

func TestAccountActionsInOrder(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		run  func(a *Accounts) error
		want []string
	}{
		"set role": {func(a *Accounts) error { _, err := a.SetRole(ctx, "u", "admin"); return err },
			[]string{"set_role u admin", "revoke u keep= role_changed"}},
		"deactivate": {func(a *Accounts) error { _, err := a.SetState(ctx, "u", StateInactive); return err },
			[]string{"set_state u inactive", "kratos_sessions u", "hydra_sessions u", "revoke u keep= deactivated"}},
		"activate": {func(a *Accounts) error { _, err := a.SetState(ctx, "u", StateActive); return err },
			[]string{"set_state u active"}},
		"end sessions": {func(a *Accounts) error { return a.EndSessions(ctx, "u", ReasonSignOutEverywhere) },
			[]string{"kratos_sessions u", "hydra_sessions u", "revoke u keep= sign_out_everywhere"}},
	} {
		t.Run(name, func(t *testing.T) {
			a, s := newAccounts(nil)
			if err := c.run(a); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.calls, c.want) {
				t.Fatalf("calls %q, want %q", s.calls, c.want)
			}
		})
	}
	t.Run("a bad state is refused before Kratos", func(t *testing.T) {
		a, s := newAccounts(nil)
		if _, err := a.SetState(ctx, "u", "deleted"); err == nil || len(s.calls) != 0 {
			t.Fatalf("%v %q", err, s.calls)
		}
	})
}

// When Kratos' change fails nothing else happens and its error comes back
// as it is; after it, every step is tried and the revocation comes last.
func TestAccountActionFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("the change at Kratos fails", func(t *testing.T) {
		a, s := newAccounts(map[string]error{"set_state u inactive": errDown})
		_, err := a.SetState(ctx, "u", StateInactive)
		var ae *ActionError
		if !errors.Is(err, errDown) || errors.As(err, &ae) || len(s.calls) != 1 {
			t.Fatalf("%v %q", err, s.calls)
		}
	})
	t.Run("Hydra fails: tokens are revoked all the same", func(t *testing.T) {
		a, s := newAccounts(map[string]error{"hydra_sessions u": errDown})
		_, err := a.SetState(ctx, "u", StateInactive)
		var ae *ActionError
		if !errors.As(err, &ae) || !ae.Revoked() || !slices.Equal(ae.Failed, []string{StepOAuth}) || !errors.Is(err, errDown) {
			t.Fatalf("%v", err)
		}
		if s.calls[len(s.calls)-1] != "revoke u keep= deactivated" {
			t.Fatalf("calls %q", s.calls)
		}
		if msg := ae.Message(); !strings.Contains(msg, "the access tokens were revoked") || !strings.Contains(msg, "Hydra could not be ended") {
			t.Fatal(msg)
		}
	})
	t.Run("the revocation fails", func(t *testing.T) {
		a, _ := newAccounts(map[string]error{"revoke u keep= role_changed": errDown})
		previous, err := a.SetRole(ctx, "u", "student")
		var ae *ActionError
		if !errors.As(err, &ae) || ae.Revoked() || previous != "student" || !slices.Equal(ae.Done, []string{StepIdentity}) {
			t.Fatalf("%q %v", previous, err)
		}
		if msg := ae.Message(); !strings.HasPrefix(msg, "the change was made, but the access tokens were NOT revoked") {
			t.Fatal(msg)
		}
	})
	t.Run("Kratos' sessions fail after a deactivation", func(t *testing.T) {
		a, s := newAccounts(map[string]error{"kratos_sessions u": errDown})
		_, err := a.SetState(ctx, "u", StateInactive)
		var ae *ActionError
		if !errors.As(err, &ae) || !ae.Revoked() || !slices.Equal(ae.Failed, []string{StepSessions}) || len(s.calls) != 4 {
			t.Fatalf("%v %q", err, s.calls)
		}
	})
	t.Run("end sessions stops when Kratos fails", func(t *testing.T) {
		a, s := newAccounts(map[string]error{"kratos_sessions u": errDown})
		err := a.EndSessions(ctx, "u", ReasonSessionsRevoked)
		var ae *ActionError
		if !errors.Is(err, errDown) || errors.As(err, &ae) || len(s.calls) != 1 {
			t.Fatalf("%v %q", err, s.calls)
		}
	})
}
