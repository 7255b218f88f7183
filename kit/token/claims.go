package token

import (
	"github.com/learnplatform/platform/kit/account"

	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// parseClaims decodes the claims JSON. It is a small purpose-built scanner
// rather than encoding/json: reflection-based decoding was the largest cost
// of validation after RSA. It accepts exactly the JSON encoding/json
// accepts, with these rules, checked against encoding/json by
// FuzzParseClaims:
//   - keys match exactly (encoding/json would also match "ISS" to iss);
//   - the last occurrence of a key wins; null means absent;
//   - iss, sub, email, name, role, scope, client_id, jti, session_id, acr
//     are strings; email_verified a bool; exp, nbf, iat numbers; aud, scp
//     and amr a string or an array of strings;
//   - at_hash and nonce only count as present, with any value (null too):
//     they mark an ID token, and a refusal must not hinge on their type;
//   - every other member is skipped, but must be valid JSON.
func parseClaims(b []byte) (claims, error) {
	var c claims
	s := scanner{b: b}
	err := s.object(func(key []byte) (err error) {
		switch string(key) {
		case "iss":
			c.Iss, err = s.strOrNull()
		case "sub":
			c.Sub, err = s.strOrNull()
		case "email":
			c.Email, err = s.strOrNull()
		case "name":
			c.Name, err = s.strOrNull()
		case "role":
			c.Role, err = s.strOrNull()
		case "scope":
			c.Scope, err = s.strOrNull()
		case "email_verified":
			c.EmailVerified, err = s.boolOrNull()
		case "exp":
			c.Exp, err = s.dateOrNull()
		case "nbf":
			c.Nbf, err = s.dateOrNull()
		case "iat":
			c.Iat, err = s.dateOrNull()
		case "aud":
			c.Aud, err = s.strListOrNull()
		case "scp":
			c.Scp, err = s.strListOrNull()
		case "client_id":
			c.ClientID, err = s.strOrNull()
		case "jti":
			c.Jti, err = s.strOrNull()
		case "session_id":
			c.SessionID, err = s.strOrNull()
		case "acr":
			c.Acr, err = s.strOrNull()
		case "amr":
			c.Amr, err = s.strListOrNull()
		case "at_hash":
			c.AtHash, err = true, s.skip(0)
		case "nonce":
			c.Nonce, err = true, s.skip(0)
		default:
			err = s.skip(0)
		}
		return err
	})
	return c, err
}

var (
	errSyntax = errors.New("claims are not valid JSON")
	errType   = errors.New("a claim has the wrong type")
)

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

type scanner struct {
	b []byte
	i int
}

// object reads the whole input as one JSON object, calling member for each
// key with the scanner at the value, which member must consume. The key is
// only valid during the call (it may alias the input).
func (s *scanner) object(member func(key []byte) error) error {
	s.ws()
	if !s.eat('{') {
		return errSyntax
	}
	s.ws()
	if s.eat('}') {
		return s.end()
	}
	for {
		s.ws()
		key, err := s.key()
		if err != nil {
			return err
		}
		s.ws()
		if !s.eat(':') {
			return errSyntax
		}
		s.ws()
		if err := member(key); err != nil {
			return err
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return s.end()
		}
		return errSyntax
	}
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errSyntax
	}
	return nil
}

// literal consumes word (true, false, null) if it is next.
func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// strEnd returns the index after the closing quote of the string starting
// at s.i, and whether it needs unescaping or UTF-8 repair.
func (s *scanner) strEnd() (end int, plain bool, err error) {
	if s.peek() != '"' {
		return 0, false, errSyntax
	}
	plain = true
	for i := s.i + 1; i < len(s.b); i++ {
		c := s.b[i]
		switch {
		case c == '"':
			return i + 1, plain, nil
		case c < 0x20:
			return 0, false, errSyntax
		case c == '\\':
			plain = false
			i++
			if i >= len(s.b) {
				return 0, false, errSyntax
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) {
					return 0, false, errSyntax
				}
				for _, h := range s.b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, false, errSyntax
					}
				}
				i += 4
			default:
				return 0, false, errSyntax
			}
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return 0, false, errSyntax
}

// str decodes the JSON string at s.i. Plain ASCII strings (every string
// Hydra writes, in practice) are sliced directly; anything with escapes or
// non-ASCII bytes goes through encoding/json for its exact semantics.
func (s *scanner) str() (string, error) {
	end, plain, err := s.strEnd()
	if err != nil {
		return "", err
	}
	raw := s.b[s.i:end]
	s.i = end
	if plain {
		return string(raw[1 : len(raw)-1]), nil
	}
	var out string
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", errSyntax
	}
	return out, nil
}

// key is str without the copy: plain keys are returned as a slice of the
// input, so matching them (switch string(key)) allocates nothing.
func (s *scanner) key() ([]byte, error) {
	end, plain, err := s.strEnd()
	if err != nil {
		return nil, err
	}
	if plain {
		k := s.b[s.i+1 : end-1]
		s.i = end
		return k, nil
	}
	k, err := s.str()
	return []byte(k), err
}

func (s *scanner) strOrNull() (string, error) {
	if s.literal("null") {
		return "", nil
	}
	if s.peek() != '"' {
		return "", s.typeErr()
	}
	return s.str()
}

