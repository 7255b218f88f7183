// Package supervise runs the launcher's children: each in its own process
// group (so its own children stop with it), killed if the launcher dies, its
// output prefixed with its name, its last lines kept for the report of an
// unexpected end. The stack package starts every component through it.
package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec says how to start one child.
type Spec struct {
	// Name prefixes the child's output and names it in reports.
	Name string
	// Path is the binary; Args, Env and Dir are as for exec.Cmd.
	Path string
	Args []string
	Env  []string
	Dir  string
	// Cred, when set, runs the child as another user.
	Cred *syscall.Credential
	// StopSignal asks the child to end (default SIGTERM).
	StopSignal syscall.Signal
}

// Process is one supervised child.
type Process struct {
	name       string
	cmd        *exec.Cmd
	stopSignal syscall.Signal
	exited     chan struct{}
	waitErr    error

	mu       sync.Mutex
	expected bool     // Stop was called
	tail     []string // last lines of output, for death reports
}

const tailLines = 40

// Log serialises the prefixed lines of all children onto one writer.
type Log struct {
	mu  sync.Mutex
	out io.Writer
}

// NewLog writes to out.
func NewLog(out io.Writer) *Log { return &Log{out: out} }

// namePad fits the longest component name, so the output lines up.
const namePad = 8

func (l *Log) line(name, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, "%-*s | %s\n", namePad, name, text)
}

// Start launches the child described by spec, its output going to log.
// onExit, when not nil, is called once the child has ended, whether asked
// to or not (Expected tells which).
func Start(spec Spec, log *Log, onExit func(*Process)) (*Process, error) {
	if _, err := os.Stat(spec.Path); err != nil {
		return nil, fmt.Errorf("%s: binary %s: %w", spec.Name, spec.Path, err)
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: spec.Cred,
	}
	p := &Process{name: spec.Name, cmd: cmd, stopSignal: spec.StopSignal, exited: make(chan struct{})}
	if p.stopSignal == 0 {
		p.stopSignal = syscall.SIGTERM
	}
	out := &lineWriter{emit: func(line string) {
		p.remember(line)
		log.line(spec.Name, line)
	}}
	cmd.Stdout = out
	cmd.Stderr = out
	// A grandchild holding the output open must not hide the child's exit.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", spec.Name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		out.flush()
		close(p.exited)
		if onExit != nil {
			onExit(p)
		}
	}()
	return p, nil
}

// lineWriter turns a byte stream into whole lines.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 1<<20 { // a runaway line without newline
		w.emit(string(w.buf))
		w.buf = nil
	}
	return len(b), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

func (p *Process) remember(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > tailLines {
		p.tail = p.tail[len(p.tail)-tailLines:]
	}
}

// Name is the Spec's name.
func (p *Process) Name() string { return p.name }

// PID is the child's process id (also its process group's).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Tail returns the last n lines the process wrote.
func (p *Process) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tail
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return strings.Join(t, "\n")
}

// Running is true until the child has ended.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Expected is true once the child was asked to stop, so its end is no
// surprise.
func (p *Process) Expected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expected
}

// ExitReason says how the process ended, in words.
func (p *Process) ExitReason() string {
	if p.waitErr == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return p.waitErr.Error()
}

// Stop asks the process group to end, kills it after grace, and returns
// once the child has ended.
func (p *Process) Stop(grace time.Duration) {
	p.mu.Lock()
	p.expected = true
	p.mu.Unlock()
	if !p.Running() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, p.stopSignal)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Anything left in the group (a grandchild that ignored the signal) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}
