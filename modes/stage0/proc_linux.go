package stage0

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel stop the agent when stage0 dies without a
// chance to stop it (SIGKILL, a crash), so that a new stage0 never finds an
// orphan agent connected in its place.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
