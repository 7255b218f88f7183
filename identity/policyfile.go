package identity

import "fmt"

// Policy is the operator's identity policy file.
type Policy struct {
	PasswordPolicy PasswordPolicy `yaml:"password_policy"`
	Lockout        LockoutPolicy  `yaml:"lockout"`
	MailLimits     MailLimits     `yaml:"mail_limits"`
}

// DefaultPolicy is the policy before the operator's file is read.
func DefaultPolicy() Policy {
	return Policy{PasswordPolicy: PasswordPolicy{Profile: ProfileComposition, Profiles: DefaultProfiles()}, Lockout: DefaultLockoutPolicy(),
		MailLimits: DefaultMailLimits()}
}

// Validate checks the policy file.
func (p *Policy) Validate() error {
	if err := p.PasswordPolicy.validate("password_policy"); err != nil {
		return err
	}
	if err := p.Lockout.validate("lockout"); err != nil {
		return err
	}
	return p.MailLimits.validate("mail_limits")
}

// PolicyError is a value of the identity policy that is out of range.
type PolicyError struct {
	// Key is the value's dotted path in the policy file, like
	// lockout.max_failures.
	Key     string
	Problem string
}

func (e *PolicyError) Error() string { return e.Key + ": " + e.Problem }

// problem returns a PolicyError for key.
func problem(key, format string, args ...any) error {
	return &PolicyError{Key: key, Problem: fmt.Sprintf(format, args...)}
}
