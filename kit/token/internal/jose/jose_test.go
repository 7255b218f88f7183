package jose

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwt"
)

// checkAgainstJWX is the differential check of ParseClaims against jwx's
// JWT claims decoder, an implementation written independently of this
// package:
//   - what ParseClaims refuses as not JSON, encoding/json refuses too;
//   - what ParseClaims accepts is valid JSON that jwx accepts as well,
//     except where jwx is stricter: a null or negative date (jwx takes
//     "-" for the start of RFC 3339 text), a date beyond int64 seconds, a
//     null aud or a null element in it, a number beyond float64 in any
//     claim;
//   - and jwx reads the same values from it: the registered claims through
//     its accessors (dates to within the second it truncates them to),
//     every other claim from its generic decoding.
func checkAgainstJWX(t *testing.T, in []byte) {
	t.Helper()
	got, err := ParseClaims(in)
	if err != nil {
		if errors.Is(err, ErrSyntax) && json.Valid(in) && strings.HasPrefix(strings.TrimLeft(string(in), " \t\r\n"), "{") {
			t.Fatalf("%q: refused as not a JSON object: %v", in, err)
		}
		if errors.Is(err, ErrType) && !json.Valid(in) {
			t.Fatalf("%q: invalid JSON refused as a type error", in)
		}
		return
	}
	if !json.Valid(in) {
		t.Fatalf("%q: accepted, but it is not JSON", in)
	}
	ref := jwt.New()
	if err := json.Unmarshal(in, ref); err != nil {
		if jwxStricter(in) {
			return
		}
		t.Fatalf("%q: accepted, but jwx refuses it: %v", in, err)
	}

	same := func(name string, ours, theirs any) {
		t.Helper()
		if ours, ok := ours.([]string); ok {
			theirs, _ := theirs.([]string)
			if !slices.Equal(ours, theirs) {
				t.Fatalf("%q: %s %q, jwx reads %q", in, name, ours, theirs)
			}
			return
		}
		if ours != theirs {
			t.Fatalf("%q: %s %v, jwx reads %v", in, name, ours, theirs)
		}
	}
	same("iss", got.Iss, ref.Issuer())
	same("sub", got.Sub, ref.Subject())
	same("jti", got.Jti, ref.JwtID())
	same("aud", got.Aud, ref.Audience())
	for name, d := range map[string]NumericDate{"exp": got.Exp, "nbf": got.Nbf, "iat": got.Iat} {
		theirs, ok := ref.Get(name)
		if ok != d.Set {
			t.Fatalf("%q: %s present %v, for jwx %v", in, name, d.Set, ok)
		}
		if tm, _ := theirs.(interface{ Unix() int64 }); ok && math.Abs(float64(tm.Unix())-d.Sec) >= 1+1e-6 {
			t.Fatalf("%q: %s %v, jwx reads %v", in, name, d.Sec, tm.Unix())
		}
	}

	private := ref.PrivateClaims()
	str := func(name string) string { s, _ := private[name].(string); return s }
	for name, ours := range map[string]string{
		"email": got.Email, "name": got.Name, "role": got.Role, "scope": got.Scope,
		"client_id": got.ClientID, "session_id": got.SessionID, "acr": got.Acr,
	} {
		same(name, ours, str(name))
	}
	verified, _ := private["email_verified"].(bool)
	same("email_verified", got.EmailVerified, verified)
	list := func(name string) []string {
		switch v := private[name].(type) {
		case string:
			return []string{v}
		case []any:
			out := []string{}
			for _, e := range v {
				s, _ := e.(string)
				out = append(out, s)
			}
			return out
		}
		return nil
	}
	same("scp", got.Scp, list("scp"))
	same("amr", got.Amr, list("amr"))
	_, atHash := private["at_hash"]
	_, nonce := private["nonce"]
	same("at_hash present", got.AtHash, atHash)
	same("nonce present", got.Nonce, nonce)
}

// jwxStricter reports whether in holds what ParseClaims accepts and jwx
// refuses: a null, negative or huge date, a null aud or null in aud, a
// number beyond float64 anywhere. It reads
// the last occurrence of each, as both decoders do.
func jwxStricter(in []byte) bool {
	var m map[string]any
	if json.Unmarshal(in, &m) != nil {
		// Valid JSON that does not decode into any: a number beyond
		// float64, in a claim ParseClaims only skips and jwx decodes.
		return true
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := m[name]
		if f, isNum := v.(float64); ok && (v == nil || isNum && (math.Signbit(f) || f >= 1<<62)) {
			return true
		}
	}
	aud, ok := m["aud"]
	if ok && aud == nil {
		return true
	}
	list, _ := aud.([]any)
	return slices.Contains(list, nil)
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
	`{"iss":1,"iss":"a"}`, `{"exp":"x","exp":1}`, `{"exp":-1.5,"nbf":0.9999999999,"iat":1e20}`, `{"exp":"2026-03-01T12:00:00Z"}`,
	`{"sub":"a","sub":"b","scp":"a","scp":["b"]}`, `{"email_verified":true,"email_verified":null}`, `{"":1e400}`,
}

