// Package load is the platform's load generator: simulated learners with
// real tokens creating threads and streaming answers through the tutor on
// its own stack, against a local OpenAI-compatible model with a set first
// token latency and token rate. It reports time to first event and history
// loads (p50/p95/p99), errors, the tutor's CPU and memory, and ratios
// against floors measured in the same run: a bare pgx round trip, a raw
// RSA verification of a real token, an in-process retriever call.
//
//	make bench                      # LOAD_LEARNERS=5000 by default there
//	LOAD_LEARNERS=500 LOAD_DURATION=30s go test -run '^$' -bench Load -benchtime 1x -timeout 30m ./e2e/load/
//
// Settings (environment): LOAD_LEARNERS (default 500), LOAD_ACCOUNTS (50),
// LOAD_DURATION (60s of steady load after the ramp), LOAD_RAMP (30s),
// LOAD_THINK (mean think time between messages, 20s), LOAD_FIRST_TOKEN
// (model latency, 0), LOAD_TOKENS (words per answer, 20), LOAD_TOKEN_RATE
// (words per second, 0 = instant).
package load

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent/fakemodel"
	"github.com/learnplatform/platform/tutor/postgres"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	n, err := strconv.Atoi(env(name, strconv.Itoa(def)))
	if err != nil {
		panic(name + ": " + err.Error())
	}
	return n
}

func envDur(name string, def time.Duration) time.Duration {
	d, err := time.ParseDuration(env(name, def.String()))
	if err != nil {
		panic(name + ": " + err.Error())
	}
	return d
}

func benchmarking() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.bench") {
			return true
		}
	}
	return false
}

func TestMain(m *testing.M) {
	if !benchmarking() {
		os.Exit(m.Run()) // only the benchmark starts the (large) stack
	}
	// Thousands of streams need thousands of descriptors, here and in the
	// tutor (which inherits the limit through the launcher).
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	first := envDur("LOAD_FIRST_TOKEN", 0)
	words := envInt("LOAD_TOKENS", 20)
	rate := envInt("LOAD_TOKEN_RATE", 0)
	var gap time.Duration
	if rate > 0 {
		gap = time.Second / time.Duration(rate)
	}
	answer := strings.TrimSpace(strings.Repeat("think ", words))
	model := fakemodel.New(func(fakemodel.Request) fakemodel.Script {
		steps := fakemodel.Words(answer, gap)
		if len(steps) > 0 {
			steps[0].Delay += first
		}
		return fakemodel.Script{Steps: steps, PromptTokens: 50, CompletionTokens: int64(words)}
	})
	os.Setenv("TUTOR_MODEL_BASE_URL", model.BaseURL())
	os.Setenv("TUTOR_MODEL_NAME", "load")
	os.Setenv("TUTOR_DAILY_MESSAGES", "100000000") // counted, never reached
	// Learners share accounts here, so several of an account's answers are
	// in flight at once; the per-user and global caps are not under test.
	os.Setenv("TUTOR_CONCURRENT_ANSWERS_PER_USER", "100000")
	os.Setenv("TUTOR_CONCURRENT_ANSWERS", "100000")
	e2etest.Main(m)
}

type sample struct {
	mu  sync.Mutex
	all []time.Duration
}

func (s *sample) add(d time.Duration) { s.mu.Lock(); s.all = append(s.all, d); s.mu.Unlock() }

func (s *sample) pct(p float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), s.all...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[int(float64(len(c)-1)*p)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// chat posts one ChatKit request; for streams it returns the time to the
// first event line after reading the stream to its end.
func chat(hc *http.Client, base, token string, req any, stream bool) (time.Duration, string, error) {
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest("POST", base+"api/v1/chatkit", strings.NewReader(string(body)))
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := hc.Do(r)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return 0, "", fmt.Errorf("status %d", res.StatusCode)
	}
	br := bufio.NewReaderSize(res.Body, 16<<10)
	if !stream {
		_, err := br.WriteTo(discard{})
		return time.Since(start), "", err
	}
	first, threadID := time.Duration(0), ""
	for {
		line, err := br.ReadString('\n')
		if first == 0 && strings.HasPrefix(line, "data: ") {
			first = time.Since(start)
		}
		if threadID == "" && strings.Contains(line, `"thread.created"`) {
			var ev struct {
				Thread struct{ ID string } `json:"thread"`
			}
			json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev)
			threadID = ev.Thread.ID
		}
		if strings.Contains(line, `"type":"error"`) {
			return first, threadID, fmt.Errorf("error event: %s", strings.TrimSpace(line))
		}
		if err != nil {
			break
		}
	}
	if first == 0 {
		return 0, threadID, fmt.Errorf("no event")
	}
	return first, threadID, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func input(text string) map[string]any {
	return map[string]any{"content": []any{map[string]any{"type": "input_text", "text": text}}, "attachments": []any{}, "inference_options": map[string]any{}}
}

