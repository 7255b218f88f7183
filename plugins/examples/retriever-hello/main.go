// Command retriever-hello is the smallest useful retriever: three fixed
// chunks of a "hello" course, scored by how many query words they contain.
// Copy it to start your own; docs/plugins.md walks through it.
package main

import (
	"context"
	"sort"
	"strings"

	"github.com/learnplatform/platform/plugins"
)

var chunks = []plugins.Chunk{
	{ID: "hello/greetings#hello", Course: "hello", Lesson: "greetings", Stage: 1, Title: "Greetings",
		Section: "Hello", Anchor: "hello", Source: "greetings.md", Text: "Say hello to greet someone."},
	{ID: "hello/greetings#goodbye", Course: "hello", Lesson: "greetings", Stage: 1, Title: "Greetings",
		Section: "Goodbye", Anchor: "goodbye", Source: "greetings.md", Text: "Say goodbye when you leave."},
	{ID: "hello/letters#sign-off", Course: "hello", Lesson: "letters", Stage: 2, Title: "Letters",
		Section: "Sign-off", Anchor: "sign-off", Source: "letters.md", Text: "End a letter with kind regards, then your name."},
}

type hello struct{}

func (hello) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	words := strings.Fields(strings.ToLower(q.Text))
	var found []plugins.Chunk
	for _, c := range chunks {
		if c.Course != q.Course || c.Stage > q.MaxStage {
			continue // never leak another course or a locked stage
		}
		text := strings.ToLower(c.Section + " " + c.Text)
		for _, w := range words {
			if strings.Contains(text, w) {
				c.Score++
			}
		}
		if c.Score > 0 {
			found = append(found, c)
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Score > found[j].Score })
	if len(found) > q.TopK {
		found = found[:q.TopK]
	}
	return found, ctx.Err()
}

func main() { plugins.ServeRetriever(hello{}) }
