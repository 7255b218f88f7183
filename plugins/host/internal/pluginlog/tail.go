package pluginlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Tail keeps the last lines a plugin wrote to stderr, for error messages.
// Debug and trace lines in hclog's JSON (go-plugin's own mTLS and address
// chatter, and the plugin's debug logging) are left out; the other JSON
// lines are shown as their level, message and fields.
type Tail struct {
	mu    sync.Mutex
	lines []string
	part  strings.Builder
}

func (t *Tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range string(b) {
		if c == '\n' {
			if line, ok := tailLine(t.part.String()); ok {
				t.lines = append(t.lines, line)
				if len(t.lines) > 5 {
					t.lines = t.lines[1:]
				}
			}
			t.part.Reset()
			continue
		}
		if t.part.Len() < 2000 {
			t.part.WriteRune(c)
		}
	}
	return len(b), nil
}

// tailLine is how a stderr line is shown, and whether at all.
func tailLine(line string) (string, bool) {
	line = strings.TrimSpace(line)
	if line == "" {
		return "", false
	}
	if !strings.HasPrefix(line, "{") {
		return Cut(line, 500), true
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return Cut(line, 500), true
	}
	level, _ := m["@level"].(string)
	if level == "debug" || level == "trace" {
		return "", false
	}
	msg, _ := m["@message"].(string)
	var keys []string
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	if level != "" {
		b.WriteString(level + ": ")
	}
	b.WriteString(msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, m[k])
	}
	return Cut(b.String(), 500), true
}

// Reset forgets the lines, for a new process.
func (t *Tail) Reset() {
	t.mu.Lock()
	t.lines, t.part = nil, strings.Builder{}
	t.mu.Unlock()
}

// String is the kept lines, joined by " | ".
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls := append([]string{}, t.lines...)
	if line, ok := tailLine(t.part.String()); ok {
		ls = append(ls, line)
	}
	return strings.Join(ls, " | ")
}

// ExitStatus is how a plugin process ended, as go-plugin reports it
// ("exit status 1", "signal: killed"); "" until it ended.
type ExitStatus struct {
	mu     sync.Mutex
	status string
}

func (e *ExitStatus) set(s string) {
	e.mu.Lock()
	e.status = s
	e.mu.Unlock()
}

// Get is the exit status, "" while the process runs (or for nil).
func (e *ExitStatus) Get() string {
	if e == nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// LineLogger logs what a plugin writes to os.Stdout or os.Stderr after it
// started serving (go-plugin forwards both), one log line per line.
type LineLogger struct {
	Log    *slog.Logger
	Stream string // "stdout" or "stderr"
	mu     sync.Mutex
	part   []byte
}

func (l *LineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, b...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.Log.Info(string(l.part[:i]), "stream", l.Stream)
		l.part = l.part[i+1:]
	}
	if len(l.part) > 4096 {
		l.Log.Info(string(l.part), "stream", l.Stream)
		l.part = l.part[:0]
	}
	return len(b), nil
}

// Cut shortens s to at most n bytes without splitting a rune.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
