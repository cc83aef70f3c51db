//go:build unix

package monitor

import (
	"syscall"
	"time"
)

// cpuTime returns the processor time the process has used, in user and
// system mode: what a benchmark costs, however busy the machine is with
// others.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
