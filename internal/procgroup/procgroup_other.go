//go:build !unix

// Package procgroup runs a child program in a process group of its own,
// where the system has them.
package procgroup

import "os/exec"

// Apart does nothing where there are no process groups.
func Apart(*exec.Cmd) {}

// Start does nothing where there are no process groups: a timeout kills
// the program itself only.
func Start(*exec.Cmd) {}

// End does nothing where there are no process groups.
func End(*exec.Cmd) {}
