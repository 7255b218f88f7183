package pluginlog

import (
	"sync"
	"time"
)

// Limiter lets one line per key through per interval and counts the
// ones it holds back, so a plugin that fails every call costs a line now
// and then with a count, not a line per call.
type Limiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	next map[string]time.Time
	held map[string]int
}

// NewLimiter lets one line per key through per interval.
func NewLimiter(interval time.Duration) *Limiter {
	return &Limiter{interval: interval, now: time.Now, next: map[string]time.Time{}, held: map[string]int{}}
}

// Allow reports whether a line for key may be logged now and, if so, how
// many were held back since the last one.
func (l *Limiter) Allow(key string) (ok bool, held int) {
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
