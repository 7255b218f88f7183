// Package web tests the learner web app in headless Chromium on its own
// real stack: the whole journey (register and verify, sign in, course,
// lesson, Ask AI on a selection, a streamed answer, reload, sign out), the
// daily limit, safe rendering of lessons and answers, unverified learners,
// errors with retry, token refresh and the degraded-state banners. The
// model is a scripted OpenAI-compatible server in this process.
package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/tutor/agent/fakemodel"
)

var (
	model      *fakemodel.Server
	failedOnce sync.Map
)

// answer is what the scripted model says by default, a word at a time with
// a pause, so the page can be seen streaming.
const answer = "Good question! Look again at the sentence you selected: what does it say happens before a value is given? " +
	"Try to put it in **your own words**, then tell me."

// payload is an answer that tries to inject markup.
const payload = `Here is <script>window.__pwned = "answer-script"</script> and <img src="x" onerror="window.__pwned = 'answer-img'"> ` +
	"and [a link](javascript:window.__pwned='answer-link') but **bold** stays."

func script(req fakemodel.Request) fakemodel.Script {
	q := req.LastUser()
	switch {
	case strings.Contains(q, "[quick]"):
		return fakemodel.Script{Steps: fakemodel.Words("Noted. What do you think?", 0)}
	case strings.Contains(q, "[payload]"):
		return fakemodel.Script{Steps: fakemodel.Words(payload, 0)}
	case strings.Contains(q, "[fail-once]"):
		if _, failed := failedOnce.LoadOrStore(q, true); !failed {
			return fakemodel.Script{Steps: []fakemodel.Step{{Text: "I was about to say "}, {Delay: 20 * time.Millisecond, Break: true}}}
		}
		return fakemodel.Script{Steps: fakemodel.Words("Second try: what do you think?", 0)}
	case strings.Contains(q, "[long]"):
		return fakemodel.Script{Steps: fakemodel.Words(strings.Repeat("Think about it step by step. ", 12)+"Done.", 150*time.Millisecond)}
	}
	return fakemodel.Script{Steps: fakemodel.Words(answer, 40*time.Millisecond)}
}

// accessTTL is this stack's access-token lifetime: short, so a test sees
// the app refresh tokens before they expire.
const accessTTL = 40 * time.Second

func TestMain(m *testing.M) {
	model = fakemodel.New(script)
	// The launcher hands its environment to every component it starts.
	os.Setenv("TUTOR_MODEL_BASE_URL", model.BaseURL())
	os.Setenv("TUTOR_MODEL_NAME", "scripted-tutor")
	os.Setenv("TUTOR_MODEL_API_KEY", "sk-scripted")
	os.Setenv("TUTOR_MODEL_FIRST_TOKEN_TIMEOUT", "2s")
	os.Unsetenv("TUTOR_DAILY_MESSAGES") // the real limit: 20 a day
	os.Setenv("TTL_ACCESS_TOKEN", accessTTL.String())
	e2etest.Main(m)
}

// verified is a new verified student with a token; tried again when the
// token does not say email_verified (Kratos may mail two codes at
// registration, and the helper can pick the stale one).
func verified(t *testing.T) e2etest.Learner {
	t.Helper()
	for range 3 {
		l := e2etest.NewLearner(t, "")
		if e2etest.JWTClaims(t, l.AccessToken)["email_verified"] == true {
			return l
		}
	}
	t.Fatal("could not get a verified learner")
	return e2etest.Learner{}
}

// apiCall calls the tutor's API with token and decodes the answer into out
// (when not nil); it returns the status.
func apiCall(t *testing.T, token, method, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, e2etest.Need(t).URL("tutor")+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, body)
		}
	}
	return res.StatusCode
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

type app struct {
	t    *testing.T
	b    *e2etest.Browser
	base string // the tutor, no trailing slash
}

func newApp(t *testing.T) *app {
	st := e2etest.Need(t)
	return &app{t: t, b: e2etest.NewBrowser(t), base: strings.TrimSuffix(st.URL("tutor"), "/")}
}

// signIn starts at the landing page and clicks "Sign in"; when the hosted
// login page asks, it types the credentials. It returns how long the round
// trip took, from the click until the app shows the learner signed in.
func (a *app) signIn(email, password string) (time.Duration, bool) {
	a.t.Helper()
	a.b.Do("landing", chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(css(`main[data-page="landing"]`)),
		chromedp.WaitEnabled(css(`#sign-in`)))
	start := time.Now()
	a.b.Do("sign in", e2etest.Click(`#sign-in`), chromedp.WaitVisible(css(`#sign-out, input[name="identifier"]`)))
	asked := false
	if strings.Contains(a.b.Location(), "/login") {
		asked = true
		a.b.Do("hosted login",
			chromedp.SendKeys(css(`input[name="identifier"]`), email),
			chromedp.SendKeys(css(`input[name="password"]`), password),
			e2etest.Click(`button[name="method"][value="password"]`),
			chromedp.WaitVisible(css(`#sign-out`)),
		)
	}
	return time.Since(start), asked
}

