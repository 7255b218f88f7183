package protocol

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/learnplatform/platform/tutor"
)

func TestFrameAndMarshal(t *testing.T) {
	msg := "<a> & b"
	b, err := Frame(ErrorEvent{Type: EvError, Code: ErrorCodeCustom, Message: &msg})
	if err != nil {
		t.Fatal(err)
	}
	// No HTML escaping, null fields left out, one event per blank line.
	if want := `data: {"type":"error","code":"custom","message":"<a> & b","allow_retry":false}` + "\n\n"; string(b) != want {
		t.Fatalf("%q\nwant %q", b, want)
	}
	if _, err := Marshal(func() {}); err == nil {
		t.Fatal("a func marshalled")
	}
}

func TestThreadOf(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	th := ThreadOf(tutor.Thread{ID: "thr_1", CreatedAt: at, UpdatedAt: at, Course: "go", Lesson: "values", Stage: 2}, Page[json.RawMessage]{})
	if th.Status.Type != "active" || th.Title != nil || th.Items.Data == nil || th.CreatedAt.Location() != time.UTC ||
		th.Metadata["course"] != "go" || th.Metadata["lesson"] != "values" || th.Metadata["stage"] != 2 || th.Metadata["updated_at"] != at.UTC() {
		t.Fatalf("%+v", th)
	}
	locked := ThreadOf(tutor.Thread{ID: "thr_2", Title: "T", Status: "locked", StatusReason: "ended"}, Page[json.RawMessage]{})
	if *locked.Title != "T" || locked.Status.Type != "locked" || *locked.Status.Reason != "ended" || len(locked.Metadata) != 0 {
		t.Fatalf("%+v", locked)
	}
	if active := ThreadOf(tutor.Thread{Status: "active", StatusReason: "x"}, Page[json.RawMessage]{}); active.Status.Reason != nil {
		t.Fatalf("an active thread with a reason: %+v", active.Status)
	}
}

func TestItemsPage(t *testing.T) {
	p := ItemsPage(tutor.Page[tutor.Item]{Data: []tutor.Item{{ID: "a", Payload: json.RawMessage(`{"id":"a"}`)}, {ID: "b", Payload: json.RawMessage(`{"id":"b"}`)}}, HasMore: true})
	if len(p.Data) != 2 || string(p.Data[1]) != `{"id":"b"}` || !p.HasMore || p.After == nil || *p.After != "b" {
		t.Fatalf("%+v", p)
	}
	if empty := ItemsPage(tutor.Page[tutor.Item]{}); empty.After != nil || empty.Data == nil {
		t.Fatalf("%+v", empty)
	}
}
