package tutor

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// NewID returns prefix_ followed by 20 random hex digits (thr, msg, ctx).
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Clock hands out strictly increasing microsecond times, so items created
// together by one tutor process (a hidden context and the message it goes
// with) keep their order in (created_at, id) pagination.
type Clock struct {
	mu   sync.Mutex
	last time.Time
}

// Now returns the current time, at least one microsecond after the last.
func (c *Clock) Now() time.Time {
	t := time.Now().UTC().Truncate(time.Microsecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.After(c.last) {
		t = c.last.Add(time.Microsecond)
	}
	c.last = t
	return t
}
