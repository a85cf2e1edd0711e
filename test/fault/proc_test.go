//go:build fault

package fault

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one granary process. It keeps its arguments (addresses, directory),
// so that it can be killed and started again as the same server.
type proc struct {
	name    string
	args    []string
	logPath string
	ready   func() error // nil once the process serves

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current run has exited
	exitErr error         // valid after exited is closed
	down    bool          // not running on purpose (never started, killed, terminated)
	paused  bool          // SIGSTOPped
	starts  int
}

func newProc(name, logPath string, ready func() error, args ...string) *proc {
	return &proc{name: name, args: args, logPath: logPath, ready: ready, down: true}
}

// start runs the process and waits until it serves.
func (p *proc) start(timeout time.Duration) error {
	p.mu.Lock()
	if !p.down {
		p.mu.Unlock()
		return fmt.Errorf("%s: started twice", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	fmt.Fprintf(f, "=== %s start #%d at %s: %s\n", p.name, p.starts+1, stamp(), strings.Join(p.args, " "))
	cmd := exec.Command(granaryBin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.mu.Unlock()
		return fmt.Errorf("start %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.down, p.paused = cmd, exited, false, false
	p.starts++
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()

	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start: %v\n%s", p.name, p.exitErr, tailFile(p.logPath, 20))
		default:
		}
		err := p.ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("%s not ready within %v: %v\n%s", p.name, timeout, err, tailFile(p.logPath, 20))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// died returns an error when the process exited without being told to.
func (p *proc) died() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down || p.exited == nil {
		return nil
	}
	select {
	case <-p.exited:
		return fmt.Errorf("%s died: %v (log %s)\n%s", p.name, p.exitErr, p.logPath, tailFile(p.logPath, 20))
	default:
		return nil
	}
}

// running reports whether the process is up on purpose (paused or not).
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.down
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() error {
	return p.end(syscall.SIGKILL, 10*time.Second)
}

// term sends SIGTERM and waits (a graceful stop) for the process to be gone.
func (p *proc) term() error {
	return p.end(syscall.SIGTERM, 30*time.Second)
}

func (p *proc) end(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	p.down = true
	cmd, exited, paused := p.cmd, p.exited, p.paused
	p.paused = false
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(sig)
	if paused {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	select {
	case <-exited:
	case <-time.After(wait):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s: still running %v after %v (killed)", p.name, wait, sig)
	}
	appendLog(p.logPath, fmt.Sprintf("=== %s: %v sent by the test at %s\n", p.name, sig, stamp()))
	return nil
}

// pause sends SIGSTOP; resume sends SIGCONT.
func (p *proc) pause() error  { return p.signalRunning(syscall.SIGSTOP, true) }
func (p *proc) resume() error { return p.signalRunning(syscall.SIGCONT, false) }

// unpause sends SIGCONT if the process is paused.
func (p *proc) unpause() {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	if paused {
		p.resume()
	}
}

func (p *proc) signalRunning(sig syscall.Signal, paused bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down || p.cmd == nil {
		return fmt.Errorf("%s: not running", p.name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %v: %v", p.name, sig, err)
	}
	p.paused = paused
	appendLog(p.logPath, fmt.Sprintf("=== %s: %v sent by the test at %s\n", p.name, sig, stamp()))
	return nil
}

// stop ends the process for good, at the end of the test: SIGTERM (SIGCONT
// first when paused), SIGKILL after 5s.
func (p *proc) stop() {
	p.mu.Lock()
	p.down = true
	cmd, exited, paused := p.cmd, p.exited, p.paused
	p.paused = false
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if paused {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

func stamp() string { return time.Now().Format("15:04:05.000") }

func appendLog(path, s string) {
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		f.WriteString(s)
		f.Close()
	}
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
