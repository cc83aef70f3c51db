//go:build unix

// Package procgroup runs a child program in a process group of its own,
// so that a timeout, or its end, also ends what the program started: a
// plugin's or a notification program's children.
package procgroup

import (
	"os/exec"
	"syscall"
)

// Apart makes cmd, before it starts, the leader of a new process group.
func Apart(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// Start makes cmd, made by exec.CommandContext and before it starts, the
// leader of a new process group (Apart), and its cancellation kill the
// whole group.
func Start(cmd *exec.Cmd) {
	Apart(cmd)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// End kills what is left of cmd's process group once cmd has exited, so
// that it leaves no process behind. The group's id is not reused while a
// member lives, so this reaches only cmd's descendants.
func End(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH when none is left
	}
}