func BenchmarkLoad(b *testing.B) {
	st := e2etest.Need(b)
	learners, accounts := envInt("LOAD_LEARNERS", 500), envInt("LOAD_ACCOUNTS", 50)
	duration, ramp, think := envDur("LOAD_DURATION", 60*time.Second), envDur("LOAD_RAMP", 30*time.Second), envDur("LOAD_THINK", 20*time.Second)
	base := st.URL("tutor")
	ctx := context.Background()

	tokens := make([]string, accounts)
	for i := range tokens {
		tokens[i] = e2etest.NewLearner(b, "").AccessToken
	}
	floors := measureFloors(b, tokens[0])

	hc := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: learners + 10, IdleConnTimeout: time.Minute}}
	var ttfe, history sample
	var errCount, messages atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		errCount.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	pid := st.PID("tutor")
	cpu0, _, _ := e2etest.ProcStats(pid)
	var maxRSS atomic.Int64
	stopSampling := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				if _, rss, _ := e2etest.ProcStats(pid); rss > maxRSS.Load() {
					maxRSS.Store(rss)
				}
			}
		}
	}()

	start := time.Now()
	end := start.Add(ramp + duration)
	b.ResetTimer()
	var wg sync.WaitGroup
	for n := 0; n < learners; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(n), 42))
			time.Sleep(time.Duration(int64(ramp) * int64(n) / int64(learners))) // arrive over the ramp
			tok := tokens[n%accounts]
			d, thread, err := chat(hc, base, tok, map[string]any{"type": "threads.create", "metadata": map[string]any{"course": "go-basics"},
				"params": map[string]any{"input": input(fmt.Sprintf("Learner %d: what is a variable?", n))}}, true)
			if err != nil {
				fail(err)
				return
			}
			ttfe.add(d)
			messages.Add(1)
			for i := 0; ; i++ {
				time.Sleep(time.Duration(rnd.Float64() * 2 * float64(think)))
				if time.Now().After(end) {
					return
				}
				d, _, err := chat(hc, base, tok, map[string]any{"type": "threads.add_user_message",
					"params": map[string]any{"thread_id": thread, "input": input(fmt.Sprintf("Learner %d, message %d: and a constant?", n, i))}}, true)
				if err != nil {
					fail(err)
					continue
				}
				ttfe.add(d)
				messages.Add(1)
				if i%4 == 3 { // now and then a learner reloads the thread
					d, _, err := chat(hc, base, tok, map[string]any{"type": "items.list", "params": map[string]any{"thread_id": thread, "limit": 50}}, false)
					if err != nil {
						fail(err)
					} else {
						history.add(d)
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(stopSampling)
	elapsed := time.Since(start)
	cpu1, rss, peak := e2etest.ProcStats(pid)
	_ = ctx

	b.ReportMetric(float64(learners), "learners")
	b.ReportMetric(float64(messages.Load()), "messages")
	b.ReportMetric(float64(errCount.Load()), "errors")
	b.ReportMetric(ms(ttfe.pct(0.50)), "ttfe-p50-ms")
	b.ReportMetric(ms(ttfe.pct(0.95)), "ttfe-p95-ms")
	b.ReportMetric(ms(ttfe.pct(0.99)), "ttfe-p99-ms")
	b.ReportMetric(ms(history.pct(0.50)), "history-p50-ms")
	b.ReportMetric(ms(history.pct(0.99)), "history-p99-ms")
	b.ReportMetric(float64(cpu1-cpu0)/float64(elapsed), "tutor-cpu-cores")
	b.ReportMetric(float64(max(maxRSS.Load(), rss))/(1<<20), "tutor-rss-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "tutor-peak-rss-MiB")
	fmt.Printf("\nload: %d learners on %d accounts, %s ramp + %s, think %s: %d messages, %d errors\n",
		learners, accounts, ramp, duration, think, messages.Load(), errCount.Load())
	fmt.Printf("load: time to first event p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; history p50 %.1f ms, p99 %.1f ms\n",
		ms(ttfe.pct(.5)), ms(ttfe.pct(.95)), ms(ttfe.pct(.99)), ms(history.pct(.5)), ms(history.pct(.99)))
	fmt.Printf("load: tutor %.2f CPU cores on average, RSS %.0f MiB now, peak %.0f MiB\n",
		float64(cpu1-cpu0)/float64(elapsed), float64(max(maxRSS.Load(), rss))/(1<<20), float64(peak)/(1<<20))
	for _, f := range floors {
		fmt.Printf("load: floor %-28s p50 %8.3f ms; ttfe p50 is %6.1fx it\n", f.name, ms(f.p50), float64(ttfe.pct(.5))/float64(f.p50))
	}
	if e := firstErr.Load(); e != nil {
		fmt.Printf("load: first error: %s\n", e)
	}
}

type floor struct {
	name string
	p50  time.Duration
}

// measureFloors times the irreducible parts of an answer on this machine,
// now: a database round trip, the RSA check of a real token, a retrieval.
func measureFloors(b *testing.B, token string) []floor {
	b.Helper()
	st := e2etest.Need(b)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, st.DSN("platform"))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	timeIt := func(n int, f func()) time.Duration {
		var s sample
		for i := 0; i < n; i++ {
			t := time.Now()
			f()
			s.add(time.Since(t))
		}
		return s.pct(0.5)
	}
	pgRT := timeIt(2000, func() {
		var one int
		if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			b.Fatal(err)
		}
	})
	bits, rsaVerify := e2etest.RSAVerifyCost(b, token)
	retriever := postgres.New(pool)
	retrieve := timeIt(300, func() {
		if _, err := retriever.Retrieve(ctx, tutor.RetrievalQuery{Course: "go-basics", MaxStage: 3, Text: "what is a variable", Limit: 4}); err != nil {
			b.Fatal(err)
		}
	})
	return []floor{{"bare pgx round trip", pgRT}, {fmt.Sprintf("raw RSA-%d verification", bits), rsaVerify}, {"in-process retriever call", retrieve}}
}
