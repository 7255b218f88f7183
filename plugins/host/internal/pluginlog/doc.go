// Package pluginlog is how the plugin host hears its plugins and logs
// about them: go-plugin's logger on top of log/slog (Hclog), the last
// lines of a plugin's stderr for error messages (Tail), its stdout and
// stderr as log lines (LineLogger), its exit status (ExitStatus), and a
// rate limit on repeated warnings (Limiter). Only plugins/host uses it.
package pluginlog