// wait polls a JavaScript condition until it holds (30 s at most).
func (a *app) wait(step, expr string) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(a.b.Ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
		a.t.Fatalf("%s: %v (at %s)", step, err, a.b.Location())
	}
}

func (a *app) eval(js string) any {
	a.t.Helper()
	return e2etest.Eval[any](a.b, js)
}

// await evaluates an async expression.
func await[T any](a *app, js string) T {
	a.t.Helper()
	return e2etest.Get(a.b, js, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// openLesson goes to a lesson through the app's own links (no reload, so
// the tokens in memory stay) and waits for its text.
func (a *app) openLesson(course, lesson string) {
	a.t.Helper()
	a.b.Do("open "+course+"/"+lesson,
		e2etest.Click(`header nav a[href="/courses"]`),
		chromedp.WaitVisible(css(`main[data-page="courses"] a[href="/courses/`+course+`"]`)),
		e2etest.Click(`a[href="/courses/`+course+`"]`),
		chromedp.WaitVisible(css(`main[data-page="course"] a[href="/courses/`+course+`/`+lesson+`"]`)),
		e2etest.Click(`a[href="/courses/`+course+`/`+lesson+`"]`),
		chromedp.WaitVisible(css(`main[data-page="lesson"] #lesson-body[aria-busy="false"]`)),
	)
}

// send types a question into the open widget, sends it with Enter and waits
// until the answer is finished (or an error shows).
func (a *app) send(text string) {
	a.t.Helper()
	before := e2etest.Eval[int](a.b, `document.querySelectorAll('#tutor-log .msg.assistant[aria-busy="false"]').length`)
	a.b.Do("send "+text, chromedp.SendKeys(css(`#tutor-input`), text+kb.Enter))
	a.wait("answer to "+text, fmt.Sprintf(
		`(document.querySelectorAll('#tutor-log .msg.assistant[aria-busy="false"]').length > %d || !document.querySelector('#tutor-error').hidden) && !document.querySelector('#tutor-form').hasAttribute('aria-busy')`, before))
}

var limitRE = regexp.MustCompile(`^Daily limit reached — resets at \d\d:\d\d$`)

// The journey of the issue, timed: register and verify on the hosted pages,
// sign in, course, lesson, select a sentence, Ask AI, a streamed answer,
// reload (still signed in, the thread listed), sign out onto the landing page.
func TestLearnerJourney(t *testing.T) {
	t.Parallel() // with TestTokenRefresh, which mostly waits
	st := e2etest.Need(t)
	a := newApp(t)
	b := a.b
	email := e2etest.UniqueEmail("journey")

	b.Do("landing", chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(css(`main[data-page="landing"] a[data-register]`)))
	b.Shot("landing")
	b.Do("create an account", e2etest.Click(`a[data-register]`), chromedp.WaitVisible(css(`input[name="traits.email"]`)))
	sent := time.Now()
	b.Do("register",
		chromedp.SendKeys(css(`input[name="traits.email"]`), email),
		chromedp.SendKeys(css(`input[name="traits.name"]`), "Journey Learner"),
		chromedp.SendKeys(css(`input[name="password"]`), e2etest.StrongPassword),
	)
	b.Submit("register", `button[name="method"][value="password"]`, `input[name="code"]`)
	loc := b.Location()
	flowID := loc[strings.Index(loc, "flow=")+len("flow="):]
	code := e2etest.MailCodeFor(t, email, "verify your email", sent, flowID)
	b.Do("verification code", chromedp.SendKeys(css(`input[name="code"]`), code))
	b.Submit("verify", `button[name="method"][value="code"]`, `.notices .msg-success`)

	// Sign in: Hydra, the consent app (the edge's session from the
	// registration signs in without a prompt), the callback, the code
	// exchange from the browser.
	took, asked := a.signIn(email, e2etest.StrongPassword)
	fmt.Printf("sign-in round trip (existing session): %v\n", took.Round(time.Millisecond))
	t.Logf("sign-in round trip (existing session): %v (asked for credentials: %v)", took, asked)
	if took > 10*time.Second {
		t.Errorf("sign-in took %v, over 10 s", took)
	}
	if got := b.Text("#who"); got != "Journey Learner" {
		t.Fatalf("signed in as %q", got)
	}
	if e2etest.Eval[bool](b, `!!document.querySelector('#banners [data-banner="verify"]')`) {
		t.Fatal("a verified learner sees the verify banner")
	}
	// Tokens stay in memory: nothing in either storage but the sign-in hint.
	if got := e2etest.Eval[string](b, `JSON.stringify([Object.keys(localStorage), Object.keys(sessionStorage)])`); got != `[["lp.signed-in"],[]]` {
		t.Fatalf("storage holds %s", got)
	}
	if strings.Contains(e2etest.Eval[string](b, `JSON.stringify(localStorage)+JSON.stringify(sessionStorage)+document.cookie`), "eyJ") {
		t.Fatal("a token was stored outside memory")
	}

	// Course page: start the course, stage 1 unlocked, the rest locked.
	b.Do("courses", e2etest.Click(`header nav a[href="/courses"]`), chromedp.WaitVisible(css(`[data-course="go-basics"] [data-state]`)))
	b.Do("course", e2etest.Click(`a[href="/courses/go-basics"]`), chromedp.WaitVisible(css(`#enroll`)))
	b.Do("start the course", e2etest.Click(`#enroll`), chromedp.WaitVisible(css(`#stages [data-stage="1"].unlocked`)))
	if got := e2etest.Eval[string](b, `[...document.querySelectorAll('#stages [data-stage]')].map(e => e.className.replace('stage ', '')).join(',')`); got != "unlocked,locked,locked" {
		t.Fatalf("stage states %s", got)
	}
	b.Shot("course")
	b.Do("lesson", e2etest.Click(`a[href="/courses/go-basics/values-and-variables"]`),
		chromedp.WaitVisible(css(`#lesson-body h2#zero-values`)))

	// The widget opens ready to type within 300 ms.
	opened := await[float64](a, `new Promise(res => {
		const t0 = performance.now();
		document.querySelector('#tutor-open').click();
		const check = () => {
			const p = document.querySelector('#tutor-panel');
			if (!p.hidden && p.dataset.ready && document.activeElement.id === 'tutor-input') res(performance.now() - t0);
			else requestAnimationFrame(check);
		};
		check();
	})`)
	// A figure, not a timing assertion (this test shares the machine with
	// others): the bound only catches a widget that never gets ready.
	fmt.Printf("widget usable after %.1f ms\n", opened)
	if opened > 5000 {
		t.Fatalf("the widget took %.0f ms to become usable", opened)
	}
	b.Do("close with Escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css(`#tutor-panel`)))
	if got := e2etest.Eval[string](b, `document.activeElement.id`); got != "tutor-open" {
		t.Fatalf("after Escape focus is on %q", got)
	}

	// Select a sentence of the lesson: the floating button appears.
	sentence := e2etest.Eval[string](b, `(() => {
		const p = [...document.querySelectorAll('#lesson-body p')].find(p => p.textContent.includes('zero'));
		const node = p.firstChild;
		const text = node.textContent;
		const end = text.indexOf('.') + 1;
		const r = document.createRange();
		r.setStart(node, 0);
		r.setEnd(node, end);
		getSelection().removeAllRanges();
		getSelection().addRange(r);
		return text.slice(0, end).trim();
	})()`)
	b.Do("Ask AI appears", chromedp.WaitVisible(css(`#ask-ai`)))
	b.Do("Ask AI", e2etest.Click(`#ask-ai`), chromedp.WaitVisible(css(`#tutor-panel #tutor-quote`)))
	sentence = strings.Join(strings.Fields(sentence), " ")
	if got := b.Text(`#tutor-quote [data-text]`); strings.Join(strings.Fields(got), " ") != sentence {
		t.Fatalf("quoted %q, selected %q", got, sentence)
	}
	// Record every length the answer's text goes through while streaming.
	a.eval(`(() => {
		window.__lengths = [];
		new MutationObserver(() => {
			const m = document.querySelector('#tutor-log .msg.assistant .md');
			if (m) window.__lengths.push(m.textContent.length);
		}).observe(document.querySelector('#tutor-log'), {subtree: true, childList: true, characterData: true});
		return true;
	})()`)
	question := "What does this sentence mean?"
	a.send(question)
	b.Shot("lesson-with-widget-answer")
	got := b.Text(`#tutor-log .msg.assistant .md`)
	if !strings.HasPrefix(got, "Good question! Look again") || !strings.Contains(got, "your own words") {
		t.Fatalf("answer %q", got)
	}
	if e2etest.Eval[int](b, `document.querySelectorAll('#tutor-log .msg.assistant strong').length`) != 1 {
		t.Fatal("the answer's Markdown (**bold**) is not rendered")
	}
	if n := e2etest.Eval[int](b, `new Set(window.__lengths).size`); n < 5 {
		t.Fatalf("the answer did not stream in: %d distinct lengths", n)
	}
	// The live region announced the answer.
	if live := b.TextMatching(`#tutor-status`, regexp.MustCompile("your own words")); !strings.Contains(live, "your own words") {
		t.Fatalf("live region: %q", live)
	}
	// The model got the quoted sentence and the page context.
	var req *fakemodel.Request
	for _, r := range model.Requests() {
		if strings.Contains(r.LastUser(), question) {
			req = &r
		}
	}
	if req == nil {
		t.Fatal("the model never saw the question")
	}
	all := ""
	for i := range req.Messages {
		all += req.Text(i) + "\n"
	}
	all = strings.Join(strings.Fields(all), " ")
	for _, want := range []string{sentence, "Values and variables", "/courses/go-basics/values-and-variables", "Zero values"} {
		if !strings.Contains(all, want) {
			t.Errorf("the model's request lacks %q:\n%s", want, all)
		}
	}
	if got := b.TextMatching(`#tutor-quota`, regexp.MustCompile(`^19 of 20 messages left today$`)); got != "19 of 20 messages left today" {
		t.Fatalf("quota line %q", got)
	}

	// Reload: signed in again without typing anything, the thread listed.
	b.Do("reload", chromedp.Reload(), chromedp.WaitVisible(css(`#sign-out`)), chromedp.WaitVisible(css(`#lesson-body h2#zero-values`)))
	if !strings.HasSuffix(b.Location(), "/courses/go-basics/values-and-variables") {
		t.Fatalf("after the reload at %s", b.Location())
	}
	b.Do("open the widget", e2etest.Click(`#tutor-open`),
		chromedp.WaitVisible(css(`#tutor-threads button[data-thread]`)))
	if got := b.Text(`#tutor-threads button[data-thread] .t-title`); got != question {
		t.Fatalf("thread list shows %q", got)
	}
	b.Do("open the thread", e2etest.Click(`#tutor-threads button[data-thread]`),
		chromedp.WaitVisible(css(`#tutor-log .msg.assistant`)))
	if got := b.Text(`#tutor-log .msg.user .q`); strings.Join(strings.Fields(got), " ") != sentence {
		t.Fatalf("history shows the quote %q", got)
	}
	b.Shot("thread-reopened")

	// Sign out: RP-initiated logout lands on the landing page, signed out.
	b.Do("sign out", e2etest.Click(`#sign-out`),
		chromedp.WaitVisible(css(`#banners [data-banner="signed-out"]`)), chromedp.WaitVisible(css(`main[data-page="landing"]`)))
	if b.Location() != a.base+"/" {
		t.Fatalf("sign-out landed on %s", b.Location())
	}
	b.Do("signed out", chromedp.WaitVisible(css(`#sign-in`)))
	if e2etest.Eval[string](b, `localStorage.getItem('lp.signed-in') || ''`) != "" {
		t.Fatal("the sign-in hint outlived the sign-out")
	}
	b.Shot("signed-out")

	// The identity session ended too: signing in asks for the password.
	took, asked = a.signIn(email, e2etest.StrongPassword)
	if !asked {
		t.Fatal("after sign-out the hosted login page must ask again")
	}
	fmt.Printf("sign-in round trip (hosted login page, password typed): %v\n", took.Round(time.Millisecond))
	t.Logf("sign-in round trip with the hosted login page: %v", took)
	if took > 10*time.Second {
		t.Errorf("sign-in took %v, over 10 s", took)
	}
	_ = st
}

// A student sends 21 messages: the 21st is refused with the limit message,
// and nothing is stored for it.
func TestDailyLimit(t *testing.T) {
	l := verified(t)
	a := newApp(t)
	a.signIn(l.Email, l.Password)
	a.openLesson("go-basics", "values-and-variables")
	a.b.Do("open the widget", e2etest.Click(`#tutor-open`), chromedp.WaitVisible(css(`#tutor-input`)))
	for i := 1; i <= 20; i++ {
		a.send(fmt.Sprintf("question %d [quick]", i))
		if e2etest.Eval[bool](a.b, `!document.querySelector('#tutor-error').hidden`) {
			t.Fatalf("message %d refused: %s", i, a.b.Text(`#tutor-error [data-text]`))
		}
	}
	if got := a.b.TextMatching(`#tutor-quota`, limitRE); !limitRE.MatchString(got) {
		t.Fatalf("after 20 messages the quota line says %q", got)
	}
	a.send("question 21 [quick]")
	got := a.b.TextMatching(`#tutor-error [data-text]`, limitRE)
	if !limitRE.MatchString(got) {
		t.Fatalf("21st message: %q", got)
	}
	// HH:MM is when the oldest message leaves the 24-hour window, local time.
	var me map[string]any
	apiCall(t, l.AccessToken, "GET", "api/v1/me", &me)
	resets, _ := time.Parse(time.RFC3339Nano, me["resets_at"].(string))
	if want := "Daily limit reached — resets at " + resets.Local().Format("15:04"); got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if n := e2etest.Eval[int](a.b, `document.querySelectorAll('#tutor-log .msg.user').length`); n != 20 {
		t.Fatalf("%d user messages shown, want 20 (the refused one is given back)", n)
	}
	if v := a.b.Value(`#tutor-input`); v != "question 21 [quick]" {
		t.Fatalf("the refused message is not back in the input: %q", v)
	}
	a.b.Shot("limit")
	a.b.Do("dismiss", e2etest.Click(`#tutor-error [data-dismiss]`), chromedp.WaitNotVisible(css(`#tutor-error`)))
}

// ingest loads dir into the stack's tutor with `tutor ingest`.
func ingest(t *testing.T, files map[string]string) {
	t.Helper()
	st := e2etest.Need(t)
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(st.BinDir, "tutor"), "ingest", "-config", filepath.Join(st.Dir, "data", "run", "tutor.yml"), dir)
	cmd.Env = append(os.Environ(), "TUTOR_DATABASE_URL="+st.DSN("platform"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
}

const payloadLesson = `---
course: safety
course_title: Safety check
stage: 1
lesson: payload
title: A lesson with a payload
---

Safe text before.

<script>window.__pwned = "lesson-script"</script>

An image <img src="x" onerror="window.__pwned = 'lesson-img'"> inline, and
[a link](javascript:window.__pwned='lesson-link').

<div onmouseover="window.__pwned = 'lesson-div'">a block</div>

## After the payload

Safe text after.
`

// A lesson and a model answer carrying <script> and <img onerror> render
// inert: no element they name appears, nothing runs, the text around stays.
func TestSafeRendering(t *testing.T) {
	ingest(t, map[string]string{"payload.md": payloadLesson})
	l := verified(t)
	if st := apiCall(t, l.AccessToken, "POST", "api/v1/courses/safety/enroll", nil); st != 200 {
		t.Fatalf("enroll: %d", st)
	}
	a := newApp(t)
	a.signIn(l.Email, l.Password)
	a.openLesson("safety", "payload")
	b := a.b
	inert := func(where string) {
		t.Helper()
		got := e2etest.Eval[string](b, `JSON.stringify({
			pwned: window.__pwned || "",
			scripts: document.querySelectorAll('#lesson-body script, #tutor-log script').length,
			imgs: document.querySelectorAll('#lesson-body img, #tutor-log img').length,
			handlers: [...document.querySelectorAll('#lesson-body *, #tutor-log *')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
			js: [...document.querySelectorAll('#lesson-body a, #tutor-log a')].filter(a => a.href.startsWith('javascript')).length,
		})`)
		if got != `{"pwned":"","scripts":0,"imgs":0,"handlers":0,"js":0}` {
			t.Fatalf("%s: %s", where, got)
		}
	}
	if text := b.Text("#lesson-body"); !strings.Contains(text, "Safe text before.") || !strings.Contains(text, "Safe text after.") {
		t.Fatalf("lesson text %q", text)
	}
	inert("lesson")

	b.Do("open the widget", e2etest.Click(`#tutor-open`), chromedp.WaitVisible(css(`#tutor-input`)))
	a.send("Show me something [payload] <img src=y onerror=window.__pwned='question'>")
	got := b.Text(`#tutor-log .msg.assistant .md`)
	for _, want := range []string{`<script>window.__pwned = "answer-script"</script>`, `<img src="x" onerror=`, "bold stays."} {
		if !strings.Contains(got, want) {
			t.Errorf("the answer should show %q as text: %q", want, got)
		}
	}
	if n := e2etest.Eval[int](b, `document.querySelectorAll('#tutor-log .msg.assistant strong').length`); n != 1 {
		t.Errorf("Markdown in the answer: %d <strong>", n)
	}
	b.Shot("payload-answer")
	inert("answer")
}

// An unverified learner signs in and browses, but lesson content and the
// tutor are refused (403 from the API) and a banner links to verification.
func TestUnverifiedLearner(t *testing.T) {
	st := e2etest.Need(t)
	email := e2etest.UniqueEmail("unverified")
	e2etest.NewClient(t).Register(email, e2etest.StrongPassword, "Not Yet")
	// The API refuses the lesson itself.
	tok := e2etest.Tokens(t, email, e2etest.StrongPassword).AccessToken
	var refusal map[string]any
	if status := apiCall(t, tok, "GET", "api/v1/courses/go-basics/lessons/values-and-variables", &refusal); status != 403 ||
		refusal["error"].(map[string]any)["code"] != "email_not_verified" {
		t.Fatalf("lesson for an unverified learner: %d %v", status, refusal)
	}

	a := newApp(t)
	b := a.b
	a.signIn(email, e2etest.StrongPassword)
	b.Do("verify banner", chromedp.WaitVisible(css(`#banners [data-banner="verify"] a`)))
	href := e2etest.Get(b, "verify link", chromedp.AttributeValue(css(`#banners [data-banner="verify"] a`), "href")).Value
	if !strings.HasPrefix(href, st.URL("identity")+"verification") {
		t.Fatalf("verify link %q", href)
	}
	b.Shot("unverified-banner")
	// Course list and course page are open to browse.
	b.Do("courses", e2etest.Click(`header nav a[href="/courses"]`), chromedp.WaitVisible(css(`main[data-page="courses"] a[href="/courses/go-basics"]`)))
	b.Do("course", e2etest.Click(`a[href="/courses/go-basics"]`), chromedp.WaitVisible(css(`#stages [data-stage="1"]`)))
	if got := b.TextMatching(`#course-state`, regexp.MustCompile("Verify your email")); !strings.Contains(got, "Verify your email") {
		t.Fatalf("course state %q", got)
	}
	b.Do("lesson", e2etest.Click(`a[href="/courses/go-basics/values-and-variables"]`),
		chromedp.WaitVisible(css(`#lesson-body[aria-busy="false"]`)))
	if got := b.TextMatching(`#lesson-body`, regexp.MustCompile("Verify your email address to read this lesson")); !strings.Contains(got, "Verify your email address to read this lesson") {
		t.Fatalf("lesson body for an unverified learner: %q", got)
	}
	b.Do("open the widget", e2etest.Click(`#tutor-open`), chromedp.WaitVisible(css(`#tutor-input`)))
	a.send("Can I ask?")
	if got := b.TextMatching(`#tutor-error [data-text]`, regexp.MustCompile("Verify your email")); !strings.Contains(got, "Verify your email") {
		t.Fatalf("tutor for an unverified learner: %q", got)
	}
}

// A model failure mid-answer shows a dismissible error with Retry; Retry
// answers again in the same thread.
func TestErrorAndRetry(t *testing.T) {
	l := verified(t)
	a := newApp(t)
	a.signIn(l.Email, l.Password)
	a.openLesson("go-basics", "values-and-variables")
	b := a.b
	b.Do("open the widget", e2etest.Click(`#tutor-open`), chromedp.WaitVisible(css(`#tutor-input`)))
	a.send("Why zero? [fail-once]")
	b.Do("error with retry", chromedp.WaitVisible(css(`#tutor-error [data-retry]`)))
	b.Shot("error")
	b.Do("retry", e2etest.Click(`#tutor-error [data-retry]`))
	a.wait("the second answer", `document.querySelector('#tutor-log .msg.assistant:last-child .md')?.textContent === 'Second try: what do you think?'`)
	if n := e2etest.Eval[int](b, `document.querySelectorAll('#tutor-log .msg.user').length`); n != 1 {
		t.Fatalf("%d user messages after a retry", n)
	}
}

// The app refreshes the access token before it expires (this stack's
// tokens live 40 s): past the first token's lifetime, API calls still work
// and the tutor never answered 401.
//
// It spends most of its time waiting for the first token to expire, so it
// runs in parallel with TestLearnerJourney.
func TestTokenRefresh(t *testing.T) {
	t.Parallel()
	l := verified(t)
	a := newApp(t)
	a.signIn(l.Email, l.Password)
	firstExpiry := time.Now().Add(accessTTL)
	a.eval(`(() => {
		window.__statuses = [];
		const orig = window.fetch;
		window.fetch = async (...args) => {
			const res = await orig(...args);
			window.__statuses.push([String(args[0]), res.status, args[1] && args[1].body ? String(args[1].body) : ""]);
			return res;
		};
		return true;
	})()`)
	// The app refreshes a fifth of the lifetime early; then wait out the
	// first token's lifetime, so the calls below could only succeed with
	// the refreshed one.
	ctx, cancel := context.WithTimeout(a.b.Ctx, accessTTL+30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__statuses.some(c => c[0].endsWith('/oauth2/token') && c[1] === 200 && c[2].includes('grant_type=refresh_token'))`, chromedp.WithPollingTimeout(accessTTL+30*time.Second))); err != nil {
		t.Fatalf("no refresh within the token's lifetime: %v", err)
	}
	time.Sleep(time.Until(firstExpiry.Add(time.Second)))
	a.b.Do("courses", e2etest.Click(`header nav a[href="/courses"]`), chromedp.WaitVisible(css(`[data-course="go-basics"] [data-state]`)))
	a.wait("state filled", `document.querySelector('[data-course="go-basics"] [data-state]').textContent !== 'Sign in to start'`)
	calls := e2etest.Eval[[][]any](a.b, `window.__statuses`)
	refreshed, unauthorized := 0, 0
	for _, c := range calls {
		if strings.HasSuffix(c[0].(string), "/oauth2/token") && strings.Contains(c[2].(string), "grant_type=refresh_token") && c[1].(float64) == 200 {
			refreshed++
		}
		if strings.Contains(c[0].(string), "/api/") && c[1].(float64) == 401 {
			unauthorized++
		}
	}
	if refreshed == 0 || unauthorized != 0 {
		t.Fatalf("%d refreshes, %d 401s: %v", refreshed, unauthorized, calls)
	}
	if got := a.b.Text("#who"); got == "" {
		t.Fatal("signed out after the refresh")
	}
}

// Hydra or the identity edge down: the pages still render and a banner
// says sign-in is unavailable; the tutor down: a banner says so.
func TestDegradedStates(t *testing.T) {
	st := e2etest.Need(t)
	a := newApp(t)
	b := a.b
	down := func(name string) {
		t.Helper()
		if err := st.StopComponent(name); err != nil {
			t.Fatal(err)
		}
	}
	up := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := st.Restart(ctx, name); err != nil {
			t.Fatalf("bringing %s back: %v", name, err)
		}
	}
	for _, name := range []string{"identity", "hydra"} {
		t.Run(name+" down", func(t *testing.T) {
			down(name)
			defer up(name)
			// The app caches the sign-in status for a few seconds: reload
			// until the banner shows.
			deadline := time.Now().Add(30 * time.Second)
			for {
				b.Do("landing", chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(css(`main[data-page="landing"]`)))
				ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
				_, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const e = document.querySelector('#banners [data-banner="signin"]'); return !!e && e.offsetParent !== null; })()`))
				cancel()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no sign-in banner with %s down: %v", name, err)
				}
			}
			if got := b.TextMatching(`#banners [data-banner="signin"] p`, regexp.MustCompile("Sign-in is unavailable")); !strings.Contains(got, "Sign-in is unavailable") {
				t.Fatalf("banner %q", got)
			}
			if !e2etest.Eval[bool](b, `document.querySelector('#sign-in').disabled`) {
				t.Fatal("the sign-in button must be disabled while sign-in is unavailable")
			}
			if n := e2etest.Eval[int](b, `document.querySelectorAll('main a[href="/courses/go-basics"]').length`); n == 0 {
				t.Fatal("the landing page must still show the courses")
			}
			b.Shot("signin-unavailable-" + name)
		})
	}
	t.Run("tutor down", func(t *testing.T) {
		l := verified(t)
		a.signIn(l.Email, l.Password)
		a.openLesson("go-basics", "values-and-variables")
		down("tutor")
		defer up("tutor")
		b.Do("open the widget", e2etest.Click(`#tutor-open`), chromedp.WaitVisible(css(`#tutor-input`)))
		a.send("Anyone there?")
		if got := b.TextMatching(`#tutor-error [data-text]`, regexp.MustCompile("The tutor is unavailable")); !strings.Contains(got, "The tutor is unavailable") {
			t.Fatalf("widget error %q", got)
		}
		if !e2etest.Eval[bool](b, `!document.querySelector('#tutor-error [data-retry]').hidden`) {
			t.Fatal("no retry offered")
		}
		b.Do("banner", chromedp.WaitVisible(css(`#banners [data-banner="tutor"]`)))
		b.Shot("tutor-unavailable")
	})
}

