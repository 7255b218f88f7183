package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/tutor"
)

// RecordUsage implements tutor.ReportStore: one upsert per answer.
func (db *DB) RecordUsage(ctx context.Context, u tutor.Usage) error {
	firstCount, failed := 0, 0
	if u.FirstToken > 0 {
		firstCount = 1
	}
	if u.Failed {
		failed = 1
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO ai_usage_metric AS m (user_id, day, messages, errors, first_token_count, first_token_ms, response_ms, tokens_in, tokens_out)
		VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, 1, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (user_id, day) DO UPDATE SET
			messages = m.messages + 1, errors = m.errors + $3,
			first_token_count = m.first_token_count + $4, first_token_ms = m.first_token_ms + $5,
			response_ms = m.response_ms + $6, tokens_in = m.tokens_in + $7, tokens_out = m.tokens_out + $8`,
		u.UserID, u.At, failed, firstCount, u.FirstToken.Milliseconds(), u.Total.Milliseconds(), u.TokensIn, u.TokensOut)
	return err
}

// Usage implements tutor.ReportStore.
func (db *DB) Usage(ctx context.Context, f tutor.UsageFilter) ([]tutor.UsageDay, error) {
	rows, err := db.pool.Query(ctx, `SELECT user_id, day, messages, errors, first_token_count, first_token_ms, response_ms, tokens_in, tokens_out
		FROM ai_usage_metric WHERE day BETWEEN $1::date AND $2::date AND ($3 = '' OR user_id = $3)
		ORDER BY day, user_id`, f.From.Format(time.DateOnly), f.To.Format(time.DateOnly), f.UserID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutor.UsageDay, error) {
		var d tutor.UsageDay
		var firstMS int64
		err := r.Scan(&d.UserID, &d.Day, &d.Messages, &d.Errors, &d.FirstTokenCounts, &firstMS, &d.TotalResponseMS, &d.TokensIn, &d.TokensOut)
		if d.FirstTokenCounts > 0 {
			d.AvgFirstTokenMS = firstMS / int64(d.FirstTokenCounts)
		}
		if d.Messages > 0 {
			d.AvgResponseMS = d.TotalResponseMS / int64(d.Messages)
		}
		return d, err
	})
}

// SaveFeedback implements tutor.ReportStore; a second verdict on the same
// item replaces the first.
func (db *DB) SaveFeedback(ctx context.Context, fb []tutor.Feedback) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		for _, f := range fb {
			sources, err := json.Marshal(nonNil(f.Sources))
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tutor_feedback (user_id, item_id, thread_id, kind, course, sources)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (user_id, item_id) DO UPDATE SET kind = $4, sources = $6, created_at = now()`,
				f.UserID, f.ItemID, f.ThreadID, f.Kind, nullable(f.Course), sources); err != nil {
				return err
			}
		}
		return nil
	})
}

// WorstSections implements tutor.ReportStore.
func (db *DB) WorstSections(ctx context.Context, course string, limit int) ([]tutor.SectionFeedback, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT s->>'course', s->>'lesson', coalesce(max(s->>'title'), ''), s->>'section', s->>'anchor',
			count(*) FILTER (WHERE f.kind = 'negative'), count(*) FILTER (WHERE f.kind = 'positive')
		FROM tutor_feedback f, jsonb_array_elements(f.sources) s
		WHERE $1 = '' OR s->>'course' = $1
		GROUP BY 1, 2, 4, 5
		HAVING count(*) FILTER (WHERE f.kind = 'negative') > 0
		ORDER BY 6 DESC, 7, 1, 2, 4
		LIMIT $2`, course, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutor.SectionFeedback, error) {
		var s tutor.SectionFeedback
		err := r.Scan(&s.Course, &s.Lesson, &s.Title, &s.Section, &s.Anchor, &s.Negative, &s.Positive)
		return s, err
	})
}

// PurgeExpired implements tutor.ReportStore.
func (db *DB) PurgeExpired(ctx context.Context, after time.Duration) (tutor.PurgeReport, error) {
	var rep tutor.PurgeReport
	tag, err := db.pool.Exec(ctx, `DELETE FROM tutor_threads t USING tutor_enrollments e
		WHERE e.user_id = t.user_id AND e.course = t.course
		  AND e.ended_at IS NOT NULL AND e.ended_at < now() - $1::float8 * interval '1 second'`, after.Seconds())
	if err != nil {
		return rep, err
	}
	rep.Threads = tag.RowsAffected()
	tag, err = db.pool.Exec(ctx, `DELETE FROM tutor_message_quota WHERE sent_at < now() - $1::float8 * interval '1 second'`,
		tutor.QuotaWindow.Seconds())
	if err != nil {
		return rep, err
	}
	rep.QuotaRows = tag.RowsAffected()
	return rep, nil
}
