package testfs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
)

func tmpfs(t testing.TB, size int64) string {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	// Registered after TempDir's own cleanup, so it runs first.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func readOnly(t testing.TB, dir string) {
	// EBUSY while a file in dir is open for writing, which a process
	// that another test forks holds for an instant (until its exec
	// closes it), so that is waited out.
	var err error
	wait.Until(t, "remounting "+dir+" read-only", 10*time.Second, 10*time.Millisecond, func() bool {
		err = syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
		return !errors.Is(err, syscall.EBUSY)
	})
	if err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}
