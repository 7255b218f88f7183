package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// referenceClaims is parseClaims written the slow, obvious way on top of
// encoding/json: walk the top-level members in order, decode each known one
// into its Go type, last occurrence wins, null means absent.
func referenceClaims(b []byte) (claims, error) {
	var c claims
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return c, errors.New("not an object")
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return c, err
		}
		key, _ := kt.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return c, err
		}
		if err := applyReference(&c, key, raw); err != nil {
			return c, err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return c, errors.New("unterminated object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, errors.New("trailing data")
	}
	return c, nil
}

func applyReference(c *claims, key string, raw json.RawMessage) error {
	str := func(dst *string) error { *dst = ""; return json.Unmarshal(raw, dst) }
	date := func(dst *numericDate) error {
		var f *float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return err
		}
		*dst = numericDate{}
		if f != nil {
			*dst = numericDate{set: true, sec: *f}
		}
		return nil
	}
	list := func(dst *[]string) error {
		switch raw[0] {
		case '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			*dst = []string{s}
			return nil
		case 'n':
			*dst = nil
			return nil
		}
		var a []string
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		*dst = a
		return nil
	}
	switch key {
	case "iss":
		return str(&c.Iss)
	case "sub":
		return str(&c.Sub)
	case "email":
		return str(&c.Email)
	case "name":
		return str(&c.Name)
	case "role":
		return str(&c.Role)
	case "scope":
		return str(&c.Scope)
	case "email_verified":
		c.EmailVerified = false
		return json.Unmarshal(raw, &c.EmailVerified)
	case "exp":
		return date(&c.Exp)
	case "nbf":
		return date(&c.Nbf)
	case "iat":
		return date(&c.Iat)
	case "aud":
		return list(&c.Aud)
	case "scp":
		return list(&c.Scp)
	case "client_id":
		return str(&c.ClientID)
	case "jti":
		return str(&c.Jti)
	case "session_id":
		return str(&c.SessionID)
	case "acr":
		return str(&c.Acr)
	case "amr":
		return list(&c.Amr)
	case "at_hash":
		// Present with any value, null included: the decoder above has
		// already checked that raw is valid JSON.
		c.AtHash = true
	case "nonce":
		c.Nonce = true
	}
	return nil
}

var claimSeeds = []string{
	`{"iss":"http://127.0.0.1:4444/","sub":"u1","aud":["tutor"],"exp":1767225600,"iat":1767222000,"nbf":1767222000,"email":"ada@example.org","email_verified":true,"name":"Ada","role":"admin","scp":["openid","offline"],"client_id":"web","ext":{"a":[1,2,{"b":null}]},"jti":"x"}`,
	`{}`, ` { } `, `{"aud":"tutor","scp":"a b"}`, `{"scope":"a b","scp":null}`,
	`{"exp":1.5e9,"nbf":-0,"iat":0}`, `{"exp":1e400}`, `{"exp":"1"}`, `{"exp":01}`, `{"exp":1.}`, `{"exp":-}`,
	`{"exp":null}`, `{"iss":null}`, `{"iss":1}`, `{"iss":"a","iss":"b"}`, `{"iss":"a","iss":null}`,
	`{"ISS":"x"}`, `{"\u0069ss":"x"}`, `{"name":"caf\u00e9 \"q\" \\ \/ \n"}`, `{"name":"\ud83d\ude00 \ud800"}`,
	"{\"name\":\"\xff\xfe\"}", "{\"name\":\"a\x01\"}", `{"name":"\x"}`, `{"name":"\u12"}`,
	`{"email_verified":"true"}`, `{"email_verified":null}`, `{"email_verified":false,"email_verified":true}`,
	`{"aud":[]}`, `{"aud":[null,"a"]}`, `{"aud":[1]}`, `{"aud":{}}`, `{"aud":["a",]}`, `{"aud":["a" "b"]}`,
	`{"x":[[[[[]]]]],"y":{"z":{}}}`, `{"x":tru}`, `{"x":nul}`, `{"x":[1,,2]}`, `{"x":{"a" 1}}`, `{"x":{1:2}}`,
	`{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a":1} x`, `{"a":1}{}`, `[]`, `null`, `"x"`, ``, `{`, "\ufeff{}",
	"{\t\n\r\"sub\" : \"s\" }",
	`{"sub":"u","client_id":"c","jti":"j","session_id":"s","acr":"aal2","amr":["pwd","totp"]}`,
	`{"amr":"pwd","acr":null,"session_id":null}`, `{"amr":[null]}`, `{"amr":[1]}`, `{"amr":{}}`, `{"acr":0}`,
	`{"client_id":["c"]}`, `{"client_id":"a","client_id":null}`, `{"jti":true}`, `{"session_id":"caf\u00e9"}`,
	`{"at_hash":"x"}`, `{"at_hash":null}`, `{"at_hash":{"a":[1]}}`, `{"at_hash":[1,,2]}`, `{"nonce":1}`,
	`{"nonce":null,"client_id":"c"}`, `{"nonce":tru}`, `{"NONCE":"x","At_hash":"y"}`, `{"at_hash":"x","ext":{"nonce":"n"}}`,
}

