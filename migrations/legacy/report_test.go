package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummaryAndJSON(t *testing.T) {
	r := newReport("run")
	c := Counts{Users: 3, Sessions: 7, ActiveSessions: 2}
	r.Legacy = &c
	r.Sessions = sessionsNote(c)
	r.Run = &RunCounts{RowsRewritten: map[string]int64{}}
	for i := 0; i < 7; i++ {
		r.Conflicts = append(r.Conflicts, Conflict{Kind: ConflictInvalidEmail, LegacyIDs: []string{string(rune('a' + i))}, Detail: "bad", Resolution: "not imported"})
	}
	r.Conflicts = append(r.Conflicts, Conflict{Kind: ConflictDuplicateEmail, LegacyIDs: []string{"z"}, Detail: "dup", Resolution: "merged"})
	r.finish("ok")
	if r.Conflicts[0].Kind != ConflictDuplicateEmail || r.ConflictCounts[ConflictInvalidEmail] != 7 {
		t.Fatalf("conflicts not ordered and counted: %+v %v", r.Conflicts[0], r.ConflictCounts)
	}
	var buf bytes.Buffer
	r.WriteSummary(&buf)
	out := buf.String()
	for _, want := range []string{
		"sessions: 7 legacy sessions (2 still active) not imported. Kratos cannot import sessions",
		"every user signs in once more",
		"invalid_email: 7", "… and 2 more", "→ merged",
		"nothing changed: everything was already migrated",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path, nil); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &back); err != nil || back["outcome"] != "ok" || back["sessions"].(map[string]any)["total"] != 7.0 {
		t.Fatalf("report JSON: %v %s", err, data)
	}
	buf.Reset()
	if err := FailedReport("plan", errors.New("boom")).WriteJSON("-", &buf); err != nil || !strings.Contains(buf.String(), `"outcome": "failed"`) {
		t.Fatalf("failed report: %v %s", err, buf.String())
	}
	if err := CheckWritable(filepath.Join(t.TempDir(), "missing-dir", "r.json")); err == nil {
		t.Fatal("a report in a missing directory looks writable")
	}
}
