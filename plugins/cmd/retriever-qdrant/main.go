// Command retriever-qdrant is a hybrid retriever on Qdrant: every chunk is
// a point with a sparse BM25-style vector computed here (bm25.go) and,
// when an OpenAI-compatible embeddings endpoint is configured, a dense
// vector from it. A search runs the sparse and the dense query in
// parallel, each with the payload filter course = current and stage <=
// unlocked, and fuses the two rankings by reciprocal rank (k = 60).
// Ingestion is idempotent: point ids are UUIDv5 of the chunk id, lessons
// whose content hash Qdrant already holds are left alone, changed and
// removed lessons are deleted by filter before the new points go in.
//
// Config (JSON):
//
//	{"host": "127.0.0.1", "port": 6334, "use_tls": false,
//	 "collection": "course_chunks",
//	 "embeddings": {"base_url": "https://api.openai.com/v1",
//	                "model": "text-embedding-3-small", "dimensions": 1536}}
//
// Secrets come from the environment: QDRANT_API_KEY, EMBEDDINGS_API_KEY.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/qdrant/go-client/qdrant"

	"github.com/learnplatform/platform/plugins"
)

type config struct {
	Host       string            `json:"host"`
	Port       int               `json:"port"`
	UseTLS     bool              `json:"use_tls"`
	Collection string            `json:"collection"`
	Embeddings *embeddingsConfig `json:"embeddings"`
}

const (
	sparseName = "bm25"
	denseName  = "dense"
	// rrfK is reciprocal rank fusion's constant.
	rrfK = 60
)

type retriever struct {
	client     *qdrant.Client
	collection string
	embed      *embedder // nil: sparse only
	log        interface{ Warn(string, ...any) }
}

func (r *retriever) Configure(ctx context.Context, raw []byte) error {
	c := config{Host: "127.0.0.1", Port: 6334, Collection: "course_chunks"}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch {
	case c.Host == "":
		return errors.New("host: missing")
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("port: %d is not a port", c.Port)
	case c.Collection == "":
		return errors.New("collection: missing")
	}
	if c.Embeddings != nil {
		e, err := newEmbedder(*c.Embeddings, os.Getenv("EMBEDDINGS_API_KEY"))
		if err != nil {
			return fmt.Errorf("embeddings: %w", err)
		}
		r.embed = e
	}
	client, err := qdrant.NewClient(&qdrant.Config{Host: c.Host, Port: c.Port, UseTLS: c.UseTLS,
		APIKey: os.Getenv("QDRANT_API_KEY"), SkipCompatibilityCheck: true, PoolSize: 1})
	if err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	r.client, r.collection, r.log = client, c.Collection, plugins.Logger()
	if err := r.ensureCollection(ctx); err != nil {
		return fmt.Errorf("qdrant collection %s: %w", c.Collection, err)
	}
	return nil
}

// ensureCollection creates the collection and its payload indexes when
// missing.
func (r *retriever) ensureCollection(ctx context.Context) error {
	ok, err := r.client.CollectionExists(ctx, r.collection)
	if err != nil || ok {
		return err
	}
	create := &qdrant.CreateCollection{
		CollectionName: r.collection,
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{
			sparseName: {Modifier: qdrant.Modifier_Idf.Enum()},
		}),
	}
	if r.embed != nil {
		create.VectorsConfig = qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
			denseName: {Size: uint64(r.embed.cfg.Dimensions), Distance: qdrant.Distance_Cosine},
		})
	}
	if err := r.client.CreateCollection(ctx, create); err != nil {
		return err
	}
	for field, t := range map[string]qdrant.FieldType{"course": qdrant.FieldType_FieldTypeKeyword, "lesson": qdrant.FieldType_FieldTypeKeyword, "stage": qdrant.FieldType_FieldTypeInteger} {
		if _, err := r.client.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: r.collection, FieldName: field, FieldType: t.Enum(), Wait: qdrant.PtrOf(true)}); err != nil {
			return err
		}
	}
	return nil
}

func (r *retriever) Health(ctx context.Context) error {
	if r.client == nil {
		return errors.New("not configured")
	}
	if _, err := r.client.HealthCheck(ctx); err != nil {
		return err
	}
	ok, err := r.client.CollectionExists(ctx, r.collection)
	if err == nil && !ok {
		err = fmt.Errorf("collection %s is gone", r.collection)
	}
	return err
}