func TestParseClaimsMatchesEncodingJSON(t *testing.T) {
	for _, in := range claimSeeds {
		got, gotErr := parseClaims([]byte(in))
		want, wantErr := referenceClaims([]byte(in))
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%q: err %v, reference err %v", in, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", in, got, want)
		}
	}
}

func TestParseClaimsExactKeys(t *testing.T) {
	c, err := parseClaims([]byte(`{"ROLE":"admin","Role":"admin","sub":"u"}`))
	if err != nil || c.Role != "" {
		t.Fatalf("role %q err %v: keys must match exactly", c.Role, err)
	}
}

func TestParseClaimsDeepNesting(t *testing.T) {
	deep := `{"x":` + strings.Repeat("[", maxDepth+5) + strings.Repeat("]", maxDepth+5) + `}`
	if _, err := parseClaims([]byte(deep)); err == nil {
		t.Fatal("nesting beyond the limit accepted")
	}
	ok := `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	if _, err := parseClaims([]byte(ok)); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseClaims checks the hand-written claims scanner against
// encoding/json: same acceptance, same values, never a panic.
func FuzzParseClaims(f *testing.F) {
	for _, s := range claimSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, gotErr := parseClaims(in)
		want, wantErr := referenceClaims(in)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: err %v, reference err %v", in, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", in, got, want)
		}
	})
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in      string
		want    joseHeader
		wantErr bool
	}{
		{`{"alg":"RS256","kid":"k","typ":"JWT"}`, joseHeader{Alg: "RS256", Kid: "k"}, false},
		{`{"alg":"RS256","kid":"k","crit":null}`, joseHeader{Alg: "RS256", Kid: "k", Crit: true}, false},
		{`{"alg":"RS256","kid":"k","b64":false}`, joseHeader{Alg: "RS256", Kid: "k", B64: true}, false},
		{`{"ALG":"none","alg":"RS256"}`, joseHeader{Alg: "RS256"}, false},
		{`{"alg":"RS256","alg":"none"}`, joseHeader{Alg: "none"}, false},
		{`{"alg":"RS256","jwk":{"kty":"RSA","n":"x","e":"AQAB"},"jku":"http://evil/"}`, joseHeader{Alg: "RS256"}, false},
		{`{"alg":1}`, joseHeader{}, true},
		{`{"kid":["a"]}`, joseHeader{}, true},
		{`{"alg":"RS256"`, joseHeader{}, true},
		{`[]`, joseHeader{}, true},
		{`null`, joseHeader{}, true},
	}
	for _, tt := range tests {
		got, err := parseHeader([]byte(tt.in))
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("%s: got %+v, %v", tt.in, got, err)
		}
	}
}
