package pluginlog

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogger is go-plugin's logger on top of slog: go-plugin's own messages
// and the plugin's stderr (parsed from hclog JSON when it is) arrive here,
// already tagged with the plugin's name by the slog.Logger.
//
// go-plugin's own messages are debug lines here (the host says what
// happened in its own words), except that the exit status in "plugin
// process exited" is kept for the host's messages. The plugin's lines
// (go-plugin names that logger after the binary) keep their level.
type hclogger struct {
	l          *slog.Logger
	args       []any
	exit       *ExitStatus
	fromPlugin bool
}

// Hclog is go-plugin's logger for one plugin: l is tagged with the
// plugin's name, and exit receives the process's exit status.
func Hclog(l *slog.Logger, exit *ExitStatus) hclog.Logger { return &hclogger{l: l, exit: exit} }

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *hclogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level == hclog.NoLevel {
		level = hclog.Info
	}
	if !h.fromPlugin {
		if msg == "plugin process exited" && h.exit != nil {
			st := "exit status 0"
			for i := 0; i+1 < len(args); i += 2 {
				if args[i] == "error" {
					st = fmt.Sprint(args[i+1])
				}
			}
			h.exit.set(st)
		}
		level = hclog.Debug
	}
	lv := slogLevel(level)
	if !h.l.Enabled(context.Background(), lv) {
		return
	}
	all := append(append([]any{}, h.args...), args...)
	for i := 0; i+1 < len(all); i += 2 {
		if all[i] == "plugin" { // go-plugin's key for the binary; ours names the plugin
			all[i] = "path"
		}
	}
	h.l.Log(context.Background(), lv, msg, all...)
}
func (h *hclogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *hclogger) enabled(l hclog.Level) bool {
	return h.l.Enabled(context.Background(), slogLevel(l))
}
func (h *hclogger) IsTrace() bool      { return h.enabled(hclog.Trace) }
func (h *hclogger) IsDebug() bool      { return h.enabled(hclog.Debug) }
func (h *hclogger) IsInfo() bool       { return h.enabled(hclog.Info) }
func (h *hclogger) IsWarn() bool       { return h.enabled(hclog.Warn) }
func (h *hclogger) IsError() bool      { return h.enabled(hclog.Error) }
func (h *hclogger) ImpliedArgs() []any { return h.args }
func (h *hclogger) Name() string       { return "" }
func (h *hclogger) Named(string) hclog.Logger {
	c := *h
	c.fromPlugin = true
	return &c
}
func (h *hclogger) ResetNamed(name string) hclog.Logger { return h.Named(name) }
func (h *hclogger) SetLevel(hclog.Level)                {}
func (h *hclogger) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any{}, h.args...), args...)
	return &c
}
func (h *hclogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}
func (h *hclogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}
func (h *hclogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelInfo).Writer()
}
