package edge

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// BenchmarkSignIn compares a password sign-in (API flow: start the flow,
// post the credentials) through the identity edge, with its lockout checks
// and event log, against the same sign-in straight to Kratos' public port,
// interleaved in one run so both see the same machine. It reports the p50
// of each and their ratio (goal: edge/direct at most 1.15).
//
//	go test -run '^$' -bench SignIn -benchtime 100x ./e2e/edge/
func BenchmarkSignIn(b *testing.B) {
	st := e2etest.Need(b)
	email := e2etest.UniqueEmail("bench")
	e2etest.NewClient(b).Register(email, e2etest.StrongPassword, "")
	edge := e2etest.NewClient(b)
	direct := e2etest.NewClient(b)
	direct.Base = strings.TrimSuffix(st.URL("kratos"), "/")
	signIn := func(cl *e2etest.Client) time.Duration {
		start := time.Now()
		f := cl.NewAPIFlow("login")
		res := cl.Do("POST", "/self-service/login?flow="+f.ID, map[string]any{
			"method": "password", "identifier": email, "password": e2etest.StrongPassword,
		})
		if res.Status != http.StatusOK {
			b.Fatalf("sign-in: %d %s", res.Status, res.Body)
		}
		return time.Since(start)
	}
	signIn(edge) // warm both paths
	signIn(direct)
	var viaEdge, viaKratos []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		viaEdge = append(viaEdge, signIn(edge))
		viaKratos = append(viaKratos, signIn(direct))
	}
	b.StopTimer()
	pe, pk := p50(viaEdge), p50(viaKratos)
	b.ReportMetric(float64(pe.Microseconds())/1000, "edge-p50-ms")
	b.ReportMetric(float64(pk.Microseconds())/1000, "kratos-p50-ms")
	b.ReportMetric(float64(pe)/float64(pk), "edge/kratos-p50")
}

func p50(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
