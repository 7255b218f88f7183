package pluginlog

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(10 * time.Second)
	l.now = func() time.Time { return now }
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("first line held")
	}
	for range 5 {
		if ok, _ := l.Allow("a"); ok {
			t.Fatal("repeat let through")
		}
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key held")
	}
	now = now.Add(11 * time.Second)
	if ok, held := l.Allow("a"); !ok || held != 5 {
		t.Fatalf("after the interval: %v, %d held", ok, held)
	}
}

func TestTailLeavesOutDebugLines(t *testing.T) {
	var tb Tail
	fmt.Fprintln(&tb, `{"@level":"debug","@message":"plugin address","@timestamp":"2026-01-01T00:00:00.000000Z","address":"/tmp/x","network":"unix"}`)
	fmt.Fprintln(&tb, `{"@level":"error","@message":"cannot open","@timestamp":"2026-01-01T00:00:00.000000Z","file":"data.json"}`)
	fmt.Fprintln(&tb, "panic: boom")
	if got := tb.String(); got != "error: cannot open file=data.json | panic: boom" {
		t.Errorf("tail %q", got)
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc"},
		{"héllo", 2, "h"}, // é is two bytes: not split
		{"héllo", 3, "hé"},
	} {
		if got := Cut(tc.s, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