// The connection drops in the middle of an answer: the browser gets the
// start of the stream (the stored message, the first words) and then its
// end. The widget says it is reconnecting and shows the whole answer, which
// the tutor went on writing and stored, in the same thread.
func TestDroppedConnectionResumes(t *testing.T) {
	l := verified(t)
	a := newApp(t)
	b := a.b
	a.signIn(l.Email, l.Password)
	a.openLesson("go-basics", "values-and-variables")
	b.Do("open the widget", e2etest.Click(`#tutor-open`), chromedp.WaitVisible(css(`#tutor-input`)))
	a.send("First things first [quick]")
	a.eval(`(() => {
		window.__reconnecting = false;
		new MutationObserver(() => {
			if ([...document.querySelectorAll('#tutor-log .msg.notice')].some(n => n.textContent.includes('Reconnecting'))) window.__reconnecting = true;
		}).observe(document.querySelector('#tutor-log'), {subtree: true, childList: true});
		return true;
	})()`)

	// Chromium holds the streamed answer at its headers; the test answers
	// the page itself with what the tutor had sent by then and ends it.
	ctx, cancel := context.WithCancel(b.Ctx)
	defer cancel()
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(b.Ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/api/v1/chatkit", RequestStage: fetch.RequestStageResponse},
	}}); err != nil {
		t.Fatal(err)
	}
	cut := make(chan error, 1)
	go func() {
		for ev, err := range paused {
			if err != nil {
				cut <- err
				return
			}
			stream := false
			for _, h := range ev.ResponseHeaders {
				stream = stream || strings.EqualFold(h.Name, "content-type") && strings.HasPrefix(h.Value, "text/event-stream")
			}
			if !stream {
				_, _ = chromedp.Call(b.Ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			err := truncate(b.Ctx, l.AccessToken, &ev)
			_, _ = chromedp.Call(b.Ctx, fetch.Disable, cdp.Empty{})
			cut <- err
			return
		}
	}()
	b.Do("ask", chromedp.SendKeys(css(`#tutor-input`), "Walk me through it [long]"+kb.Enter))
	select {
	case err := <-cut:
		if err != nil {
			t.Fatalf("cutting the stream: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the streamed answer never reached the browser")
	}
	want := strings.TrimSpace(strings.Repeat("Think about it step by step. ", 12) + "Done.")
	a.wait("the whole answer", fmt.Sprintf(`document.querySelector('#tutor-log .msg.assistant:last-child .md')?.textContent === %q`, want))
	if !e2etest.Eval[bool](b, `window.__reconnecting`) {
		t.Fatal("the widget never said it was reconnecting")
	}
	if n := e2etest.Eval[int](b, `document.querySelectorAll('#tutor-log .msg.assistant').length`); n != 2 {
		t.Fatalf("%d answers shown, want 2", n)
	}
	if e2etest.Eval[bool](b, `[...document.querySelectorAll('#tutor-log .msg.notice')].some(n => n.textContent.includes('Reconnecting'))`) {
		t.Fatal("the reconnecting notice stayed")
	}
}

// truncate answers the paused stream with its first events as the tutor
// sent them (the stored user message, the answer's first words) and ends
// it there, as a dropped connection does.
func truncate(ctx context.Context, token string, ev *fetch.EventRequestPaused) error {
	var p struct {
		Params struct {
			ThreadID string `json:"thread_id"`
		} `json:"params"`
	}
	if entries := ev.Request.PostDataEntries; len(entries) > 0 {
		var raw []byte
		for _, e := range entries {
			raw = append(raw, e.Bytes...)
		}
		_ = json.Unmarshal(raw, &p)
	}
	if p.Params.ThreadID == "" {
		return fmt.Errorf("not a message to a thread: %+v", ev.Request)
	}
	// The user message is stored before the stream starts.
	body, _ := json.Marshal(map[string]any{"type": "items.list", "params": map[string]any{"thread_id": p.Params.ThreadID, "limit": 1, "order": "desc"}})
	req, _ := http.NewRequest("POST", strings.TrimSuffix(ev.Request.URL, "/"), strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var items struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&items); err != nil || len(items.Data) != 1 {
		return fmt.Errorf("items.list: %v %d", err, len(items.Data))
	}
	frames := []string{
		`{"type":"thread.item.done","item":` + string(items.Data[0]) + `}`,
		`{"type":"stream_options","stream_options":{"allow_cancel":false}}`,
		`{"type":"thread.item.added","item":{"type":"assistant_message","id":"msg_partial","thread_id":"` + p.Params.ThreadID + `","created_at":"2026-01-01T00:00:00Z","content":[]}}`,
		`{"type":"thread.item.updated","item_id":"msg_partial","update":{"type":"assistant_message.content_part.text_delta","content_index":0,"delta":"Think about it "}}`,
	}
	var out strings.Builder
	for _, f := range frames {
		out.WriteString("data: " + f + "\n\n")
	}
	_, err = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
		RequestID: ev.RequestID, ResponseCode: 200, ResponseHeaders: ev.ResponseHeaders, Body: []byte(out.String()),
	})
	return err
}

