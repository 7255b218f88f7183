// Package fakemodel is a scripted OpenAI-compatible Chat Completions
// server for tests: it answers POST .../chat/completions with the real
// streaming format (data: <chat.completion.chunk>, a usage chunk when asked
// for, data: [DONE]) so the real openai-go client can be tested against
// plain text, tool calls, a mid-stream failure and a model that holds its
// first token until the test lets it go.
// The agent's tests, the tutor's integration tests and its benchmarks use it.
package fakemodel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Step is one thing the server does while streaming.
type Step struct {
	// Delay comes before the step.
	Delay time.Duration
	// Wait, when set, holds the step until it is closed (or the client
	// leaves): a model that says nothing for as long as a test wants.
	Wait <-chan struct{}
	// Text is sent as a content delta.
	Text string
	// Tool, when set, is sent as a tool call (its arguments in two deltas).
	Tool *ToolCall
	// Break drops the connection mid-stream (after the steps before it).
	Break bool
	// ErrorEvent sends an error object as a stream event and stops.
	ErrorEvent string
}

// ToolCall is a function call the scripted model makes.
type ToolCall struct {
	ID, Name, Arguments string
}

// Script is what the model does for one request. Status, when not 0 or
// 200, answers the request with that HTTP error instead of a stream.
type Script struct {
	Status int
	Steps  []Step
	// Usage is reported in the final usage chunk when the client asks for it.
	PromptTokens, CompletionTokens int64
}

// Request is what the server was asked.
type Request struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCalls  json.RawMessage `json:"tool_calls"`
		ToolCallID string          `json:"tool_call_id"`
	} `json:"messages"`
	Tools         []json.RawMessage `json:"tools"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Authorization string `json:"-"`
}

// Text returns the text of message i (string or text parts).
func (r Request) Text(i int) string {
	var s string
	if json.Unmarshal(r.Messages[i].Content, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(r.Messages[i].Content, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// LastUser returns the text of the last user message.
func (r Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Text(i)
		}
	}
	return ""
}

// Server is the fake model.
type Server struct {
	*httptest.Server
	choose func(Request) Script

	mu       sync.Mutex
	requests []Request
}

// New starts a server whose answers choose picks per request.
func New(choose func(Request) Script) *Server {
	s := &Server{choose: choose}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is what a client uses as its base URL.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Requests returns the requests served so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	req.Authorization = r.Header.Get("Authorization")
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	sc := s.choose(req)
	if sc.Status != 0 && sc.Status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(sc.Status)
		fmt.Fprintf(w, `{"error":{"message":"scripted failure %d","type":"server_error","code":null}}`, sc.Status)
		return
	}
	if !req.Stream {
		http.Error(w, `{"error":{"message":"this fake only streams","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	created := time.Now().Unix()
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil}},
		})
		fmt.Fprintf(w, "data: %s\n\n", b)
		flush()
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil)
	finish := "stop"
	tools := 0
	for _, st := range sc.Steps {
		if st.Wait != nil {
			select {
			case <-st.Wait:
			case <-r.Context().Done():
				return
			}
		}
		if st.Delay > 0 {
			select {
			case <-time.After(st.Delay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case st.Break:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close() // the chunked body never ends: the client sees a broken stream
				}
			}
			return
		case st.ErrorEvent != "":
			b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": st.ErrorEvent, "type": "server_error"}})
			fmt.Fprintf(w, "data: %s\n\n", b)
			flush()
			return
		case st.Tool != nil:
			half := len(st.Tool.Arguments) / 2
			chunk(map[string]any{"tool_calls": []any{map[string]any{"index": tools, "id": st.Tool.ID, "type": "function",
				"function": map[string]any{"name": st.Tool.Name, "arguments": st.Tool.Arguments[:half]}}}}, nil)
			chunk(map[string]any{"tool_calls": []any{map[string]any{"index": tools,
				"function": map[string]any{"arguments": st.Tool.Arguments[half:]}}}}, nil)
			tools++
			finish = "tool_calls"
		case st.Text != "":
			chunk(map[string]any{"content": st.Text}, nil)
		}
	}
	chunk(map[string]any{}, finish)
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		b, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": req.Model, "choices": []any{},
			"usage": map[string]any{"prompt_tokens": sc.PromptTokens, "completion_tokens": sc.CompletionTokens,
				"total_tokens": sc.PromptTokens + sc.CompletionTokens},
		})
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	flush()
}

// Words splits text into deltas of a word each, as models stream.
func Words(text string, delay time.Duration) []Step {
	var out []Step
	for i, w := range strings.SplitAfter(text, " ") {
		st := Step{Text: w}
		if i > 0 {
			st.Delay = delay
		}
		out = append(out, st)
	}
	return out
}
