package testfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestTmpfs(t *testing.T) {
	dir := Tmpfs(t, 64<<10)
	big := make([]byte, 128<<10)
	err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing 128 KiB into 64 KiB: %v, want ENOSPC", err)
	}
	if err := os.Remove(filepath.Join(dir, "big")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "small"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ReadOnly(t, dir)
	err = os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing into a read-only tmpfs: %v, want EROFS", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "small")); err != nil || string(b) != "x" {
		t.Errorf("reading after the remount: %q, %v", b, err)
	}
}
