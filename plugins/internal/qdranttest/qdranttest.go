// Package qdranttest is an in-process stand-in for Qdrant's gRPC API, for
// tests: the subset of the Collections, Points and Qdrant services that
// retriever-qdrant uses, on the server interfaces generated in
// github.com/qdrant/go-client, in memory. Nearest-neighbour queries on a
// named dense (cosine) or sparse (dot product, optionally IDF-weighted)
// vector, payload filters (keyword and integer match, ranges, must /
// should / must_not), upsert, delete by ids or filter, scroll and count.
// Anything else answers UNIMPLEMENTED, so a plugin that starts relying on
// more of Qdrant fails loudly here. docker-compose runs the real Qdrant.
package qdranttest

import (
	"context"
	"math"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server is a running stand-in.
type Server struct {
	// Addr is host:port to point a client at.
	Addr string

	mu          sync.Mutex
	collections map[string]*collection
	// Calls counts requests by method, for tests that check what was asked.
	calls map[string]int
}

type collection struct {
	dense   map[string]*qdrant.VectorParams
	sparse  map[string]*qdrant.SparseVectorParams
	points  map[string]*point
	indexes map[string]qdrant.FieldType
}

type point struct {
	id      *qdrant.PointId
	payload map[string]*qdrant.Value
	dense   map[string][]float32
	sparse  map[string]map[uint32]float32
}

// Start serves on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), collections: map[string]*collection{}, calls: map[string]int{}}
	g := grpc.NewServer()
	qdrant.RegisterCollectionsServer(g, collections{s: s})
	qdrant.RegisterPointsServer(g, points{s: s})
	qdrant.RegisterQdrantServer(g, service{s: s})
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	return s
}

// Calls reports how often method was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Points counts the points of a collection.
func (s *Server) Points(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.collections[name]; c != nil {
		return len(c.points)
	}
	return 0
}

func (s *Server) lock(method string) func() {
	s.mu.Lock()
	s.calls[method]++
	return s.mu.Unlock
}

func (s *Server) get(name string) (*collection, error) {
	c := s.collections[name]
	if c == nil {
		return nil, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
	}
	return c, nil
}

type service struct {
	qdrant.UnimplementedQdrantServer
	s *Server
}

func (q service) HealthCheck(context.Context, *qdrant.HealthCheckRequest) (*qdrant.HealthCheckReply, error) {
	defer q.s.lock("HealthCheck")()
	return &qdrant.HealthCheckReply{Title: "qdrant - in-process test double", Version: "1.17.0"}, nil
}

type collections struct {
	qdrant.UnimplementedCollectionsServer
	s *Server
}

func (c collections) CollectionExists(_ context.Context, r *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	defer c.s.lock("CollectionExists")()
	_, ok := c.s.collections[r.CollectionName]
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: ok}}, nil
}

func (c collections) Create(_ context.Context, r *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	defer c.s.lock("Create")()
	if _, ok := c.s.collections[r.CollectionName]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", r.CollectionName)
	}
	col := &collection{dense: map[string]*qdrant.VectorParams{}, sparse: map[string]*qdrant.SparseVectorParams{},
		points: map[string]*point{}, indexes: map[string]qdrant.FieldType{}}
	if m := r.GetVectorsConfig().GetParamsMap(); m != nil {
		for name, p := range m.Map {
			col.dense[name] = p
		}
	} else if p := r.GetVectorsConfig().GetParams(); p != nil {
		col.dense[""] = p
	}
	for name, p := range r.GetSparseVectorsConfig().GetMap() {
		col.sparse[name] = p
	}
	c.s.collections[r.CollectionName] = col
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

func (c collections) Delete(_ context.Context, r *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	defer c.s.lock("Delete")()
	_, ok := c.s.collections[r.CollectionName]
	delete(c.s.collections, r.CollectionName)
	return &qdrant.CollectionOperationResponse{Result: ok}, nil
}

type points struct {
	qdrant.UnimplementedPointsServer
	s *Server
}

func done() *qdrant.PointsOperationResponse {
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed}}
}

func key(id *qdrant.PointId) string {
	if u := id.GetUuid(); u != "" {
		return u
	}
	return "n:" + strconv.FormatUint(id.GetNum(), 10)
}

