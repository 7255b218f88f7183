// Package progress shows how far a long phase of a migration command is:
// a bar redrawn in place on a terminal, plain lines elsewhere.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// IsTerminal reports whether f is a character device (a terminal), where a
// redrawn progress bar makes sense; into a file or pipe plain lines do.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Meter shows how far a phase is: on a terminal a bar redrawn in place
// (at most ten times a second), elsewhere plain lines: one per Step with a
// note, otherwise at most one a second.
type Meter struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	label    string
	unit     string
	total    int
	done     int
	started  time.Time
	drawn    time.Time
	now      func() time.Time
}

// Start starts a phase of total units (label: what is being done).
func Start(w io.Writer, terminal bool, label, unit string, total int) *Meter {
	p := &Meter{w: w, terminal: terminal, label: label, unit: unit, total: total, now: time.Now}
	p.started = p.now()
	if terminal {
		p.draw()
	}
	return p
}

// Step records n more units done; note says what (plain lines show it).
func (p *Meter) Step(n int, note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.terminal {
		if p.now().Sub(p.drawn) >= 100*time.Millisecond || p.done >= p.total {
			p.draw()
		}
		return
	}
	// Plain lines: every noted step, others at most once a second.
	if note == "" && p.done < p.total && p.now().Sub(p.drawn) < time.Second {
		return
	}
	p.drawn = p.now()
	line := fmt.Sprintf("%s: %d/%d %s (%s)", p.label, p.done, p.total, p.unit, percent(p.done, p.total))
	if note != "" {
		line += " " + note
	}
	fmt.Fprintln(p.w, line)
}

// Finish ends the phase (on a terminal, the bar's line).
func (p *Meter) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		p.draw()
		fmt.Fprintln(p.w)
	}
}

const barWidth = 30

func (p *Meter) draw() {
	p.drawn = p.now()
	filled := barWidth
	if p.total > 0 {
		filled = barWidth * min(p.done, p.total) / p.total
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled)
	elapsed := p.now().Sub(p.started)
	rate, eta := "", ""
	if s := elapsed.Seconds(); s > 0.5 && p.done > 0 {
		r := float64(p.done) / s
		rate = fmt.Sprintf(" %.0f %s/s", r, p.unit)
		if left := p.total - p.done; left > 0 {
			eta = " ETA " + (time.Duration(float64(left)/r) * time.Second).Round(time.Second).String()
		}
	}
	// \r and erase-to-end-of-line redraw the same line.
	fmt.Fprintf(p.w, "\r\x1b[K%s [%s] %d/%d %s (%s)%s%s", p.label, bar, p.done, p.total, p.unit, percent(p.done, p.total), rate, eta)
}

func percent(done, total int) string {
	if total == 0 {
		return "100%"
	}
	return fmt.Sprintf("%d%%", 100*done/total)
}
