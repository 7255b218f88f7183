package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

type chatResult struct {
	status   int
	threadID string // set when the user's message was stored
	took     time.Duration
}

// ask creates a thread with one message and reads the whole answer.
func ask(t *testing.T, token, text string) chatResult {
	st := e2etest.Need(t)
	body, _ := json.Marshal(map[string]any{"type": "threads.create", "metadata": map[string]any{"course": "go-basics"},
		"params": map[string]any{"input": map[string]any{"content": []any{map[string]any{"type": "input_text", "text": text}},
			"attachments": []any{}, "inference_options": map[string]any{}}}})
	req, _ := http.NewRequest("POST", st.URL("tutor")+"api/v1/chatkit", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return chatResult{status: -1, took: time.Since(start)}
	}
	defer res.Body.Close()
	out := chatResult{status: res.StatusCode}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), "data: ")
		var ev struct {
			Type   string `json:"type"`
			Thread struct {
				ID string `json:"id"`
			} `json:"thread"`
			Item struct {
				Type string `json:"type"`
			} `json:"item"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		if ev.Type == "thread.created" {
			out.threadID = ev.Thread.ID
		}
	}
	out.took = time.Since(start)
	return out
}

// PostgreSQL restarts while learners are talking to the tutor: requests
// fail fast with clear errors meanwhile, the tutor recovers by itself, and
// every message the tutor accepted is still there afterwards.
func TestPostgresRestartUnderLoad(t *testing.T) {
	st := e2etest.Need(t)
	learner := e2etest.NewLearner(t, "instructor") // not limited to 20 messages
	var (
		mu       sync.Mutex
		results  []chatResult
		stop     atomic.Bool
		wg       sync.WaitGroup
		sequence atomic.Int64
	)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r := ask(t, learner.AccessToken, "question "+time.Now().Format(time.RFC3339Nano)+string(rune('a'+sequence.Add(1)%26)))
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	// The restart comes once the learners are talking: a few answers are in.
	talking := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(results)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(talking) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("only %d answers in 30 s before the restart", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	restartAt := time.Now()
	if err := st.Restart(context.Background(), "postgres"); err != nil {
		t.Fatal(err)
	}
	// Keep talking until answers succeed again (the tutor reconnects by itself).
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := ask(t, learner.AccessToken, "are you back?")
		if r.status == http.StatusOK && r.threadID != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tutor did not recover within 30 s of PostgreSQL's restart (last status %d)", r.status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	recovered := time.Since(restartAt)
	stop.Store(true)
	wg.Wait()

	failed := 0
	for _, r := range results {
		if r.status == http.StatusInternalServerError {
			t.Errorf("a 500 during the outage")
		}
		if r.status != http.StatusOK || r.threadID == "" {
			failed++
			if r.took > 10*time.Second {
				t.Errorf("a failing request took %s: not failing fast", r.took)
			}
		}
	}
	t.Logf("%d requests, %d failed during the restart; recovered %s after it began", len(results), failed, recovered.Round(time.Millisecond))
	// Every accepted message is stored: its thread loads with the message.
	for _, r := range results {
		if r.threadID == "" {
			continue
		}
		body, _ := json.Marshal(map[string]any{"type": "items.list", "params": map[string]any{"thread_id": r.threadID}})
		req, _ := http.NewRequest("POST", st.URL("tutor")+"api/v1/chatkit", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+learner.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data []struct {
				Type string `json:"type"`
			} `json:"data"`
		}
		json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		found := false
		for _, it := range page.Data {
			if it.Type == "user_message" {
				found = true
			}
		}
		if res.StatusCode != 200 || !found {
			t.Fatalf("thread %s accepted a message that is gone (%d)", r.threadID, res.StatusCode)
		}
	}
}
