package token

// The hand-written JWS and JSON scanner this package used before jwx took
// over the parsing (issue 16), kept for BenchmarkCacheMiss only: it
// compares the cache-miss path with jwx against the same path with this
// scanner, in the same run.

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// verifyWithScanner is verify as it was with the scanner.
func (v *Validator) verifyWithScanner(ctx context.Context, raw string, now time.Time) (User, cacheEntry, error) {
	tok, err := scanCompact(raw)
	if err != nil {
		return User{}, cacheEntry{}, err
	}
	if tok.header.Alg != "RS256" {
		return User{}, cacheEntry{}, invalid("algorithm", "token must be signed with RS256", nil)
	}
	if tok.header.Crit {
		return User{}, cacheEntry{}, invalid("malformed", "token uses critical header extensions", nil)
	}
	if tok.header.B64 {
		return User{}, cacheEntry{}, invalid("malformed", "token uses the b64 header", nil)
	}
	if tok.header.Kid == "" {
		return User{}, cacheEntry{}, invalid("unknown_key", "token names no signing key (kid)", nil)
	}
	ks, keys, err := v.keysFor(ctx, tok.header.Kid, now)
	if err != nil {
		return User{}, cacheEntry{}, err
	}
	var key *rsa.PublicKey
	for _, k := range keys {
		if v.verifier.Verify(tok.signingInput, tok.signature, k) == nil {
			key = k
			break
		}
	}
	if key == nil {
		return User{}, cacheEntry{}, invalid("signature", "signature does not match the signing key", nil)
	}
	c, err := scanClaims(tok.payload)
	if err != nil {
		return User{}, cacheEntry{}, invalid("claims", "token claims are not valid JSON of the expected types", err)
	}
	u, err := v.userFrom(c, now)
	if err != nil {
		return User{}, cacheEntry{}, err
	}
	return u, cacheEntry{user: u, exp: c.Exp.sec, kid: tok.header.Kid, key: key, keys: ks}, nil
}

// scannedToken is a JWS in compact serialization, split and decoded.
//
// This package parses the compact form itself rather than through
// jws.Parse/jws.Verify: it needs four header fields, and jwx's generic
// header decoding (which also parses embedded jwk, x5c and friends that we
// ignore anyway) was the largest cost after RSA itself. The signature is
// still checked by jwx's RS256 verifier with keys parsed by jwx.
type scannedToken struct {
	header       scannedHeader
	signingInput []byte // header "." payload, as sent: what the signature covers
	payload      []byte // decoded claims JSON
	signature    []byte
}

// scannedHeader holds the protected header fields validation looks at. Others
// (typ, jku, x5u, x5c, jwk, ...) are ignored: keys come from the JWKS only.
type scannedHeader struct {
	Alg  string
	Kid  string
	Crit bool // a crit member is present (any value)
	B64  bool // a b64 member is present (any value)
}

// scanHeader decodes the protected header with the claims scanner: keys
// match exactly, the last occurrence wins, and alg and kid must be strings.
func scanHeader(b []byte) (scannedHeader, error) {
	var h scannedHeader
	s := scanner{b: b}
	err := s.object(func(key []byte) (err error) {
		switch string(key) {
		case "alg":
			h.Alg, err = s.strOrNull()
		case "kid":
			h.Kid, err = s.strOrNull()
		case "crit":
			h.Crit, err = true, s.skip(0)
		case "b64":
			h.B64, err = true, s.skip(0)
		default:
			err = s.skip(0)
		}
		return err
	})
	return h, err
}

// scanB64 is the unpadded base64url of RFC 7515, strict: non-zero trailing
// bits are refused, so no two strings decode to the same signature.
var scanB64 = base64.RawURLEncoding.Strict()

// scanAlphabet marks the bytes allowed in a segment.
var scanAlphabet = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = true
	}
	return t
}()