// lowContrast lists visible text whose contrast with its background is
// under WCAG AA: 4.5:1, or 3:1 for large text (disabled controls exempt).
const lowContrast = `(() => {
	const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
	const parse = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(',').map(parseFloat); return {rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1}; };
	const bg = el => {
		const layers = [];
		for (let e = el; e; e = e.parentElement) {
			const c = parse(getComputedStyle(e).backgroundColor);
			if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
		}
		let col = [255, 255, 255];
		for (const l of layers.reverse()) col = col.map((v, i) => l.rgb[i] * l.a + v * (1 - l.a));
		return col;
	};
	const bad = [];
	let checked = 0;
	for (const el of document.querySelectorAll('body *')) {
		if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
		const r = el.getBoundingClientRect();
		const cs = getComputedStyle(el);
		if (!r.width || !r.height || cs.visibility === 'hidden' || el.closest('[hidden], .sr-only, :disabled')) continue;
		const b = bg(el), fg = parse(cs.color);
		const f = fg.rgb.map((v, i) => v * fg.a + b[i] * (1 - fg.a));
		const L1 = lum(f), L2 = lum(b);
		const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
		const size = parseFloat(cs.fontSize), large = size >= 24 || (parseInt(cs.fontWeight) >= 700 && size >= 18.66);
		checked++;
		if (ratio < (large ? 3 : 4.5)) bad.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
	}
	return {checked, bad};
})()`

