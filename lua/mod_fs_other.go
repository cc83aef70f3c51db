//go:build !linux

package lua

import "os"

// openedPath is the path of f as the kernel names it, where the system
// tells: Linux alone has /proc/self/fd.
func openedPath(*os.File) (string, bool) { return "", false }
