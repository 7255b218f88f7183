package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"unicode/utf8"
)

// submission is what a flow POST carries, decoded from a form or JSON.
type submission struct {
	method   string
	password *string
	values   map[string]any // everything, to refill the form
	form     url.Values     // set for form posts
	isJSON   bool
}

// without re-encodes the body minus one field (one Kratos does not know).
func (s *submission) without(field string) []byte {
	if s.isJSON {
		m := make(map[string]any, len(s.values))
		for k, v := range s.values {
			if k != field {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	f := url.Values{}
	for k, v := range s.form {
		if k != field {
			f[k] = v
		}
	}
	return []byte(f.Encode())
}

// errBadBody carries the status and message for an unusable body.
type errBadBody struct {
	status int
	code   string
	msg    string
}

func (e *errBadBody) Error() string { return e.msg }

// readSubmission reads and decodes a flow POST body, then puts the bytes
// back for the proxy.
func readSubmission(r *http.Request) (*submission, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &errBadBody{http.StatusRequestEntityTooLarge, "too_large",
				"The request is larger than " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes."}
		}
		return nil, &errBadBody{http.StatusBadRequest, "bad_request", "The request body could not be read."}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if !utf8.Valid(body) {
		return nil, &errBadBody{http.StatusBadRequest, "bad_encoding", "The request is not valid UTF-8 text."}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	sub := &submission{values: map[string]any{}}
	switch ct {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &errBadBody{http.StatusBadRequest, "bad_form", "The form data is malformed."}
		}
		sub.form = form
		for k, vs := range form {
			// Two different passwords (or methods) in one form could slip one
			// past the check. Kratos' own forms may repeat a field with one
			// value (a hidden method next to the submit button).
			if len(vs) > 1 && (k == "password" || k == "method") && slices.ContainsFunc(vs, func(v string) bool { return v != vs[0] }) {
				return nil, &errBadBody{http.StatusBadRequest, "bad_form", "The form repeats the field " + k + "."}
			}
			sub.values[k] = vs[0]
		}
	case "application/json":
		sub.isJSON = true
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&sub.values); err != nil || sub.values == nil {
			return nil, &errBadBody{http.StatusBadRequest, "bad_json", "The request body is not a JSON object."}
		}
		if dec.More() {
			return nil, &errBadBody{http.StatusBadRequest, "bad_json", "The request body holds more than one JSON value."}
		}
		// With a key twice, parsers disagree on which one counts: the
		// password checked here must be the one Kratos stores.
		if dup := duplicateKey(body); dup != "" {
			return nil, &errBadBody{http.StatusBadRequest, "bad_json", "The JSON object repeats the member " + strconv.Quote(dup) + "."}
		}
	default:
		return nil, &errBadBody{http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Send the form as application/x-www-form-urlencoded or application/json."}
	}
	sub.method, _ = sub.values["method"].(string)
	if p, present := sub.values["password"]; present {
		s, ok := p.(string)
		if !ok {
			return nil, &errBadBody{http.StatusBadRequest, "bad_request", "The password must be a string."}
		}
		sub.password = &s
	}
	return sub, nil
}

// duplicateKey returns a member name the top-level JSON object has twice.
func duplicateKey(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := t.(string)
		if seen[key] {
			return key
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}
