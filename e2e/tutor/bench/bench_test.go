// Package bench measures the tutor on the real stack (`make bench`):
// the time to the first streamed event with 500 learners at once and an
// instant model, loading a 200-item thread against a bare pgx query of the
// same rows in the same run, and the memory an open stream costs. The stack
// starts only when benchmarks run (go test -bench), so `make test` pays
// nothing for this package.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/e2e/tutor/internal/ck"
	"github.com/learnplatform/platform/tutor/agent/fakemodel"
)

func benchmarking() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.bench=") && a != "-test.bench=" {
			return true
		}
	}
	return false
}

func TestMain(m *testing.M) {
	if !benchmarking() {
		os.Exit(m.Run()) // no stack: there are only benchmarks here
	}
	model := fakemodel.New(func(req fakemodel.Request) fakemodel.Script {
		if strings.Contains(req.LastUser(), "[hold]") {
			return fakemodel.Script{Steps: []fakemodel.Step{{Delay: 6 * time.Second, Text: "Done holding."}}}
		}
		return fakemodel.Script{Steps: []fakemodel.Step{{Text: "What do you think?"}}, PromptTokens: 10, CompletionTokens: 4}
	})
	os.Setenv("TUTOR_MODEL_BASE_URL", model.BaseURL())
	os.Setenv("TUTOR_MODEL_NAME", "instant")
	os.Setenv("TUTOR_DAILY_MESSAGES", "1000000") // the quota is still counted, never reached
	// Bursts send several messages per account at once: the caps on answers
	// in flight are not what these benchmarks measure.
	os.Setenv("TUTOR_CONCURRENT_ANSWERS_PER_USER", "10000")
	os.Setenv("TUTOR_CONCURRENT_ANSWERS", "10000")
	e2etest.Main(m)
}

func client(t testing.TB, tok string, conns int) *ck.Client {
	c := ck.New(e2etest.Need(t).URL("tutor"), tok)
	c.HTTP = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: 0}}
	return c
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// firstEvent posts req and returns the time until the first event's line
// arrived, then reads the stream to its end.
func firstEvent(c *ck.Client, req any) (time.Duration, error) {
	start := time.Now()
	res, err := c.Send(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("status %d", res.StatusCode)
	}
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		return 0, fmt.Errorf("first line %q: %v", line, err)
	}
	d := time.Since(start)
	for {
		if _, err := br.ReadString('\n'); err != nil {
			break
		}
	}
	return d, nil
}

