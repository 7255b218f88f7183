package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// b64urlValue maps each character of the base64url alphabet of RFC 7515
// to its value plus one; other bytes map to 0.
var b64urlValue = func() (t [256]byte) {
	for i, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = byte(i) + 1
	}
	return t
}()

// checkCompact accepts exactly three unpadded base64url segments (no
// whitespace, no JSON serialization) within MaxTokenSize, each the one
// canonical encoding of its bytes, and returns the first segment, the
// protected header.
//
// It runs before jwx sees the token because jwx's decoder is lenient: it
// also takes padded and standard base64 and ignores non-zero trailing bits,
// so many strings would decode to the same token, and a token would not be
// exactly what was signed.
func checkCompact(raw string) (header string, err error) {
	if raw == "" {
		return "", invalid("malformed", "token is empty", nil)
	}
	if len(raw) > MaxTokenSize {
		return "", invalid("malformed", "token is too long", nil)
	}
	header, rest, _ := strings.Cut(raw, ".")
	payload, signature, ok := strings.Cut(rest, ".")
	if !ok || !canonicalBase64URL(header) || !canonicalBase64URL(payload) || !canonicalBase64URL(signature) {
		return "", invalid("malformed", "token is not a compact JWS", nil)
	}
	return header, nil
}

// canonicalBase64URL reports whether s is unpadded base64url of a possible
// length whose last character carries no bits beyond the data.
func canonicalBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b64urlValue[s[i]] == 0 {
			return false
		}
	}
	if len(s) == 0 {
		return true
	}
	last := b64urlValue[s[len(s)-1]] - 1
	switch len(s) % 4 {
	case 1:
		return false
	case 2: // one byte: 8 of the 12 bits are data
		return last&0x0f == 0
	case 3: // two bytes: 16 of the 18 bits are data
		return last&0x03 == 0
	}
	return true
}

// joseHeader holds the protected header members validation looks at.
// Others (typ, jku, x5u, x5c, jwk, ...) are ignored: keys come from the
// JWKS only.
type joseHeader struct {
	Alg  string
	Kid  string
	Crit bool // a crit member is present (any value)
	B64  bool // a b64 member is present (any value)
}

// parseHeader decodes the protected header segment. It reads the members
// the rules depend on itself rather than from jwx's headers: jwx refuses an
// alg it does not know (so "None" would look like a malformed header rather
// than the wrong algorithm), and it drops a crit of null, which this
// package refuses like any crit. Keys match exactly, the last occurrence
// wins, alg and kid must be strings (null means absent).
func parseHeader(segment string) (joseHeader, error) {
	var h joseHeader
	b, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return h, err
	}
	err = eachMember(b, func(key string, value json.RawMessage) error {
		switch key {
		case "alg":
			return decode(value, &h.Alg)
		case "kid":
			return decode(value, &h.Kid)
		case "crit":
			h.Crit = true
		case "b64":
			h.B64 = true
		}
		return nil
	})
	return h, err
}

var (
	errSyntax = errors.New("not a JSON object")
	errType   = errors.New("a member has the wrong type")
)

// eachMember calls member with each member of the JSON object b, in order,
// its value undecoded, and returns the first error member returned. Keys
// match exactly (encoding/json would match a struct field to "ROLE" as well
// as to "role"), a later occurrence of a key overrides an earlier one, and
// every occurrence must have the right type. As with encoding/json, a
// syntax error anywhere wins over a wrong type.
func eachMember(b []byte, member func(key string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errSyntax
	}
	var first error
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errSyntax
		}
		key, _ := t.(string) // inside an object, Token yields keys as strings
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return errSyntax
		}
		if err := member(key, value); err != nil && first == nil {
			first = err
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return errSyntax
	}
	if _, err := dec.Token(); err != io.EOF {
		return errSyntax
	}
	return first
}

// decode sets *dst to value decoded as a T, replacing what an earlier
// occurrence of the member put there; null decodes as T's zero value.
func decode[T any](value json.RawMessage, dst *T) error {
	var v T
	if err := json.Unmarshal(value, &v); err != nil {
		return errType
	}
	*dst = v
	return nil
}
