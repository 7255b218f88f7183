package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/tutor"
)

func TestDecodeRequest(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"type":"threads.list","params":{"limit":5},"metadata":{"course":"c"}}`))
	if err != nil || req.Type != ReqThreadsList || string(req.Params) != `{"limit":5}` || string(req.Metadata) != `{"course":"c"}` {
		t.Fatalf("%+v %v", req, err)
	}
	for body, want := range map[string]string{
		`{"type":"x"} {}`:   "data after the JSON value",
		`{"type":`:          "unexpected EOF",
		`{"type":1}`:        "cannot unmarshal number",
		"{\"type\":\n\"x\"": "unexpected EOF",
	} {
		_, err := DecodeRequest([]byte(body))
		if tutor.ErrorCode(err) != tutor.EINVALID || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want EINVALID on one line with %q", body, err, want)
		}
	}
	if f, ok := UnsupportedFeature("attachments.create"); !ok || f != "attachments" {
		t.Errorf("attachments.create: %q %v", f, ok)
	}
	if _, ok := UnsupportedFeature(ReqThreadsCreate); ok {
		t.Error("threads.create is supported")
	}
}

func TestDecodeParamsAndIDs(t *testing.T) {
	for _, raw := range []string{"", "null", " {} "} {
		var p ThreadGetByIDParams
		if err := DecodeParams(json.RawMessage(raw), &p); err != nil || p.ThreadID != "" {
			t.Errorf("%q: %v %+v", raw, err, p)
		}
	}
	var p ThreadGetByIDParams
	if err := DecodeParams(json.RawMessage(`"nope"`), &p); tutor.ErrorCode(err) != tutor.EINVALID || !strings.HasPrefix(tutor.ErrorMessage(err), "params: ") {
		t.Errorf("params of the wrong shape: %v", err)
	}
	if err := RequireID("thread_id", ""); tutor.ErrorCode(err) != tutor.EINVALID || !strings.Contains(err.Error(), "params.thread_id is required") {
		t.Errorf("missing: %v", err)
	}
	if err := RequireID("thread_id", strings.Repeat("x", 129)); tutor.ErrorCode(err) != tutor.ENOTFOUND || !strings.Contains(err.Error(), "no such thread") {
		t.Errorf("too long: %v", err)
	}
	if err := RequireID("thread_id", "thr_1"); err != nil {
		t.Error(err)
	}
}

func TestPageRequest(t *testing.T) {
	n := func(v int) *int { return &v }
	s := func(v string) *string { return &v }
	cases := map[string]struct {
		p    ListParams
		want tutor.PageRequest
		err  string
	}{
		"defaults":       {p: ListParams{}, want: tutor.PageRequest{Limit: DefaultPageSize, Order: tutor.Desc}},
		"zero limit":     {p: ListParams{Limit: n(0)}, want: tutor.PageRequest{Limit: DefaultPageSize, Order: tutor.Desc}},
		"all set":        {p: ListParams{Limit: n(100), Order: s("asc"), After: s("msg_1")}, want: tutor.PageRequest{Limit: 100, Order: tutor.Asc, After: "msg_1"}},
		"desc":           {p: ListParams{Order: s("desc")}, want: tutor.PageRequest{Limit: DefaultPageSize, Order: tutor.Desc}},
		"negative":       {p: ListParams{Limit: n(-1)}, err: "params.limit must be positive"},
		"over the max":   {p: ListParams{Limit: n(101)}, err: "params.limit 101 is over the maximum page size 100"},
		"sideways":       {p: ListParams{Order: s("sideways")}, err: "params.order must be asc or desc"},
		"after too long": {p: ListParams{After: s(strings.Repeat("x", 129))}, err: "params.after names no item"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := tc.p.PageRequest(100)
			if tc.err != "" {
				if tutor.ErrorCode(err) != tutor.EINVALID || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want EINVALID %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	md, pc, err := ParseMetadata(json.RawMessage(`{"course":"go","lesson":"values","other":1,"page":{"url":"https://x/","title":"  T  ","headings":["a"]}}`))
	if err != nil || md.Course != "go" || md.Lesson != "values" || pc == nil || pc.Title != "T" || pc.URL != "https://x/" || len(pc.Headings) != 1 {
		t.Fatalf("%+v %+v %v", md, pc, err)
	}
	for _, raw := range []string{"", "null", `{"course":"go"}`, `{"page":{}}`, `{"page":{"title":"   "}}`} {
		if _, pc, err := ParseMetadata(json.RawMessage(raw)); err != nil || pc != nil {
			t.Errorf("%q: no page context expected: %+v %v", raw, pc, err)
		}
	}
	long := strings.Repeat("x", 301)
	many := `"` + strings.Repeat(`a","`, 50) + `a"`
	for raw, want := range map[string]string{
		`[1]`:                            "metadata: ",
		`{"course":"` + long[:65] + `"}`: "at most 64 bytes",
		`{"page":{"url":"` + long + long + long + long + long + long + long + `"}}`: "metadata.page is too large",
		`{"page":{"title":"` + long + `"}}`:                                         "metadata.page is too large",
		`{"page":{"headings":[` + many + `]}}`:                                      "metadata.page is too large",
		`{"page":{"headings":["` + long + `"]}}`:                                    "each heading is at most 300 bytes",
	} {
		if _, _, err := ParseMetadata(json.RawMessage(raw)); tutor.ErrorCode(err) != tutor.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60q: %v, want EINVALID %q", raw, err, want)
		}
	}
}

func input(parts ...UserMessageContent) *UserMessageInput {
	return &UserMessageInput{Content: parts}
}

func TestCheckMessage(t *testing.T) {
	quoted := "  the selected text "
	in := input(UserMessageContent{Type: "input_text", Text: " What is "}, UserMessageContent{Type: "input_tag", Text: "a slice? "})
	in.QuotedText = &quoted
	m, err := CheckMessage(in, 20)
	if err != nil || m.Text != "What is  a slice?" || m.QuotedText != "the selected text" {
		t.Fatalf("%+v %v", m, err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	item, err := m.Item("thr_1", at)
	if err != nil || item.Type != tutor.ItemUserMessage || item.ThreadID != "thr_1" || !strings.HasPrefix(item.ID, "msg_") || !item.CreatedAt.Equal(at) {
		t.Fatalf("item %+v %v", item, err)
	}
	var stored UserMessageItem
	if err := json.Unmarshal(item.Payload, &stored); err != nil || stored.ID != item.ID || stored.Type != "user_message" ||
		len(stored.Content) != 2 || stored.QuotedText == nil || *stored.QuotedText != "the selected text" || stored.Attachments == nil {
		t.Fatalf("payload %s: %v", item.Payload, err)
	}
	if text, q := MessageText(item.Payload); text != "What is  a slice?" || q != "the selected text" {
		t.Fatalf("MessageText: %q %q", text, q)
	}

	long := strings.Repeat("x", 21)
	cases := map[string]struct {
		in   *UserMessageInput
		code string
		want string
	}{
		"no input":       {nil, tutor.EINVALID, "params.input is required"},
		"attachment":     {&UserMessageInput{Content: in.Content, Attachments: []string{"a"}}, tutor.EUNSUPPORTED, "attachments"},
		"unknown part":   {input(UserMessageContent{Type: "input_image"}), tutor.EINVALID, `content[0]: unknown content type "input_image"`},
		"no text":        {input(UserMessageContent{Type: "input_text", Text: "  "}), tutor.EINVALID, "the message has no text"},
		"no parts":       {input(), tutor.EINVALID, "the message has no text"},
		"too long":       {input(UserMessageContent{Type: "input_text", Text: long}), tutor.ETOOLARGE, "longer than 20 bytes"},
		"quote too long": {&UserMessageInput{Content: in.Content, QuotedText: &long}, tutor.ETOOLARGE, "longer than 20 bytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := CheckMessage(tc.in, 20); tutor.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %s %q, got %v", tc.code, tc.want, err)
			}
		})
	}
}

func TestPageContextItem(t *testing.T) {
	pc := &tutor.PageContext{URL: "https://x/", Title: "T", Headings: []string{"h"}}
	item, err := PageContextItem("thr_1", time.Now(), pc)
	if err != nil || item.Type != tutor.ItemHiddenContext || !strings.HasPrefix(item.ID, "ctx_") {
		t.Fatalf("%+v %v", item, err)
	}
	if got := PageContextOf(item.Payload); got == nil || got.URL != pc.URL || got.Title != pc.Title || len(got.Headings) != 1 {
		t.Fatalf("PageContextOf: %+v", got)
	}
	if PageContextOf(json.RawMessage(`"x"`)) != nil {
		t.Fatal("a page context from a payload without one")
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("héllo", 2); got != "h…" {
		t.Fatalf("cut inside a rune: %q", got)
	}
	if got := Truncate("abc", 3); got != "abc" {
		t.Fatalf("%q", got)
	}
}
