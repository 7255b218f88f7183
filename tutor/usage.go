package tutor

import (
	"context"
	"time"
)

// Usage is one answer's cost and speed, recorded per user per day.
type Usage struct {
	UserID string
	At     time.Time
	// FirstToken is the time from the request to the first answer text;
	// zero when no text came.
	FirstToken time.Duration
	// Total is the time from the request to the end of the answer.
	Total time.Duration
	// Failed marks an answer that ended in an error.
	Failed bool
	// TokensIn and TokensOut are what the model reported, 0 if nothing.
	TokensIn, TokensOut int64
}

// UsageDay is one user's usage on one day (UTC).
type UsageDay struct {
	UserID           string    `json:"user_id"`
	Day              time.Time `json:"-"`
	Messages         int       `json:"messages"`
	Errors           int       `json:"errors"`
	AvgFirstTokenMS  int64     `json:"avg_first_token_ms"`
	TotalResponseMS  int64     `json:"total_response_ms"`
	AvgResponseMS    int64     `json:"avg_response_ms"`
	TokensIn         int64     `json:"tokens_in"`
	TokensOut        int64     `json:"tokens_out"`
	FirstTokenCounts int       `json:"-"`
}

// UsageFilter selects usage rows; From and To are days, inclusive.
type UsageFilter struct {
	From, To time.Time
	UserID   string
}

// FeedbackKind is positive or negative.
const (
	FeedbackPositive = "positive"
	FeedbackNegative = "negative"
)

// Feedback is a learner's verdict on an answer.
type Feedback struct {
	UserID   string
	ThreadID string
	ItemID   string
	Kind     string
	Course   string
	Sources  []SourceRef
}

// SectionFeedback counts feedback on answers that drew on one section.
type SectionFeedback struct {
	Course   string `json:"course"`
	Lesson   string `json:"lesson"`
	Title    string `json:"lesson_title"`
	Section  string `json:"section"`
	Anchor   string `json:"anchor"`
	Negative int    `json:"negative"`
	Positive int    `json:"positive"`
}

// ReportStore keeps usage and feedback, and runs retention.
type ReportStore interface {
	// RecordUsage adds one answer to the user's day.
	RecordUsage(ctx context.Context, u Usage) error
	// Usage lists days in the filter, oldest first.
	Usage(ctx context.Context, f UsageFilter) ([]UsageDay, error)
	// SaveFeedback stores (or replaces) a learner's feedback on items.
	SaveFeedback(ctx context.Context, fb []Feedback) error
	// WorstSections lists the sections with the most negative feedback,
	// of one course or ("" ) all.
	WorstSections(ctx context.Context, course string, limit int) ([]SectionFeedback, error)
	// PurgeExpired deletes threads about courses whose enrollment ended
	// more than after ago, and quota rows out of every window. Idempotent.
	PurgeExpired(ctx context.Context, after time.Duration) (PurgeReport, error)
}

// PurgeReport counts what PurgeExpired deleted.
type PurgeReport struct {
	Threads, QuotaRows int64
}
