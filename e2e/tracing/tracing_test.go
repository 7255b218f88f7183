// Package tracing runs a stack with tracing on (stack.Options.TracingEndpoint)
// against an in-process OTLP/HTTP collector and checks that one trace
// follows a request from the caller through our services into the services
// they call: identity → Kratos, consent → Hydra and Kratos, tutor → the
// model. Kratos and Hydra export to the same collector (their own tracing,
// switched on through their environment), so their spans show whether the
// traceparent we send is continued.
package tracing

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/tracing"
	"github.com/learnplatform/platform/kit/tracing/tracingtest"
	"github.com/learnplatform/platform/stack"
	"github.com/learnplatform/platform/tutor/agent/fakemodel"
)

var (
	collector *tracingtest.Collector

	// modelCalls are the headers of the calls that reached the model.
	modelMu    sync.Mutex
	modelCalls []http.Header
)

func TestMain(m *testing.M) {
	collector = tracingtest.Start()
	model := fakemodel.New(func(fakemodel.Request) fakemodel.Script {
		return fakemodel.Script{Steps: fakemodel.Words("What do you think a goroutine is?", 0)}
	})
	// In front of the scripted model: what the tutor sent it.
	target, _ := url.Parse(model.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		modelMu.Lock()
		modelCalls = append(modelCalls, r.Header.Clone())
		modelMu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	// The launcher hands its environment to every component it starts.
	os.Setenv("TUTOR_MODEL_BASE_URL", front.URL+"/v1")
	os.Setenv("TUTOR_MODEL_NAME", "scripted-tutor")
	os.Setenv("TUTOR_MODEL_API_KEY", "sk-scripted")
	// Our services take the endpoint from their config files, not from here.
	os.Unsetenv(tracing.EndpointEnv)
	// Kratos and Hydra trace to the same collector.
	os.Setenv("TRACING_PROVIDER", "otel")
	os.Setenv("TRACING_PROVIDERS_OTLP_SERVER_URL", strings.TrimPrefix(collector.URL, "http://"))
	os.Setenv("TRACING_PROVIDERS_OTLP_INSECURE", "true")
	os.Setenv("TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO", "1")
	// Every OpenTelemetry SDK here exports within a tenth of a second.
	os.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	e2etest.MainWith(m, func(o *stack.Options) { o.TracingEndpoint = collector.URL })
}

// caller is a trace the test starts, as a traced client would.
type caller struct{ traceID, spanID string }

func newCaller() caller {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return caller{traceID: hex.EncodeToString(b[:16]), spanID: hex.EncodeToString(b[16:])}
}

func (c caller) traceparent() string { return "00-" + c.traceID + "-" + c.spanID + "-01" }

// trace waits until the collector holds spans of c's trace that satisfy
// done, and returns them.
func (c caller) trace(t *testing.T, done func([]tracingtest.Span) bool) []tracingtest.Span {
	t.Helper()
	var mine []tracingtest.Span
	collector.WaitFor(t, 30*time.Second, func(all []tracingtest.Span) bool {
		mine = mine[:0]
		for _, s := range all {
			if s.TraceID == c.traceID {
				mine = append(mine, s)
			}
		}
		return done(mine)
	})
	return mine
}

func port(rawURL string) string {
	u, _ := url.Parse(rawURL)
	return u.Port()
}

// serverSpan is our service's span for the request the test sent.
func serverSpan(spans []tracingtest.Span, service, name string, c caller) (tracingtest.Span, bool) {
	for _, s := range spans {
		if s.Service == service && s.Kind == "server" && s.Name == name && s.ParentID == c.spanID {
			return s, true
		}
	}
	return tracingtest.Span{}, false
}

// clientSpan is service's call under parent to the given port.
func clientSpan(spans []tracingtest.Span, service string, parent tracingtest.Span, port string) (tracingtest.Span, bool) {
	for _, s := range spans {
		if s.Service == service && s.Kind == "client" && s.ParentID == parent.SpanID && s.Attributes["server.port"] == port {
			return s, true
		}
	}
	return tracingtest.Span{}, false
}

// continued is a span of another service that continues call.
func continued(spans []tracingtest.Span, call tracingtest.Span) (tracingtest.Span, bool) {
	for _, s := range spans {
		if s.ParentID == call.SpanID && s.Service != call.Service {
			return s, true
		}
	}
	return tracingtest.Span{}, false
}

func dump(spans []tracingtest.Span) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString("\n  " + s.String())
	}
	return b.String()
}

