package plugins

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// MaxRequestBytes bounds one request a plugin accepts (an Ingest of a whole
// course is the largest).
const MaxRequestBytes = 64 << 20

// ServeRetriever serves impl as a retriever plugin until the host ends it.
// Call it from main. Run by hand, the binary says it is a plugin and exits.
func ServeRetriever(impl Retriever) { serve(KindRetriever, &RetrieverPlugin{Impl: impl}) }

// ServeGuardrail serves impl as a guardrail plugin until the host ends it.
func ServeGuardrail(impl Guardrail) { serve(KindGuardrail, &GuardrailPlugin{Impl: impl}) }

func serve(kind string, p plugin.Plugin) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{kind: p},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			// A fixed pool of stream workers spares a goroutine per call.
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(MaxRequestBytes), grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))))...)
		},
	})
}

// Logger is a structured logger for plugin code. It writes JSON lines to
// stderr in the shape go-plugin's host parses (hclog's), so the tutor logs
// them at their level, tagged with the plugin's name. Plugins must not
// write to stdout: go-plugin's handshake uses it.
func Logger() *slog.Logger { return NewLogger(stderr) }

// stderr is the process's own standard error, taken before plugin.Serve
// redirects os.Stderr into its gRPC stdio stream: the host reads this one
// line by line and logs it at the line's level.
var stderr = os.Stderr

// NewLogger is Logger writing to w.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				l := strings.ToLower(a.Value.String())
				if l == "warning" {
					l = "warn"
				}
				return slog.String("@level", l)
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}
