package host

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the plugin if the host dies
// without ending it, so no plugin outlives the tutor.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
