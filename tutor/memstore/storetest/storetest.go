// Package storetest checks a tutor.ThreadStore against the promises its
// interface documents: ownership (another user's thread is ENOTFOUND and
// costs nothing), the message quota (counted in the same step as the
// write, exact under concurrency, a refused write stores nothing; a retry
// counts like a message), visible and hidden items, keyset pages. The
// PostgreSQL store (tutor/postgres) and the in-memory one (tutor/memstore)
// both run it, so tests written against the in-memory store hold for the
// real one.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/learnplatform/platform/tutor"
)

// Run runs the checks against store. User ids are fresh per check, so a
// shared database is fine.
func Run(t *testing.T, store tutor.ThreadStore) {
	t.Run("quota and ownership", func(t *testing.T) { quotaAndOwnership(t, store) })
	t.Run("retry counts like a message", func(t *testing.T) { retryCounts(t, store) })
	t.Run("retry refusals cost nothing", func(t *testing.T) { retryRefusals(t, store) })
	t.Run("exact under concurrency", func(t *testing.T) { concurrent(t, store) })
	t.Run("uncount gives one message back", func(t *testing.T) { uncount(t, store) })
	t.Run("items and pages", func(t *testing.T) { itemsAndPages(t, store) })
}

var clock tutor.Clock

func item(thread, typ, text string) tutor.Item {
	prefix := "msg"
	if typ == tutor.ItemHiddenContext {
		prefix = "ctx"
	}
	id := tutor.NewID(prefix)
	payload, _ := json.Marshal(map[string]any{"id": id, "type": typ, "thread_id": thread, "content": []any{map[string]any{"type": "input_text", "text": text}}})
	return tutor.Item{ID: id, ThreadID: thread, Type: typ, CreatedAt: clock.Now(), Payload: payload}
}

// thread creates a thread of user with one message, uncounted, and
// returns it and the message.
func thread(t *testing.T, s tutor.ThreadStore, user string) (tutor.Thread, tutor.Item) {
	t.Helper()
	th := tutor.Thread{ID: tutor.NewID("thr"), UserID: user, Title: "t", Status: "active", CreatedAt: clock.Now()}
	msg := item(th.ID, tutor.ItemUserMessage, "first")
	th.CreatedAt, th.UpdatedAt = msg.CreatedAt, msg.CreatedAt
	if _, err := s.CreateThread(context.Background(), th, []tutor.Item{msg}, nil); err != nil {
		t.Fatal(err)
	}
	return th, msg
}

func code(err error) string { return tutor.ErrorCode(err) }

func counted(t *testing.T, s tutor.ThreadStore, user string, q tutor.Quota) int {
	t.Helper()
	qs, err := s.QuotaState(context.Background(), user, q)
	if err != nil {
		t.Fatal(err)
	}
	return q.Limit - qs.Remaining
}

