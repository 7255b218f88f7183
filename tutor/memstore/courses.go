package memstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/learnplatform/platform/tutor"
)

// Courses implements tutor.CourseStore.
func (s *Store) Courses(ctx context.Context) ([]tutor.Course, error) {
	if err := s.begin(ctx, "Courses"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]tutor.Course, 0, len(s.courses))
	for _, c := range s.courses {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Course < out[j].Course })
	return out, nil
}

// Course implements tutor.CourseStore.
func (s *Store) Course(ctx context.Context, course string) (tutor.Course, error) {
	if err := s.begin(ctx, "Course"); err != nil {
		return tutor.Course{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.course(course)
}

func (s *Store) course(course string) (tutor.Course, error) {
	c, ok := s.courses[course]
	if !ok {
		return c, notFound("course", course)
	}
	return c, nil
}

func cloneEnrollment(e tutor.Enrollment) tutor.Enrollment {
	if e.EndedAt != nil {
		t := *e.EndedAt
		e.EndedAt = &t
	}
	return e
}

// Enrollment implements tutor.CourseStore.
func (s *Store) Enrollment(ctx context.Context, userID, course string) (tutor.Enrollment, error) {
	if err := s.begin(ctx, "Enrollment"); err != nil {
		return tutor.Enrollment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.enrollments[[2]string{userID, course}]
	if !ok {
		return e, notFound("enrollment in course", course)
	}
	return cloneEnrollment(e), nil
}

// Enrollments implements tutor.CourseStore (ordered by course).
func (s *Store) Enrollments(ctx context.Context, userID string) ([]tutor.Enrollment, error) {
	if err := s.begin(ctx, "Enrollments"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tutor.Enrollment
	for k, e := range s.enrollments {
		if k[0] == userID {
			out = append(out, cloneEnrollment(e))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Course < out[j].Course })
	return out, nil
}

// Enroll implements tutor.CourseStore: stage 1, or the existing
// enrollment reopened at its stage.
func (s *Store) Enroll(ctx context.Context, userID, course string) (tutor.Enrollment, error) {
	if err := s.begin(ctx, "Enroll"); err != nil {
		return tutor.Enrollment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.course(course); err != nil {
		return tutor.Enrollment{}, err
	}
	k := [2]string{userID, course}
	e, ok := s.enrollments[k]
	if !ok {
		e = tutor.Enrollment{UserID: userID, Course: course, UnlockedStage: 1, EnrolledAt: s.now()}
	}
	e.EndedAt = nil
	s.enrollments[k] = e
	return cloneEnrollment(e), nil
}

// CompleteStage implements tutor.CourseStore.
func (s *Store) CompleteStage(ctx context.Context, userID, course string, stage int) (tutor.Enrollment, error) {
	if err := s.begin(ctx, "CompleteStage"); err != nil {
		return tutor.Enrollment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.course(course)
	if err != nil {
		return tutor.Enrollment{}, err
	}
	k := [2]string{userID, course}
	e, ok := s.enrollments[k]
	switch {
	case !ok:
		return e, tutor.Errorf(tutor.ECONFLICT, "you are not enrolled in %q; enrol first", course)
	case !e.Active():
		return e, tutor.Errorf(tutor.ECONFLICT, "your enrollment in %q has ended", course)
	case stage != e.UnlockedStage:
		return e, tutor.Errorf(tutor.ECONFLICT, "stage %d is not your current stage (%d)", stage, e.UnlockedStage)
	case stage >= c.Stages:
		return e, tutor.Errorf(tutor.ECONFLICT, "stage %d is the last stage of %q", stage, course)
	}
	e.UnlockedStage = stage + 1
	s.enrollments[k] = e
	return cloneEnrollment(e), nil
}

// SetEnrollment implements tutor.CourseStore.
func (s *Store) SetEnrollment(ctx context.Context, userID, course string, stage int, ended bool) (tutor.Enrollment, error) {
	if err := s.begin(ctx, "SetEnrollment"); err != nil {
		return tutor.Enrollment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.course(course)
	if err != nil {
		return tutor.Enrollment{}, err
	}
	if stage < 1 || stage > c.Stages {
		return tutor.Enrollment{}, tutor.Errorf(tutor.EINVALID, "stage must be between 1 and %d", c.Stages)
	}
	k := [2]string{userID, course}
	e, ok := s.enrollments[k]
	if !ok {
		e = tutor.Enrollment{UserID: userID, Course: course, EnrolledAt: s.now()}
	}
	e.UnlockedStage = stage
	switch {
	case !ended:
		e.EndedAt = nil
	case e.EndedAt == nil:
		now := s.now()
		e.EndedAt = &now
	}
	s.enrollments[k] = e
	return cloneEnrollment(e), nil
}

// Ingest implements tutor.CourseStore: unchanged lessons are left alone,
// changed ones replaced, lessons of an ingested course that are not in
// lessons removed.
func (s *Store) Ingest(ctx context.Context, lessons []tutor.Lesson) (tutor.IngestReport, error) {
	if err := s.begin(ctx, "Ingest"); err != nil {
		return tutor.IngestReport{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rep tutor.IngestReport
	byCourse := map[string][]tutor.Lesson{}
	var order []string
	for _, l := range lessons {
		if _, ok := byCourse[l.Course]; !ok {
			order = append(order, l.Course)
		}
		byCourse[l.Course] = append(byCourse[l.Course], l)
	}
	rep.Courses = len(order)
	for _, name := range order {
		c := tutor.Course{Course: name, Title: name}
		old := map[string]lesson{}
		for _, l := range s.lessons[name] {
			old[l.Lesson.Lesson] = l
		}
		var kept []lesson
		for _, l := range byCourse[name] {
			if l.CourseTitle != "" {
				c.Title = l.CourseTitle
			}
			c.Stages = max(c.Stages, l.Stage)
			h := hash(l)
			prev, ok := old[l.Lesson]
			switch {
			case !ok:
				rep.Added++
			case prev.hash == h:
				rep.Unchanged++
			default:
				rep.Updated++
			}
			delete(old, l.Lesson)
			l.Sections = slices.Clone(l.Sections)
			kept = append(kept, lesson{Lesson: l, hash: h})
		}
		rep.Removed += len(old)
		s.courses[name] = c
		s.lessons[name] = kept
	}
	return rep, nil
}

func hash(l tutor.Lesson) string {
	h := sha256.New()
	for _, part := range []string{l.CourseTitle, l.Title, l.Source, l.Body, strings.Repeat("|", l.Stage)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Lessons implements tutor.LessonStore: by stage, then source, then name.
func (s *Store) Lessons(ctx context.Context, course string) ([]tutor.LessonInfo, error) {
	if err := s.begin(ctx, "Lessons"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.course(course); err != nil {
		return nil, err
	}
	ls := slices.Clone(s.lessons[course])
	sort.SliceStable(ls, func(i, j int) bool {
		a, b := ls[i].Lesson, ls[j].Lesson
		if a.Stage != b.Stage {
			return a.Stage < b.Stage
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Lesson < b.Lesson
	})
	out := make([]tutor.LessonInfo, len(ls))
	for i, l := range ls {
		out[i] = tutor.LessonInfo{Course: l.Course, Lesson: l.Lesson.Lesson, Stage: l.Stage, Title: l.Title}
	}
	return out, nil
}

// Lesson implements tutor.LessonStore (Sections empty, as promised).
func (s *Store) Lesson(ctx context.Context, course, name string) (tutor.Lesson, error) {
	if err := s.begin(ctx, "Lesson"); err != nil {
		return tutor.Lesson{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lessons[course] {
		if l.Lesson.Lesson == name {
			out := l.Lesson
			out.CourseTitle = s.courses[course].Title
			out.Sections = nil
			return out, nil
		}
	}
	return tutor.Lesson{}, notFound("lesson", course+"/"+name)
}

// Retrieve implements tutor.Retriever with a plain word match: a section
// ranks by how many of the query's words (three letters or more) its
// heading and text contain. Nothing above MaxStage is read.
func (s *Store) Retrieve(ctx context.Context, q tutor.RetrievalQuery) ([]tutor.Passage, error) {
	if err := s.begin(ctx, "Retrieve"); err != nil {
		return nil, err
	}
	if q.MaxStage < 1 || q.Course == "" {
		return nil, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 4
	}
	var words []string
	for _, w := range strings.FieldsFunc(strings.ToLower(q.Text), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	}) {
		if len(w) >= 3 {
			words = append(words, w)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tutor.Passage
	for _, l := range s.lessons[q.Course] {
		if l.Stage > q.MaxStage {
			continue
		}
		for _, sec := range l.Sections {
			text := strings.ToLower(sec.Heading + " " + sec.Text)
			rank := 0
			for _, w := range words {
				if strings.Contains(text, w) {
					rank++
				}
			}
			if rank > 0 {
				out = append(out, tutor.Passage{Course: l.Course, Lesson: l.Lesson.Lesson, LessonTitle: l.Title, Stage: l.Stage,
					Section: sec.Heading, Anchor: sec.Anchor, Text: sec.Text, Rank: float64(rank)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Rank > out[j].Rank })
	if len(out) > limit {
		out = out[:limit]
	}
	return tutor.Allowed(q, out), nil
}

// RecordUsage implements tutor.ReportStore: one answer added to the
// user's day (UTC).
func (s *Store) RecordUsage(ctx context.Context, u tutor.Usage) error {
	if err := s.begin(ctx, "RecordUsage"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	day := u.At.UTC().Truncate(24 * time.Hour)
	k := usageKey{u.UserID, day}
	d := s.usage[k]
	if d == nil {
		d = &tutor.UsageDay{UserID: u.UserID, Day: day}
		s.usage[k] = d
	}
	d.Messages++
	if u.Failed {
		d.Errors++
	}
	if u.FirstToken > 0 {
		d.FirstTokenCounts++
		d.AvgFirstTokenMS += u.FirstToken.Milliseconds() // a sum until read
	}
	d.TotalResponseMS += u.Total.Milliseconds()
	d.TokensIn += u.TokensIn
	d.TokensOut += u.TokensOut
	return nil
}

// Usage implements tutor.ReportStore: days in the filter, oldest first,
// then by user.
func (s *Store) Usage(ctx context.Context, f tutor.UsageFilter) ([]tutor.UsageDay, error) {
	if err := s.begin(ctx, "Usage"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to := f.From.UTC().Truncate(24*time.Hour), f.To.UTC().Truncate(24*time.Hour)
	var out []tutor.UsageDay
	for k, d := range s.usage {
		if k.day.Before(from) || k.day.After(to) || (f.UserID != "" && k.user != f.UserID) {
			continue
		}
		day := *d
		if day.FirstTokenCounts > 0 {
			day.AvgFirstTokenMS = d.AvgFirstTokenMS / int64(d.FirstTokenCounts)
		}
		if day.Messages > 0 {
			day.AvgResponseMS = d.TotalResponseMS / int64(d.Messages)
		}
		out = append(out, day)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Day.Equal(out[j].Day) {
			return out[i].Day.Before(out[j].Day)
		}
		return out[i].UserID < out[j].UserID
	})
	return out, nil
}

// SaveFeedback implements tutor.ReportStore; a second verdict on the same
// item replaces the first.
func (s *Store) SaveFeedback(ctx context.Context, fb []tutor.Feedback) error {
	if err := s.begin(ctx, "SaveFeedback"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range fb {
		f.Sources = slices.Clone(f.Sources)
		s.feedback[[2]string{f.UserID, f.ItemID}] = f
	}
	return nil
}

// WorstSections implements tutor.ReportStore.
func (s *Store) WorstSections(ctx context.Context, course string, limit int) ([]tutor.SectionFeedback, error) {
	if err := s.begin(ctx, "WorstSections"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type key struct{ course, lesson, section, anchor string }
	agg := map[key]*tutor.SectionFeedback{}
	for _, f := range s.feedback {
		for _, src := range f.Sources {
			if course != "" && src.Course != course {
				continue
			}
			k := key{src.Course, src.Lesson, src.Section, src.Anchor}
			sf := agg[k]
			if sf == nil {
				sf = &tutor.SectionFeedback{Course: src.Course, Lesson: src.Lesson, Section: src.Section, Anchor: src.Anchor}
				agg[k] = sf
			}
			sf.Title = max(sf.Title, src.Title)
			if f.Kind == tutor.FeedbackNegative {
				sf.Negative++
			} else {
				sf.Positive++
			}
		}
	}
	var out []tutor.SectionFeedback
	for _, sf := range agg {
		if sf.Negative > 0 {
			out = append(out, *sf)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Negative != b.Negative:
			return a.Negative > b.Negative
		case a.Positive != b.Positive:
			return a.Positive < b.Positive
		case a.Course != b.Course:
			return a.Course < b.Course
		case a.Lesson != b.Lesson:
			return a.Lesson < b.Lesson
		}
		return a.Section < b.Section
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// PurgeExpired implements tutor.ReportStore.
func (s *Store) PurgeExpired(ctx context.Context, after time.Duration) (tutor.PurgeReport, error) {
	if err := s.begin(ctx, "PurgeExpired"); err != nil {
		return tutor.PurgeReport{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rep tutor.PurgeReport
	now := s.now()
	for id, th := range s.threads {
		e, ok := s.enrollments[[2]string{th.UserID, th.Course}]
		if ok && e.EndedAt != nil && e.EndedAt.Before(now.Add(-after)) {
			delete(s.threads, id)
			delete(s.items, id)
			rep.Threads++
		}
	}
	for user, times := range s.quota {
		in := s.window(user, tutor.QuotaWindow, now)
		rep.QuotaRows += int64(len(times) - len(in))
		if len(in) == 0 {
			delete(s.quota, user)
		} else {
			s.quota[user] = in
		}
	}
	return rep, nil
}
