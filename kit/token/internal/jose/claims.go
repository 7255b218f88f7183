package jose

import (
	"encoding/json"
	"math"
	"time"
)

// Claims are the payload fields kit/token reads.
type Claims struct {
	Iss           string
	Sub           string
	Aud           []string
	Exp           NumericDate
	Nbf           NumericDate
	Iat           NumericDate
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

// NumericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional.
type NumericDate struct {
	Set bool // the claim is present (and not null)
	Sec float64
}

// maxUnix is the end of year 9999, to keep time conversions in range.
const maxUnix = 253402300799

// Time is d as a time, clamped to the years -9999 to 9999.
func (d NumericDate) Time() time.Time {
	s := math.Max(math.Min(d.Sec, maxUnix), -maxUnix)
	whole, frac := math.Modf(s)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC()
}

// ParseClaims decodes the claims JSON with encoding/json, by these rules
// (checked against jwx's JWT claims decoder by FuzzParseClaims):
//   - keys match exactly, the last occurrence of a key wins, and every
//     occurrence must have the right type (see eachMember); null means
//     absent;
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
func ParseClaims(b []byte) (Claims, error) {
	var c Claims
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
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, &d.Sec); err != nil {
		return err
	}
	d.Set = true
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