// filter is the payload filter of every search: this course, unlocked stages.
func filter(course string, maxStage int) *qdrant.Filter {
	return &qdrant.Filter{Must: []*qdrant.Condition{
		qdrant.NewMatchKeyword("course", course),
		qdrant.NewRange("stage", &qdrant.Range{Lte: qdrant.PtrOf(float64(maxStage))}),
	}}
}

func (r *retriever) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	if r.client == nil {
		return nil, errors.New("not configured")
	}
	if q.MaxStage < 1 || q.TopK < 1 || q.Course == "" {
		return nil, ctx.Err()
	}
	text := q.Text
	if len(text) > 4<<10 {
		text = strings.ToValidUTF8(text[:4<<10], "")
	}
	idx, vals := QueryVector(text)
	if len(idx) == 0 {
		return nil, ctx.Err()
	}
	// Each ranking looks deeper than top_k so fusion has something to fuse.
	depth := uint64(max(q.TopK*4, 20))
	f := filter(q.Course, q.MaxStage)
	var sparse, dense []*qdrant.ScoredPoint
	var sparseErr, denseErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sparse, sparseErr = r.client.Query(ctx, &qdrant.QueryPoints{CollectionName: r.collection, Query: qdrant.NewQuerySparse(idx, vals),
			Using: qdrant.PtrOf(sparseName), Filter: f, Limit: qdrant.PtrOf(depth), WithPayload: qdrant.NewWithPayload(true)})
	}()
	if r.embed != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var vecs [][]float32
			if vecs, denseErr = r.embed.Embed(ctx, []string{text}); denseErr != nil {
				return
			}
			dense, denseErr = r.client.Query(ctx, &qdrant.QueryPoints{CollectionName: r.collection, Query: qdrant.NewQueryDense(vecs[0]),
				Using: qdrant.PtrOf(denseName), Filter: f, Limit: qdrant.PtrOf(depth), WithPayload: qdrant.NewWithPayload(true)})
		}()
	}
	wg.Wait()
	if sparseErr != nil {
		return nil, sparseErr
	}
	if denseErr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The embeddings endpoint or the dense query failed: the sparse
		// ranking alone still answers.
		r.log.Warn("dense search failed; answering from the sparse ranking", "error", denseErr)
		dense = nil
	}
	return fuse(q.TopK, sparse, dense), nil
}

