package host

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/internal/memstore"
)

// BenchmarkCallOverhead measures what running a retriever as a plugin
// costs per call: the same in-memory retriever (internal/memstore) called
// in-process, over go-plugin's gRPC transport (AutoMTLS, unix socket), and
// through the host (timeout, metrics, answer checks), alternating in the
// same run. It reports each path's p50 and p99 and the p50 the plugin adds.
// Goal: under 100 µs added at p50.
func BenchmarkCallOverhead(b *testing.B) {
	ctx := context.Background()
	f := newFixture()
	f.opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h := f.start(b, evil(b, "mem", plugins.KindRetriever, "ok"))
	local := memstore.New()
	for _, l := range [][]plugins.Lesson{lessons("go")} {
		if _, err := local.Ingest(ctx, "go", l); err != nil {
			b.Fatal(err)
		}
		ingest(b, h, "go")
	}
	r := h.Retrievers()[0]
	raw, err := r.proc.Client()
	if err != nil {
		b.Fatal(err)
	}
	grpcClient := raw.(plugins.Retriever)
	q := plugins.Query{Text: "how do for loops repeat", Course: "go", MaxStage: 2, TopK: 4}
	paths := []struct {
		name string
		call func() ([]plugins.Chunk, error)
		lat  []time.Duration
	}{
		{name: "inproc", call: func() ([]plugins.Chunk, error) { return local.Search(ctx, q) }},
		{name: "grpc", call: func() ([]plugins.Chunk, error) { return grpcClient.Search(ctx, q) }},
		{name: "host", call: func() ([]plugins.Chunk, error) { return r.Search(ctx, q) }},
	}
	for i := range paths { // warm up
		for range 200 {
			if _, err := paths[i].call(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		for i := range paths {
			start := time.Now()
			got, err := paths[i].call()
			paths[i].lat = append(paths[i].lat, time.Since(start))
			if err != nil || len(got) != 4 {
				b.Fatalf("%s: %v, %d chunks", paths[i].name, err, len(got))
			}
		}
	}
	b.StopTimer()
	pct := func(l []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), l...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(p*float64(len(s)-1))].Nanoseconds()) / 1000
	}
	for _, p := range paths {
		b.ReportMetric(pct(p.lat, 0.5), p.name+"_p50_µs")
		b.ReportMetric(pct(p.lat, 0.99), p.name+"_p99_µs")
	}
	b.ReportMetric(pct(paths[1].lat, 0.5)-pct(paths[0].lat, 0.5), "grpc_added_p50_µs")
	b.ReportMetric(pct(paths[2].lat, 0.5)-pct(paths[0].lat, 0.5), "host_added_p50_µs")
	b.ReportMetric(0, "ns/op")
}
