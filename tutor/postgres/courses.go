package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/tutor"
)

// Courses implements tutor.CourseStore.
func (db *DB) Courses(ctx context.Context) ([]tutor.Course, error) {
	rows, err := db.pool.Query(ctx, `SELECT course, title, stages FROM tutor_courses ORDER BY course`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutor.Course, error) {
		var c tutor.Course
		err := r.Scan(&c.Course, &c.Title, &c.Stages)
		return c, err
	})
}

// Course implements tutor.CourseStore.
func (db *DB) Course(ctx context.Context, course string) (tutor.Course, error) {
	var c tutor.Course
	err := db.pool.QueryRow(ctx, `SELECT course, title, stages FROM tutor_courses WHERE course = $1`, course).Scan(&c.Course, &c.Title, &c.Stages)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, notFound("course", course)
	}
	return c, err
}

const enrollmentCols = `user_id, course, unlocked_stage, enrolled_at, ended_at`

func scanEnrollment(r pgx.Row) (tutor.Enrollment, error) {
	var e tutor.Enrollment
	err := r.Scan(&e.UserID, &e.Course, &e.UnlockedStage, &e.EnrolledAt, &e.EndedAt)
	return e, err
}

// Enrollment implements tutor.CourseStore.
func (db *DB) Enrollment(ctx context.Context, userID, course string) (tutor.Enrollment, error) {
	e, err := scanEnrollment(db.pool.QueryRow(ctx, `SELECT `+enrollmentCols+` FROM tutor_enrollments WHERE user_id = $1 AND course = $2`, userID, course))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, notFound("enrollment in course", course)
	}
	return e, err
}

// Enrollments implements tutor.CourseStore.
func (db *DB) Enrollments(ctx context.Context, userID string) ([]tutor.Enrollment, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+enrollmentCols+` FROM tutor_enrollments WHERE user_id = $1 ORDER BY course`, userID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutor.Enrollment, error) { return scanEnrollment(r) })
}

// Enroll implements tutor.CourseStore.
func (db *DB) Enroll(ctx context.Context, userID, course string) (tutor.Enrollment, error) {
	if _, err := db.Course(ctx, course); err != nil {
		return tutor.Enrollment{}, err
	}
	return scanEnrollment(db.pool.QueryRow(ctx, `INSERT INTO tutor_enrollments (user_id, course, unlocked_stage)
		VALUES ($1, $2, 1)
		ON CONFLICT (user_id, course) DO UPDATE SET ended_at = NULL, updated_at = now()
		RETURNING `+enrollmentCols, userID, course))
}

// CompleteStage implements tutor.CourseStore.
func (db *DB) CompleteStage(ctx context.Context, userID, course string, stage int) (tutor.Enrollment, error) {
	var e tutor.Enrollment
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var stages int
		err := tx.QueryRow(ctx, `SELECT stages FROM tutor_courses WHERE course = $1`, course).Scan(&stages)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("course", course)
		} else if err != nil {
			return err
		}
		e, err = scanEnrollment(tx.QueryRow(ctx, `SELECT `+enrollmentCols+` FROM tutor_enrollments WHERE user_id = $1 AND course = $2 FOR UPDATE`, userID, course))
		if errors.Is(err, pgx.ErrNoRows) {
			return tutor.Errorf(tutor.ECONFLICT, "you are not enrolled in %q; enrol first", course)
		} else if err != nil {
			return err
		}
		switch {
		case !e.Active():
			return tutor.Errorf(tutor.ECONFLICT, "your enrollment in %q has ended", course)
		case stage != e.UnlockedStage:
			return tutor.Errorf(tutor.ECONFLICT, "stage %d is not your current stage (%d)", stage, e.UnlockedStage)
		case stage >= stages:
			return tutor.Errorf(tutor.ECONFLICT, "stage %d is the last stage of %q", stage, course)
		}
		e, err = scanEnrollment(tx.QueryRow(ctx, `UPDATE tutor_enrollments SET unlocked_stage = $3, updated_at = now()
			WHERE user_id = $1 AND course = $2 RETURNING `+enrollmentCols, userID, course, stage+1))
		return err
	})
	return e, err
}

// SetEnrollment implements tutor.CourseStore.
func (db *DB) SetEnrollment(ctx context.Context, userID, course string, stage int, ended bool) (tutor.Enrollment, error) {
	c, err := db.Course(ctx, course)
	if err != nil {
		return tutor.Enrollment{}, err
	}
	if stage < 1 || stage > c.Stages {
		return tutor.Enrollment{}, tutor.Errorf(tutor.EINVALID, "stage must be between 1 and %d", c.Stages)
	}
	return scanEnrollment(db.pool.QueryRow(ctx, `INSERT INTO tutor_enrollments (user_id, course, unlocked_stage, ended_at)
		VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END)
		ON CONFLICT (user_id, course) DO UPDATE SET unlocked_stage = $3,
			ended_at = CASE WHEN $4 THEN coalesce(tutor_enrollments.ended_at, now()) END, updated_at = now()
		RETURNING `+enrollmentCols, userID, course, stage, ended))
}

