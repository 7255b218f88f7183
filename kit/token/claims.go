package token

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/learnplatform/platform/kit/account"
)

// claims are the payload fields the platform reads.
type claims struct {
	Iss           string
	Sub           string
	Aud           []string
	Exp           numericDate
	Nbf           numericDate
	Iat           numericDate
	Email         string
	EmailVerified bool
	Name          string
	Role          string
	Scp           []string
	Scope         string
	ClientID      string
	Jti           string
	SessionID     string
	Acr           string
	Amr           []string
	// AtHash and Nonce record only that the member occurs (with any
	// value, null included): either marks an ID token, whatever it holds.
	AtHash bool
	Nonce  bool
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional.
type numericDate struct {
	set bool
	sec float64
}

// maxUnix is the end of year 9999, to keep time conversions in range.
const maxUnix = 253402300799

func (d numericDate) time() time.Time {
	s := math.Max(math.Min(d.sec, maxUnix), -maxUnix)
	whole, frac := math.Modf(s)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC()
}

// parseClaims decodes the claims JSON with encoding/json, by these rules
// (checked against jwx's JWT claims decoder by FuzzParseClaims):
//   - keys match exactly, the last occurrence of a key wins (see
//     eachMember), and null means absent;
//   - iss, sub, email, name, role, scope, client_id, jti, session_id, acr
//     are strings; email_verified a bool; exp, nbf, iat numbers; aud, scp
//     and amr a string or an array of strings (a null element reads as "");
//   - at_hash and nonce only count as present, with any value (null too):
//     they mark an ID token, and a refusal must not hinge on their type;
//   - every other member is skipped, but must be valid JSON.
//
// jwx's jwt.Token is not used for the claims: it also takes a date as a
// string, even as RFC 3339 text, and cuts it to whole seconds unless a
// process-wide setting says otherwise; and all but its seven registered
// claims would still need the checks here.
func parseClaims(b []byte) (claims, error) {
	var c claims
	err := eachMember(b, func(key string, value json.RawMessage) error {
		switch key {
		case "iss":
			return decode(value, &c.Iss)
		case "sub":
			return decode(value, &c.Sub)
		case "email":
			return decode(value, &c.Email)
		case "email_verified":
			return decode(value, &c.EmailVerified)
		case "name":
			return decode(value, &c.Name)
		case "role":
			return decode(value, &c.Role)
		case "scope":
			return decode(value, &c.Scope)
		case "client_id":
			return decode(value, &c.ClientID)
		case "jti":
			return decode(value, &c.Jti)
		case "session_id":
			return decode(value, &c.SessionID)
		case "acr":
			return decode(value, &c.Acr)
		case "exp":
			return decode(value, &c.Exp)
		case "nbf":
			return decode(value, &c.Nbf)
		case "iat":
			return decode(value, &c.Iat)
		case "aud":
			return decode(value, (*stringList)(&c.Aud))
		case "scp":
			return decode(value, (*stringList)(&c.Scp))
		case "amr":
			return decode(value, (*stringList)(&c.Amr))
		case "at_hash":
			c.AtHash = true
		case "nonce":
			c.Nonce = true
		}
		return nil
	})
	return c, err
}

// UnmarshalJSON reads a JSON number; null leaves the date absent.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, &d.sec); err != nil {
		return err
	}
	d.set = true
	return nil
}

// stringList is a claim that may be one string or an array of strings;
// null reads as absent (nil), a null element as "".
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if b[0] == '"' {
		*l = []string{""}
		return json.Unmarshal(b, &(*l)[0])
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// userFrom checks the claims of a verified token and returns the user
// they describe.
func (v *Validator) userFrom(c claims, now time.Time) (User, error) {
	if c.Iss != v.issuer {
		return User{}, invalid("issuer", "token was issued by another issuer", nil)
	}
	// Hydra signs ID tokens with keys from the same JWKS, so the signature
	// cannot tell them apart: an ID token carries at_hash or nonce, and
	// never client_id, which Hydra puts in every access token.
	if c.AtHash || c.Nonce || c.ClientID == "" {
		return User{}, invalid("token_type", "this is not an access token (ID tokens are not accepted)", nil)
	}
	if !c.Exp.set {
		return User{}, invalid("claims", "token has no expiry (exp)", nil)
	}
	nowSec := float64(now.UnixNano()) / 1e9
	leeway := v.leeway.Seconds()
	if expired(c.Exp.sec, now, v.leeway) {
		return User{}, invalid("expired", "token expired", nil)
	}
	if c.Nbf.set && nowSec+leeway < c.Nbf.sec {
		return User{}, invalid("not_yet_valid", "token is not valid yet (nbf)", nil)
	}
	if c.Iat.set && nowSec+leeway < c.Iat.sec {
		return User{}, invalid("not_yet_valid", "token was issued in the future (iat)", nil)
	}
	if v.audience != "" && !slices.Contains(c.Aud, v.audience) {
		return User{}, invalid("audience", "token is not meant for this service (aud)", nil)
	}
	if c.Sub == "" {
		return User{}, invalid("claims", "token has no subject (sub)", nil)
	}
	u := User{
		User: account.User{
			ID:            c.Sub,
			Email:         c.Email,
			EmailVerified: c.EmailVerified,
			Role:          c.Role,
			Name:          c.Name,
		},
		ExpiresAt: c.Exp.time(),
		ClientID:  c.ClientID,
		TokenID:   c.Jti,
		SessionID: c.SessionID,
		AMR:       c.Amr,
		ACR:       c.Acr,
		// Hydra's client_credentials tokens name the client as the
		// subject; a learner's token names the Kratos identity.
		Machine: c.Sub == c.ClientID,
	}
	if c.Iat.set {
		u.IssuedAt = c.Iat.time()
	}
	if u.Role == "" {
		u.Role = account.RoleStudent
	}
	switch {
	case len(c.Scp) == 1 && strings.ContainsAny(c.Scp[0], " \t"):
		u.Scopes = strings.Fields(c.Scp[0])
	case len(c.Scp) > 0:
		u.Scopes = c.Scp
	default:
		u.Scopes = strings.Fields(c.Scope)
	}
	return u, nil
}

// expired is the exp rule (exp passed by more than the leeway), shared by
// full validations and cache hits so both refuse at the same instant.
func expired(exp float64, now time.Time, leeway time.Duration) bool {
	return float64(now.UnixNano())/1e9 > exp+leeway.Seconds()
}
