package edgetest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Answer is a response as tests look at it.
type Answer struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends a request to url (redirects not followed); headers are name,
// value pairs and may repeat a name.
func Do(t testing.TB, method, url, body string, headers ...string) Answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Answer{res.StatusCode, res.Header, string(b)}
}

// ErrorCode reads the platform's {"error": {"code", "message"}} shape and
// fails the test when the body is not that.
func ErrorCode(t testing.TB, a Answer) (code, message string) {
	t.Helper()
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(a.Body), &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("not the platform's error shape (%d): %s", a.Status, a.Body)
	}
	return b.Error.Code, b.Error.Message
}
