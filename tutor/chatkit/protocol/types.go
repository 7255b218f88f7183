// Package protocol is the ChatKit server protocol's wire format, as
// openai/chatkit-python's chatkit/types.py defines it (same names and
// JSON shapes, written anew in Go): the request envelope and every
// request's params, the thread items, the stream events; the checks a
// request must pass before anything is stored (parse.go); and the
// encoding of items, threads and events (encode.go). It has no HTTP and
// no store: tutor/chatkit serves it, tutor/chatkit/answer streams it,
// tutor/eval speaks it as a client.
package protocol

import (
	"encoding/json"
	"time"
)

// Request type names (the protocol's "type" values).
const (
	ReqThreadsCreate         = "threads.create"
	ReqThreadsAddUserMessage = "threads.add_user_message"
	ReqThreadsGetByID        = "threads.get_by_id"
	ReqThreadsList           = "threads.list"
	ReqItemsList             = "items.list"
	ReqThreadsUpdate         = "threads.update"
	ReqThreadsDelete         = "threads.delete"
	ReqThreadsRetryAfterItem = "threads.retry_after_item"
	ReqItemsFeedback         = "items.feedback"
)

// unsupported are request types of the protocol this server does not
// offer; they get a protocol-shaped error rather than "unknown type".
var unsupported = map[string]string{
	"threads.add_client_tool_output": "client tools",
	"threads.add_structured_input":   "structured input",
	"threads.custom_action":          "widget actions",
	"threads.sync_custom_action":     "widget actions",
	"attachments.create":             "attachments",
	"attachments.delete":             "attachments",
	"input.transcribe":               "dictation (transcription)",
}

