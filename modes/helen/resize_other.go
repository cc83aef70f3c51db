//go:build !unix

package helen

import "os"

// notifyResize does nothing where no signal tells of a terminal's new
// size: the session keeps the size it started with.
func notifyResize(chan<- os.Signal) {}
