//go:build unix

package netlimit

import "syscall"

// FDLimit returns how many file descriptors the process may open: the soft
// RLIMIT_NOFILE, which Go's runtime raised to the hard limit at start.
func FDLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur <= 0 {
		return fdLimitUnknown
	}
	return int(min(uint64(rl.Cur), 1<<30))
}
