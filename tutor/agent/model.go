package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/learnplatform/platform/tutor"
)

// ModelConfig configures Model.
type ModelConfig struct {
	// BaseURL is the OpenAI-compatible API root (…/v1).
	BaseURL string
	APIKey  string
	// Name is the model to ask for.
	Name string
	// FirstTokenTimeout bounds the wait for each call's first output.
	FirstTokenTimeout time.Duration
	// Timeout bounds a whole answer, tool rounds included.
	Timeout time.Duration
	// MaxOutputTokens bounds each call's output; 0 leaves it to the model.
	MaxOutputTokens int
	// HTTPClient talks to the model; nil means http.DefaultClient's transport.
	HTTPClient *http.Client
	// Retriever finds course material; nil: none.
	Retriever tutor.Retriever
	// Guard screens the learner's message and the material before the
	// model sees them; nil: no guardrails.
	Guard tutor.Guard
}

// Model answers with a language model.
type Model struct {
	cfg    ModelConfig
	client openai.Client
	// afterFunc starts the first-token timer (time.AfterFunc; the tests
	// fire it themselves).
	afterFunc func(time.Duration, func()) timer
}

// timer is what the first-token timer needs of a *time.Timer.
type timer interface{ Stop() bool }

// ErrFirstTokenTimeout is a model that said nothing in time.
var ErrFirstTokenTimeout = fmt.Errorf("the model sent nothing in time: %w", context.DeadlineExceeded)

// maxToolRounds bounds model calls per answer: the model may search the
// material this many times before it must answer.
const maxToolRounds = 3

// NewModel returns a Model. Environment variables the OpenAI library would
// read (OPENAI_BASE_URL, OPENAI_API_KEY) are overridden by the config.
func NewModel(cfg ModelConfig) *Model {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey),
		option.WithHTTPClient(cfg.HTTPClient),
		// A retry after half an answer would repeat it; the learner retries.
		option.WithMaxRetries(0),
	}
	return &Model{cfg: cfg, client: openai.NewClient(opts...),
		afterFunc: func(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }}
}

const searchTool = "search_course_material"

// Respond implements tutor.Responder. Course material is searched and the
// input guardrails run before the model is asked, so a blocked message
// never reaches it and nothing streams before the guardrails decided.
func (m *Model) Respond(ctx context.Context, t tutor.Turn, w tutor.AnswerWriter) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	a := &access{retriever: m.cfg.Retriever, guard: m.cfg.Guard, turn: t, w: w}
	var passages []tutor.Passage
	if a.available() {
		w.Progress("Searching the course material…")
		var err error
		if passages, _, err = a.search(ctx, strings.TrimSpace(t.Question+" "+t.QuotedText), 4); err != nil {
			return err
		}
	}
	t, passages, ok := a.screenInput(ctx, passages)
	if !ok {
		return nil
	}
	for _, p := range passages {
		w.Source(p)
	}
	msgs := Prompt(t, passages)
	for round := 0; ; round++ {
		params := openai.ChatCompletionNewParams{
			Model:         shared.ChatModel(m.cfg.Name),
			Messages:      msgs,
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		}
		if m.cfg.MaxOutputTokens > 0 {
			params.MaxCompletionTokens = openai.Int(int64(m.cfg.MaxOutputTokens))
		}
		if a.available() && round < maxToolRounds {
			params.Tools = []openai.ChatCompletionToolUnionParam{searchToolParam()}
		}
		calls, text, err := m.call(ctx, params, w)
		if err != nil {
			return err
		}
		if len(calls) == 0 {
			return nil
		}
		// The model asked to search: run each search (limited to the
		// learner's stage) and let it go on with the results.
		assistant := openai.ChatCompletionAssistantMessageParam{}
		if text != "" {
			assistant.Content.OfString = openai.String(text)
		}
		for _, c := range calls {
			assistant.ToolCalls = append(assistant.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
				OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
					ID:       c.id,
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: c.name, Arguments: c.args},
				},
			})
		}
		msgs = append(msgs, openai.ChatCompletionMessageParamUnion{OfAssistant: &assistant})
		for _, c := range calls {
			msgs = append(msgs, openai.ToolMessage(m.runTool(ctx, a, c), c.id))
		}
	}
}

