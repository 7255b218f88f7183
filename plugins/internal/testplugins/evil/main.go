// Command evil is a test plugin that misbehaves on purpose, as EVIL_MODE
// says; EVIL_KIND=guardrail makes it a guardrail. With EVIL_MODE=ok (or
// unset) it is a well-behaved in-memory retriever (internal/memstore) or a
// guardrail with fixed rules. Only tests start it.
package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/internal/memstore"
)

var mode = os.Getenv("EVIL_MODE")

type retriever struct{ *memstore.Store }

func (r retriever) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	honest, err := r.Store.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	chunk := func(id string, stage int) plugins.Chunk {
		return plugins.Chunk{ID: id, Text: "text of " + id, Course: q.Course, Lesson: "l", Stage: stage, Score: 1}
	}
	switch mode {
	case "locked": // stage-3 material and another course's, whatever was asked
		locked := chunk("locked/secret#answer", 3)
		locked.Text = "LOCKED SOLUTION: the answer to the stage-3 exercise"
		other := chunk("other/x#y", 1)
		other.Course = "another-course"
		return append([]plugins.Chunk{locked, other}, honest...), nil
	case "garbage":
		nan := chunk("nan", 1)
		nan.Score = math.NaN()
		return append([]plugins.Chunk{chunk("", 1), nan, chunk("stage0", 0), {ID: "notext", Course: q.Course, Lesson: "l", Stage: 1},
			chunk("dup", 1), chunk("dup", 1)}, honest...), nil
	case "toomany":
		var out []plugins.Chunk
		for i := range q.TopK * 3 {
			out = append(out, chunk(fmt.Sprintf("c%d", i), 1))
		}
		return out, nil
	case "oversized":
		var out []plugins.Chunk
		for i := range 5000 {
			c := chunk(fmt.Sprintf("big%d", i), 1)
			c.Text = strings.Repeat("x", 1024)
			out = append(out, c)
		}
		return out, nil
	case "flood": // thousands of tiny chunks, whatever top_k says
		var out []plugins.Chunk
		for i := range 5000 {
			out = append(out, chunk(fmt.Sprintf("tiny%d", i), 1))
		}
		return out, nil
	case "slow": // ignores its deadline
		time.Sleep(time.Minute)
	case "crash":
		os.Exit(3)
	}
	return honest, nil
}

func (retriever) Configure(_ context.Context, config []byte) error {
	if mode == "bad-config" {
		return errors.New("dsn: missing")
	}
	plugins.Logger().Info("configured", "config", string(config))
	return nil
}

func (retriever) Health(ctx context.Context) error {
	switch mode {
	case "unhealthy":
		return errors.New("database unreachable")
	case "hang-health":
		if _, err := os.Stat(os.Getenv("EVIL_HANG_FILE")); err == nil {
			<-ctx.Done()
			time.Sleep(time.Hour)
		}
	}
	return nil
}

// searchOnly is a retriever that is not fed by ingestion (no Ingest).
type searchOnly struct{ r retriever }

func (s searchOnly) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	return s.r.Search(ctx, q)
}
func (s searchOnly) Configure(ctx context.Context, config []byte) error {
	return s.r.Configure(ctx, config)
}

type guardrail struct{}

func (guardrail) CheckInput(ctx context.Context, in plugins.InputCheck) (plugins.Decision, error) {
	switch mode {
	case "malformed":
		return plugins.Decision{Action: plugins.Block}, nil
	case "slow":
		time.Sleep(time.Minute)
	case "error":
		return plugins.Decision{}, errors.New("rules failed to load")
	}
	d := plugins.Decision{Action: plugins.Allow}
	for _, c := range in.Chunks {
		if strings.Contains(c.Text, "INJECT") {
			d.DropChunks = append(d.DropChunks, c.ID)
			d.Reason = "injection in chunk"
		}
		if strings.Contains(c.Text, "alice@example.org") {
			if d.ChunkRewrites == nil {
				d.ChunkRewrites = map[string]string{}
			}
			d.ChunkRewrites[c.ID] = strings.ReplaceAll(c.Text, "alice@example.org", "[email]")
		}
	}
	switch {
	case strings.Contains(in.Message, "BLOCKME"):
		return plugins.Decision{Action: plugins.Block, LearnerMessage: "Not that.", Reason: "blockme"}, nil
	case strings.Contains(in.Message, "REWRITEME"):
		return plugins.Decision{Action: plugins.Rewrite, Text: strings.ReplaceAll(in.Message, "REWRITEME", "[rewritten]"), LearnerMessage: "Edited.", Reason: "rewriteme", DropChunks: d.DropChunks}, nil
	}
	return d, nil
}

func (guardrail) CheckOutput(ctx context.Context, out plugins.OutputCheck) (plugins.Decision, error) {
	switch mode {
	case "malformed":
		return plugins.Decision{Action: plugins.Rewrite, Reason: "no text"}, nil
	case "slow":
		time.Sleep(time.Minute)
	case "error":
		return plugins.Decision{}, errors.New("rules failed to load")
	}
	if strings.Contains(out.Answer, "SOLUTION") {
		return plugins.Decision{Action: plugins.Rewrite, Text: "Here is a hint instead.", Reason: "solution"}, nil
	}
	if strings.Contains(out.Answer, "FORBIDDEN") {
		return plugins.Decision{Action: plugins.Block, LearnerMessage: "I can't say that.", Reason: "forbidden"}, nil
	}
	return plugins.Decision{Action: plugins.Allow}, nil
}

func main() {
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "boom: cannot open data file")
		os.Exit(1)
	case "stdout-garbage":
		fmt.Println("hello, I am not a plugin")
		time.Sleep(time.Second)
		os.Exit(0)
	case "handshake-version":
		hs := plugins.Handshake
		hs.ProtocolVersion = 99
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: hs, GRPCServer: plugin.DefaultGRPCServer,
			Plugins: plugin.PluginSet{plugins.KindRetriever: &plugins.RetrieverPlugin{Impl: retriever{memstore.New()}}}})
		return
	}
	if os.Getenv("EVIL_KIND") == "guardrail" {
		plugins.ServeGuardrail(guardrail{})
		return
	}
	if os.Getenv("EVIL_NOINGEST") != "" {
		plugins.ServeRetriever(searchOnly{retriever{memstore.New()}})
		return
	}
	plugins.ServeRetriever(retriever{memstore.New()})
}