func TestParseClaimsMatchesJWX(t *testing.T) {
	for _, in := range claimSeeds {
		checkAgainstJWX(t, []byte(in))
	}
}

func TestParseClaimsExactKeys(t *testing.T) {
	c, err := ParseClaims([]byte(`{"ROLE":"admin","Role":"admin","sub":"u"}`))
	if err != nil || c.Role != "" {
		t.Fatalf("role %q err %v: keys must match exactly", c.Role, err)
	}
}

// TestParseClaimsEveryOccurrence: the last occurrence of a claim wins, but
// an earlier one of the wrong type is refused all the same.
func TestParseClaimsEveryOccurrence(t *testing.T) {
	c, err := ParseClaims([]byte(`{"iss":"a","iss":null,"sub":"a","sub":"b","exp":1,"exp":null}`))
	if err != nil || c.Iss != "" || c.Sub != "b" || c.Exp.Set {
		t.Fatalf("claims %+v err %v", c, err)
	}
	for _, in := range []string{`{"iss":1,"iss":"a"}`, `{"exp":"1","exp":1}`, `{"aud":[1],"aud":"a"}`} {
		if _, err := ParseClaims([]byte(in)); !errors.Is(err, ErrType) {
			t.Errorf("%s: err %v, want a type error", in, err)
		}
	}
}

// TestParseClaimsDeepNesting: encoding/json's nesting limit (10000) holds.
func TestParseClaimsDeepNesting(t *testing.T) {
	deep := `{"x":` + strings.Repeat("[", 10005) + strings.Repeat("]", 10005) + `}`
	if _, err := ParseClaims([]byte(deep)); err == nil {
		t.Fatal("nesting beyond the limit accepted")
	}
	ok := `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	if _, err := ParseClaims([]byte(ok)); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseClaims checks ParseClaims against jwx's claims decoder (see
// checkAgainstJWX): never a panic, no acceptance of anything jwx or
// encoding/json would not read the same way.
func FuzzParseClaims(f *testing.F) {
	for _, s := range claimSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAgainstJWX)
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in      string
		want    Header
		wantErr bool
	}{
		{`{"alg":"RS256","kid":"k","typ":"JWT"}`, Header{Alg: "RS256", Kid: "k"}, false},
		{`{"alg":"RS256","kid":"k","crit":null}`, Header{Alg: "RS256", Kid: "k", Crit: true}, false},
		{`{"alg":"RS256","kid":"k","b64":false}`, Header{Alg: "RS256", Kid: "k", B64: true}, false},
		{`{"ALG":"none","alg":"RS256"}`, Header{Alg: "RS256"}, false},
		{`{"alg":"RS256","alg":"none"}`, Header{Alg: "none"}, false},
		{`{"alg":"RS256","alg":null}`, Header{}, false},
		{`{"alg":"RS256","jwk":{"kty":"RSA","n":"x","e":"AQAB"},"jku":"http://evil/"}`, Header{Alg: "RS256"}, false},
		{`{"alg":1}`, Header{}, true},
		{`{"kid":["a"]}`, Header{}, true},
		{`{"alg":"RS256"`, Header{}, true},
		{`[]`, Header{}, true},
		{`null`, Header{}, true},
	}
	for _, tt := range tests {
		got, err := ParseHeader(base64.RawURLEncoding.EncodeToString([]byte(tt.in)))
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("%s: got %+v, %v", tt.in, got, err)
		}
	}
}

func TestCheckCompact(t *testing.T) {
	tests := []struct {
		in     string
		header string // "" when refused
	}{
		{"e30.e30.e30", "e30"},
		{"e30.e30.", "e30"},                   // an empty signature is well-formed; it just does not verify
		{"eyJhIjoxfQ.e30.AAAA", "eyJhIjoxfQ"}, // lengths 0, 2 and 3 mod 4
		{"e31.e30.e30", ""},                   // non-zero trailing bits: the same bytes as e30
		{"e30.e30.AB", ""},                    // ...in the signature too
		{"e30.e30.e30=", ""},                  // padding
		{"e30.e30.e+/", ""},                   // standard alphabet
		{"e30.e30.e3", ""},                    // e3: 2 chars, 12 bits, 4 of them spare and set
		{"e30.e30.A", ""},                     // a length no encoding has
		{"e30.e30", ""},                       // two segments
		{"e30.e30.e30.e30", ""},               // four
		{" e30.e30.e30", ""},                  // whitespace
		{`{"payload":"e30","signatures":[]}`, ""},
		{"", ""},
	}
	for _, tt := range tests {
		header, err := CheckCompact(tt.in)
		if header != tt.header || (err == nil) != (tt.header != "") {
			t.Errorf("%q: header %q, err %v; want %q", tt.in, header, err, tt.header)
		}
	}
}
