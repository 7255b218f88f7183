package protocol

import (
	"errors"
	"testing"

	"github.com/learnplatform/platform/tutor"
)

// FuzzParseRequest feeds the parsing and checks of a request arbitrary
// bodies: the envelope, every request type's params, the user message
// input, list paging and the metadata. Nothing may panic, and every refusal
// must be the caller's error (invalid, too large, unsupported, not found),
// never an internal one, so bad input can never become a 500.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{},"quoted_text":"q"}},"metadata":{"course":"go-basics","page":{"url":"http://x/","title":"t","headings":["a"]}}}`,
		`{"type":"threads.add_user_message","params":{"thread_id":"thr_1","input":{"content":[{"type":"input_tag","text":"x"}]}}}`,
		`{"type":"threads.list","params":{"limit":-1,"order":"sideways","after":"x"}}`,
		`{"type":"items.list","params":{"thread_id":"thr_1","limit":100000}}`,
		`{"type":"items.feedback","params":{"thread_id":"t","item_ids":["a"],"kind":"positive"}}`,
		`{"type":"threads.create","params":{"input":{"content":[],"attachments":[{"id":"a"}]}}}`,
		`{"type":"attachments.create","params":{}}`,
		`{"type":"threads.update","params":{"thread_id":"` + string(make([]byte, 200)) + `","title":null}}`,
		`{"type":1}`, `[]`, `{"type":"threads.create","params":"nope"}`, `{"type":"x"} {}`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			callersError(t, err)
			return
		}
		_, _, err = ParseMetadata(req.Metadata)
		callersError(t, err)
		switch req.Type {
		case ReqThreadsCreate:
			var p ThreadCreateParams
			if err := DecodeParams(req.Params, &p); err != nil {
				callersError(t, err)
				return
			}
			checkMessage(t, p.Input, "thr_fuzz")
		case ReqThreadsAddUserMessage:
			var p ThreadAddUserMessageParams
			if err := DecodeParams(req.Params, &p); err != nil {
				callersError(t, err)
				return
			}
			callersError(t, RequireID("thread_id", p.ThreadID))
			checkMessage(t, p.Input, p.ThreadID)
		case ReqThreadsList, ReqItemsList:
			var p ListParams
			if err := DecodeParams(req.Params, &p); err != nil {
				callersError(t, err)
				return
			}
			_, err := p.PageRequest(100)
			callersError(t, err)
		default:
			var p ItemFeedbackParams
			callersError(t, DecodeParams(req.Params, &p))
		}
	})
}

// checkMessage checks a message and, when it passes, makes its item.
func checkMessage(t *testing.T, in *UserMessageInput, threadID string) {
	m, err := CheckMessage(in, 8192)
	if err != nil {
		callersError(t, err)
		return
	}
	_, err = m.Item(threadID, clock.Now())
	callersError(t, err)
}

var clock tutor.Clock

// callersError fails unless err is nil or the caller's error.
func callersError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var te *tutor.Error
	if !errors.As(err, &te) {
		t.Fatalf("a parse error that is not the caller's: %v", err)
	}
	switch te.Code {
	case tutor.EINVALID, tutor.ETOOLARGE, tutor.EUNSUPPORTED, tutor.ENOTFOUND:
	default:
		t.Fatalf("bad input answered %s: %v", te.Code, err)
	}
}
