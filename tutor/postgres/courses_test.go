package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/postgres"
)

// goBasics is a course of three stages, one lesson each.
func goBasics() []tutor.Lesson {
	var out []tutor.Lesson
	for i, l := range []struct{ name, title, text string }{
		{"values", "Values", "Every variable starts at its zero value; the zero value of an int is 0."},
		{"loops", "Loops", "A for loop repeats its body; range walks over a slice."},
		{"errors", "Errors", "Wrap an error with fmt.Errorf and the %w verb."},
	} {
		out = append(out, tutor.Lesson{Course: "go-basics", CourseTitle: "Go basics", Lesson: l.name, Stage: i + 1, Title: l.title,
			Source: l.name + ".md", Body: "# " + l.title + "\n\n" + l.text,
			Sections: []tutor.Section{{Heading: l.title, Anchor: l.name, Text: l.text}}})
	}
	return out
}

func ingest(t *testing.T, db *postgres.DB, lessons []tutor.Lesson) tutor.IngestReport {
	t.Helper()
	rep, err := db.Ingest(context.Background(), lessons)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Ingestion is idempotent: unchanged lessons are left alone, changed ones
// replaced, lessons gone from a course removed.
func TestIngest(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	if rep := ingest(t, db, goBasics()); rep != (tutor.IngestReport{Courses: 1, Added: 3}) {
		t.Fatalf("first %+v", rep)
	}
	if rep := ingest(t, db, goBasics()); rep != (tutor.IngestReport{Courses: 1, Unchanged: 3}) {
		t.Fatalf("again %+v", rep)
	}
	changed := goBasics()[:2]
	changed[1].Body += "\n\nbreak leaves a loop."
	if rep := ingest(t, db, changed); rep != (tutor.IngestReport{Courses: 1, Unchanged: 1, Updated: 1, Removed: 1}) {
		t.Fatalf("changed %+v", rep)
	}
	c, err := db.Course(ctx, "go-basics")
	if err != nil || c.Title != "Go basics" || c.Stages != 2 {
		t.Fatalf("course %+v %v", c, err)
	}
	outline, err := db.Lessons(ctx, "go-basics")
	if err != nil || len(outline) != 2 || outline[0].Lesson != "values" || outline[1].Stage != 2 {
		t.Fatalf("outline %+v %v", outline, err)
	}
	l, err := db.Lesson(ctx, "go-basics", "values")
	if err != nil || l.Title != "Values" || !strings.Contains(l.Body, "zero value") {
		t.Fatalf("lesson %+v %v", l, err)
	}
	if _, err := db.Lesson(ctx, "go-basics", "errors"); tutor.ErrorCode(err) != tutor.ENOTFOUND {
		t.Fatalf("a removed lesson: %v", err)
	}
	if _, err := db.Course(ctx, "cobol"); tutor.ErrorCode(err) != tutor.ENOTFOUND {
		t.Fatalf("no such course: %v", err)
	}
}

// Full-text search: the question's words ORed and ranked, only the
// course asked about, never above the stage.
func TestRetrieve(t *testing.T) {
	db := newDB(t)
	other := goBasics()[0]
	other.Course, other.CourseTitle = "rust-basics", "Rust basics"
	ingest(t, db, append(goBasics(), other))
	ctx := context.Background()
	ps, err := db.Retrieve(ctx, tutor.RetrievalQuery{Course: "go-basics", MaxStage: 2, Text: "what is the zero value of a variable", Limit: 4})
	if err != nil || len(ps) == 0 || ps[0].Lesson != "values" || ps[0].Course != "go-basics" || ps[0].LessonTitle != "Values" || ps[0].Anchor != "values" {
		t.Fatalf("%+v %v", ps, err)
	}
	for _, q := range []string{"wrap an error", "Errorf verb", "zero loop error"} {
		ps, err := db.Retrieve(ctx, tutor.RetrievalQuery{Course: "go-basics", MaxStage: 2, Text: q, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Stage > 2 || p.Course != "go-basics" {
				t.Fatalf("%q found %+v", q, p)
			}
		}
	}
	if ps, err := db.Retrieve(ctx, tutor.RetrievalQuery{Course: "go-basics", MaxStage: 3, Text: "wrap an error", Limit: 4}); err != nil || len(ps) == 0 || ps[0].Lesson != "errors" {
		t.Fatalf("stage 3: %+v %v", ps, err)
	}
}

func TestEnrollments(t *testing.T) {
	db := newDB(t)
	ingest(t, db, goBasics())
	ctx := context.Background()
	e, err := db.Enroll(ctx, "u1", "go-basics")
	if err != nil || e.UnlockedStage != 1 || !e.Active() {
		t.Fatalf("%+v %v", e, err)
	}
	if _, err := db.CompleteStage(ctx, "u1", "go-basics", 2); tutor.ErrorCode(err) != tutor.ECONFLICT {
		t.Fatalf("a stage not unlocked: %v", err)
	}
	for stage := 1; stage <= 2; stage++ {
		if e, err = db.CompleteStage(ctx, "u1", "go-basics", stage); err != nil || e.UnlockedStage != stage+1 {
			t.Fatalf("stage %d: %+v %v", stage, e, err)
		}
	}
	if _, err := db.CompleteStage(ctx, "u1", "go-basics", 3); tutor.ErrorCode(err) != tutor.ECONFLICT {
		t.Fatalf("the last stage: %v", err)
	}
	if _, err := db.CompleteStage(ctx, "u2", "go-basics", 1); tutor.ErrorCode(err) != tutor.ECONFLICT {
		t.Fatalf("not enrolled: %v", err)
	}
	if e, err = db.SetEnrollment(ctx, "u1", "go-basics", 2, true); err != nil || e.Active() || e.UnlockedStage != 2 {
		t.Fatalf("ended %+v %v", e, err)
	}
	if _, err := db.SetEnrollment(ctx, "u1", "go-basics", 4, false); tutor.ErrorCode(err) != tutor.EINVALID {
		t.Fatalf("stage 4 of 3: %v", err)
	}
	if e, err = db.Enroll(ctx, "u1", "go-basics"); err != nil || !e.Active() || e.UnlockedStage != 2 {
		t.Fatalf("enrolled again: %+v %v", e, err)
	}
	es, err := db.Enrollments(ctx, "u1")
	if err != nil || len(es) != 1 {
		t.Fatalf("%+v %v", es, err)
	}
	if _, err := db.Enroll(ctx, "u1", "cobol"); tutor.ErrorCode(err) != tutor.ENOTFOUND {
		t.Fatalf("no such course: %v", err)
	}
}

func TestUsageAndFeedback(t *testing.T) {
	db := newDB(t)
	ingest(t, db, goBasics())
	ctx := context.Background()
	now := time.Now()
	for _, u := range []tutor.Usage{
		{UserID: "u1", At: now, Total: 2 * time.Second, FirstToken: 100 * time.Millisecond, TokensIn: 10, TokensOut: 5},
		{UserID: "u1", At: now, Total: 4 * time.Second, FirstToken: 300 * time.Millisecond, TokensIn: 20, TokensOut: 7},
		{UserID: "u1", At: now, Total: time.Second, Failed: true},
	} {
		if err := db.RecordUsage(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	days, err := db.Usage(ctx, tutor.UsageFilter{From: now.Add(-24 * time.Hour), To: now.Add(24 * time.Hour), UserID: "u1"})
	if err != nil || len(days) != 1 {
		t.Fatalf("%+v %v", days, err)
	}
	if d := days[0]; d.Messages != 3 || d.Errors != 1 || d.AvgFirstTokenMS != 200 || d.TokensIn != 30 || d.TokensOut != 12 || d.TotalResponseMS != 7000 {
		t.Fatalf("%+v", d)
	}
	ref := tutor.SourceRef{Course: "go-basics", Lesson: "loops", Section: "Loops", Anchor: "loops", Title: "Loops", Stage: 2}
	fb := []tutor.Feedback{
		{UserID: "u1", ThreadID: "thr_1", ItemID: "msg_1", Kind: tutor.FeedbackNegative, Course: "go-basics", Sources: []tutor.SourceRef{ref}},
		{UserID: "u2", ThreadID: "thr_2", ItemID: "msg_2", Kind: tutor.FeedbackNegative, Course: "go-basics", Sources: []tutor.SourceRef{ref}},
	}
	if err := db.SaveFeedback(ctx, fb); err != nil {
		t.Fatal(err)
	}
	fb[0].Kind = tutor.FeedbackPositive // a second verdict replaces the first
	if err := db.SaveFeedback(ctx, fb[:1]); err != nil {
		t.Fatal(err)
	}
	worst, err := db.WorstSections(ctx, "go-basics", 5)
	if err != nil || len(worst) != 1 || worst[0].Lesson != "loops" || worst[0].Negative != 1 || worst[0].Positive != 1 || worst[0].Title != "Loops" {
		t.Fatalf("%+v %v", worst, err)
	}
}

// Retention deletes the threads of an enrollment that ended long enough
// ago, and nothing more when run again.
func TestPurgeExpired(t *testing.T) {
	db := newDB(t)
	ingest(t, db, goBasics())
	ctx := context.Background()
	for _, u := range []string{"gone", "staying"} {
		if _, err := db.Enroll(ctx, u, "go-basics"); err != nil {
			t.Fatal(err)
		}
		th := tutor.Thread{ID: tutor.NewID("thr"), UserID: u, Title: "t", Status: "active", Course: "go-basics", Stage: 1, CreatedAt: time.Now()}
		if _, err := db.CreateThread(ctx, th, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SetEnrollment(ctx, "gone", "go-basics", 1, true); err != nil {
		t.Fatal(err)
	}
	if rep, err := db.PurgeExpired(ctx, time.Hour); err != nil || rep.Threads != 0 {
		t.Fatalf("ended just now, kept an hour: %+v %v", rep, err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE tutor_enrollments SET ended_at = now() - interval '2 hours' WHERE user_id = 'gone'`); err != nil {
		t.Fatal(err)
	}
	if rep, err := db.PurgeExpired(ctx, time.Hour); err != nil || rep.Threads != 1 {
		t.Fatalf("ended two hours ago: %+v %v", rep, err)
	}
	if rep, err := db.PurgeExpired(ctx, time.Hour); err != nil || rep.Threads != 0 {
		t.Fatalf("again: %+v %v", rep, err)
	}
	if got, _ := db.Threads(ctx, "staying", tutor.PageRequest{Limit: 10}); len(got.Data) != 1 {
		t.Fatalf("an active enrollment's thread was deleted: %+v", got)
	}
}

// A value PostgreSQL cannot take (a NUL byte in text) is the caller's
// error, not an internal one.
func TestBadValueIsInvalid(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	th := tutor.Thread{ID: tutor.NewID("thr"), UserID: "u1", Title: "t", Status: "active", CreatedAt: time.Now()}
	if _, err := db.CreateThread(ctx, th, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateTitle(ctx, "u1", th.ID, "a\x00b"); tutor.ErrorCode(err) != tutor.EINVALID {
		t.Fatalf("NUL in a title: %v (%s)", err, tutor.ErrorCode(err))
	}
}
