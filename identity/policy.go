package identity

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PasswordRules is one password profile: what every new password must have.
// Kratos' own checks (minimum length, similarity to the identifier, and the
// breached-password lookup when enabled) still run after these pass.
type PasswordRules struct {
	// MinLength in characters (Unicode code points), at least 8.
	MinLength int `yaml:"min_length"`
	// MaxLength in characters; long passphrases are welcome, megabytes are not.
	MaxLength      int  `yaml:"max_length"`
	RequireUpper   bool `yaml:"require_upper"`
	RequireLower   bool `yaml:"require_lower"`
	RequireDigit   bool `yaml:"require_digit"`
	RequireSpecial bool `yaml:"require_special"`
}

// Rule names, stable: the strength meter and tests refer to them.
const (
	RuleMinLength = "min_length"
	RuleMaxLength = "max_length"
	RuleUpper     = "upper"
	RuleLower     = "lower"
	RuleDigit     = "digit"
	RuleSpecial   = "special"
)

// Message ids of the platform's password rules, in the range Kratos leaves
// free for validation messages of its integrators (Kratos' own are 40000xx).
const (
	MsgMinLength int64 = 4000901 + iota
	MsgMaxLength
	MsgUpper
	MsgLower
	MsgDigit
	MsgSpecial
)

// Violation is one unmet rule.
type Violation struct {
	Rule string
	ID   int64
	Text string
}

// Rule is a rule as the strength meter shows it.
type Rule struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Rules lists the profile's rules in the order they are shown.
func (p PasswordRules) Rules() []Rule {
	rules := []Rule{{RuleMinLength, fmt.Sprintf("At least %d characters", p.MinLength)}}
	if p.RequireUpper {
		rules = append(rules, Rule{RuleUpper, "An upper-case letter (A-Z)"})
	}
	if p.RequireLower {
		rules = append(rules, Rule{RuleLower, "A lower-case letter (a-z)"})
	}
	if p.RequireDigit {
		rules = append(rules, Rule{RuleDigit, "A digit (0-9)"})
	}
	if p.RequireSpecial {
		rules = append(rules, Rule{RuleSpecial, "A special character, such as ! ? - _ # or a space"})
	}
	return rules
}

// Check returns one violation per unmet rule; none means the password may
// go on to Kratos.
func (p PasswordRules) Check(password string) []Violation {
	var v []Violation
	n := utf8.RuneCountInString(password)
	if n < p.MinLength {
		v = append(v, Violation{RuleMinLength, MsgMinLength,
			fmt.Sprintf("The password must be at least %d characters long, but has %d.", p.MinLength, n)})
	}
	if p.MaxLength > 0 && n > p.MaxLength {
		v = append(v, Violation{RuleMaxLength, MsgMaxLength,
			fmt.Sprintf("The password must be at most %d characters long, but has %d.", p.MaxLength, n)})
	}
	var upper, lower, digit, special bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsLetter(r): // letters without case (CJK, ...) are neither
		default:
			special = true
		}
	}
	if p.RequireUpper && !upper {
		v = append(v, Violation{RuleUpper, MsgUpper, "The password must contain an upper-case letter (A-Z)."})
	}
	if p.RequireLower && !lower {
		v = append(v, Violation{RuleLower, MsgLower, "The password must contain a lower-case letter (a-z)."})
	}
	if p.RequireDigit && !digit {
		v = append(v, Violation{RuleDigit, MsgDigit, "The password must contain a digit (0-9)."})
	}
	if p.RequireSpecial && !special {
		v = append(v, Violation{RuleSpecial, MsgSpecial, "The password must contain a special character (not a letter or digit)."})
	}
	return v
}

// Profiles shipped by default; an operator's YAML may redefine them.
const (
	// ProfileComposition: 12+ characters with upper, lower, digit and special.
	ProfileComposition = "composition"
	// ProfileLengthOnly: 12+ characters and no composition rules, as
	// OWASP ASVS 2.1.9 asks.
	ProfileLengthOnly = "length-only"
)

// DefaultProfiles are the two profiles every deployment has.
func DefaultProfiles() map[string]PasswordRules {
	return map[string]PasswordRules{
		ProfileComposition: {MinLength: 12, MaxLength: 128, RequireUpper: true, RequireLower: true, RequireDigit: true, RequireSpecial: true},
		ProfileLengthOnly:  {MinLength: 12, MaxLength: 128},
	}
}

// PasswordPolicy selects the active profile.
type PasswordPolicy struct {
	Profile  string                   `yaml:"profile"`
	Profiles map[string]PasswordRules `yaml:"profiles"`
}

// Active returns the rules of the selected profile.
func (p PasswordPolicy) Active() PasswordRules { return p.Profiles[p.Profile] }

func (p PasswordPolicy) validate(prefix string) error {
	if _, ok := p.Profiles[p.Profile]; !ok {
		names := make([]string, 0, len(p.Profiles))
		for n := range p.Profiles {
			names = append(names, n)
		}
		return problem(prefix+".profile", "unknown profile %q (known: %s)", p.Profile, strings.Join(names, ", "))
	}
	for name, r := range p.Profiles {
		key := prefix + ".profiles." + name
		if r.MinLength < 8 {
			return problem(key+".min_length", "must be at least 8, got %d", r.MinLength)
		}
		if r.MaxLength != 0 && r.MaxLength < r.MinLength {
			return problem(key+".max_length", "must not be below min_length (%d), got %d", r.MinLength, r.MaxLength)
		}
	}
	return nil
}