func (p points) Upsert(_ context.Context, r *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	defer p.s.lock("Upsert")()
	c, err := p.s.get(r.CollectionName)
	if err != nil {
		return nil, err
	}
	for _, in := range r.Points {
		pt := &point{id: in.Id, payload: in.Payload, dense: map[string][]float32{}, sparse: map[string]map[uint32]float32{}}
		named := in.GetVectors().GetVectors().GetVectors()
		if v := in.GetVectors().GetVector(); v != nil {
			named = map[string]*qdrant.Vector{"": v}
		}
		for name, v := range named {
			switch {
			case v.GetSparse() != nil:
				if c.sparse[name] == nil {
					return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", name)
				}
				sp := v.GetSparse()
				if len(sp.Indices) != len(sp.Values) {
					return nil, status.Error(codes.InvalidArgument, "Wrong input: sparse indices and values differ in length")
				}
				m := map[uint32]float32{}
				for i, idx := range sp.Indices {
					m[idx] = sp.Values[i]
				}
				pt.sparse[name] = m
			default:
				params := c.dense[name]
				data := v.GetDense().GetData()
				if data == nil {
					//lint:ignore SA1019 older clients still send the deprecated field, and Qdrant accepts it
					data = v.GetData()
				}
				if params == nil {
					return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", name)
				}
				if uint64(len(data)) != params.Size {
					return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", params.Size, len(data))
				}
				pt.dense[name] = data
			}
		}
		c.points[key(in.Id)] = pt
	}
	return done(), nil
}

func (p points) Delete(_ context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	defer p.s.lock("Delete")()
	c, err := p.s.get(r.CollectionName)
	if err != nil {
		return nil, err
	}
	if ids := r.GetPoints().GetPoints(); ids != nil {
		for _, id := range ids.Ids {
			delete(c.points, key(id))
		}
		return done(), nil
	}
	f := r.GetPoints().GetFilter()
	for k, pt := range c.points {
		if match(f, pt.payload) {
			delete(c.points, k)
		}
	}
	return done(), nil
}

func (p points) CreateFieldIndex(_ context.Context, r *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	defer p.s.lock("CreateFieldIndex")()
	c, err := p.s.get(r.CollectionName)
	if err != nil {
		return nil, err
	}
	c.indexes[r.FieldName] = r.GetFieldType()
	return done(), nil
}

func (p points) Count(_ context.Context, r *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	defer p.s.lock("Count")()
	c, err := p.s.get(r.CollectionName)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, pt := range c.points {
		if match(r.Filter, pt.payload) {
			n++
		}
	}
	return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: uint64(n)}}, nil
}

// sorted lists the points matching f in id order.
func (c *collection) sorted(f *qdrant.Filter) []*point {
	var out []*point
	for _, pt := range c.points {
		if match(f, pt.payload) {
			out = append(out, pt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i].id) < key(out[j].id) })
	return out
}

func (p points) Scroll(_ context.Context, r *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	defer p.s.lock("Scroll")()
	c, err := p.s.get(r.CollectionName)
	if err != nil {
		return nil, err
	}
	limit := 10
	if r.Limit != nil {
		limit = int(*r.Limit)
	}
	all := c.sorted(r.Filter)
	start := 0
	if r.Offset != nil {
		start = sort.Search(len(all), func(i int) bool { return key(all[i].id) >= key(r.Offset) })
	}
	res := &qdrant.ScrollResponse{}
	for i := start; i < len(all); i++ {
		if len(res.Result) == limit {
			res.NextPageOffset = all[i].id
			break
		}
		res.Result = append(res.Result, &qdrant.RetrievedPoint{Id: all[i].id, Payload: payload(r.WithPayload, all[i].payload)})
	}
	return res, nil
}

func payload(sel *qdrant.WithPayloadSelector, p map[string]*qdrant.Value) map[string]*qdrant.Value {
	switch {
	case sel == nil:
		return nil
	case sel.GetInclude() != nil:
		out := map[string]*qdrant.Value{}
		for _, f := range sel.GetInclude().Fields {
			if v, ok := p[f]; ok {
				out[f] = v
			}
		}
		return out
	case sel.GetEnable():
		return p
	}
	return nil
}