func ids(items []tutor.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func all(t *testing.T, s tutor.ThreadStore, th tutor.Thread) []tutor.Item {
	t.Helper()
	items, err := s.History(context.Background(), th.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func quotaAndOwnership(t *testing.T, s tutor.ThreadStore) {
	ctx := context.Background()
	user, other := tutor.NewID("u"), tutor.NewID("u")
	q := &tutor.Quota{Limit: 3, Window: tutor.QuotaWindow}
	th := tutor.Thread{ID: tutor.NewID("thr"), UserID: user, Status: "active", CreatedAt: clock.Now()}
	th.UpdatedAt = th.CreatedAt
	qs, err := s.CreateThread(ctx, th, []tutor.Item{item(th.ID, tutor.ItemUserMessage, "1")}, q)
	if err != nil || qs.Remaining != 2 || qs.Limit != 3 || qs.ResetsAt.IsZero() {
		t.Fatalf("create: %+v %v", qs, err)
	}
	if _, err := s.AddItems(ctx, other, th.ID, []tutor.Item{item(th.ID, tutor.ItemUserMessage, "x")}, q); code(err) != tutor.ENOTFOUND {
		t.Fatalf("another user's thread: %v", err)
	}
	if n := counted(t, s, other, *q); n != 0 {
		t.Fatalf("a refused message was counted: %d", n)
	}
	for i := range 2 {
		if qs, err = s.AddItems(ctx, user, th.ID, []tutor.Item{item(th.ID, tutor.ItemUserMessage, "more")}, q); err != nil || qs.Remaining != 1-i {
			t.Fatalf("add %d: %+v %v", i, qs, err)
		}
	}
	over := item(th.ID, tutor.ItemUserMessage, "over")
	_, err = s.AddItems(ctx, user, th.ID, []tutor.Item{over}, q)
	var rl *tutor.RateLimitError
	if !errors.As(err, &rl) || rl.Quota.Limit != 3 || rl.Quota.ResetsAt.IsZero() {
		t.Fatalf("over the quota: %v", err)
	}
	if _, err := s.Item(ctx, user, th.ID, over.ID); code(err) != tutor.ENOTFOUND {
		t.Fatalf("a refused message was stored: %v", err)
	}
	if _, err := s.Thread(ctx, other, th.ID); code(err) != tutor.ENOTFOUND {
		t.Fatalf("another user's thread: %v", err)
	}
	// Exempt callers are not counted.
	if _, err := s.AddItems(ctx, user, th.ID, []tutor.Item{item(th.ID, tutor.ItemUserMessage, "staff")}, nil); err != nil {
		t.Fatal(err)
	}
}

func uncount(t *testing.T, s tutor.ThreadStore) {
	ctx := context.Background()
	user, other := tutor.NewID("u"), tutor.NewID("u")
	q := &tutor.Quota{Limit: 2, Window: tutor.QuotaWindow}
	if err := s.Uncount(ctx, user); err != nil {
		t.Fatalf("nothing counted: %v", err)
	}
	th, _ := thread(t, s, user)
	oth, _ := thread(t, s, other)
	if _, err := s.AddItems(ctx, other, oth.ID, []tutor.Item{item(oth.ID, tutor.ItemUserMessage, "x")}, q); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.AddItems(ctx, user, th.ID, []tutor.Item{item(th.ID, tutor.ItemUserMessage, "m")}, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Uncount(ctx, user); err != nil {
		t.Fatal(err)
	}
	if n := counted(t, s, user, *q); n != 1 {
		t.Fatalf("after uncount %d counted, want 1", n)
	}
	if n := counted(t, s, other, *q); n != 1 {
		t.Fatalf("another user's count changed: %d", n)
	}
	// The message given back can be sent again.
	if _, err := s.AddItems(ctx, user, th.ID, []tutor.Item{item(th.ID, tutor.ItemUserMessage, "again")}, q); err != nil {
		t.Fatalf("after uncount: %v", err)
	}
	// The stored items are not touched.
	if n := len(all(t, s, th)); n != 4 {
		t.Fatalf("%d items", n)
	}
}

func retryCounts(t *testing.T, s tutor.ThreadStore) {
	ctx := context.Background()
	user := tutor.NewID("u")
	q := &tutor.Quota{Limit: 3, Window: tutor.QuotaWindow}
	th, msg := thread(t, s, user)
	answer := item(th.ID, tutor.ItemAssistantMessage, "answer")
	if err := s.SaveItem(ctx, answer); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		got, qs, err := s.DeleteItemsAfter(ctx, user, th.ID, msg.ID, q)
		if err != nil || got.ID != msg.ID || got.Type != tutor.ItemUserMessage || qs.Remaining != 2-i || qs.Limit != 3 {
			t.Fatalf("retry %d: %+v %+v %v", i, got, qs, err)
		}
		if items := all(t, s, th); len(items) != 1 || items[0].ID != msg.ID {
			t.Fatalf("retry %d left %v", i, ids(items))
		}
		answer = item(th.ID, tutor.ItemAssistantMessage, "answer again")
		if err := s.SaveItem(ctx, answer); err != nil {
			t.Fatal(err)
		}
	}
	if n := counted(t, s, user, *q); n != 3 {
		t.Fatalf("%d counted after 3 retries", n)
	}
	_, _, err := s.DeleteItemsAfter(ctx, user, th.ID, msg.ID, q)
	var rl *tutor.RateLimitError
	if !errors.As(err, &rl) || rl.Quota.Limit != 3 || rl.Quota.Remaining != 0 || rl.Quota.ResetsAt.IsZero() {
		t.Fatalf("a retry over the quota: %v", err)
	}
	if items := all(t, s, th); len(items) != 2 || items[1].ID != answer.ID {
		t.Fatalf("a refused retry deleted: %v", ids(items))
	}
	// Exempt: not counted, and works over the limit.
	if _, qs, err := s.DeleteItemsAfter(ctx, user, th.ID, msg.ID, nil); err != nil || !qs.Exempt {
		t.Fatalf("exempt retry: %+v %v", qs, err)
	}
}

func retryRefusals(t *testing.T, s tutor.ThreadStore) {
	ctx := context.Background()
	user, other := tutor.NewID("u"), tutor.NewID("u")
	q := &tutor.Quota{Limit: 5, Window: tutor.QuotaWindow}
	th, msg := thread(t, s, user)
	answer := item(th.ID, tutor.ItemAssistantMessage, "answer")
	if err := s.SaveItem(ctx, answer); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		user, thread, item, want string
	}{
		"an answer":            {user, th.ID, answer.ID, tutor.EINVALID},
		"another user's":       {other, th.ID, msg.ID, tutor.ENOTFOUND},
		"no such item":         {user, th.ID, "msg_nope", tutor.ENOTFOUND},
		"no such thread":       {user, "thr_nope", msg.ID, tutor.ENOTFOUND},
		"item of other thread": {user, tutor.NewID("thr"), msg.ID, tutor.ENOTFOUND},
	}
	for name, c := range cases {
		if _, _, err := s.DeleteItemsAfter(ctx, c.user, c.thread, c.item, q); code(err) != c.want {
			t.Fatalf("%s: %v, want %s", name, err, c.want)
		}
	}
	if counted(t, s, user, *q) != 0 || counted(t, s, other, *q) != 0 {
		t.Fatal("a refused retry was counted")
	}
	if items := all(t, s, th); len(items) != 2 {
		t.Fatalf("a refused retry deleted: %v", ids(items))
	}
}

// Messages and retries at once, from many goroutines: exactly the limit
// is counted and passes.
func concurrent(t *testing.T, s tutor.ThreadStore) {
	ctx := context.Background()
	user := tutor.NewID("u")
	q := &tutor.Quota{Limit: 7, Window: tutor.QuotaWindow}
	th, msg := thread(t, s, user)
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed, limited := 0, 0
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, _, err = s.DeleteItemsAfter(ctx, user, th.ID, msg.ID, q)
			} else {
				_, err = s.AddItems(ctx, user, th.ID, []tutor.Item{item(th.ID, tutor.ItemUserMessage, fmt.Sprint(i))}, q)
			}
			mu.Lock()
			defer mu.Unlock()
			var rl *tutor.RateLimitError
			switch {
			case err == nil:
				passed++
			case errors.As(err, &rl):
				limited++
			default:
				t.Errorf("%d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if passed != 7 || limited != 23 || counted(t, s, user, *q) != 7 {
		t.Fatalf("%d passed, %d limited, %d counted; want 7, 23, 7", passed, limited, counted(t, s, user, *q))
	}
}

func itemsAndPages(t *testing.T, s tutor.ThreadStore) {
	ctx := context.Background()
	user := tutor.NewID("u")
	th, first := thread(t, s, user)
	var visible []string
	visible = append(visible, first.ID)
	for i := range 4 {
		hc := item(th.ID, tutor.ItemHiddenContext, "page")
		m := item(th.ID, tutor.ItemUserMessage, fmt.Sprint(i))
		if _, err := s.AddItems(ctx, user, th.ID, []tutor.Item{hc, m}, nil); err != nil {
			t.Fatal(err)
		}
		visible = append(visible, m.ID)
	}
	if h := all(t, s, th); len(h) != 9 || h[1].Type != tutor.ItemHiddenContext {
		t.Fatalf("history (hidden context included): %v", ids(h))
	}
	if h, err := s.History(ctx, th.ID, 2); err != nil || len(h) != 2 || h[1].ID != visible[4] {
		t.Fatalf("last 2: %v %v", ids(h), err)
	}
	var got []string
	after := ""
	for {
		p, err := s.Items(ctx, user, th.ID, tutor.PageRequest{Limit: 2, Order: tutor.Asc, After: after})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p.Data)...)
		if !p.HasMore {
			break
		}
		after = p.Data[len(p.Data)-1].ID
	}
	if fmt.Sprint(got) != fmt.Sprint(visible) {
		t.Fatalf("asc pages %v, want %v", got, visible)
	}
	p, err := s.Items(ctx, user, th.ID, tutor.PageRequest{Limit: 2, Order: tutor.Desc, After: visible[3]})
	if err != nil || fmt.Sprint(ids(p.Data)) != fmt.Sprint([]string{visible[2], visible[1]}) || !p.HasMore {
		t.Fatalf("desc after %s: %v %v %v", visible[3], ids(p.Data), p.HasMore, err)
	}
	hidden := all(t, s, th)[1].ID
	if _, err := s.Items(ctx, user, th.ID, tutor.PageRequest{Limit: 2, Order: tutor.Asc, After: hidden}); code(err) != tutor.EINVALID {
		t.Fatalf("after a hidden item: %v", err)
	}
	if _, err := s.Items(ctx, tutor.NewID("u"), th.ID, tutor.PageRequest{Limit: 2, Order: tutor.Asc}); code(err) != tutor.ENOTFOUND {
		t.Fatalf("another user's items: %v", err)
	}
	// Retrying the first message deletes everything after it, hidden
	// context included.
	if _, _, err := s.DeleteItemsAfter(ctx, user, th.ID, first.ID, nil); err != nil {
		t.Fatal(err)
	}
	if h := all(t, s, th); len(h) != 1 {
		t.Fatalf("after the retry: %v", ids(h))
	}
	if err := s.DeleteThread(ctx, user, th.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveItem(ctx, item(th.ID, tutor.ItemAssistantMessage, "late")); err != nil {
		t.Fatalf("an answer to a deleted thread: %v", err)
	}
}
