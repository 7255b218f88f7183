package identity

import (
	"errors"
	"testing"
	"time"
)

// A policy value out of range is named by its key in the policy file.
func TestPolicyValidateNamesTheKey(t *testing.T) {
	for key, edit := range map[string]func(p *Policy){
		"password_policy.profile": func(p *Policy) { p.PasswordPolicy.Profile = "strict" },
		"password_policy.profiles.composition.min_length": func(p *Policy) {
			r := p.PasswordPolicy.Profiles[ProfileComposition]
			r.MinLength = 6
			p.PasswordPolicy.Profiles[ProfileComposition] = r
		},
		"password_policy.profiles.length-only.max_length": func(p *Policy) {
			r := p.PasswordPolicy.Profiles[ProfileLengthOnly]
			r.MaxLength = 10
			p.PasswordPolicy.Profiles[ProfileLengthOnly] = r
		},
		"lockout.max_failures":             func(p *Policy) { p.Lockout.MaxFailures = 0 },
		"lockout.window":                   func(p *Policy) { p.Lockout.Window = 0 },
		"lockout.duration":                 func(p *Policy) { p.Lockout.Duration = -time.Minute },
		"lockout.ip_throttle.max_failures": func(p *Policy) { p.Lockout.IPThrottle.MaxFailures = 0 },
		"lockout.ip_throttle":              func(p *Policy) { p.Lockout.IPThrottle.Block = 0 },
		"mail_limits.per_address":          func(p *Policy) { p.MailLimits.PerAddress = 0 },
		"mail_limits.per_ip":               func(p *Policy) { p.MailLimits.PerIP = -1 },
		"mail_limits.window":               func(p *Policy) { p.MailLimits.Window = 0 },
	} {
		p := DefaultPolicy()
		edit(&p)
		var pe *PolicyError
		if err := p.Validate(); !errors.As(err, &pe) || pe.Key != key || pe.Problem == "" {
			t.Errorf("%s: %v", key, err)
		}
	}
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("the default policy: %v", err)
	}
}