// Request is the envelope of every call: type, params and metadata.
type Request struct {
	Type     string          `json:"type"`
	Params   json.RawMessage `json:"params"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// RequestMetadata is what this server reads from a request's metadata:
// which course the thread is about and the page the learner is on. Other
// keys are ignored.
type RequestMetadata struct {
	Course string `json:"course,omitempty"`
	Lesson string `json:"lesson,omitempty"`
	Page   *struct {
		URL      string   `json:"url,omitempty"`
		Title    string   `json:"title,omitempty"`
		Headings []string `json:"headings,omitempty"`
	} `json:"page,omitempty"`
}

// UserMessageInput is a submitted user message.
type UserMessageInput struct {
	Content          []UserMessageContent `json:"content"`
	Attachments      []string             `json:"attachments"`
	QuotedText       *string              `json:"quoted_text,omitempty"`
	InferenceOptions InferenceOptions     `json:"inference_options"`
}

// UserMessageContent is input_text or input_tag.
type UserMessageContent struct {
	Type        string         `json:"type"`
	Text        string         `json:"text"`
	ID          string         `json:"id,omitempty"`
	Data        map[string]any `json:"data,omitempty"`
	Group       *string        `json:"group,omitempty"`
	Interactive bool           `json:"interactive,omitempty"`
}

// InferenceOptions are the client's model and tool choices.
type InferenceOptions struct {
	ToolChoice *ToolChoice `json:"tool_choice,omitempty"`
	Model      *string     `json:"model,omitempty"`
}

// ToolChoice names a tool.
type ToolChoice struct {
	ID string `json:"id"`
}

// ThreadCreateParams are threads.create's params.
type ThreadCreateParams struct {
	Input *UserMessageInput `json:"input"`
}

// ThreadAddUserMessageParams are threads.add_user_message's params.
type ThreadAddUserMessageParams struct {
	Input    *UserMessageInput `json:"input"`
	ThreadID string            `json:"thread_id"`
}

// ThreadGetByIDParams are threads.get_by_id's params.
type ThreadGetByIDParams struct {
	ThreadID string `json:"thread_id"`
}

// ListParams are threads.list's params (and items.list's with a thread id).
type ListParams struct {
	ThreadID string  `json:"thread_id"`
	Limit    *int    `json:"limit"`
	Order    *string `json:"order"`
	After    *string `json:"after"`
}

// ThreadUpdateParams are threads.update's params.
type ThreadUpdateParams struct {
	ThreadID string  `json:"thread_id"`
	Title    *string `json:"title"`
}

// ThreadDeleteParams are threads.delete's params.
type ThreadDeleteParams struct {
	ThreadID string `json:"thread_id"`
}

// ThreadRetryAfterItemParams are threads.retry_after_item's params.
type ThreadRetryAfterItemParams struct {
	ThreadID string `json:"thread_id"`
	ItemID   string `json:"item_id"`
}

// ItemFeedbackParams are items.feedback's params.
type ItemFeedbackParams struct {
	ThreadID string   `json:"thread_id"`
	ItemIDs  []string `json:"item_ids"`
	Kind     string   `json:"kind"`
}

// Page is a page of threads or items.
type Page[T any] struct {
	Data    []T     `json:"data"`
	HasMore bool    `json:"has_more"`
	After   *string `json:"after,omitempty"`
}

// ThreadStatus is {"type":"active"} and its locked and closed siblings.
type ThreadStatus struct {
	Type   string  `json:"type"`
	Reason *string `json:"reason,omitempty"`
}

// Thread is a thread with a page of its items.
type Thread struct {
	ID        string                `json:"id"`
	Title     *string               `json:"title,omitempty"`
	CreatedAt time.Time             `json:"created_at"`
	Status    ThreadStatus          `json:"status"`
	Metadata  map[string]any        `json:"metadata"`
	Items     Page[json.RawMessage] `json:"items"`
}

// ThreadItemBase holds what every item has.
type ThreadItemBase struct {
	ID        string    `json:"id"`
	ThreadID  string    `json:"thread_id"`
	CreatedAt time.Time `json:"created_at"`
}

// UserMessageItem is a stored user message.
type UserMessageItem struct {
	Type string `json:"type"` // user_message
	ThreadItemBase
	Content          []UserMessageContent `json:"content"`
	Attachments      []json.RawMessage    `json:"attachments"`
	QuotedText       *string              `json:"quoted_text,omitempty"`
	InferenceOptions InferenceOptions     `json:"inference_options"`
}

// AssistantMessageItem is an answer.
type AssistantMessageItem struct {
	Type string `json:"type"` // assistant_message
	ThreadItemBase
	Content []AssistantMessageContent `json:"content"`
}

// HiddenContextItem is context stored with the thread and never sent to
// the client.
type HiddenContextItem struct {
	Type string `json:"type"` // hidden_context_item
	ThreadItemBase
	Content any `json:"content"`
}

// AssistantMessageContent is output text with its annotations.
type AssistantMessageContent struct {
	Annotations []Annotation `json:"annotations"`
	Text        string       `json:"text"`
	Type        string       `json:"type"` // output_text
}

// Annotation points at a source the text drew on.
type Annotation struct {
	Type   string    `json:"type"` // annotation
	Source URLSource `json:"source"`
	Index  *int      `json:"index,omitempty"`
}

// URLSource is a source with a link (a lesson section here).
type URLSource struct {
	Type        string  `json:"type"` // url
	Title       string  `json:"title"`
	Description *string `json:"description,omitempty"`
	Group       *string `json:"group,omitempty"`
	URL         string  `json:"url"`
	Attribution *string `json:"attribution,omitempty"`
}

// Stream event types.
const (
	EvThreadCreated  = "thread.created"
	EvThreadUpdated  = "thread.updated"
	EvItemAdded      = "thread.item.added"
	EvItemUpdated    = "thread.item.updated"
	EvItemDone       = "thread.item.done"
	EvItemReplaced   = "thread.item.replaced"
	EvStreamOptions  = "stream_options"
	EvProgressUpdate = "progress_update"
	EvNotice         = "notice"
	EvError          = "error"
	UpdPartAdded     = "assistant_message.content_part.added"
	UpdTextDelta     = "assistant_message.content_part.text_delta"
	UpdAnnotation    = "assistant_message.content_part.annotation_added"
	UpdPartDone      = "assistant_message.content_part.done"
	ErrorCodeStream  = "stream.error"
	ErrorCodeCustom  = "custom"
)

// ThreadCreatedEvent starts a new thread's stream.
type ThreadCreatedEvent struct {
	Type   string `json:"type"`
	Thread Thread `json:"thread"`
}

// ItemEvent is thread.item.added and thread.item.done.
type ItemEvent struct {
	Type string `json:"type"`
	Item any    `json:"item"`
}

// ItemReplacedEvent replaces an item the client already has (chatkit's
// ThreadItemReplacedEvent): here an answer an output guardrail replaced.
type ItemReplacedEvent struct {
	Type string `json:"type"`
	Item any    `json:"item"`
}

// ItemUpdatedEvent carries one update of an item being written.
type ItemUpdatedEvent struct {
	Type   string `json:"type"`
	ItemID string `json:"item_id"`
	Update any    `json:"update"`
}

// ContentPartEvent is content_part.added and content_part.done.
type ContentPartEvent struct {
	Type         string                  `json:"type"`
	ContentIndex int                     `json:"content_index"`
	Content      AssistantMessageContent `json:"content"`
}

// TextDelta appends text to a content part.
type TextDelta struct {
	Type         string `json:"type"`
	ContentIndex int    `json:"content_index"`
	Delta        string `json:"delta"`
}

// AnnotationAdded adds an annotation to a content part.
type AnnotationAdded struct {
	Type            string     `json:"type"`
	ContentIndex    int        `json:"content_index"`
	AnnotationIndex int        `json:"annotation_index"`
	Annotation      Annotation `json:"annotation"`
}

// StreamOptionsEvent sets stream options.
type StreamOptionsEvent struct {
	Type          string        `json:"type"`
	StreamOptions StreamOptions `json:"stream_options"`
}

// StreamOptions control the client during a stream.
type StreamOptions struct {
	AllowCancel bool `json:"allow_cancel"`
}

// ProgressUpdateEvent shows what the server is doing.
type ProgressUpdateEvent struct {
	Type string  `json:"type"`
	Icon *string `json:"icon,omitempty"`
	Text string  `json:"text"`
}

// NoticeEvent tells the user something outside the answer.
type NoticeEvent struct {
	Type    string  `json:"type"`
	Level   string  `json:"level"`
	Message string  `json:"message"`
	Title   *string `json:"title,omitempty"`
}

// ErrorEvent ends a stream with an error. As an HTTP error body (before a
// stream starts) it also carries the platform's error object and, for 429,
// the quota.
type ErrorEvent struct {
	Type       string  `json:"type"`
	Code       string  `json:"code"`
	Message    *string `json:"message,omitempty"`
	AllowRetry bool    `json:"allow_retry"`
}
