package tutor

import (
	"context"
	"encoding/json"
	"time"
)

// Thread is one conversation of one learner with the tutor.
type Thread struct {
	// ID is thr_ followed by random hex.
	ID string
	// UserID owns the thread; nobody else sees it.
	UserID string
	// Title is shown in the thread list; empty until set.
	Title string
	// Status is active, locked or closed; StatusReason says why for the latter two.
	Status       string
	StatusReason string
	// Course, Lesson and Stage say what the thread is about, when known.
	// Course decides which material the tutor may draw on (up to the
	// learner's unlocked stage at the time of each message).
	Course string
	Lesson string
	Stage  int
	// CreatedAt orders thread lists; UpdatedAt is the last message's time.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Item types the tutor stores (the ChatKit protocol's names).
const (
	ItemUserMessage      = "user_message"
	ItemAssistantMessage = "assistant_message"
	// ItemHiddenContext records the page the learner asked from; it is
	// stored with the thread and fed to the model, never shown to the
	// learner.
	ItemHiddenContext = "hidden_context_item"
)

// Item statuses.
const (
	ItemDone        = "done"
	ItemInterrupted = "interrupted"
)

// Item is one entry of a thread. The typed fields order, filter and audit;
// Payload is the item exactly as the protocol serializes it.
type Item struct {
	ID        string
	ThreadID  string
	Type      string
	Status    string
	CreatedAt time.Time
	// Sources are the passages an assistant answer drew on.
	Sources []SourceRef
	// Payload is the protocol's JSON for the item.
	Payload json.RawMessage
}

// SourceRef names one lesson section an answer drew on.
type SourceRef struct {
	Course  string `json:"course"`
	Lesson  string `json:"lesson"`
	Section string `json:"section"`
	Anchor  string `json:"anchor"`
	Title   string `json:"title"`
	Stage   int    `json:"stage"`
}

// Order is asc or desc.
type Order string

// Orders.
const (
	Asc  Order = "asc"
	Desc Order = "desc"
)

// PageRequest is keyset pagination by (created_at, id).
type PageRequest struct {
	// Limit is how many rows at most; the caller has checked it.
	Limit int
	// Order of created_at, id.
	Order Order
	// After is the id of the last row of the previous page, or "".
	After string
}

// Page is one page of a list.
type Page[T any] struct {
	Data    []T
	HasMore bool
}

// QuotaState is where a student stands with the rolling message limit.
type QuotaState struct {
	// Exempt is true for instructors and admins; the rest is then zero.
	Exempt bool
	// Limit is messages per rolling 24 hours.
	Limit int
	// Remaining is how many more may be sent now.
	Remaining int
	// ResetsAt is when the oldest counted message leaves the window (and
	// one more may be sent); zero when none is counted.
	ResetsAt time.Time
}

// Quota says how to count a message: nil for exempt callers.
type Quota struct {
	Limit  int
	Window time.Duration
}

// QuotaWindow is the rolling window of the message limit.
const QuotaWindow = 24 * time.Hour

// ThreadStore keeps threads and items. Every method takes the owner's user
// id and answers ENOTFOUND for threads of other users, as for missing ones.
type ThreadStore interface {
	// CreateThread stores th with its first items in one transaction. With
	// quota set, one message is counted first; over the limit nothing is
	// stored and the error is a *RateLimitError.
	CreateThread(ctx context.Context, th Thread, items []Item, quota *Quota) (QuotaState, error)
	// AddItems appends items to the user's thread, counting one message
	// against quota when set (as CreateThread), and bumps updated_at.
	AddItems(ctx context.Context, userID, threadID string, items []Item, quota *Quota) (QuotaState, error)
	// SaveItem stores an item produced by the tutor (an answer).
	SaveItem(ctx context.Context, item Item) error
	// Thread returns the user's thread.
	Thread(ctx context.Context, userID, threadID string) (Thread, error)
	// Threads lists the user's threads.
	Threads(ctx context.Context, userID string, page PageRequest) (Page[Thread], error)
	// Items lists a thread's visible items (hidden context excluded).
	// An After that names no visible item of the thread is EINVALID.
	Items(ctx context.Context, userID, threadID string, page PageRequest) (Page[Item], error)
	// Item returns one item of the user's thread.
	Item(ctx context.Context, userID, threadID, itemID string) (Item, error)
	// History returns the last n items of a thread (hidden context
	// included), oldest first, for the model's prompt.
	History(ctx context.Context, threadID string, n int) ([]Item, error)
	// UpdateTitle renames the user's thread.
	UpdateTitle(ctx context.Context, userID, threadID, title string) (Thread, error)
	// DeleteThread deletes the user's thread and its items.
	DeleteThread(ctx context.Context, userID, threadID string) error
	// DeleteItemsAfter deletes the items created after itemID (which must
	// be a user message of the thread) and returns that message, so it can
	// be answered again. With quota set a retry counts one message, exactly
	// as AddItems does and in the same step: over the limit nothing is
	// deleted and the error is a *RateLimitError. Another user's thread or
	// item is ENOTFOUND, an item that is not a user message EINVALID; both
	// cost nothing.
	DeleteItemsAfter(ctx context.Context, userID, threadID, itemID string, quota *Quota) (Item, QuotaState, error)
	// QuotaState reports the user's standing without counting anything.
	QuotaState(ctx context.Context, userID string, quota Quota) (QuotaState, error)
	// Uncount gives back the user's most recently counted message (one
	// that the tutor could not answer for reasons not the learner's: a
	// guardrail that failed). With none counted it does nothing.
	Uncount(ctx context.Context, userID string) error
}
