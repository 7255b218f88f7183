// Package memstore is an in-memory implementation of the tutor's stores
// (tutor.ThreadStore, CourseStore, ReportStore, LessonStore) and of a
// simple tutor.Retriever, for fast tests of the layers above them (the
// ChatKit handler, the JSON API) without PostgreSQL. It keeps the
// interfaces' documented promises as tutor/postgres does: other users'
// threads are ENOTFOUND and cost nothing, a message over the quota stores
// nothing, counting and storing are one step (one mutex), keyset pages by
// (created_at, id), hidden context items stay out of Items. It is not a
// model of PostgreSQL's performance or of its text search.
package memstore

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/learnplatform/platform/tutor"
)

// Store keeps everything in memory; the zero value is not usable, use New.
type Store struct {
	// Now is the store's clock (quota windows, enrollment and usage
	// times); default time.Now.
	Now func() time.Time
	// Fail, when set, is called with the method's name (CreateThread,
	// History, ...) before each method does anything; an error it returns
	// is the method's error and nothing is changed. Tests use it to make a
	// dependency fail or to hold a call.
	Fail func(ctx context.Context, method string) error

	mu          sync.Mutex
	threads     map[string]tutor.Thread
	items       map[string][]tutor.Item // by thread, in (created_at, id) order
	quota       map[string][]time.Time  // counted messages by user
	courses     map[string]tutor.Course
	lessons     map[string][]lesson // by course, in ingestion order
	enrollments map[[2]string]tutor.Enrollment
	usage       map[usageKey]*tutor.UsageDay
	feedback    map[[2]string]tutor.Feedback // by user, item
}

type lesson struct {
	tutor.Lesson
	hash string
}

type usageKey struct {
	user string
	day  time.Time
}

var (
	_ tutor.ThreadStore = (*Store)(nil)
	_ tutor.CourseStore = (*Store)(nil)
	_ tutor.ReportStore = (*Store)(nil)
	_ tutor.LessonStore = (*Store)(nil)
	_ tutor.Retriever   = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		Now:         time.Now,
		threads:     map[string]tutor.Thread{},
		items:       map[string][]tutor.Item{},
		quota:       map[string][]time.Time{},
		courses:     map[string]tutor.Course{},
		lessons:     map[string][]lesson{},
		enrollments: map[[2]string]tutor.Enrollment{},
		usage:       map[usageKey]*tutor.UsageDay{},
		feedback:    map[[2]string]tutor.Feedback{},
	}
}

func (s *Store) begin(ctx context.Context, method string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.Fail != nil {
		return s.Fail(ctx, method)
	}
	return nil
}

func (s *Store) now() time.Time { return s.Now().UTC() }

func notFound(what, id string) error {
	return tutor.Errorf(tutor.ENOTFOUND, "no %s %q", what, id)
}

func cloneItem(it tutor.Item) tutor.Item {
	it.Payload = append(json.RawMessage(nil), it.Payload...)
	it.Sources = slices.Clone(it.Sources)
	return it
}

// before orders items and threads by (created_at, id).
func before(at1 time.Time, id1 string, at2 time.Time, id2 string) bool {
	if !at1.Equal(at2) {
		return at1.Before(at2)
	}
	return id1 < id2
}

// count counts one message against quota for userID when there is room
// (the caller holds mu). It returns the standing as the postgres store
// does, and a *RateLimitError over the limit.
func (s *Store) count(userID string, quota *tutor.Quota) (tutor.QuotaState, error) {
	if quota == nil {
		return tutor.QuotaState{Exempt: true}, nil
	}
	now := s.now()
	in := s.window(userID, quota.Window, now)
	qs := tutor.QuotaState{Limit: quota.Limit}
	if len(in) > 0 {
		qs.ResetsAt = in[0].Add(quota.Window)
	}
	if len(in) >= quota.Limit {
		return qs, &tutor.RateLimitError{Quota: qs}
	}
	s.quota[userID] = append(in, now)
	if len(in) == 0 {
		qs.ResetsAt = now.Add(quota.Window)
	}
	qs.Remaining = max(quota.Limit-len(in)-1, 0)
	return qs, nil
}

// window returns the user's counted messages inside the window, oldest
// first (the caller holds mu).
func (s *Store) window(userID string, window time.Duration, now time.Time) []time.Time {
	var in []time.Time
	for _, t := range s.quota[userID] {
		if t.After(now.Add(-window)) {
			in = append(in, t)
		}
	}
	return in
}

// insert adds items to their thread in order (the caller holds mu).
func (s *Store) insert(items ...tutor.Item) {
	for _, it := range items {
		it = cloneItem(it)
		if it.Status == "" {
			it.Status = tutor.ItemDone
		}
		list := s.items[it.ThreadID]
		i := sort.Search(len(list), func(i int) bool { return before(it.CreatedAt, it.ID, list[i].CreatedAt, list[i].ID) })
		s.items[it.ThreadID] = slices.Insert(list, i, it)
	}
}