// scanCompact accepts exactly three base64url segments (no padding, no
// whitespace, no JSON serialization) within MaxTokenSize, whose first
// segment decodes to a JSON object.
func scanCompact(raw string) (scannedToken, error) {
	var t scannedToken
	if raw == "" {
		return t, invalid("malformed", "token is empty", nil)
	}
	if len(raw) > MaxTokenSize {
		return t, invalid("malformed", "token is too long", nil)
	}
	dot1, dot2 := -1, -1
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if scanAlphabet[c] {
			continue
		}
		if c != '.' || dot2 >= 0 {
			return t, invalid("malformed", "token is not a compact JWS", nil)
		}
		if dot1 < 0 {
			dot1 = i
		} else {
			dot2 = i
		}
	}
	if dot2 < 0 {
		return t, invalid("malformed", "token is not a compact JWS", nil)
	}
	buf := []byte(raw)
	header, err := scanB64.DecodeString(raw[:dot1])
	if err != nil {
		return t, invalid("malformed", "token header is not base64url", nil)
	}
	if t.header, err = scanHeader(header); err != nil {
		return t, invalid("malformed", "token header is not a JSON object of the expected types", err)
	}
	t.payload = make([]byte, scanB64.DecodedLen(dot2-dot1-1))
	n, err := scanB64.Decode(t.payload, buf[dot1+1:dot2])
	if err != nil {
		return t, invalid("malformed", "token payload is not base64url", nil)
	}
	t.payload = t.payload[:n]
	t.signature = make([]byte, scanB64.DecodedLen(len(raw)-dot2-1))
	n, err = scanB64.Decode(t.signature, buf[dot2+1:])
	if err != nil {
		return t, invalid("malformed", "token signature is not base64url", nil)
	}
	t.signature = t.signature[:n]
	t.signingInput = buf[:dot2]
	return t, nil
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
func scanClaims(b []byte) (claims, error) {
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
	errScanSyntax = errors.New("claims are not valid JSON")
	errScanType   = errors.New("a claim has the wrong type")
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
		return errScanSyntax
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
			return errScanSyntax
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
		return errScanSyntax
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
		return errScanSyntax
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
		return 0, false, errScanSyntax
	}
	plain = true
	for i := s.i + 1; i < len(s.b); i++ {
		c := s.b[i]
		switch {
		case c == '"':
			return i + 1, plain, nil
		case c < 0x20:
			return 0, false, errScanSyntax
		case c == '\\':
			plain = false
			i++
			if i >= len(s.b) {
				return 0, false, errScanSyntax
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) {
					return 0, false, errScanSyntax
				}
				for _, h := range s.b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, false, errScanSyntax
					}
				}
				i += 4
			default:
				return 0, false, errScanSyntax
			}
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return 0, false, errScanSyntax
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
		return "", errScanSyntax
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
		return numericDate{}, errScanType // out of float64 range
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
		return nil, errScanSyntax
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
		return nil, errScanSyntax
	}
}

// typeErr reports a value of the wrong type, unless it is not JSON at all:
// like encoding/json, syntax errors win over type errors.
func (s *scanner) typeErr() error {
	if err := s.skip(0); err != nil {
		return err
	}
	return errScanType
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
		return errScanSyntax
	}
	if s.eat('.') {
		if c := s.peek(); c < '0' || c > '9' {
			return errScanSyntax
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if c := s.peek(); c < '0' || c > '9' {
			return errScanSyntax
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
			return errScanSyntax
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
					return errScanSyntax
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
			return errScanSyntax
		}
	}
	return errScanSyntax
}

// BenchmarkCacheMiss compares the cache-miss path (verify: form, header,
// RSA-4096 signature, claims) with jwx parsing the token against the same
// path with the scanner. The two alternate, each going first every other
// time, and the figures are medians of single runs: on a shared machine a
// sum soaks up whatever load spike hits one side. It reports jwx/scanner;
// issue 16 keeps the scanner only above 1.2.
func BenchmarkCacheMiss(b *testing.B) {
	key := hydraKey()
	fx := newFixture(b, func(c *Config) { c.Now = time.Now; c.CacheSize = -1 })
	fx.srv.serve(b, map[string]*rsa.PrivateKey{kidA: key})
	if err := fx.v.Ready(context.Background()); err != nil {
		b.Fatal(err)
	}
	tok := sign(b, jwa.RS256, key, kidA, with(claimsAt(time.Now()), "session_id", "kratos-session-1", "amr", []string{"pwd"}, "acr", "aal1"))
	ctx := context.Background()
	timed := func(verify func(context.Context, string, time.Time) (User, cacheEntry, error)) time.Duration {
		start := time.Now()
		if _, _, err := verify(ctx, tok, start); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var jwxT, scanT []time.Duration
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			jwxT = append(jwxT, timed(fx.v.verify))
			scanT = append(scanT, timed(fx.v.verifyWithScanner))
		} else {
			scanT = append(scanT, timed(fx.v.verifyWithScanner))
			jwxT = append(jwxT, timed(fx.v.verify))
		}
	}
	median := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Nanoseconds())
	}
	jwxNs, scanNs := median(jwxT), median(scanT)
	b.ReportMetric(jwxNs, "jwx-ns/op")
	b.ReportMetric(scanNs, "scanner-ns/op")
	b.ReportMetric(jwxNs/scanNs, "jwx/scanner")
}