type toolCall struct {
	id, name, args string
}

// call streams one completion into w and returns the tool calls it asked for.
func (m *Model) call(ctx context.Context, params openai.ChatCompletionNewParams, w tutor.AnswerWriter) ([]toolCall, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var silent atomic.Bool
	timer := m.afterFunc(m.cfg.FirstTokenTimeout, func() { silent.Store(true); cancel() })
	defer timer.Stop()

	stream := m.client.Chat.Completions.NewStreaming(ctx, params)
	defer stream.Close()
	calls := map[int64]*toolCall{}
	var text strings.Builder
	for stream.Next() {
		chunk := stream.Current()
		if chunk.Usage.PromptTokens > 0 || chunk.Usage.CompletionTokens > 0 {
			w.Usage(chunk.Usage.PromptTokens, chunk.Usage.CompletionTokens)
		}
		for _, ch := range chunk.Choices {
			if ch.Index != 0 {
				continue
			}
			if ch.Delta.Content != "" {
				timer.Stop()
				text.WriteString(ch.Delta.Content)
				w.Text(ch.Delta.Content)
			}
			for _, tc := range ch.Delta.ToolCalls {
				timer.Stop()
				c := calls[tc.Index]
				if c == nil {
					c = &toolCall{}
					calls[tc.Index] = c
				}
				if tc.ID != "" {
					c.id = tc.ID
				}
				if tc.Function.Name != "" {
					c.name = tc.Function.Name
				}
				c.args += tc.Function.Arguments
			}
		}
	}
	if err := stream.Err(); err != nil {
		if silent.Load() {
			return nil, "", ErrFirstTokenTimeout
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, "", fmt.Errorf("the model took too long: %w", context.DeadlineExceeded)
		}
		return nil, "", fmt.Errorf("model: %w", err)
	}
	idx := make([]int64, 0, len(calls))
	for i := range calls {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	out := make([]toolCall, 0, len(calls))
	for n, i := range idx {
		c := *calls[i]
		if c.id == "" {
			c.id = fmt.Sprintf("call_%d", n)
		}
		out = append(out, c)
	}
	return out, text.String(), nil
}

func searchToolParam() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        searchTool,
		Description: openai.String("Search the course material the learner has unlocked. Returns lesson sections with their text."),
		Parameters: shared.FunctionParameters{
			"type": "object",
			"properties": map[string]any{
				"query": map[string]any{"type": "string", "description": "What to look for, in a few words."},
			},
			"required": []string{"query"},
		},
	})
}

// runTool executes one tool call and returns what the model reads back.
// Failures are told to the model, not to the learner: it can go on.
// Found passages pass the input guardrails before the model reads them.
func (m *Model) runTool(ctx context.Context, a *access, c toolCall) string {
	if c.name != searchTool {
		return fmt.Sprintf("error: there is no tool %q", c.name)
	}
	var args struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal([]byte(c.args), &args); err != nil || strings.TrimSpace(args.Query) == "" {
		return "error: call " + searchTool + ` with {"query": "..."}`
	}
	a.w.Progress("Searching the course material for “" + excerpt(args.Query, 80) + "”…")
	ps, answered, err := a.search(ctx, args.Query, 4)
	if err != nil {
		return "error: the search failed; answer without it"
	}
	if !answered {
		return "error: " + tutor.SearchUnavailableNotice + "; answer without the course material"
	}
	ps, ok := a.screenPassages(ctx, ps)
	if !ok {
		return "error: the search results could not be checked; answer without them"
	}
	if len(ps) == 0 {
		return "No matching sections in the material the learner has unlocked."
	}
	for _, p := range ps {
		a.w.Source(p)
	}
	return formatPassages(ps)
}
