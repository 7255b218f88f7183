package plugins

import (
	"context"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/learnplatform/platform/plugins/proto"
)

// GuardrailPlugin is the go-plugin Plugin for guardrails.
type GuardrailPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Guardrail
}

// GRPCServer registers Impl's adapter.
func (p *GuardrailPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterGuardrailServer(s, &GuardrailGRPCServer{Impl: p.Impl})
	return nil
}

// GRPCClient hands out the host's side.
func (p *GuardrailPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &GuardrailGRPCClient{Client: pb.NewGuardrailClient(c)}, nil
}

// GuardrailGRPCClient is a Guardrail, Configurer and HealthChecker over
// gRPC. Info is what the plugin said about itself in its last Configure
// answer.
type GuardrailGRPCClient struct {
	Client pb.GuardrailClient
	Info   Info
}

func (c *GuardrailGRPCClient) Configure(ctx context.Context, config []byte) error {
	var md metadata.MD
	_, err := c.Client.Configure(ctx, &pb.ConfigureRequest{Config: config}, grpc.Header(&md))
	c.Info = infoFrom(md)
	return err
}

func (c *GuardrailGRPCClient) CheckInput(ctx context.Context, in InputCheck) (Decision, error) {
	return decisionFromPB(c.Client.CheckInput(ctx, &pb.CheckInputRequest{Message: in.Message, Context: contextToPB(in.Context), Chunks: chunksToPB(in.Chunks)}))
}

func (c *GuardrailGRPCClient) CheckOutput(ctx context.Context, out OutputCheck) (Decision, error) {
	return decisionFromPB(c.Client.CheckOutput(ctx, &pb.CheckOutputRequest{Message: out.Message, Answer: out.Answer, Context: contextToPB(out.Context), Chunks: chunksToPB(out.Chunks)}))
}

func (c *GuardrailGRPCClient) Health(ctx context.Context) error {
	return healthFromPB(c.Client.Health(ctx, &pb.HealthRequest{}))
}

// GuardrailGRPCServer serves Impl.
type GuardrailGRPCServer struct {
	pb.UnimplementedGuardrailServer
	Impl Guardrail
}

func (s *GuardrailGRPCServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	announce(ctx, s.Impl)
	return &pb.ConfigureResponse{}, configure(ctx, s.Impl, req.Config)
}

func (s *GuardrailGRPCServer) CheckInput(ctx context.Context, req *pb.CheckInputRequest) (*pb.Decision, error) {
	d, err := s.Impl.CheckInput(ctx, InputCheck{Message: req.Message, Context: contextFromPB(req.Context), Chunks: chunksFromPB(req.Chunks)})
	if err != nil {
		return nil, statusOf(err)
	}
	return decisionToPB(d), nil
}

func (s *GuardrailGRPCServer) CheckOutput(ctx context.Context, req *pb.CheckOutputRequest) (*pb.Decision, error) {
	d, err := s.Impl.CheckOutput(ctx, OutputCheck{Message: req.Message, Answer: req.Answer, Context: contextFromPB(req.Context), Chunks: chunksFromPB(req.Chunks)})
	if err != nil {
		return nil, statusOf(err)
	}
	return decisionToPB(d), nil
}

func (s *GuardrailGRPCServer) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	return healthToPB(ctx, s.Impl), nil
}

func decisionToPB(d Decision) *pb.Decision {
	return &pb.Decision{Action: pb.Decision_Action(d.Action), Text: d.Text, LearnerMessage: d.LearnerMessage, Reason: d.Reason, DropChunkIds: d.DropChunks, ChunkRewrites: d.ChunkRewrites}
}

func decisionFromPB(d *pb.Decision, err error) (Decision, error) {
	if err != nil {
		return Decision{}, err
	}
	return Decision{Action: Action(d.Action), Text: d.Text, LearnerMessage: d.LearnerMessage, Reason: d.Reason, DropChunks: d.DropChunkIds, ChunkRewrites: d.ChunkRewrites}, nil
}

func contextToPB(c Context) *pb.Context {
	h := make([]*pb.Turn, len(c.History))
	for i, t := range c.History {
		h[i] = &pb.Turn{Role: t.Role, Text: t.Text}
	}
	return &pb.Context{Course: c.Course, Lesson: c.Lesson, Stage: int32(c.Stage), PageTitle: c.PageTitle, History: h}
}

func contextFromPB(c *pb.Context) Context {
	if c == nil {
		return Context{}
	}
	h := make([]Turn, len(c.History))
	for i, t := range c.History {
		h[i] = Turn{Role: t.Role, Text: t.Text}
	}
	return Context{Course: c.Course, Lesson: c.Lesson, Stage: int(c.Stage), PageTitle: c.PageTitle, History: h}
}
