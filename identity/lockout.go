package identity

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/learnplatform/platform/kit/config"
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
		return config.Problem(prefix+".max_failures", "must be at least 1, got %d", p.MaxFailures)
	case p.Window <= 0:
		return config.Problem(prefix+".window", "must be positive")
	case p.Duration <= 0:
		return config.Problem(prefix+".duration", "must be positive")
	case p.IPThrottle.MaxFailures < 1:
		return config.Problem(prefix+".ip_throttle.max_failures", "must be at least 1, got %d", p.IPThrottle.MaxFailures)
	case p.IPThrottle.Window <= 0 || p.IPThrottle.Block <= 0:
		return config.Problem(prefix+".ip_throttle", "window and block must be positive")
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

// Failure is what recording a failed sign-in led to.
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
	// Blocked reports until when identifier is locked and ip throttled
	// (zero times when they are not).
	Blocked(ctx context.Context, identifier, ip string, now time.Time) (lockedUntil, ipBlockedUntil time.Time, err error)
	// Failed counts one failed password sign-in, exactly, however many
	// arrive at once.
	Failed(ctx context.Context, identifier, ip string, now time.Time) (Failure, error)
	// Succeeded resets identifier's count after a successful sign-in.
	Succeeded(ctx context.Context, identifier string) error
	// Locked lists the identifiers locked at now.
	Locked(ctx context.Context, now time.Time) ([]Lock, error)
	// Clear removes identifier's lock and count; false if there was none.
	Clear(ctx context.Context, identifier string) (bool, error)
}
