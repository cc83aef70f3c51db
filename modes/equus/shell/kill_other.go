//go:build unix && !linux

package shell

import "syscall"

// killSession does nothing where there is no /proc to read: the session's
// process group is all that is killed.
func killSession(sid int, sig syscall.Signal) {}
