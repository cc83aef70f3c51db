//go:build !linux

package testfs

import "testing"

func tmpfs(t testing.TB, size int64) string {
	t.Skip("testfs mounts a tmpfs on Linux only")
	return ""
}

func readOnly(t testing.TB, dir string) {
	t.Skip("testfs mounts a tmpfs on Linux only")
}
