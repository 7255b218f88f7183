package host

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/learnplatform/platform/plugins/host/internal/pluginlog"
)

// NoticeSearchUnavailable is what the tutor tells a learner when no
// retriever answered (every one is in Result.Failed); the answer goes on
// without course material.
const NoticeSearchUnavailable = "course search is unavailable right now"

// WriteStatus prints statuses as a table, for `tutor plugins list` (no
// health column unless Check filled it in) and `tutor plugins check`.
// Every cell is one short line; why a plugin is down or unhealthy follows
// the table, one line per plugin, so a long or multi-line error neither
// breaks the table nor shows twice.
func WriteStatus(w io.Writer, st []Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	checked := false
	for _, s := range st {
		checked = checked || s.Health != ""
	}
	if checked {
		fmt.Fprintln(tw, "NAME\tKIND\tREQUIRED\tSTATE\tPID\tRESTARTS\tHEALTH\tLATENCY\tSDK\tPATH")
	} else {
		fmt.Fprintln(tw, "NAME\tKIND\tREQUIRED\tSTATE\tPID\tRESTARTS\tSDK\tPATH")
	}
	var notes []string
	for _, s := range st {
		req := "optional"
		if s.Required {
			req = "required"
		}
		pid, sdk := "-", "-"
		if s.PID != 0 {
			pid = fmt.Sprint(s.PID)
		}
		if s.SDK != "" {
			sdk = s.SDK
		}
		why := ""
		if s.State != StateUp && s.LastError != "" {
			why = s.LastError
		}
		if checked {
			health, latency := s.Health, "-"
			switch {
			case s.State != StateUp:
				health = "-" // the call was not made: the reason is the state's
			case s.Health != "ok":
				health, why = "failing", s.Health
				latency = Duration(s.Latency)
			default:
				latency = Duration(s.Latency)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, req, s.State, pid, s.Restarts, health, latency, sdk, s.Path)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.Kind, req, s.State, pid, s.Restarts, sdk, s.Path)
		}
		if why != "" {
			notes = append(notes, s.Name+": "+OneLine(why, 2000))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		if _, err := fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n")); err != nil {
			return err
		}
	}
	return nil
}

// Duration prints d for people: rounded to what matters at its size
// (1.2ms, 35µs, 2.5s), never in bare nanoseconds.
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

// OneLine folds s onto one line (line breaks and tabs become " | " and
// spaces) and cuts it to at most n bytes, for table cells and log lines.
func OneLine(s string, n int) string {
	s = strings.TrimSpace(s)
	s = strings.NewReplacer("\r\n", " | ", "\n", " | ", "\r", " | ", "\t", " ").Replace(s)
	for strings.Contains(s, " |  | ") {
		s = strings.ReplaceAll(s, " |  | ", " | ")
	}
	if len(s) > n {
		s = pluginlog.Cut(s, n-3) + "..."
	}
	return s
}

// Healthy reports whether every plugin answered its health check (Check's
// statuses): what `tutor plugins check` exits 0 on.
func Healthy(st []Status) bool {
	for _, s := range st {
		if s.Health != "ok" {
			return false
		}
	}
	return true
}
