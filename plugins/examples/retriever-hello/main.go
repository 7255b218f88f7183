// Command retriever-hello is the smallest useful retriever: three fixed
// chunks of one course ("hello", or the config's "course"), scored by how
// many query words they contain. Copy it to start your own, or run
// plugins/cmd/new-plugin; docs/plugins.md walks through both.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/learnplatform/platform/plugins"
)

var chunks = []plugins.Chunk{
	{ID: "greetings#hello", Lesson: "greetings", Stage: 1, Title: "Greetings", Section: "Hello", Anchor: "hello", Source: "greetings.md", Text: "Say hello to greet someone."},
	{ID: "greetings#goodbye", Lesson: "greetings", Stage: 1, Title: "Greetings", Section: "Goodbye", Anchor: "goodbye", Source: "greetings.md", Text: "Say goodbye when you leave."},
	{ID: "letters#sign-off", Lesson: "letters", Stage: 2, Title: "Letters", Section: "Sign-off", Anchor: "sign-off", Source: "letters.md", Text: "End a letter with kind regards, then your name."},
}

type hello struct{ course string }

// Configure takes the declaration's config: {"course": "slug"} at most.
func (h *hello) Configure(ctx context.Context, config []byte) error {
	var c struct{ Course string }
	d := json.NewDecoder(bytes.NewReader(config))
	d.DisallowUnknownFields() // a typo is an error the tutor shows, not a silent default
	if err := d.Decode(&c); err != nil {
		return err
	}
	h.course = "hello"
	if c.Course != "" {
		h.course = c.Course
	}
	return nil
}

func (h *hello) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	words := strings.Fields(strings.ToLower(q.Text))
	var found []plugins.Chunk
	for _, c := range chunks {
		if q.Course != h.course || c.Stage > q.MaxStage {
			continue // never leak another course or a locked stage
		}
		c.Course, c.ID = h.course, h.course+"/"+c.ID
		for _, w := range words {
			if strings.Contains(strings.ToLower(c.Section+" "+c.Text), w) {
				c.Score++
			}
		}
		if c.Score > 0 {
			found = append(found, c)
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Score > found[j].Score })
	return found[:min(len(found), q.TopK)], ctx.Err()
}

func main() { plugins.ServeRetriever(&hello{}) }