type contrast struct {
	Checked int      `json:"checked"`
	Bad     []string `json:"bad"`
}

// Every visible text on the pages and in the widget (messages, notices,
// errors, banners, stage badges) meets WCAG AA contrast.
func TestContrast(t *testing.T) {
	l := verified(t)
	a := newApp(t)
	b := a.b
	check := func(where string) {
		t.Helper()
		c := e2etest.Eval[contrast](b, lowContrast)
		if c.Checked < 5 || len(c.Bad) > 0 {
			t.Errorf("%s: %d texts checked, below AA: %v", where, c.Checked, c.Bad)
		}
	}
	b.Do("landing", chromedp.Navigate(a.base+"/"), chromedp.WaitEnabled(css(`#sign-in`)))
	check("landing")
	a.signIn(l.Email, l.Password)
	b.Do("course", e2etest.Click(`header nav a[href="/courses"]`), chromedp.WaitVisible(css(`main[data-page="courses"] a[href="/courses/go-basics"]`)),
		e2etest.Click(`a[href="/courses/go-basics"]`), chromedp.WaitVisible(css(`#enroll`)))
	b.Do("start", e2etest.Click(`#enroll`), chromedp.WaitVisible(css(`#stages .stage.unlocked`)))
	check("course page")
	b.Do("lesson", e2etest.Click(`a[href="/courses/go-basics/values-and-variables"]`), chromedp.WaitVisible(css(`#lesson-body h2`)))
	b.Do("widget", e2etest.Click(`#tutor-open`), chromedp.WaitVisible(css(`#tutor-input`)))
	a.send("Is this readable? [quick]")
	b.Do("threads", e2etest.Click(`#tutor-threads-toggle`), chromedp.WaitVisible(css(`#tutor-threads button[data-thread]`)))
	a.eval(`(() => { document.querySelector('#tutor-error [data-text]').textContent = 'Example error'; document.querySelector('#tutor-error').hidden = false; return true })()`)
	check("lesson with the widget")
}
