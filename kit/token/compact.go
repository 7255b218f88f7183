package token

import (
	"encoding/base64"
)

// compactToken is a JWS in compact serialization, split and decoded.
//
// This package parses the compact form itself rather than through
// jws.Parse/jws.Verify: it needs four header fields, and jwx's generic
// header decoding (which also parses embedded jwk, x5c and friends that we
// ignore anyway) was the largest cost after RSA itself. The signature is
// still checked by jwx's RS256 verifier with keys parsed by jwx.
type compactToken struct {
	header       joseHeader
	signingInput []byte // header "." payload, as sent: what the signature covers
	payload      []byte // decoded claims JSON
	signature    []byte
}

// joseHeader holds the protected header fields validation looks at. Others
// (typ, jku, x5u, x5c, jwk, ...) are ignored: keys come from the JWKS only.
type joseHeader struct {
	Alg  string
	Kid  string
	Crit bool // a crit member is present (any value)
	B64  bool // a b64 member is present (any value)
}

// parseHeader decodes the protected header with the claims scanner: keys
// match exactly, the last occurrence wins, and alg and kid must be strings.
func parseHeader(b []byte) (joseHeader, error) {
	var h joseHeader
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

// b64url is the unpadded base64url of RFC 7515, strict: non-zero trailing
// bits are refused, so no two strings decode to the same signature.
var b64url = base64.RawURLEncoding.Strict()

// b64urlAlphabet marks the bytes allowed in a segment.
var b64urlAlphabet = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = true
	}
	return t
}()

// parseCompact accepts exactly three base64url segments (no padding, no
// whitespace, no JSON serialization) within MaxTokenSize, whose first
// segment decodes to a JSON object.
func parseCompact(raw string) (compactToken, error) {
	var t compactToken
	if raw == "" {
		return t, invalid("malformed", "token is empty", nil)
	}
	if len(raw) > MaxTokenSize {
		return t, invalid("malformed", "token is too long", nil)
	}
	dot1, dot2 := -1, -1
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if b64urlAlphabet[c] {
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
	header, err := b64url.DecodeString(raw[:dot1])
	if err != nil {
		return t, invalid("malformed", "token header is not base64url", nil)
	}
	if t.header, err = parseHeader(header); err != nil {
		return t, invalid("malformed", "token header is not a JSON object of the expected types", err)
	}
	t.payload = make([]byte, b64url.DecodedLen(dot2-dot1-1))
	n, err := b64url.Decode(t.payload, buf[dot1+1:dot2])
	if err != nil {
		return t, invalid("malformed", "token payload is not base64url", nil)
	}
	t.payload = t.payload[:n]
	t.signature = make([]byte, b64url.DecodedLen(len(raw)-dot2-1))
	n, err = b64url.Decode(t.signature, buf[dot2+1:])
	if err != nil {
		return t, invalid("malformed", "token signature is not base64url", nil)
	}
	t.signature = t.signature[:n]
	t.signingInput = buf[:dot2]
	return t, nil
}
