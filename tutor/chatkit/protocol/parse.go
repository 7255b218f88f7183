package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/learnplatform/platform/tutor"
)

// DefaultPageSize is the page size of a list request without a limit, and
// how many items threads.get_by_id returns (as the reference server).
const DefaultPageSize = 20

// Page context limits: bad input, not something to trim silently.
const (
	maxURLBytes      = 2048
	maxHeadingBytes  = 300
	maxHeadings      = 50
	maxCourseIDBytes = 64
	maxIDBytes       = 128
)

// Every check here refuses with the caller's error (EINVALID, ETOOLARGE,
// EUNSUPPORTED, ENOTFOUND), never an internal one: bad input can never
// become a 500 (FuzzParseRequest holds them to it).

// DecodeRequest reads a request body: one JSON object, nothing after it.
func DecodeRequest(body []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(&req)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON value")
	}
	if err != nil {
		return Request{}, tutor.Errorf(tutor.EINVALID, "the request is not valid JSON: %s", OneLine(err.Error()))
	}
	return req, nil
}

// UnsupportedFeature names the feature behind a request type of the
// protocol that this server does not offer (attachments, client tools,
// widgets, transcription); ok is false for any other type.
func UnsupportedFeature(requestType string) (feature string, ok bool) {
	feature, ok = unsupported[requestType]
	return feature, ok
}

// DecodeParams decodes a request's params into v; missing params are an
// empty object.
func DecodeParams(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return tutor.Errorf(tutor.EINVALID, "params: %s", OneLine(err.Error()))
	}
	return nil
}

// RequireID checks the id param name: present, and not so long that it
// cannot name anything.
func RequireID(name, v string) error {
	if v == "" {
		return tutor.Errorf(tutor.EINVALID, "params.%s is required", name)
	}
	if len(v) > maxIDBytes {
		return tutor.Errorf(tutor.ENOTFOUND, "no such %s", strings.TrimSuffix(name, "_id"))
	}
	return nil
}

// PageRequest checks list params against the largest page allowed.
func (p ListParams) PageRequest(maxPageSize int) (tutor.PageRequest, error) {
	pr := tutor.PageRequest{Limit: DefaultPageSize, Order: tutor.Desc}
	if p.Limit != nil && *p.Limit != 0 {
		if *p.Limit < 0 {
			return pr, tutor.Errorf(tutor.EINVALID, "params.limit must be positive")
		}
		if *p.Limit > maxPageSize {
			return pr, tutor.Errorf(tutor.EINVALID, "params.limit %d is over the maximum page size %d", *p.Limit, maxPageSize)
		}
		pr.Limit = *p.Limit
	}
	if p.Order != nil {
		switch *p.Order {
		case "asc":
			pr.Order = tutor.Asc
		case "desc":
		default:
			return pr, tutor.Errorf(tutor.EINVALID, "params.order must be asc or desc")
		}
	}
	if p.After != nil {
		if len(*p.After) > maxIDBytes {
			return pr, tutor.Errorf(tutor.EINVALID, "params.after names no item")
		}
		pr.After = *p.After
	}
	return pr, nil
}

// ParseMetadata reads the request metadata this server uses: the course
// and lesson, and the page the learner is on (nil when the request
// describes none).
func ParseMetadata(raw json.RawMessage) (RequestMetadata, *tutor.PageContext, error) {
	var md RequestMetadata
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return md, nil, nil
	}
	if err := json.Unmarshal(raw, &md); err != nil {
		return md, nil, tutor.Errorf(tutor.EINVALID, "metadata: %s", OneLine(err.Error()))
	}
	if len(md.Course) > maxCourseIDBytes || len(md.Lesson) > maxCourseIDBytes {
		return md, nil, tutor.Errorf(tutor.EINVALID, "metadata.course and metadata.lesson are at most %d bytes", maxCourseIDBytes)
	}
	if md.Page == nil {
		return md, nil, nil
	}
	pc := &tutor.PageContext{URL: md.Page.URL, Title: strings.TrimSpace(md.Page.Title), Headings: md.Page.Headings}
	if len(pc.URL) > maxURLBytes || len(pc.Title) > maxHeadingBytes || len(pc.Headings) > maxHeadings {
		return md, nil, tutor.Errorf(tutor.EINVALID, "metadata.page is too large (url %d bytes, title %d bytes, %d headings at most)", maxURLBytes, maxHeadingBytes, maxHeadings)
	}
	for _, hd := range pc.Headings {
		if len(hd) > maxHeadingBytes {
			return md, nil, tutor.Errorf(tutor.EINVALID, "metadata.page.headings: each heading is at most %d bytes", maxHeadingBytes)
		}
	}
	if pc.URL == "" && pc.Title == "" && len(pc.Headings) == 0 {
		return md, nil, nil
	}
	return md, pc, nil
}

