package protocol

import (
	"bytes"
	"encoding/json"

	"github.com/learnplatform/platform/tutor"
)

// Marshal is json.Marshal without HTML escaping and without the newline,
// as the reference server encodes.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Frame encodes one stream event as a server-sent event: `data: <JSON>`
// and a blank line.
func Frame(ev any) ([]byte, error) {
	b, err := Marshal(ev)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+8)
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, '\n', '\n'), nil
}

// ThreadOf is the protocol's Thread for t with a page of its items. The
// course, lesson, stage and last activity go in its metadata (the
// protocol's thread has no field for them; the learner web app orders
// its thread list by updated_at).
func ThreadOf(t tutor.Thread, items Page[json.RawMessage]) Thread {
	out := Thread{ID: t.ID, CreatedAt: t.CreatedAt.UTC(), Status: ThreadStatus{Type: t.Status}, Metadata: map[string]any{}, Items: items}
	if out.Status.Type == "" {
		out.Status.Type = "active"
	}
	if t.StatusReason != "" && out.Status.Type != "active" {
		out.Status.Reason = &t.StatusReason
	}
	if t.Title != "" {
		out.Title = &t.Title
	}
	if t.Course != "" {
		out.Metadata["course"] = t.Course
	}
	if t.Lesson != "" {
		out.Metadata["lesson"] = t.Lesson
	}
	if t.Stage != 0 {
		out.Metadata["stage"] = t.Stage
	}
	if !t.UpdatedAt.IsZero() {
		out.Metadata["updated_at"] = t.UpdatedAt.UTC()
	}
	if out.Items.Data == nil {
		out.Items.Data = []json.RawMessage{}
	}
	return out
}

// ItemsPage is a page of stored items as the protocol returns them: each
// item as stored, after = the last item's id.
func ItemsPage(p tutor.Page[tutor.Item]) Page[json.RawMessage] {
	out := Page[json.RawMessage]{Data: make([]json.RawMessage, len(p.Data)), HasMore: p.HasMore}
	for i, it := range p.Data {
		out.Data[i] = it.Payload
	}
	if n := len(p.Data); n > 0 {
		out.After = &p.Data[n-1].ID
	}
	return out
}
