package host

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// NoticeSearchUnavailable is what the tutor tells a learner when no
// retriever answered (every one is in Result.Failed); the answer goes on
// without course material.
const NoticeSearchUnavailable = "course search is unavailable right now"

// WriteStatus prints statuses as a table, for `tutor plugins list` (no
// health column unless Check filled it in) and `tutor plugins check`.
func WriteStatus(w io.Writer, st []Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	checked := false
	for _, s := range st {
		checked = checked || s.Health != ""
	}
	if checked {
		fmt.Fprintln(tw, "NAME\tKIND\tREQUIRED\tSTATE\tPID\tRESTARTS\tHEALTH\tLATENCY\tPATH")
	} else {
		fmt.Fprintln(tw, "NAME\tKIND\tREQUIRED\tSTATE\tPID\tRESTARTS\tPATH")
	}
	for _, s := range st {
		state := string(s.State)
		if s.LastError != "" && s.State != StateUp {
			state += " (" + s.LastError + ")"
		}
		pid := "-"
		if s.PID != 0 {
			pid = fmt.Sprint(s.PID)
		}
		if checked {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%d\t%s\t%s\t%s\n", s.Name, s.Kind, s.Required, state, pid, s.Restarts, s.Health, s.Latency.Round(10*time.Microsecond), s.Path)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%d\t%s\n", s.Name, s.Kind, s.Required, state, pid, s.Restarts, s.Path)
		}
	}
	return tw.Flush()
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
