// Package memstore is an in-memory retriever with ingestion, scored by how
// often the query's words occur. The tests' well-behaved plugin, and the
// in-process side of the call-overhead benchmark.
package memstore

import (
	"context"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/learnplatform/platform/plugins"
)

// Store holds lessons by course.
type Store struct {
	mu      sync.RWMutex
	courses map[string]map[string]plugins.Lesson // course → lesson → lesson
}

// New returns an empty store.
func New() *Store { return &Store{courses: map[string]map[string]plugins.Lesson{}} }

// Words splits text into lower-case words.
func Words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// Search implements plugins.Retriever.
func (s *Store) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	words := Words(q.Text)
	if len(words) > 256 {
		words = words[:256]
	}
	if len(words) == 0 || q.TopK < 1 {
		return nil, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found []plugins.Chunk
	for _, l := range s.courses[q.Course] {
		if l.Stage > q.MaxStage {
			continue
		}
		for _, c := range l.Chunks {
			text := " " + strings.Join(Words(c.Section+" "+c.Text), " ") + " "
			score := 0.0
			for _, w := range words {
				score += float64(strings.Count(text, " "+w+" "))
			}
			if score > 0 {
				c.Score = score
				found = append(found, c)
			}
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].Score != found[j].Score {
			return found[i].Score > found[j].Score
		}
		return found[i].ID < found[j].ID
	})
	if len(found) > q.TopK {
		found = found[:q.TopK]
	}
	return found, nil
}

// Ingest implements plugins.Ingester.
func (s *Store) Ingest(ctx context.Context, course string, lessons []plugins.Lesson) (plugins.IngestReport, error) {
	var rep plugins.IngestReport
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.courses[course]
	next := map[string]plugins.Lesson{}
	for _, l := range lessons {
		switch prev, ok := old[l.Lesson]; {
		case !ok:
			rep.Added++
		case prev.ContentHash == l.ContentHash && l.ContentHash != "":
			rep.Unchanged++
			l = prev
		default:
			rep.Updated++
		}
		next[l.Lesson] = l
	}
	for name := range old {
		if _, ok := next[name]; !ok {
			rep.Removed++
		}
	}
	if len(next) == 0 {
		delete(s.courses, course)
	} else {
		s.courses[course] = next
	}
	return rep, ctx.Err()
}