// BenchmarkTimeToFirstEvent500 sends one message from each of 500
// learners at once (threads.add_user_message on their own threads, tokens
// validated, quota counted, message stored) and reports the time until
// each stream's first event, over all waves.
func BenchmarkTimeToFirstEvent500(b *testing.B) {
	const learners, accounts = 500, 50
	type seat struct {
		c      *ck.Client
		thread string
	}
	seats := make([]seat, 0, learners)
	for a := range accounts {
		l := ck.Verified(b, "")
		c := client(b, l.AccessToken, learners)
		for range learners / accounts {
			res := c.Do(b, ck.Create(fmt.Sprintf("Warm-up question from account %d", a), map[string]any{"course": "go-basics"}))
			seats = append(seats, seat{c, res.ThreadID(b)})
		}
	}
	report := func(b *testing.B, all []time.Duration) {
		b.ReportMetric(ms(percentile(all, 0.50)), "p50-ms")
		b.ReportMetric(ms(percentile(all, 0.99)), "p99-ms")
		b.ReportMetric(ms(percentile(all, 1)), "max-ms")
		b.ReportMetric(float64(len(all)), "streams")
	}
	// All 500 at the same instant, three waves: the worst case. Beside the
	// latencies it reports what a message costs in CPU (the tutor's, and
	// the whole machine's: client, PostgreSQL, plugins and tutor share the
	// cores; the whole exchange, not only up to the first event) and a
	// floor under the p99 measured now: each first event needs one RSA
	// check of its token, so the 99th percentile one cannot come before 99 %
	// of the wave's RSA checks are done, spread over every core.
	b.Run("burst", func(b *testing.B) {
		var all []time.Duration
		var tutorCPU, busy time.Duration
		tutorPID := e2etest.Need(b).PID("tutor")
		for i := 0; i < b.N*3; i++ {
			tutorBefore, _, _ := e2etest.ProcStats(tutorPID)
			busyBefore := e2etest.MachineBusy()
			var wg sync.WaitGroup
			var mu sync.Mutex
			start := make(chan struct{})
			errs := 0
			for n, s := range seats {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					d, err := firstEvent(s.c, ck.Add(s.thread, fmt.Sprintf("What is a zero value? (%d/%d)", i, n)))
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs++
						return
					}
					all = append(all, d)
				}()
			}
			close(start)
			wg.Wait()
			if errs > 0 {
				b.Fatalf("%d of %d requests failed", errs, learners)
			}
			tutorAfter, _, _ := e2etest.ProcStats(tutorPID)
			tutorCPU += tutorAfter - tutorBefore
			busy += e2etest.MachineBusy() - busyBefore
		}
		report(b, all)
		n, cores := float64(len(all)), float64(runtime.NumCPU())
		b.ReportMetric(ms(tutorCPU)/n, "tutor-cpu-ms/msg")
		b.ReportMetric(ms(busy)/n, "machine-cpu-ms/msg")
		b.ReportMetric(ms(busy)/float64(b.N*3)/cores, "wave-cpu-ms/core")
		_, rsaCost := e2etest.RSAVerifyCost(b, seats[0].c.Token)
		floor := 0.99 * learners * ms(rsaCost) / cores
		b.ReportMetric(floor, "rsa-floor-p99-ms")
		b.ReportMetric(ms(percentile(all, 0.99))/floor, "p99/rsa-floor")
	})
	// 500 learners in a conversation: each sends, reads the answer, thinks
	// for 0-10 s (5 s on average) and sends again, for 20 s.
	b.Run("steady", func(b *testing.B) {
		var all []time.Duration
		var mu sync.Mutex
		var wg sync.WaitGroup
		end := time.Now().Add(time.Duration(b.N) * 20 * time.Second)
		errs := 0
		for n, s := range seats {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(n), 7))
				for i := 0; ; i++ {
					time.Sleep(time.Duration(rnd.Int64N(int64(10 * time.Second))))
					if time.Now().After(end) {
						return
					}
					d, err := firstEvent(s.c, ck.Add(s.thread, fmt.Sprintf("What is a constant? (%d/%d)", i, n)))
					mu.Lock()
					if err != nil {
						errs++
					} else {
						all = append(all, d)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if errs > 0 {
			b.Fatalf("%d requests failed", errs)
		}
		report(b, all)
	})
}

// BenchmarkLoad200ItemThread loads a 200-item thread with items.list (the
// whole HTTP path: token, ownership, keyset query, JSON) and, in the same
// loop, runs the bare pgx query for the same rows, and reports both p99s
// and their ratio.
func BenchmarkLoad200ItemThread(b *testing.B) {
	st := e2etest.Need(b)
	l := ck.Verified(b, "instructor")
	c := client(b, l.AccessToken, 4)
	id := c.Do(b, ck.Create("Question 0 about variables", map[string]any{"course": "go-basics"})).ThreadID(b)
	for i := 1; i < 100; i++ {
		if res := c.Do(b, ck.Add(id, fmt.Sprintf("Question %d about variables", i))); res.Status != 200 {
			b.Fatal(res.Status)
		}
	}
	pool, err := pgxpool.New(context.Background(), st.DSN("platform"))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()
	bare := func() (int, error) {
		rows, err := pool.Query(ctx, `SELECT id, thread_id, type, status, created_at, sources, payload FROM tutor_items
			WHERE thread_id = $1 AND type <> 'hidden_context_item' ORDER BY created_at, id LIMIT 201`, id)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var a, b, c, d string
			var at time.Time
			var s, p []byte
			if err := rows.Scan(&a, &b, &c, &d, &at, &s, &p); err != nil {
				return n, err
			}
			n++
		}
		return n, rows.Err()
	}
	req := ck.Req("items.list", map[string]any{"thread_id": id, "limit": 200, "order": "asc"})
	var tutorD, bareD []time.Duration
	const warmUp, samples = 20, 300
	b.ResetTimer()
	for i := 0; i < warmUp+samples*b.N; i++ {
		if i == warmUp {
			tutorD, bareD = tutorD[:0], bareD[:0]
		}
		t0 := time.Now()
		res := c.Do(b, req)
		tutorD = append(tutorD, time.Since(t0))
		if res.Status != 200 || !strings.Contains(string(res.Body), `"has_more":false`) {
			b.Fatalf("items.list: %d", res.Status)
		}
		t0 = time.Now()
		n, err := bare()
		bareD = append(bareD, time.Since(t0))
		if err != nil || n != 200 {
			b.Fatalf("bare query: %d rows, %v", n, err)
		}
	}
	b.StopTimer()
	tp, bp := percentile(tutorD, 0.99), percentile(bareD, 0.99)
	b.ReportMetric(ms(percentile(tutorD, 0.50)), "tutor-p50-ms")
	b.ReportMetric(ms(tp), "tutor-p99-ms")
	b.ReportMetric(ms(percentile(bareD, 0.50)), "pgx-p50-ms")
	b.ReportMetric(ms(bp), "pgx-p99-ms")
	b.ReportMetric(float64(tp)/float64(bp), "p99-ratio")
}