func (s *scanner) boolOrNull() (bool, error) {
	switch {
	case s.literal("null"), s.literal("false"):
		return false, nil
	case s.literal("true"):
		return true, nil
	}
	return false, s.typeErr()
}

func (s *scanner) dateOrNull() (numericDate, error) {
	if s.literal("null") {
		return numericDate{}, nil
	}
	c := s.peek()
	if c != '-' && (c < '0' || c > '9') {
		return numericDate{}, s.typeErr()
	}
	start := s.i
	if err := s.number(); err != nil {
		return numericDate{}, err
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	if err != nil {
		return numericDate{}, errType // out of float64 range
	}
	return numericDate{set: true, sec: f}, nil
}

// strListOrNull reads a string (one element) or an array of strings; null
// elements become "" as with encoding/json.
func (s *scanner) strListOrNull() ([]string, error) {
	switch s.peek() {
	case 'n':
		if s.literal("null") {
			return nil, nil
		}
		return nil, errSyntax
	case '"':
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		return []string{v}, nil
	case '[':
	default:
		return nil, s.typeErr()
	}
	s.i++
	list := make([]string, 0, 4)
	s.ws()
	if s.eat(']') {
		return list, nil
	}
	for {
		s.ws()
		var v string
		var err error
		if s.literal("null") {
			v = ""
		} else if s.peek() == '"' {
			v, err = s.str()
		} else {
			err = s.typeErr()
		}
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return list, nil
		}
		return nil, errSyntax
	}
}

// typeErr reports a value of the wrong type, unless it is not JSON at all:
// like encoding/json, syntax errors win over type errors.
func (s *scanner) typeErr() error {
	if err := s.skip(0); err != nil {
		return err
	}
	return errType
}

// number consumes a JSON number (RFC 8259 grammar).
func (s *scanner) number() error {
	s.eat('-')
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return errSyntax
	}
	if s.eat('.') {
		if c := s.peek(); c < '0' || c > '9' {
			return errSyntax
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if c := s.peek(); c < '0' || c > '9' {
			return errSyntax
		}
		s.digits()
	}
	return nil
}

func (s *scanner) digits() {
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
}

// skip consumes any JSON value, checking its syntax.
func (s *scanner) skip(depth int) error {
	switch c := s.peek(); {
	case c == '"':
		end, _, err := s.strEnd()
		if err != nil {
			return err
		}
		s.i = end
		return nil
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		if s.literal("true") {
			return nil
		}
	case c == 'f':
		if s.literal("false") {
			return nil
		}
	case c == 'n':
		if s.literal("null") {
			return nil
		}
	case c == '[' || c == '{':
		if depth >= maxDepth {
			return errSyntax
		}
		s.i++
		closing := byte(']')
		if c == '{' {
			closing = '}'
		}
		s.ws()
		if s.eat(closing) {
			return nil
		}
		for {
			s.ws()
			if c == '{' {
				end, _, err := s.strEnd()
				if err != nil {
					return err
				}
				s.i = end
				s.ws()
				if !s.eat(':') {
					return errSyntax
				}
				s.ws()
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat(closing) {
				return nil
			}
			return errSyntax
		}
	}
	return errSyntax
}

// userFrom decodes and checks the verified payload. It also returns exp in
// seconds, which the cache of verified tokens keeps to apply the same
// expiry rule on later hits.
func (v *Validator) userFrom(payload []byte, now time.Time) (User, float64, error) {
	c, err := parseClaims(payload)
	if err != nil {
		return User{}, 0, invalid("claims", "token claims are not valid JSON of the expected types", err)
	}
	if c.Iss != v.issuer {
		return User{}, 0, invalid("issuer", "token was issued by another issuer", nil)
	}
	// Hydra signs ID tokens with keys from the same JWKS, so the signature
	// cannot tell them apart: an ID token carries at_hash or nonce, and
	// never client_id, which Hydra puts in every access token.
	if c.AtHash || c.Nonce || c.ClientID == "" {
		return User{}, 0, invalid("token_type", "this is not an access token (ID tokens are not accepted)", nil)
	}
	if !c.Exp.set {
		return User{}, 0, invalid("claims", "token has no expiry (exp)", nil)
	}
	nowSec := float64(now.UnixNano()) / 1e9
	leeway := v.leeway.Seconds()
	if expired(c.Exp.sec, now, v.leeway) {
		return User{}, 0, invalid("expired", "token expired", nil)
	}
	if c.Nbf.set && nowSec+leeway < c.Nbf.sec {
		return User{}, 0, invalid("not_yet_valid", "token is not valid yet (nbf)", nil)
	}
	if c.Iat.set && nowSec+leeway < c.Iat.sec {
		return User{}, 0, invalid("not_yet_valid", "token was issued in the future (iat)", nil)
	}
	if v.audience != "" && !containsString(c.Aud, v.audience) {
		return User{}, 0, invalid("audience", "token is not meant for this service (aud)", nil)
	}
	if c.Sub == "" {
		return User{}, 0, invalid("claims", "token has no subject (sub)", nil)
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
	return u, c.Exp.sec, nil
}

// expired is the exp rule (exp passed by more than the leeway), shared by
// full validations and cache hits so both refuse at the same instant.
func expired(exp float64, now time.Time, leeway time.Duration) bool {
	return float64(now.UnixNano())/1e9 > exp+leeway.Seconds()
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
