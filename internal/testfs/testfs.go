// Package testfs gives tests directories that refuse writes even to root,
// so that the tests of what a full or read-only disk does also run where
// the tests run as root: a tmpfs of a given size, which can be made
// read-only. Mounting needs root (CAP_SYS_ADMIN) on Linux; elsewhere the
// test that asks is skipped, with the reason.
package testfs

import "testing"

// Tmpfs mounts a tmpfs of size bytes on a new directory and returns it. It
// is unmounted when the test ends.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	return tmpfs(t, size)
}

// ReadOnly remounts the tmpfs at dir, made by Tmpfs, read-only.
func ReadOnly(t testing.TB, dir string) {
	t.Helper()
	readOnly(t, dir)
}
