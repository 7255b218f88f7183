package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/tutor"
)

// Lessons implements tutor.LessonStore.
func (db *DB) Lessons(ctx context.Context, course string) ([]tutor.LessonInfo, error) {
	if _, err := db.Course(ctx, course); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT course, lesson, stage, title FROM tutor_lessons
		WHERE course = $1 ORDER BY stage, source, lesson`, course)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutor.LessonInfo, error) {
		var l tutor.LessonInfo
		err := r.Scan(&l.Course, &l.Lesson, &l.Stage, &l.Title)
		return l, err
	})
}

// Lesson implements tutor.LessonStore.
func (db *DB) Lesson(ctx context.Context, course, lesson string) (tutor.Lesson, error) {
	var l tutor.Lesson
	err := db.pool.QueryRow(ctx, `SELECT l.course, c.title, l.lesson, l.stage, l.title, l.source, l.body
		FROM tutor_lessons l JOIN tutor_courses c USING (course) WHERE l.course = $1 AND l.lesson = $2`, course, lesson).
		Scan(&l.Course, &l.CourseTitle, &l.Lesson, &l.Stage, &l.Title, &l.Source, &l.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, notFound("lesson", course+"/"+lesson)
	}
	return l, err
}