// Message is a checked user message, ready to store.
type Message struct {
	// Text is the message's text parts joined, QuotedText the text the
	// learner selected; both trimmed.
	Text, QuotedText string
	input            *UserMessageInput
}

// CheckMessage checks a submitted message: text only (no attachments),
// not empty, at most maxBytes of text and as much quoted text.
func CheckMessage(in *UserMessageInput, maxBytes int) (Message, error) {
	if in == nil {
		return Message{}, tutor.Errorf(tutor.EINVALID, "params.input is required")
	}
	if len(in.Attachments) > 0 {
		return Message{}, tutor.Errorf(tutor.EUNSUPPORTED, "attachments are not supported by this server")
	}
	var parts []string
	for i, c := range in.Content {
		switch c.Type {
		case "input_text", "input_tag":
			parts = append(parts, c.Text)
		default:
			return Message{}, tutor.Errorf(tutor.EINVALID, "params.input.content[%d]: unknown content type %q", i, Truncate(c.Type, 40))
		}
	}
	m := Message{Text: strings.TrimSpace(strings.Join(parts, " ")), input: in}
	if m.Text == "" {
		return Message{}, tutor.Errorf(tutor.EINVALID, "the message has no text")
	}
	if in.QuotedText != nil {
		m.QuotedText = strings.TrimSpace(*in.QuotedText)
	}
	if len(m.Text) > maxBytes || len(m.QuotedText) > maxBytes {
		return Message{}, tutor.Errorf(tutor.ETOOLARGE, "the message is longer than %d bytes; shorten it or split it in two", maxBytes)
	}
	return m, nil
}

// Item is the stored user_message item of m in thread threadID, created at.
func (m Message) Item(threadID string, at time.Time) (tutor.Item, error) {
	item := UserMessageItem{
		Type: tutor.ItemUserMessage, ThreadItemBase: ThreadItemBase{ID: tutor.NewID("msg"), ThreadID: threadID, CreatedAt: at},
		Content: m.input.Content, Attachments: []json.RawMessage{}, InferenceOptions: m.input.InferenceOptions,
	}
	if m.QuotedText != "" {
		item.QuotedText = &m.QuotedText
	}
	payload, err := Marshal(item)
	if err != nil {
		return tutor.Item{}, tutor.Errorf(tutor.EINVALID, "the message cannot be stored: %s", err)
	}
	return tutor.Item{ID: item.ID, ThreadID: threadID, Type: tutor.ItemUserMessage, CreatedAt: at, Payload: payload}, nil
}

// PageContextItem is the hidden item that keeps the page a message was
// sent from with the thread, stored just before that message.
func PageContextItem(threadID string, at time.Time, pc *tutor.PageContext) (tutor.Item, error) {
	item := HiddenContextItem{
		Type: tutor.ItemHiddenContext, ThreadItemBase: ThreadItemBase{ID: tutor.NewID("ctx"), ThreadID: threadID, CreatedAt: at},
		Content: map[string]any{"page": pc},
	}
	payload, err := Marshal(item)
	return tutor.Item{ID: item.ID, ThreadID: threadID, Type: tutor.ItemHiddenContext, CreatedAt: at, Payload: payload}, err
}

// MessageText returns a stored message's text and quoted text (empty for
// a payload that is not a message).
func MessageText(payload json.RawMessage) (text, quoted string) {
	var m struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		QuotedText string `json:"quoted_text"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return "", ""
	}
	parts := make([]string, 0, len(m.Content))
	for _, c := range m.Content {
		parts = append(parts, c.Text)
	}
	return strings.TrimSpace(strings.Join(parts, " ")), m.QuotedText
}

// PageContextOf returns the page a stored hidden context item keeps (nil
// when it keeps none).
func PageContextOf(payload json.RawMessage) *tutor.PageContext {
	var m struct {
		Content struct {
			Page *tutor.PageContext `json:"page"`
		} `json:"content"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	return m.Content.Page
}

// OneLine collapses s's white space (an error message that spans lines).
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Truncate cuts s to at most n bytes, at a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
