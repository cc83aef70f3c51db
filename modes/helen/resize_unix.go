//go:build unix

package helen

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyResize has c told each time the terminal changes size (SIGWINCH).
func notifyResize(c chan<- os.Signal) { signal.Notify(c, syscall.SIGWINCH) }
