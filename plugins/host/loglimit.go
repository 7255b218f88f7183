package host

import (
	"sync"
	"time"
)

// logLimiter lets one line per key through per interval and counts the
// ones it holds back, so a plugin that fails every call costs a line now
// and then with a count, not a line per call.
type logLimiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	next map[string]time.Time
	held map[string]int
}

func newLogLimiter(interval time.Duration) *logLimiter {
	return &logLimiter{interval: interval, now: time.Now, next: map[string]time.Time{}, held: map[string]int{}}
}

// allow reports whether a line for key may be logged now and, if so, how
// many were held back since the last one.
func (l *logLimiter) allow(key string) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Before(l.next[key]) {
		l.held[key]++
		return false, 0
	}
	l.next[key] = now.Add(l.interval)
	held = l.held[key]
	delete(l.held, key)
	return true, held
}