// Ingest implements tutor.CourseStore, in one transaction.
func (db *DB) Ingest(ctx context.Context, lessons []tutor.Lesson) (tutor.IngestReport, error) {
	var rep tutor.IngestReport
	type courseInfo struct {
		title  string
		stages int
		keep   []string
	}
	courses := map[string]*courseInfo{}
	var order []string
	for _, l := range lessons {
		c := courses[l.Course]
		if c == nil {
			c = &courseInfo{title: l.Course}
			courses[l.Course] = c
			order = append(order, l.Course)
		}
		if l.CourseTitle != "" {
			c.title = l.CourseTitle
		}
		c.stages = max(c.stages, l.Stage)
		c.keep = append(c.keep, l.Lesson)
	}
	rep.Courses = len(order)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		for _, name := range order {
			c := courses[name]
			if _, err := tx.Exec(ctx, `INSERT INTO tutor_courses (course, title, stages) VALUES ($1, $2, $3)
				ON CONFLICT (course) DO UPDATE SET title = $2, stages = $3, updated_at = now()
				WHERE tutor_courses.title <> $2 OR tutor_courses.stages <> $3`, name, c.title, c.stages); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM tutor_lessons WHERE course = $1 AND NOT (lesson = ANY($2))`, name, c.keep)
			if err != nil {
				return err
			}
			rep.Removed += int(tag.RowsAffected())
		}
		for _, l := range lessons {
			hash := lessonHash(l)
			var old string
			err := tx.QueryRow(ctx, `SELECT content_hash FROM tutor_lessons WHERE course = $1 AND lesson = $2`, l.Course, l.Lesson).Scan(&old)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				rep.Added++
			case err != nil:
				return err
			case old == hash:
				rep.Unchanged++
				continue
			default:
				rep.Updated++
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tutor_lessons (course, lesson, stage, title, source, content_hash, body)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (course, lesson) DO UPDATE SET stage = $3, title = $4, source = $5, content_hash = $6, body = $7, updated_at = now()`,
				l.Course, l.Lesson, l.Stage, l.Title, l.Source, hash, l.Body); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM tutor_chunks WHERE course = $1 AND lesson = $2`, l.Course, l.Lesson); err != nil {
				return err
			}
			rows := make([][]any, 0, len(l.Sections))
			for i, s := range l.Sections {
				rows = append(rows, []any{l.Course, l.Lesson, l.Stage, i, s.Heading, s.Anchor, s.Text})
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tutor_chunks"},
				[]string{"course", "lesson", "stage", "ord", "section", "anchor", "body"}, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		return nil
	})
	return rep, err
}

// lessonHash covers everything Ingest stores about a lesson.
func lessonHash(l tutor.Lesson) string {
	h := sha256.New()
	for _, s := range []string{l.CourseTitle, l.Title, l.Source, l.Body, strings.Repeat("|", l.Stage)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Retrieve implements tutor.Retriever with PostgreSQL full-text search:
// the question's words (stemmed, stop words dropped) are ORed, so a
// passage matching some of them ranks by how well it matches. Nothing
// above MaxStage is read.
func (db *DB) Retrieve(ctx context.Context, q tutor.RetrievalQuery) ([]tutor.Passage, error) {
	if q.MaxStage < 1 || q.Course == "" {
		return nil, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 4
	}
	rows, err := db.pool.Query(ctx, `
		WITH q AS (SELECT nullif(replace(plainto_tsquery('english', $3)::text, ' & ', ' | '), '') AS t)
		SELECT c.course, c.lesson, l.title, c.stage, c.section, c.anchor, c.body, ts_rank(c.tsv, q.t::tsquery) AS rank
		FROM tutor_chunks c JOIN tutor_lessons l ON l.course = c.course AND l.lesson = c.lesson, q
		WHERE c.course = $1 AND c.stage <= $2 AND q.t IS NOT NULL AND c.tsv @@ q.t::tsquery
		ORDER BY rank DESC, c.stage, c.lesson, c.ord
		LIMIT $4`, q.Course, q.MaxStage, q.Text, limit)
	if err != nil {
		return nil, err
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutor.Passage, error) {
		var p tutor.Passage
		var rank float32
		err := r.Scan(&p.Course, &p.Lesson, &p.LessonTitle, &p.Stage, &p.Section, &p.Anchor, &p.Text, &rank)
		p.Rank = float64(rank)
		return p, err
	})
	if err != nil {
		return nil, err
	}
	return tutor.Allowed(q, ps), nil
}