// The hosted login page reads its flow from Kratos: the edge's span
// continues the caller's trace, the call to Kratos is its child, and
// Kratos' own span continues that call.
func TestIdentityToKratos(t *testing.T) {
	st := e2etest.Need(t)
	c := e2etest.NewClient(t)
	res := c.Do("GET", "/self-service/login/browser", nil, "Accept", "text/html")
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.Status != http.StatusSeeOther || err != nil || loc.Query().Get("flow") == "" {
		t.Fatalf("no login flow: %d %v", res.Status, res.Header)
	}
	call := newCaller()
	page := c.Do("GET", "/login?flow="+loc.Query().Get("flow"), nil, "Accept", "text/html",
		"Traceparent", call.traceparent(), server.RequestIDHeader, "trace-identity-1")
	if page.Status != http.StatusOK {
		t.Fatalf("login page: %d %s", page.Status, page.Body)
	}
	kratosPort := port(st.URL("kratos"))
	var edge, toKratos, inKratos tracingtest.Span
	spans := call.trace(t, func(spans []tracingtest.Span) bool {
		var ok bool
		if edge, ok = serverSpan(spans, "identity", "GET /login", call); !ok {
			return false
		}
		if toKratos, ok = clientSpan(spans, "identity", edge, kratosPort); !ok {
			return false
		}
		inKratos, ok = continued(spans, toKratos)
		return ok
	})
	if edge.Attributes["request_id"] != "trace-identity-1" || edge.Attributes["http.response.status_code"] != "200" {
		t.Errorf("edge span: %v", edge)
	}
	if toKratos.Name != "GET 127.0.0.1:"+kratosPort || toKratos.Attributes["http.response.status_code"] != "200" {
		t.Errorf("call to Kratos: %v", toKratos)
	}
	if inKratos.Kind != "server" {
		t.Errorf("Kratos' span under the call is not its server span: %v", inKratos)
	}
	t.Logf("trace %s:%s", call.traceID, dump(spans))
}

// Hydra sends the browser to the consent app's login endpoint: it asks
// Hydra's admin API about the request and Kratos whether a session
// exists, both within the caller's trace.
func TestConsentToHydraAndKratos(t *testing.T) {
	st := e2etest.Need(t)
	rp := e2etest.NewOIDC(t, e2etest.TutorWeb, "", "")
	verifier := oauth2.GenerateVerifier()
	c := e2etest.NewClient(t)
	res := c.Do("GET", rp.Config.AuthCodeURL("state-"+newCaller().spanID, oauth2.S256ChallengeOption(verifier)), nil, "Accept", "text/html")
	login := res.Header.Get("Location")
	if res.Status != http.StatusFound && res.Status != http.StatusSeeOther || !strings.HasPrefix(login, st.URL("consent")+"login?login_challenge=") {
		t.Fatalf("Hydra did not send us to the consent app: %d %q", res.Status, login)
	}
	call := newCaller()
	res = c.Do("GET", login, nil, "Accept", "text/html", "Traceparent", call.traceparent())
	if res.Status != http.StatusFound && res.Status != http.StatusSeeOther {
		t.Fatalf("consent login: %d %s", res.Status, res.Body)
	}
	hydraPort, kratosPort := port(st.URL("hydra-admin")), port(st.URL("kratos"))
	var consent, toHydra, toKratos, inHydra tracingtest.Span
	spans := call.trace(t, func(spans []tracingtest.Span) bool {
		var ok bool
		if consent, ok = serverSpan(spans, "consent", "GET /login", call); !ok {
			return false
		}
		if toHydra, ok = clientSpan(spans, "consent", consent, hydraPort); !ok {
			return false
		}
		if toKratos, ok = clientSpan(spans, "consent", consent, kratosPort); !ok {
			return false
		}
		inHydra, ok = continued(spans, toHydra)
		return ok
	})
	if toHydra.Attributes["http.response.status_code"] != "200" || toKratos.Attributes["http.response.status_code"] != "401" || toKratos.Error {
		t.Errorf("calls: hydra %v, kratos %v (no session is a 401, not an error)", toHydra, toKratos)
	}
	if inHydra.Kind != "server" {
		t.Errorf("Hydra's span under the call is not its server span: %v", inHydra)
	}
	t.Logf("trace %s:%s", call.traceID, dump(spans))
}