func (p points) Query(_ context.Context, r *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	defer p.s.lock("Query")()
	c, err := p.s.get(r.CollectionName)
	if err != nil {
		return nil, err
	}
	if len(r.Prefetch) > 0 || r.GetQuery().GetNearest() == nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: only nearest queries without prefetch")
	}
	using := r.GetUsing()
	near := r.GetQuery().GetNearest()
	limit := 10
	if r.Limit != nil {
		limit = int(*r.Limit)
	}
	var scored []*qdrant.ScoredPoint
	candidates := c.sorted(r.Filter)
	switch {
	case near.GetSparse() != nil:
		params := c.sparse[using]
		if params == nil {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", using)
		}
		q := near.GetSparse()
		idf := func(uint32) float64 { return 1 }
		if params.GetModifier() == qdrant.Modifier_Idf {
			df := map[uint32]int{}
			n := 0
			for _, pt := range c.points {
				if v, ok := pt.sparse[using]; ok {
					n++
					for idx := range v {
						df[idx]++
					}
				}
			}
			idf = func(i uint32) float64 {
				return math.Log((float64(n)-float64(df[i])+0.5)/(float64(df[i])+0.5) + 1)
			}
		}
		for _, pt := range candidates {
			v, ok := pt.sparse[using]
			if !ok {
				continue
			}
			score := 0.0
			for i, idx := range q.Indices {
				if w, ok := v[idx]; ok {
					score += float64(w) * float64(q.Values[i]) * idf(idx)
				}
			}
			if score > 0 { // sparse search returns only overlapping points
				scored = append(scored, &qdrant.ScoredPoint{Id: pt.id, Score: float32(score), Payload: payload(r.WithPayload, pt.payload)})
			}
		}
	case near.GetDense() != nil:
		params := c.dense[using]
		q := near.GetDense().GetData()
		if params == nil {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", using)
		}
		if uint64(len(q)) != params.Size {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", params.Size, len(q))
		}
		for _, pt := range candidates {
			v, ok := pt.dense[using]
			if !ok {
				continue
			}
			scored = append(scored, &qdrant.ScoredPoint{Id: pt.id, Score: float32(cosine(q, v)), Payload: payload(r.WithPayload, pt.payload)})
		}
	default:
		return nil, status.Error(codes.Unimplemented, "qdranttest: only dense and sparse vectors")
	}
	sort.SliceStable(scored, func(i, j int) bool { return scored[i].Score > scored[j].Score })
	if len(scored) > limit {
		scored = scored[:limit]
	}
	return &qdrant.QueryResponse{Result: scored}, nil
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// match evaluates a filter on a payload (nil matches everything).
func match(f *qdrant.Filter, p map[string]*qdrant.Value) bool {
	if f == nil {
		return true
	}
	for _, c := range f.Must {
		if !cond(c, p) {
			return false
		}
	}
	for _, c := range f.MustNot {
		if cond(c, p) {
			return false
		}
	}
	if len(f.Should) > 0 {
		for _, c := range f.Should {
			if cond(c, p) {
				return true
			}
		}
		return false
	}
	return true
}

func cond(c *qdrant.Condition, p map[string]*qdrant.Value) bool {
	if f := c.GetFilter(); f != nil {
		return match(f, p)
	}
	fc := c.GetField()
	if fc == nil {
		return false // conditions this stand-in does not know never match
	}
	v, ok := p[fc.Key]
	if !ok {
		return false
	}
	if m := fc.GetMatch(); m != nil {
		switch m.GetMatchValue().(type) {
		case *qdrant.Match_Keyword:
			return v.GetStringValue() == m.GetKeyword()
		case *qdrant.Match_Integer:
			return v.GetIntegerValue() == m.GetInteger()
		case *qdrant.Match_Keywords:
			for _, k := range m.GetKeywords().Strings {
				if v.GetStringValue() == k {
					return true
				}
			}
		}
		return false
	}
	if r := fc.GetRange(); r != nil {
		var x float64
		switch v.GetKind().(type) {
		case *qdrant.Value_IntegerValue:
			x = float64(v.GetIntegerValue())
		case *qdrant.Value_DoubleValue:
			x = v.GetDoubleValue()
		default:
			return false
		}
		return (r.Lt == nil || x < *r.Lt) && (r.Lte == nil || x <= *r.Lte) && (r.Gt == nil || x > *r.Gt) && (r.Gte == nil || x >= *r.Gte)
	}
	return false
}
