package e2etest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium (or another Chromium on PATH).
func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: on Debian `apt-get install chromium` (make test does this as root)")
}

// Browser is one headless Chromium with a fresh profile, and the screenshots
// taken along the way, written to disk only when the test fails.
type Browser struct {
	Ctx   context.Context
	t     testing.TB
	shots []shot
}

type shot struct {
	name string
	png  []byte
}

// NewBrowser starts headless Chromium for t; it is closed when t ends.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	Need(t)
	path, err := chromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	b := &Browser{Ctx: ctx, t: t}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.Shot("at-failure")
		}
		// E2E_SCREENSHOTS=always keeps them from good runs too (to look at).
		if t.Failed() || os.Getenv("E2E_SCREENSHOTS") == "always" {
			b.saveShots()
		}
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return b
}

// Do runs actions, failing the test (with a screenshot) on error.
func (b *Browser) Do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
		b.t.Fatalf("%s: %v (at %s)", step, err, loc)
	}
}

// stepTimeout bounds one step, so a page that never shows what a step
// waits for fails the test quickly (with a screenshot) instead of at the
// browser's overall deadline.
const stepTimeout = 30 * time.Second

// Get runs one action that returns a value, failing the test on error.
func Get[T any](b *Browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.Ctx, a)
	if err != nil {
		loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
		b.t.Fatalf("%s: %v (at %s)", step, err, loc)
	}
	return v
}

// Eval evaluates JavaScript in the page.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	return Get(b, expr, chromedp.Evaluate[T](expr))
}

// Shot keeps a full-page screenshot under name.
func (b *Browser) Shot(name string) {
	ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		b.shots = append(b.shots, shot{name, png})
	}
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

func (b *Browser) saveShots() {
	root, err := filepath.Abs(filepath.Join(Stack.Root, ".data", "test", "screenshots", unsafeName.ReplaceAllString(b.t.Name(), "_")))
	if err != nil || os.MkdirAll(root, 0o755) != nil {
		return
	}
	for i, s := range b.shots {
		name := fmt.Sprintf("%02d-%s.png", i+1, unsafeName.ReplaceAllString(s.name, "_"))
		_ = os.WriteFile(filepath.Join(root, name), s.png, 0o644)
	}
	b.t.Logf("screenshots: %s", root)
}

// Text returns the visible text of the first element matching the CSS selector.
// The read is one script in the page, so an element that scripts replace
// between a query and a read (a header re-rendered after sign-in) cannot
// make it fail; it waits up to a step's time for the element to appear.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	js := "(() => { const e = document.querySelector(" + strconv.Quote(sel) + "); return e ? e.innerText : null })()"
	deadline := time.Now().Add(stepTimeout)
	for {
		v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[*string](js))
		if err == nil && v != nil {
			return strings.TrimSpace(*v)
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
			b.t.Fatalf("read %s: not found (%v) (at %s)", sel, err, loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Value returns the value of the first input matching the CSS selector.
func (b *Browser) Value(sel string) string {
	b.t.Helper()
	return Get(b, "value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// Submit clicks button and waits for the next page to load and show then.
// The old page is marked first, so an element it already had cannot be
// mistaken for the new page's.
func (b *Browser) Submit(step, button, then string) {
	b.t.Helper()
	Eval[bool](b, `(() => { document.documentElement.dataset.stale = "1"; return true })()`)
	b.Do(step,
		Click(button),
		chromedp.WaitNotPresent(chromedp.CSS("html[data-stale]")),
		chromedp.WaitVisible(chromedp.CSS(then)),
	)
}

// Clear empties the input matching the CSS selector.
func (b *Browser) Clear(sel string) {
	b.t.Helper()
	Eval[bool](b, "(() => { const e = document.querySelector("+strconv.Quote(sel)+"); e.value = ''; return true })()")
}

// Location returns the current URL.
func (b *Browser) Location() string {
	b.t.Helper()
	return Get(b, "location", chromedp.Location())
}

// Click clicks the first element matching the CSS selector from inside the
// page, in one script, waiting for the element to exist. Unlike
// chromedp.Click it cannot fail on an element a page script re-rendered
// between finding and clicking it ("could not find node").
func Click(sel string) chromedp.Action[chromedp.Void] {
	js := "(() => { const e = document.querySelector(" + strconv.Quote(sel) + "); if (!e) return false; e.click(); return true })()"
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			ok, err := chromedp.Evaluate[bool](js)(ctx, t)
			if err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("click %s: %w", sel, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// TextMatching waits until the text of the element matching sel satisfies
// re (pages update some text after an answer ends) and returns it; on
// timeout it returns the last text read, for the test to report.
func (b *Browser) TextMatching(sel string, re *regexp.Regexp) string {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := b.Text(sel)
		if re.MatchString(got) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}
