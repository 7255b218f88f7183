package proxy

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"unicode/utf8"
)

// FuzzReadSubmission feeds the edge's flow-post parser arbitrary bodies and
// content types: it must never panic, and whatever password it reports must
// be the one Kratos will read from the same body, so the policy check cannot
// be dodged by an encoding trick.
func FuzzReadSubmission(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "method=password&password=Correct-Horse-42%21x&traits.email=a%40b.c")
	f.Add("application/x-www-form-urlencoded", "method=password&password=a&password=b")
	f.Add("application/x-www-form-urlencoded", "password=%zz")
	f.Add("application/json", `{"method":"password","password":"weak","traits":{"email":"x@y.z"}}`)
	f.Add("application/json", `{"password":12}`)
	f.Add("application/json", `{"method":"password","password":"Strong-Pass-123!","password":"weak"}`)
	f.Add("application/json", `{"method":"password","password":"a"} {"password":"b"}`)
	f.Add("application/json; charset=utf-8", `{"method":"password","password":"\u0000"}`)
	f.Add("multipart/form-data; boundary=x", "--x\r\n")
	f.Add("text/plain", "method=password&password=x")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest("POST", "/self-service/registration?flow=x", bytes.NewReader([]byte(body)))
		r.Header.Set("Content-Type", contentType)
		sub, err := readSubmission(r)
		if err != nil {
			return
		}
		if !utf8.ValidString(body) {
			t.Fatal("a body that is not UTF-8 was accepted")
		}
		if sub.password == nil {
			return
		}
		// What Kratos would read: the first form value, or the JSON member.
		var want string
		if sub.isJSON {
			if duplicateKey([]byte(body)) != "" {
				t.Fatal("accepted a JSON object with a repeated member")
			}
			var m map[string]any
			if json.Unmarshal([]byte(body), &m) != nil {
				t.Fatal("accepted JSON that does not decode")
			}
			want, _ = m["password"].(string)
		} else {
			v, err := url.ParseQuery(body)
			if err != nil {
				t.Fatal("accepted a form that does not parse")
			}
			for _, p := range v["password"] {
				if p != v.Get("password") {
					t.Fatal("accepted a form with two different passwords")
				}
			}
			want = v.Get("password")
		}
		if *sub.password != want {
			t.Fatalf("checked %q but Kratos reads %q", *sub.password, want)
		}
	})
}
