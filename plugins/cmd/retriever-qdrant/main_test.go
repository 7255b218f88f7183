package main

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/internal/qdranttest"
	"github.com/learnplatform/platform/plugins/plugintest"
)

// fakeEmbeddings is an OpenAI-compatible embeddings endpoint: 32
// dimensions, a hashed bag of words, so similar texts get similar vectors.
func fakeEmbeddings(t *testing.T, calls *atomic.Int32) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if r.URL.Path != "/v1/embeddings" || r.Header.Get("Authorization") != "Bearer sk-test" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Model != "fake-embed" {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var out struct {
			Data []item `json:"data"`
		}
		for i, text := range req.Input {
			v := make([]float32, 32)
			for _, tok := range Tokens(text) {
				h := fnv.New32()
				h.Write([]byte(tok))
				v[h.Sum32()%32]++
			}
			out.Data = append(out.Data, item{Index: i, Embedding: v})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

func qdrantConfig(t *testing.T, q *qdranttest.Server, collection string) map[string]any {
	host, port, _ := net.SplitHostPort(q.Addr)
	p, _ := strconv.Atoi(port)
	return map[string]any{"host": host, "port": p, "collection": collection}
}

func TestConformanceSparseOnly(t *testing.T) {
	t.Parallel()
	q := qdranttest.Start(t)
	r := plugintest.LaunchRetriever(t, plugintest.Build(t, "."), qdrantConfig(t, q, "sparse"))
	plugintest.Retriever(t, r, nil)
	if q.Calls("CreateFieldIndex") != 3 {
		t.Errorf("payload indexes: %d", q.Calls("CreateFieldIndex"))
	}
}

func TestConformanceHybrid(t *testing.T) {
	t.Parallel()
	q := qdranttest.Start(t)
	var calls atomic.Int32
	cfg := qdrantConfig(t, q, "hybrid")
	cfg["embeddings"] = map[string]any{"base_url": fakeEmbeddings(t, &calls), "model": "fake-embed", "dimensions": 32}
	r := plugintest.LaunchRetriever(t, plugintest.Build(t, "."), cfg, "EMBEDDINGS_API_KEY=sk-test")
	plugintest.Retriever(t, r, nil)
	if calls.Load() == 0 {
		t.Error("the embeddings endpoint was never asked")
	}
}

// Re-ingesting the same lessons writes nothing: same points, same ids.
func TestIngestionIsIdempotent(t *testing.T) {
	t.Parallel()
	q := qdranttest.Start(t)
	r := plugintest.LaunchRetriever(t, plugintest.Build(t, "."), qdrantConfig(t, q, "idem")).(plugins.Ingester)
	lessons := plugintest.FixtureLessons("go")
	if _, err := r.Ingest(t.Context(), "go", lessons); err != nil {
		t.Fatal(err)
	}
	points, upserts := q.Points("idem"), q.Calls("Upsert")
	if points != 6 {
		t.Fatalf("%d points", points)
	}
	rep, err := r.Ingest(t.Context(), "go", lessons)
	if err != nil || rep != (plugins.IngestReport{Unchanged: 3}) {
		t.Fatalf("%+v %v", rep, err)
	}
	if q.Points("idem") != points || q.Calls("Upsert") != upserts {
		t.Errorf("second ingest wrote: %d points, %d upserts", q.Points("idem"), q.Calls("Upsert"))
	}
}

func TestPointIDsAreUUIDv5(t *testing.T) {
	// RFC 4122 appendix-style check: UUIDv5 of "python.org" in the DNS namespace.
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got := uuid5(dns, "python.org"); got != "886313e1-3b8a-5372-9b90-0c9aee199e5d" {
		t.Errorf("uuid5 = %s", got)
	}
	// Point ids are v5 UUIDs of the chunk id in the plugin's own namespace
	// (RFC 4122's URL namespace), so re-ingesting a chunk overwrites its
	// point; a change of the id scheme would orphan every stored point.
	// Pinned: Python's uuid.uuid5(uuid.NAMESPACE_URL, "go/values#x").
	if got := PointID("go/values#x"); got != "fb84979f-a481-59a3-bda1-b88b3d01e194" {
		t.Errorf("PointID(go/values#x) = %s, want fb84979f-a481-59a3-bda1-b88b3d01e194", got)
	}
	if PointID("a") == PointID("b") {
		t.Error("two chunks share a point id")
	}
}

func TestSparseVectors(t *testing.T) {
	idx, vals := DocumentVector("Loops repeat. A loop loops; the loops end.")
	if len(idx) != 3 { // loop, repeat, end
		t.Fatalf("%v %v", idx, vals)
	}
	for i := 1; i < len(idx); i++ {
		if idx[i] <= idx[i-1] {
			t.Error("indices not sorted")
		}
	}
	var loop float32
	for i, x := range idx {
		if x == termIndex("loop") {
			loop = vals[i]
		}
		if math.IsNaN(float64(vals[i])) || vals[i] <= 0 || vals[i] > k1+1 {
			t.Errorf("weight %v", vals[i])
		}
	}
	if loop <= vals[0] && loop <= vals[len(vals)-1] {
		t.Errorf("the repeated term does not weigh most: %v", vals)
	}
	if idx, _ := QueryVector("the of and"); len(idx) != 0 {
		t.Error("stop words searched")
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []string{`{"port": 0}`, `{"host": ""}`, `{"collection": ""}`, `{"colour": 1}`,
		`{"embeddings": {"base_url": "ftp://x", "model": "m", "dimensions": 3}}`, `{"embeddings": {"base_url": "http://x", "dimensions": 3}}`,
		`{"embeddings": {"base_url": "http://x", "model": "m"}}`} {
		if err := (&retriever{}).Configure(t.Context(), []byte(cfg)); err == nil {
			t.Errorf("%s accepted", cfg)
		}
	}
}