// A learner's message: the tutor's span continues the caller's trace, the
// model call is its child, and the model receives that call's traceparent
// and the request id.
func TestTutorToModel(t *testing.T) {
	st := e2etest.Need(t)
	learner := e2etest.NewLearner(t, "instructor") // staff: no enrollment needed
	body, _ := json.Marshal(map[string]any{"type": "threads.create", "metadata": map[string]any{"course": "go-basics"},
		"params": map[string]any{"input": map[string]any{"content": []any{map[string]any{"type": "input_text", "text": "What is a goroutine?"}},
			"attachments": []any{}, "inference_options": map[string]any{}}}})
	req, _ := http.NewRequest(http.MethodPost, st.URL("tutor")+"api/v1/chatkit", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+learner.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	call := newCaller()
	req.Header.Set("Traceparent", call.traceparent())
	req.Header.Set(server.RequestIDHeader, "trace-tutor-1")
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(answer, []byte("goroutine")) {
		t.Fatalf("chatkit: %d %s", res.StatusCode, answer)
	}

	modelMu.Lock()
	var seen http.Header
	for _, h := range modelCalls {
		if h.Get(server.RequestIDHeader) == "trace-tutor-1" {
			seen = h
		}
	}
	modelMu.Unlock()
	if seen == nil {
		t.Fatal("no model call carried the request id")
	}
	var tutor, toModel tracingtest.Span
	spans := call.trace(t, func(spans []tracingtest.Span) bool {
		var ok bool
		if tutor, ok = serverSpan(spans, "tutor", "POST /api/v1/chatkit", call); !ok {
			return false
		}
		toModel, ok = clientSpan(spans, "tutor", tutor, port(os.Getenv("TUTOR_MODEL_BASE_URL")))
		return ok
	})
	if want := fmt.Sprintf("00-%s-%s-01", call.traceID, toModel.SpanID); seen.Get("Traceparent") != want {
		t.Fatalf("the model got traceparent %q, want %q; trace:%s", seen.Get("Traceparent"), want, dump(spans))
	}
	if tutor.Attributes["request_id"] != "trace-tutor-1" || toModel.Attributes["http.request.method"] != "POST" ||
		toModel.Attributes["http.response.status_code"] != strconv.Itoa(http.StatusOK) {
		t.Errorf("spans: tutor %v, model call %v", tutor, toModel)
	}
	// The plugin calls (the stack runs retriever-postgres and both
	// guardrails) are the tutor span's children too.
	spans = call.trace(t, func(spans []tracingtest.Span) bool {
		return len(pluginSpans(spans, tutor)) == 3
	})
	got := pluginSpans(spans, tutor)
	if search := got["plugins search"]; search.Attributes["plugins.retrievers"] != "1" || search.Attributes["course"] != "go-basics" {
		t.Errorf("search span: %v", search)
	}
	if in := got["plugins check_input"]; in.Attributes["plugins.guardrails"] != "2" || in.Attributes["plugins.blocked"] != "false" {
		t.Errorf("input check span: %v", in)
	}
	// So are its queries: the learner's message is stored before the model
	// is called.
	call.trace(t, func(spans []tracingtest.Span) bool {
		for _, s := range spans {
			if s.Service == "tutor" && s.Kind == "client" && s.ParentID == tutor.SpanID && s.Name == "INSERT" &&
				s.Attributes["db.system.name"] == "postgresql" && strings.Contains(s.Attributes["db.query.text"], "$1") {
				return true
			}
		}
		return false
	})
}

// pluginSpans are the tutor's plugin call spans under parent, by name.
func pluginSpans(spans []tracingtest.Span, parent tracingtest.Span) map[string]tracingtest.Span {
	out := map[string]tracingtest.Span{}
	for _, s := range spans {
		if s.Service == "tutor" && s.ParentID == parent.SpanID && strings.HasPrefix(s.Name, "plugins ") {
			out[s.Name] = s
		}
	}
	return out
}
