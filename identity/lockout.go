package identity

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// LockoutPolicy is the operator's account-lockout policy: after
// MaxFailures failed password sign-ins for one identifier within Window the
// identifier is locked for Duration. The edge refuses a locked identifier's
// sign-ins before Kratos sees them.
type LockoutPolicy struct {
	MaxFailures int           `yaml:"max_failures"`
	Window      time.Duration `yaml:"window"`
	Duration    time.Duration `yaml:"duration"`
	// IPThrottle slows one address that fails against many accounts, so a
	// lockout cannot be used to keep many victims out cheaply.
	IPThrottle IPThrottle `yaml:"ip_throttle"`
}

// IPThrottle: more than MaxFailures failed sign-ins from one address within
// Window block that address's sign-ins for Block.
type IPThrottle struct {
	MaxFailures int           `yaml:"max_failures"`
	Window      time.Duration `yaml:"window"`
	Block       time.Duration `yaml:"block"`
}

// DefaultLockoutPolicy: 5 failures in 15 minutes lock for 30 minutes; 50
// failures from one address in 15 minutes block it for 15 minutes.
func DefaultLockoutPolicy() LockoutPolicy {
	return LockoutPolicy{MaxFailures: 5, Window: 15 * time.Minute, Duration: 30 * time.Minute,
		IPThrottle: IPThrottle{MaxFailures: 50, Window: 15 * time.Minute, Block: 15 * time.Minute}}
}

func (p LockoutPolicy) validate(prefix string) error {
	switch {
	case p.MaxFailures < 1:
		return problem(prefix+".max_failures", "must be at least 1, got %d", p.MaxFailures)
	case p.Window <= 0:
		return problem(prefix+".window", "must be positive")
	case p.Duration <= 0:
		return problem(prefix+".duration", "must be positive")
	case p.IPThrottle.MaxFailures < 1:
		return problem(prefix+".ip_throttle.max_failures", "must be at least 1, got %d", p.IPThrottle.MaxFailures)
	case p.IPThrottle.Window <= 0 || p.IPThrottle.Block <= 0:
		return problem(prefix+".ip_throttle", "window and block must be positive")
	}
	return nil
}

// NormalizeIdentifier makes the variants of one email share one counter:
// surrounding spaces and letter case do not matter (Kratos itself compares
// identifiers case-insensitively).
func NormalizeIdentifier(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// PlausibleIdentifier reports whether a normalized identifier can name an
// account at all: not empty, at most 320 bytes (an email's limit), valid
// UTF-8 without control characters.
func PlausibleIdentifier(s string) bool {
	if s == "" || len(s) > 320 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Lock is an identifier's lockout state.
type Lock struct {
	Identifier  string    `json:"identifier"`
	Failures    int       `json:"failures"`
	LockedAt    time.Time `json:"locked_at"`
	LockedUntil time.Time `json:"locked_until"`
}

// Reservation is one password sign-in counted before Kratos sees it.
// Reserve counts it as a failure at once, so parallel guesses cannot all
// pass a check before any of them is counted; Settle then keeps the count
// (a failure, or an outcome the edge could not read), resets it (a
// success) or gives it back (the attempt never reached Kratos).
type Reservation struct {
	Identifier string
	IP         string
	// LockedUntil is set when the identifier is locked: the attempt was
	// refused and not counted.
	LockedUntil time.Time
	// IPBlockedUntil is set when the address is throttled: refused, not
	// counted.
	IPBlockedUntil time.Time
	// Failures is the identifier's count with this attempt.
	Failures int
	// Locks is true when this attempt reached max_failures: the lock is in
	// force from now on, and lifted again if the attempt succeeds.
	Locks bool
	// Blocks is the same for the address throttle.
	Blocks bool
	// WindowStarted and IPWindowStarted identify the counting windows the
	// attempt was counted in (a refund applies only to the same window).
	WindowStarted   time.Time
	IPWindowStarted time.Time
}

// Refused reports whether the attempt must not reach Kratos.
func (r Reservation) Refused() bool { return !r.LockedUntil.IsZero() || !r.IPBlockedUntil.IsZero() }

// Outcome is what became of a reserved attempt.
type Outcome int

const (
	// OutcomeFailed: Kratos refused the credentials, or the edge could not
	// tell what happened (fail closed): the count stays.
	OutcomeFailed Outcome = iota
	// OutcomeSucceeded: a session was issued; the identifier's count is
	// reset and the address's attempt given back.
	OutcomeSucceeded
	// OutcomeNotSent: the attempt never reached Kratos (it could not be
	// connected to); both counts are given back.
	OutcomeNotSent
)

// Failure is what a failed (or unreadable) attempt led to.
type Failure struct {
	Failures int
	// LockedUntil is set when the identifier is now locked.
	LockedUntil time.Time
	// LockedNow is true when this failure caused the lock.
	LockedNow bool
	// IPBlockedUntil is set when the address is now throttled.
	IPBlockedUntil time.Time
	IPBlockedNow   bool
}

// Lockouts keeps lockout state where every identity replica sees it.
type Lockouts interface {
	// Reserve counts one password sign-in for identifier from ip before it
	// is sent to Kratos, atomically across replicas, or refuses it (the
	// identifier locked or the address throttled; nothing counted).
	Reserve(ctx context.Context, identifier, ip string, now time.Time) (Reservation, error)
	// Settle records what became of a reserved attempt; for OutcomeFailed
	// it reports whether this attempt's lock or block is in force.
	Settle(ctx context.Context, r Reservation, o Outcome, now time.Time) (Failure, error)
	// Locked lists the identifiers locked at now.
	Locked(ctx context.Context, now time.Time) ([]Lock, error)
	// Clear removes identifier's lock and count; false if there was none.
	Clear(ctx context.Context, identifier string) (bool, error)
}

// MailLimits bound the mail the platform and Kratos send through the
// edge (verification and recovery codes asked for through it, lockout
// notices): at most PerAddress to one address and PerIP asked for by one
// client address within Window.
type MailLimits struct {
	PerAddress int           `yaml:"per_address"`
	PerIP      int           `yaml:"per_ip"`
	Window     time.Duration `yaml:"window"`
}

// DefaultMailLimits: 5 mails per address and 20 per client address an hour.
func DefaultMailLimits() MailLimits {
	return MailLimits{PerAddress: 5, PerIP: 20, Window: time.Hour}
}

func (m MailLimits) validate(prefix string) error {
	switch {
	case m.PerAddress < 1:
		return problem(prefix+".per_address", "must be at least 1, got %d", m.PerAddress)
	case m.PerIP < 1:
		return problem(prefix+".per_ip", "must be at least 1, got %d", m.PerIP)
	case m.Window <= 0:
		return problem(prefix+".window", "must be positive")
	}
	return nil
}

// MailQuota counts mails per recipient and per client address, shared by
// every replica.
type MailQuota interface {
	// Take counts one mail to address asked for from ip ("" counts the
	// address only). When a limit is reached nothing is counted and
	// retryAt says when the next mail may go.
	Take(ctx context.Context, address, ip string, now time.Time) (ok bool, retryAt time.Time, err error)
	// Return gives back a mail that was not sent.
	Return(ctx context.Context, address, ip string) error
}
