package lua

import (
	"os"
	"strconv"
)

// openedPath is the path of the file f as the kernel names it, with every
// link resolved, the links of /proc included: what a path through a link
// of the check's own making led to.
func openedPath(f *os.File) (string, bool) {
	conn, err := f.SyscallConn()
	if err != nil {
		return "", false
	}
	var path string
	var rerr error
	if err := conn.Control(func(fd uintptr) {
		path, rerr = os.Readlink("/proc/self/fd/" + strconv.FormatUint(uint64(fd), 10))
	}); err != nil || rerr != nil {
		return "", false
	}
	return path, true
}