// CreateThread implements tutor.ThreadStore.
func (s *Store) CreateThread(ctx context.Context, th tutor.Thread, items []tutor.Item, quota *tutor.Quota) (tutor.QuotaState, error) {
	if err := s.begin(ctx, "CreateThread"); err != nil {
		return tutor.QuotaState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.threads[th.ID]; dup {
		return tutor.QuotaState{}, tutor.Errorf(tutor.ECONFLICT, "thread %q exists", th.ID)
	}
	qs, err := s.count(th.UserID, quota)
	if err != nil {
		return qs, err
	}
	th.Status = "active"
	th.UpdatedAt = th.CreatedAt
	s.threads[th.ID] = th
	s.insert(items...)
	return qs, nil
}

// AddItems implements tutor.ThreadStore. Another user's thread is
// ENOTFOUND and costs no message.
func (s *Store) AddItems(ctx context.Context, userID, threadID string, items []tutor.Item, quota *tutor.Quota) (tutor.QuotaState, error) {
	if err := s.begin(ctx, "AddItems"); err != nil {
		return tutor.QuotaState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[threadID]
	if !ok || th.UserID != userID {
		return tutor.QuotaState{}, notFound("thread", threadID)
	}
	qs, err := s.count(userID, quota)
	if err != nil {
		return qs, err
	}
	s.insert(items...)
	if now := s.now(); now.After(th.UpdatedAt) {
		th.UpdatedAt = now
		s.threads[threadID] = th
	}
	return qs, nil
}

// SaveItem implements tutor.ThreadStore; an item of a thread deleted
// meanwhile is dropped without error.
func (s *Store) SaveItem(ctx context.Context, it tutor.Item) error {
	if err := s.begin(ctx, "SaveItem"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.threads[it.ThreadID]; !ok {
		return nil
	}
	for _, old := range s.items[it.ThreadID] {
		if old.ID == it.ID {
			return tutor.Errorf(tutor.ECONFLICT, "item %q exists", it.ID)
		}
	}
	s.insert(it)
	return nil
}

// Thread implements tutor.ThreadStore.
func (s *Store) Thread(ctx context.Context, userID, threadID string) (tutor.Thread, error) {
	if err := s.begin(ctx, "Thread"); err != nil {
		return tutor.Thread{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[threadID]
	if !ok || th.UserID != userID {
		return tutor.Thread{}, notFound("thread", threadID)
	}
	return th, nil
}

// page cuts one keyset page out of rows sorted ascending by key; after is
// the index of the cursor row (-1: none).
func page[T any](rows []T, p tutor.PageRequest, after int) tutor.Page[T] {
	var out []T
	if p.Order == tutor.Asc {
		for i := after + 1; i < len(rows); i++ {
			out = append(out, rows[i])
		}
	} else {
		start := len(rows) - 1
		if after >= 0 {
			start = after - 1
		}
		for i := start; i >= 0; i-- {
			out = append(out, rows[i])
		}
	}
	if len(out) > p.Limit {
		return tutor.Page[T]{Data: out[:p.Limit], HasMore: true}
	}
	return tutor.Page[T]{Data: out}
}

// Threads implements tutor.ThreadStore.
func (s *Store) Threads(ctx context.Context, userID string, p tutor.PageRequest) (tutor.Page[tutor.Thread], error) {
	if err := s.begin(ctx, "Threads"); err != nil {
		return tutor.Page[tutor.Thread]{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []tutor.Thread
	for _, th := range s.threads {
		if th.UserID == userID {
			mine = append(mine, th)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return before(mine[i].CreatedAt, mine[i].ID, mine[j].CreatedAt, mine[j].ID) })
	after := -1
	if p.After != "" {
		after = slices.IndexFunc(mine, func(t tutor.Thread) bool { return t.ID == p.After })
		if after < 0 {
			return tutor.Page[tutor.Thread]{}, tutor.Errorf(tutor.EINVALID, "after: no thread %q to continue from", p.After)
		}
	}
	return page(mine, p, after), nil
}

// Items implements tutor.ThreadStore: visible items only.
func (s *Store) Items(ctx context.Context, userID, threadID string, p tutor.PageRequest) (tutor.Page[tutor.Item], error) {
	if err := s.begin(ctx, "Items"); err != nil {
		return tutor.Page[tutor.Item]{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[threadID]
	if !ok || th.UserID != userID {
		return tutor.Page[tutor.Item]{}, notFound("thread", threadID)
	}
	var visible []tutor.Item
	for _, it := range s.items[threadID] {
		if it.Type != tutor.ItemHiddenContext {
			visible = append(visible, cloneItem(it))
		}
	}
	after := -1
	if p.After != "" {
		after = slices.IndexFunc(visible, func(it tutor.Item) bool { return it.ID == p.After })
		if after < 0 {
			return tutor.Page[tutor.Item]{}, tutor.Errorf(tutor.EINVALID, "after: no item %q in this thread to continue from", p.After)
		}
	}
	return page(visible, p, after), nil
}

// Item implements tutor.ThreadStore.
func (s *Store) Item(ctx context.Context, userID, threadID, itemID string) (tutor.Item, error) {
	if err := s.begin(ctx, "Item"); err != nil {
		return tutor.Item{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if th, ok := s.threads[threadID]; ok && th.UserID == userID {
		for _, it := range s.items[threadID] {
			if it.ID == itemID {
				return cloneItem(it), nil
			}
		}
	}
	return tutor.Item{}, notFound("item", itemID)
}

// History implements tutor.ThreadStore: the last n items, hidden context
// included, oldest first.
func (s *Store) History(ctx context.Context, threadID string, n int) ([]tutor.Item, error) {
	if err := s.begin(ctx, "History"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.items[threadID]
	list = list[max(len(list)-n, 0):]
	out := make([]tutor.Item, len(list))
	for i, it := range list {
		out[i] = cloneItem(it)
	}
	return out, nil
}

// UpdateTitle implements tutor.ThreadStore.
func (s *Store) UpdateTitle(ctx context.Context, userID, threadID, title string) (tutor.Thread, error) {
	if err := s.begin(ctx, "UpdateTitle"); err != nil {
		return tutor.Thread{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[threadID]
	if !ok || th.UserID != userID {
		return tutor.Thread{}, notFound("thread", threadID)
	}
	th.Title = title
	s.threads[threadID] = th
	return th, nil
}

// DeleteThread implements tutor.ThreadStore.
func (s *Store) DeleteThread(ctx context.Context, userID, threadID string) error {
	if err := s.begin(ctx, "DeleteThread"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[threadID]
	if !ok || th.UserID != userID {
		return notFound("thread", threadID)
	}
	delete(s.threads, threadID)
	delete(s.items, threadID)
	return nil
}

// DeleteItemsAfter implements tutor.ThreadStore: a retry counts one
// message against quota in the same step, and over the limit nothing is
// deleted.
func (s *Store) DeleteItemsAfter(ctx context.Context, userID, threadID, itemID string, quota *tutor.Quota) (tutor.Item, tutor.QuotaState, error) {
	if err := s.begin(ctx, "DeleteItemsAfter"); err != nil {
		return tutor.Item{}, tutor.QuotaState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.threads[threadID]
	if !ok || th.UserID != userID {
		return tutor.Item{}, tutor.QuotaState{}, notFound("item", itemID)
	}
	list := s.items[threadID]
	i := slices.IndexFunc(list, func(it tutor.Item) bool { return it.ID == itemID })
	if i < 0 {
		return tutor.Item{}, tutor.QuotaState{}, notFound("item", itemID)
	}
	if list[i].Type != tutor.ItemUserMessage {
		return tutor.Item{}, tutor.QuotaState{}, tutor.Errorf(tutor.EINVALID, "item %q is not a user message; retry after the message you want answered again", itemID)
	}
	qs, err := s.count(userID, quota)
	if err != nil {
		return tutor.Item{}, qs, err
	}
	s.items[threadID] = list[:i+1]
	return cloneItem(list[i]), qs, nil
}

// QuotaState implements tutor.ThreadStore.
func (s *Store) QuotaState(ctx context.Context, userID string, quota tutor.Quota) (tutor.QuotaState, error) {
	if err := s.begin(ctx, "QuotaState"); err != nil {
		return tutor.QuotaState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.window(userID, quota.Window, s.now())
	qs := tutor.QuotaState{Limit: quota.Limit, Remaining: max(quota.Limit-len(in), 0)}
	if len(in) > 0 {
		qs.ResetsAt = in[0].Add(quota.Window)
	}
	return qs, nil
}

// Uncount implements tutor.ThreadStore.
func (s *Store) Uncount(ctx context.Context, userID string) error {
	if err := s.begin(ctx, "Uncount"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.quota[userID]; len(q) > 0 {
		s.quota[userID] = q[:len(q)-1]
	}
	return nil
}

// ThreadItems returns every item of a thread, hidden context included, in
// order: what a test asserts was (or was not) stored.
func (s *Store) ThreadItems(threadID string) []tutor.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]tutor.Item, 0, len(s.items[threadID]))
	for _, it := range s.items[threadID] {
		out = append(out, cloneItem(it))
	}
	return out
}

// UserThreads returns the ids of the user's threads.
func (s *Store) UserThreads(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, th := range s.threads {
		if th.UserID == userID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Counted is how many of the user's messages are counted in the window.
func (s *Store) Counted(userID string, window time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.window(userID, window, s.now()))
}
