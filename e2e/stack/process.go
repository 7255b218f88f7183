package stack

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

// process is one supervised child: its own process group (so its children
// stop with it), killed if the launcher dies, output prefixed with its name.
type process struct {
	name       string
	cmd        *exec.Cmd
	stopSignal syscall.Signal
	exited     chan struct{}
	waitErr    error

	mu       sync.Mutex
	expected bool     // the stack asked it to stop
	tail     []string // last lines of output, for death reports
}

const tailLines = 40

// logSink serialises prefixed lines from all children.
type logSink struct {
	mu  sync.Mutex
	out io.Writer
	pad int
}

func (l *logSink) line(name, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, "%-*s | %s\n", l.pad, name, text)
}

type procSpec struct {
	name       string
	path       string
	args       []string
	env        []string
	dir        string
	cred       *syscall.Credential
	stopSignal syscall.Signal
}

func startProcess(spec procSpec, logs *logSink, onExit func(*process)) (*process, error) {
	if _, err := os.Stat(spec.path); err != nil {
		return nil, fmt.Errorf("%s: binary %s: %w", spec.name, spec.path, err)
	}
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Env = spec.env
	cmd.Dir = spec.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: spec.cred,
	}
	p := &process{name: spec.name, cmd: cmd, stopSignal: spec.stopSignal, exited: make(chan struct{})}
	if p.stopSignal == 0 {
		p.stopSignal = syscall.SIGTERM
	}
	out := &lineWriter{emit: func(line string) {
		p.remember(line)
		logs.line(spec.name, line)
	}}
	cmd.Stdout = out
	cmd.Stderr = out
	// A grandchild holding the output open must not hide the child's exit.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", spec.name, err)
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

func (p *process) remember(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > tailLines {
		p.tail = p.tail[len(p.tail)-tailLines:]
	}
}

// Tail returns the last lines the process wrote.
func (p *process) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tail
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return strings.Join(t, "\n")
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *process) wasExpected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expected
}

// exitReason says how the process ended, in words.
func (p *process) exitReason() string {
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

// stop asks the process group to end, then kills it after grace.
func (p *process) stop(grace time.Duration) {
	p.mu.Lock()
	p.expected = true
	p.mu.Unlock()
	if !p.running() {
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
