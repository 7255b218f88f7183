package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// hydraKey is an RSA-4096 key, the size Hydra generates for its JWT
// signing keys: the RSA check costs 5-10 times an RSA-2048 one, which is
// what the cache of verified tokens saves. Generated once (seconds).
var hydraKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		panic(err)
	}
	return k
})

// BenchmarkValidation compares the bare RSA-4096 verification (SHA-256 +
// rsa.VerifyPKCS1v15) of a valid token's signing input with:
//   - validate: Validate without HTTP and without the cache;
//   - middleware: RequireUser with the cache disabled (an httptest recorder
//     per request), reporting raw/middleware, the share of its time that is
//     the unavoidable crypto (goal: at least 0.7);
//   - cached: RequireUser with the cache on, the same token every time, as
//     a learner's requests send it, reporting raw/cached, how many times
//     cheaper a request is once its token was verified (goal: at least
//     20);
//   - cached_parallel: the same from every GOMAXPROCS goroutine at once,
//     which the sharded cache should keep free of lock contention.
//
// Every ratio divides figures measured in the same run. It uses the real
// clock.
func BenchmarkValidation(b *testing.B) {
	key := hydraKey()
	tok := sign(b, jwa.RS256, key, kidA, claimsAt(time.Now()))
	validator := func(cacheSize int) *Validator {
		fx := newFixture(b, func(c *Config) { c.Now = time.Now; c.CacheSize = cacheSize })
		fx.srv.serve(b, map[string]*rsa.PrivateKey{kidA: key})
		if err := fx.v.Ready(context.Background()); err != nil {
			b.Fatal(err)
		}
		return fx.v
	}
	uncached, cached := validator(-1), validator(0)
	parts := strings.Split(tok, ".")
	input := []byte(parts[0] + "." + parts[1])
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		b.Fatal(err)
	}

	// One request per token for all iterations (the middleware changes
	// only identity headers, which it has none of), so the figures are the
	// middleware's, not httptest's.
	request := func(tok string) *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/chatkit", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	}
	handle := func(b *testing.B, h http.Handler, req *http.Request) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	hUncached, hCached := RequireUser(uncached)(ok), RequireUser(cached)(ok)
	req := request(tok)
	serve := func(b *testing.B) { handle(b, hUncached, req) }
	serveCached := func(b *testing.B) { handle(b, hCached, req) }
	rawVerify := func(b *testing.B) {
		sum := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}

	var rawNs float64
	b.Run("raw_rsa_verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rawVerify(b)
		}
		rawNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(1e9/rawNs, "verifications/s")
	})
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			if _, err := uncached.Validate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(1e9/ns, "validations/s")
		if rawNs > 0 {
			b.ReportMetric(rawNs/ns, "raw/validate")
		}
	})
	b.Run("middleware", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b)
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(1e9/ns, "validations/s")
		if rawNs > 0 {
			b.ReportMetric(rawNs/ns, "raw/middleware")
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		serveCached(b) // the one verification, outside the timing
		for b.Loop() {
			serveCached(b)
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(1e9/ns, "validations/s")
		if rawNs > 0 {
			b.ReportMetric(rawNs/ns, "raw/cached")
		}
	})
	b.Run("cached_parallel", func(b *testing.B) {
		// Learners send different tokens: one per goroutine, each verified
		// once before the timing starts.
		procs := runtime.GOMAXPROCS(0)
		reqs := make([]*http.Request, procs)
		for i := range reqs {
			reqs[i] = request(sign(b, jwa.RS256, key, kidA, with(claimsAt(time.Now()), "sub", fmt.Sprint("learner-", i))))
			handle(b, hCached, reqs[i])
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			req := reqs[int(next.Add(1)-1)%procs]
			for pb.Next() {
				handle(b, hCached, req)
			}
		})
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(1e9/ns, "validations/s")
	})
	// On a shared machine the load drifts between sub-benchmarks; this one
	// alternates the operations so all see the same conditions.
	b.Run("interleaved", func(b *testing.B) {
		serveCached(b)
		var rawT, mwT, cachedT time.Duration
		for b.Loop() {
			t0 := time.Now()
			rawVerify(b)
			t1 := time.Now()
			serve(b)
			t2 := time.Now()
			serveCached(b)
			cachedT += time.Since(t2)
			mwT += t2.Sub(t1)
			rawT += t1.Sub(t0)
		}
		b.ReportMetric(float64(rawT.Nanoseconds())/float64(b.N), "raw-ns/op")
		b.ReportMetric(float64(mwT.Nanoseconds())/float64(b.N), "middleware-ns/op")
		b.ReportMetric(float64(cachedT.Nanoseconds())/float64(b.N), "cached-ns/op")
		b.ReportMetric(float64(rawT)/float64(mwT), "raw/middleware")
		b.ReportMetric(float64(rawT)/float64(cachedT), "raw/cached")
	})
}
