package pipeline

import (
	"testing"

	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent"
	"github.com/learnplatform/platform/tutor/config"
	"github.com/learnplatform/platform/tutor/memstore"
)

func TestBuild(t *testing.T) {
	store := memstore.New()
	st := Stores{Threads: store, Courses: store, Reports: store, Search: store}

	cfg := config.Default()
	p := Build(cfg, st, nil, Options{})
	if _, ok := p.Responder.(agent.Material); !ok {
		t.Fatalf("no model configured: want course-material mode, got %T", p.Responder)
	}
	if p.Retriever != tutor.Retriever(store) || p.Guard != nil || p.Handler == nil {
		t.Fatalf("without plugins: want the own store, no guard and a handler, got %+v", p)
	}

	cfg.Model.BaseURL, cfg.Model.Name = kitconfig.MustURL("http://127.0.0.1:1/v1"), "m"
	if _, ok := Build(cfg, st, nil, Options{}).Responder.(*agent.Model); !ok {
		t.Fatal("model configured: want agent.Model")
	}
}

func TestLessonURL(t *testing.T) {
	cfg := config.Default()
	if got := LessonURL(cfg)("c", "l", "a"); got != "/courses/c/l#a" {
		t.Fatalf("relative: %s", got)
	}
	cfg.PublicURL = kitconfig.MustURL("https://learn.example/tutor/")
	if got := LessonURL(cfg)("c", "l", ""); got != "https://learn.example/tutor/courses/c/l" {
		t.Fatalf("public: %s", got)
	}
}
