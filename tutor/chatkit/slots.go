package chatkit

import (
	"sync"
	"time"

	"github.com/learnplatform/platform/tutor"
)

// busyRetryAfter is the Retry-After of a busy refusal: answers take
// seconds, so a few seconds later a slot is likely free.
const busyRetryAfter = 5 * time.Second

// slots bound the answers being written at once: per user and for the
// whole process. A streaming request takes a slot before it does anything
// else (no store call, no quota charge), and the answer gives it back when
// it ends, however it ends: done, failed, timed out or cancelled at
// shutdown. A client that leaves does not end its answer (it is still
// written and stored), so its slot stays taken until the answer ends:
// leaving and asking again cannot exceed the limit.
type slots struct {
	perUser, total int

	mu     sync.Mutex
	inUse  int
	byUser map[string]int
}

func newSlots(perUser, total int) *slots {
	return &slots{perUser: perUser, total: total, byUser: map[string]int{}}
}

// acquire takes a slot for userID, or returns an EBUSY error. release gives
// it back; calling it more than once gives it back once.
func (s *slots) acquire(userID string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser > 0 && s.byUser[userID] >= s.perUser {
		return nil, tutor.Errorf(tutor.EBUSY,
			"the tutor is still writing %d of your answers, the most it writes for one person at a time; wait until one is finished, then send this again", s.byUser[userID])
	}
	if s.total > 0 && s.inUse >= s.total {
		return nil, tutor.Errorf(tutor.EBUSY, "the tutor is answering as many questions as it can right now; please send this again in a few seconds")
	}
	s.inUse++
	s.byUser[userID]++
	var once sync.Once
	return func() { once.Do(func() { s.release(userID) }) }, nil
}

func (s *slots) release(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse--
	if s.byUser[userID]--; s.byUser[userID] <= 0 {
		delete(s.byUser, userID)
	}
}

// inFlight reports the answers being written now, all together and for
// userID.
func (s *slots) inFlight(userID string) (total, user int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUse, s.byUser[userID]
}
