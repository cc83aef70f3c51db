//go:build !unix

package notify

import "os/exec"

// startGroup does nothing where there are no process groups: a timeout
// kills the program itself only.
func startGroup(*exec.Cmd) {}

// endGroup does nothing where there are no process groups.
func endGroup(*exec.Cmd) {}