var (
	heapRE       = regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes ([0-9.e+]+)$`)
	goroutinesRE = regexp.MustCompile(`(?m)^go_goroutines ([0-9.e+]+)$`)
)

// tutorMemory is the tutor's resident set and Go heap in use, in bytes,
// and its goroutines.
func tutorMemory(b *testing.B) (rss, heap, goroutines float64) {
	st := e2etest.Need(b)
	_, rssBytes, _ := e2etest.ProcStats(st.PID("tutor"))
	if rssBytes == 0 {
		b.Fatal("cannot read the tutor's memory from /proc")
	}
	rss = float64(rssBytes)
	res, err := http.Get(st.URL("tutor") + "metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var body strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&body)
	if m := heapRE.FindStringSubmatch(body.String()); m != nil {
		heap, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := goroutinesRE.FindStringSubmatch(body.String()); m != nil {
		goroutines, _ = strconv.ParseFloat(m[1], 64)
	}
	return rss, heap, goroutines
}

// BenchmarkMemoryPerOpenStream opens 300 streams whose model holds its
// first token for seconds, and reports what each costs the tutor.
func BenchmarkMemoryPerOpenStream(b *testing.B) {
	const streams = 300
	l := ck.Verified(b, "instructor")
	c := client(b, l.AccessToken, streams)
	threads := make([]string, streams)
	for i := range threads {
		threads[i] = c.Do(b, ck.Create("Warm-up", map[string]any{"course": "go-basics"})).ThreadID(b)
	}
	var rssPer, heapPer, gPer []float64
	b.ResetTimer()
	for i := 0; i < 2*b.N; i++ {
		time.Sleep(500 * time.Millisecond)
		rss0, heap0, g0 := tutorMemory(b)
		var wg sync.WaitGroup
		opened := make(chan struct{}, streams)
		for _, id := range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := c.Send(ck.Add(id, "[hold] please wait"))
				if err != nil {
					opened <- struct{}{}
					return
				}
				defer res.Body.Close()
				br := bufio.NewReader(res.Body)
				_, _ = br.ReadString('\n') // the stream is open
				opened <- struct{}{}
				for {
					if _, err := br.ReadString('\n'); err != nil {
						return
					}
				}
			}()
		}
		for range streams {
			<-opened
		}
		time.Sleep(time.Second) // every answer is now waiting on the model
		rss1, heap1, g1 := tutorMemory(b)
		rssPer = append(rssPer, (rss1-rss0)/streams)
		heapPer = append(heapPer, (heap1-heap0)/streams)
		gPer = append(gPer, (g1-g0)/streams)
		wg.Wait()
	}
	b.StopTimer()
	sort.Float64s(rssPer)
	sort.Float64s(heapPer)
	b.ReportMetric(rssPer[len(rssPer)/2]/1024, "rss-KiB/stream")
	b.ReportMetric(heapPer[len(heapPer)/2]/1024, "heap-KiB/stream")
	sort.Float64s(gPer)
	b.ReportMetric(gPer[len(gPer)/2], "goroutines/stream")
}
