package process

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the plugin if the host dies
// without ending it, so no plugin outlives the tutor. The plugin gets a
// process group of its own: a signal to the tutor's group (Ctrl-C, a
// supervisor stopping the tutor) reaches the tutor alone, which ends its
// plugins itself once the answers still being written are done.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