// fuse merges rankings by reciprocal rank fusion; ties go by chunk id so
// answers are deterministic.
func fuse(topK int, rankings ...[]*qdrant.ScoredPoint) []plugins.Chunk {
	byID := map[string]*plugins.Chunk{}
	for _, ranking := range rankings {
		for rank, p := range ranking {
			c := byID[p.Id.GetUuid()]
			if c == nil {
				chunk := chunkOf(p.Payload)
				c = &chunk
				byID[p.Id.GetUuid()] = c
			}
			c.Score += 1 / float64(rrfK+rank+1)
		}
	}
	out := make([]plugins.Chunk, 0, len(byID))
	for _, c := range byID {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > topK {
		out = out[:topK]
	}
	return out
}

func chunkOf(p map[string]*qdrant.Value) plugins.Chunk {
	s := func(k string) string { return p[k].GetStringValue() }
	return plugins.Chunk{ID: s("chunk_id"), Text: s("text"), Source: s("source"), Course: s("course"), Stage: int(p["stage"].GetIntegerValue()),
		Lesson: s("lesson"), Title: s("title"), Section: s("section"), Anchor: s("anchor")}
}

func (r *retriever) Ingest(ctx context.Context, course string, lessons []plugins.Lesson) (plugins.IngestReport, error) {
	var rep plugins.IngestReport
	if r.client == nil {
		return rep, errors.New("not configured")
	}
	if course == "" {
		return rep, errors.New("ingest without a course")
	}
	held, err := r.heldLessons(ctx, course)
	if err != nil {
		return rep, err
	}
	keep := map[string]bool{}
	var write []plugins.Lesson
	var stale []string
	for _, l := range lessons {
		if l.Lesson == "" || l.Stage < 1 {
			return rep, fmt.Errorf("lesson %q: needs a name and a stage >= 1", l.Lesson)
		}
		if keep[l.Lesson] {
			return rep, fmt.Errorf("lesson %q twice", l.Lesson)
		}
		keep[l.Lesson] = true
		switch h, ok := held[l.Lesson]; {
		case !ok:
			rep.Added++
		case h == l.ContentHash && h != "":
			rep.Unchanged++
			continue
		default:
			rep.Updated++
			stale = append(stale, l.Lesson)
		}
		write = append(write, l)
	}
	for name := range held {
		if !keep[name] {
			rep.Removed++
			stale = append(stale, name)
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		_, err := r.client.Delete(ctx, &qdrant.DeletePoints{CollectionName: r.collection, Wait: qdrant.PtrOf(true),
			Points: qdrant.NewPointsSelectorFilter(&qdrant.Filter{Must: []*qdrant.Condition{
				qdrant.NewMatchKeyword("course", course), qdrant.NewMatchKeywords("lesson", stale...)}})})
		if err != nil {
			return rep, err
		}
	}
	var batch []plugins.Chunk
	var hashes []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := r.upsert(ctx, batch, hashes)
		batch, hashes = batch[:0], hashes[:0]
		return err
	}
	for _, l := range write {
		for _, c := range l.Chunks {
			if c.ID == "" {
				return rep, fmt.Errorf("lesson %q: chunk without id", l.Lesson)
			}
			c.Course, c.Lesson, c.Stage, c.Title, c.Source = course, l.Lesson, l.Stage, l.Title, l.Source
			batch, hashes = append(batch, c), append(hashes, l.ContentHash)
			if len(batch) == 64 {
				if err := flush(); err != nil {
					return rep, err
				}
			}
		}
	}
	return rep, flush()
}

// heldLessons reads the content hash of every lesson of the course held.
func (r *retriever) heldLessons(ctx context.Context, course string) (map[string]string, error) {
	held := map[string]string{}
	var offset *qdrant.PointId
	for {
		pts, next, err := r.client.ScrollAndOffset(ctx, &qdrant.ScrollPoints{CollectionName: r.collection, Offset: offset, Limit: qdrant.PtrOf(uint32(256)),
			Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("course", course)}}, WithPayload: qdrant.NewWithPayloadInclude("lesson", "content_hash")})
		if err != nil {
			return nil, err
		}
		for _, p := range pts {
			held[p.Payload["lesson"].GetStringValue()] = p.Payload["content_hash"].GetStringValue()
		}
		if next == nil {
			return held, nil
		}
		offset = next
	}
}

func (r *retriever) upsert(ctx context.Context, chunks []plugins.Chunk, hashes []string) error {
	var dense [][]float32
	if r.embed != nil {
		texts := make([]string, len(chunks))
		for i, c := range chunks {
			texts[i] = c.Section + "\n\n" + c.Text
		}
		var err error
		if dense, err = r.embed.Embed(ctx, texts); err != nil {
			return fmt.Errorf("embeddings: %w", err)
		}
	}
	pts := make([]*qdrant.PointStruct, len(chunks))
	for i, c := range chunks {
		idx, vals := DocumentVector(c.Section + " " + c.Text)
		vectors := map[string]*qdrant.Vector{sparseName: qdrant.NewVectorSparse(idx, vals)}
		if dense != nil {
			vectors[denseName] = qdrant.NewVectorDense(dense[i])
		}
		pts[i] = &qdrant.PointStruct{
			Id:      qdrant.NewIDUUID(PointID(c.ID)),
			Vectors: qdrant.NewVectorsMap(vectors),
			Payload: qdrant.NewValueMap(map[string]any{
				"chunk_id": c.ID, "course": c.Course, "lesson": c.Lesson, "stage": int64(c.Stage), "title": c.Title,
				"section": c.Section, "anchor": c.Anchor, "source": c.Source, "text": c.Text, "content_hash": hashes[i],
			}),
		}
	}
	_, err := r.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: r.collection, Wait: qdrant.PtrOf(true), Points: pts})
	return err
}

func main() { plugins.ServeRetriever(&retriever{}) }
