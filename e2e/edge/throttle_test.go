package edge

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// One address failing against many accounts is blocked for a while without
// locking any of those accounts; the block lifts by itself.
func TestAddressThrottle(t *testing.T) {
	c, email := newAccount(t, "throttle-victim")
	var failures int
	err := db(t).QueryRow(context.Background(), "SELECT failures FROM login_ip_throttle WHERE ip = '127.0.0.1'").Scan(&failures)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	need := ipMaxFailures - failures
	if need < 1 {
		t.Fatalf("the address already has %d failures", failures)
	}
	// Wrong passwords against many made-up accounts, eight at a time.
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				login(t, e2etest.NewClient(t), e2etest.UniqueEmail("nobody"), wrongPassword)
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
	throttled := eventsFor(t, url.Values{"type": {"ip.throttled"}}, func(es []event) bool { return len(es) > 0 })
	if len(throttled) != 1 || throttled[0].IP != "127.0.0.1" {
		t.Fatalf("ip.throttled events: %+v", throttled)
	}
	var locked int
	if err := db(t).QueryRow(context.Background(), "SELECT count(*) FROM login_lockouts WHERE identifier = $1 AND locked_until > now()", email).Scan(&locked); err != nil {
		t.Fatal(err)
	}
	if locked != 0 {
		t.Fatal("throttling the address locked the victim's account")
	}
	retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	time.Sleep(time.Duration(retry)*time.Second + 200*time.Millisecond)
	if res := login(t, c, email, e2etest.StrongPassword); res.Status != http.StatusOK {
		t.Fatalf("after the block: %d %s", res.Status, res.Body)
	}
}
