//go:build unix

package notify

import (
	"os/exec"
	"syscall"
)

// startGroup makes cmd the leader of a new process group, and its
// cancellation kill the whole group, so that a timeout also ends what the
// program started.
func startGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// endGroup kills what is left of cmd's process group once cmd has exited,
// so that a notification leaves no process behind. The group's id is not
// reused while a member lives, so this reaches only cmd's descendants.
func endGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH when none is left
	}
}
