package plugins

import (
	"context"
	"errors"
	"fmt"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/learnplatform/platform/plugins/proto"
)

// RetrieverPlugin is the go-plugin Plugin for retrievers: Impl on the
// plugin's side, nothing on the host's.
type RetrieverPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Retriever
}

// GRPCServer registers Impl's adapter.
func (p *RetrieverPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterRetrieverServer(s, &RetrieverGRPCServer{Impl: p.Impl})
	return nil
}

// GRPCClient hands out the host's side.
func (p *RetrieverPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &RetrieverGRPCClient{Client: pb.NewRetrieverClient(c)}, nil
}

// RetrieverGRPCClient is a Retriever, Ingester, Configurer and
// HealthChecker over gRPC. Info is what the plugin said about itself in
// its last Configure answer.
type RetrieverGRPCClient struct {
	Client pb.RetrieverClient
	Info   Info
}

func (c *RetrieverGRPCClient) Configure(ctx context.Context, config []byte) error {
	var md metadata.MD
	_, err := c.Client.Configure(ctx, &pb.ConfigureRequest{Config: config}, grpc.Header(&md))
	c.Info = infoFrom(md)
	return err
}

func (c *RetrieverGRPCClient) Search(ctx context.Context, q Query) ([]Chunk, error) {
	res, err := c.Client.Search(ctx, &pb.SearchRequest{Query: q.Text, Course: q.Course, MaxStage: int32(q.MaxStage), TopK: int32(q.TopK)})
	if err != nil {
		return nil, err
	}
	return chunksFromPB(res.Chunks), nil
}

func (c *RetrieverGRPCClient) Ingest(ctx context.Context, course string, lessons []Lesson) (IngestReport, error) {
	req := &pb.IngestRequest{Course: course, Lessons: make([]*pb.Lesson, len(lessons))}
	for i, l := range lessons {
		req.Lessons[i] = &pb.Lesson{Lesson: l.Lesson, Stage: int32(l.Stage), Title: l.Title, Source: l.Source, ContentHash: l.ContentHash, Chunks: chunksToPB(l.Chunks)}
	}
	res, err := c.Client.Ingest(ctx, req)
	if status.Code(err) == codes.Unimplemented {
		return IngestReport{}, fmt.Errorf("ingest: %w", ErrUnsupported)
	}
	if err != nil {
		return IngestReport{}, err
	}
	return IngestReport{Added: int(res.Added), Updated: int(res.Updated), Unchanged: int(res.Unchanged), Removed: int(res.Removed)}, nil
}

func (c *RetrieverGRPCClient) Health(ctx context.Context) error {
	return healthFromPB(c.Client.Health(ctx, &pb.HealthRequest{}))
}

// RetrieverGRPCServer serves Impl; the optional calls answer by what Impl
// implements.
type RetrieverGRPCServer struct {
	pb.UnimplementedRetrieverServer
	Impl Retriever
}

func (s *RetrieverGRPCServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	announce(ctx, s.Impl)
	return &pb.ConfigureResponse{}, configure(ctx, s.Impl, req.Config)
}

func (s *RetrieverGRPCServer) Search(ctx context.Context, req *pb.SearchRequest) (*pb.SearchResponse, error) {
	cs, err := s.Impl.Search(ctx, Query{Text: req.Query, Course: req.Course, MaxStage: int(req.MaxStage), TopK: int(req.TopK)})
	if err != nil {
		return nil, statusOf(err)
	}
	return &pb.SearchResponse{Chunks: chunksToPB(cs)}, nil
}

func (s *RetrieverGRPCServer) Ingest(ctx context.Context, req *pb.IngestRequest) (*pb.IngestResponse, error) {
	in, ok := s.Impl.(Ingester)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this retriever is not fed by ingestion")
	}
	lessons := make([]Lesson, len(req.Lessons))
	for i, l := range req.Lessons {
		lessons[i] = Lesson{Course: req.Course, Lesson: l.Lesson, Stage: int(l.Stage), Title: l.Title, Source: l.Source, ContentHash: l.ContentHash, Chunks: chunksFromPB(l.Chunks)}
	}
	rep, err := in.Ingest(ctx, req.Course, lessons)
	if err != nil {
		return nil, statusOf(err)
	}
	return &pb.IngestResponse{Added: int32(rep.Added), Updated: int32(rep.Updated), Unchanged: int32(rep.Unchanged), Removed: int32(rep.Removed)}, nil
}

func (s *RetrieverGRPCServer) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	return healthToPB(ctx, s.Impl), nil
}

func chunksToPB(cs []Chunk) []*pb.Chunk {
	out := make([]*pb.Chunk, len(cs))
	for i, c := range cs {
		out[i] = &pb.Chunk{Id: c.ID, Text: c.Text, Source: c.Source, Course: c.Course, Stage: int32(c.Stage), Lesson: c.Lesson, Score: c.Score, Title: c.Title, Section: c.Section, Anchor: c.Anchor}
	}
	return out
}

func chunksFromPB(cs []*pb.Chunk) []Chunk {
	out := make([]Chunk, len(cs))
	for i, c := range cs {
		out[i] = Chunk{ID: c.Id, Text: c.Text, Source: c.Source, Course: c.Course, Stage: int(c.Stage), Lesson: c.Lesson, Score: c.Score, Title: c.Title, Section: c.Section, Anchor: c.Anchor}
	}
	return out
}

// configure applies a configuration to impl, or refuses one it cannot take.
func configure(ctx context.Context, impl any, config []byte) error {
	if c, ok := impl.(Configurer); ok {
		if err := c.Configure(ctx, config); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return nil
	}
	if s := string(config); s != "" && s != "{}" && s != "null" {
		return status.Error(codes.InvalidArgument, "this plugin takes no configuration")
	}
	return nil
}

func healthToPB(ctx context.Context, impl any) *pb.HealthResponse {
	if h, ok := impl.(HealthChecker); ok {
		if err := h.Health(ctx); err != nil {
			return &pb.HealthResponse{Ok: false, Message: err.Error()}
		}
	}
	return &pb.HealthResponse{Ok: true}
}

func healthFromPB(res *pb.HealthResponse, err error) error {
	if err != nil {
		return err
	}
	if !res.Ok {
		if res.Message == "" {
			return errors.New("unhealthy")
		}
		return errors.New(res.Message)
	}
	return nil
}

// statusOf keeps a context error recognisable on the other side.
func statusOf(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Unknown, err.Error())
}
