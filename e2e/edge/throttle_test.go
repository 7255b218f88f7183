package edge

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// One address failing against many accounts is blocked for a while without
// locking any of those accounts; the block lifts by itself. The address is
// one of this test's own (a random 127/8 one), so the block touches no
// other test, whatever order they run in.
func TestAddressThrottle(t *testing.T) {
	_, email := newAccount(t, "throttle-victim")
	ip := e2etest.UniqueLoopback()
	c := e2etest.NewClientFrom(t, ip)
	var failures int
	err := db(t).QueryRow(context.Background(), "SELECT failures FROM login_ip_throttle WHERE ip = $1", ip).Scan(&failures)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	need := ipMaxFailures - failures
	if need < 1 {
		t.Fatalf("the address %s already has %d failures", ip, failures)
	}
	// Wrong passwords against many made-up accounts, eight at a time.
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				login(t, e2etest.NewClientFrom(t, ip), e2etest.UniqueEmail("nobody"), wrongPassword)
			}
		}()
	}
	for i := 0; i < need; i++ {
		work <- i
	}
	close(work)
	wg.Wait()

	res := login(t, c, email, e2etest.StrongPassword)
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	res.JSON(t, &body)
	if res.Status != http.StatusTooManyRequests || body.Error.Code != "too_many_attempts" {
		t.Fatalf("the throttled address signed in: %d %s", res.Status, res.Body)
	}
	fromIP := func(es []event) (out []event) {
		for _, e := range es {
			if e.IP == ip {
				out = append(out, e)
			}
		}
		return out
	}
	throttled := fromIP(eventsFor(t, url.Values{"type": {"ip.throttled"}}, func(es []event) bool { return len(fromIP(es)) > 0 }))
	if len(throttled) != 1 {
		t.Fatalf("ip.throttled events: %+v", throttled)
	}
	var locked int
	if err := db(t).QueryRow(context.Background(), "SELECT count(*) FROM login_lockouts WHERE identifier = $1 AND locked_until > now()", email).Scan(&locked); err != nil {
		t.Fatal(err)
	}
	if locked != 0 {
		t.Fatal("throttling the address locked the victim's account")
	}
	signsInAfter(t, c, email, res)
}
