package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(1000, 0)
	p := Start(&buf, false, "identities", "users", 30)
	p.now = func() time.Time { return clock }
	p.Step(10, "batch 1 done")
	p.Step(5, "") // no note, within a second: not shown
	clock = clock.Add(2 * time.Second)
	p.Step(5, "")  // a second later: shown
	p.Step(10, "") // the last: shown
	p.Finish()
	want := "identities: 10/30 users (33%) batch 1 done\nidentities: 20/30 users (66%)\nidentities: 30/30 users (100%)\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestProgressBarOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(1000, 0)
	p := Start(&buf, true, "identities", "users", 4)
	p.now = func() time.Time { return clock }
	clock = clock.Add(time.Second)
	p.Step(2, "batch 1 done")
	p.Finish()
	out := buf.String()
	if !strings.Contains(out, "\r\x1b[K") || !strings.Contains(out, "2/4 users (50%)") || !strings.Contains(out, "███████████████░░░░") {
		t.Fatalf("no bar redrawn in place: %q", out)
	}
	if strings.Contains(out, "batch 1 done") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("bar output: %q", out)
	}
}
