package chatkit

import (
	"errors"
	"testing"

	"github.com/learnplatform/platform/tutor"
)

// FuzzParseRequest feeds the endpoint's parsing and validation arbitrary
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
	h := New(Config{MaxMessageBytes: 8192, MaxPageSize: 100})
	check := func(t *testing.T, err error) {
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
	f.Fuzz(func(t *testing.T, body []byte) {
		var req Request
		if strictJSON(body, &req) != nil {
			return // answered 400 by ServeHTTP
		}
		_, _, err := requestMetadata(req.Metadata)
		check(t, err)
		switch req.Type {
		case ReqThreadsCreate:
			var p ThreadCreateParams
			if err := params(req.Params, &p); err != nil {
				check(t, err)
				return
			}
			_, err := h.userMessage(p.Input, "thr_fuzz")
			check(t, err)
		case ReqThreadsAddUserMessage:
			var p ThreadAddUserMessageParams
			if err := params(req.Params, &p); err != nil {
				check(t, err)
				return
			}
			check(t, requireID("thread_id", p.ThreadID))
			_, err := h.userMessage(p.Input, p.ThreadID)
			check(t, err)
		case ReqThreadsList, ReqItemsList:
			var p ListParams
			if err := params(req.Params, &p); err != nil {
				check(t, err)
				return
			}
			_, err := h.pageRequest(p)
			check(t, err)
		default:
			var p ItemFeedbackParams
			check(t, params(req.Params, &p))
		}
	})
}
