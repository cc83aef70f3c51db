package update

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/testfs"
	"github.com/equus-monitoring/equus/internal/wait"
)

// script writes a shell script that stands in for an equus binary.
func script(t *testing.T, path, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("shell scripts stand in for binaries")
	}
	writeFile(t, path, []byte("#!/bin/sh\n"+body+"\n"), 0o755)
	return path
}

// install makes a target binary and a new one in a fresh folder.
func install(t *testing.T, newBody string) (u *Updater, target, newBin string) {
	t.Helper()
	dir := t.TempDir()
	target = script(t, filepath.Join(dir, "bin", "equus"), "echo old")
	newBin = script(t, filepath.Join(dir, "download", "equus-new"), newBody)
	return &Updater{Target: target}, target, newBin
}

func TestUpdaterPrepareCommitRollback(t *testing.T) {
	u, target, newBin := install(t, `[ "$1" = version ] && echo new`)
	oldBody := readFile(t, target)
	newBody := readFile(t, newBin)
	if err := os.Chmod(target, 0o750); err != nil {
		t.Fatal(err)
	}

	if err := u.Prepare(newBin); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := readFile(t, target); got != oldBody {
		t.Fatal("Prepare changed the target")
	}
	if err := u.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := readFile(t, target); got != newBody {
		t.Errorf("target after Commit: %q, want the new binary", got)
	}
	if got := readFile(t, target+".old"); got != oldBody {
		t.Errorf(".old after Commit: %q, want the old binary", got)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o750 {
		t.Errorf("target mode %v, want the old 0750", fi.Mode().Perm())
	}
	if left := names(t, filepath.Dir(target)); strings.Join(left, " ") != "equus equus.old" {
		t.Errorf("folder holds %v, want equus and equus.old", left)
	}
	if err := u.Commit(); !errors.Is(err, ErrNotPrepared) {
		t.Errorf("second Commit: %v, want ErrNotPrepared", err)
	}

	if err := u.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := readFile(t, target); got != oldBody {
		t.Errorf("target after Rollback: %q, want the old binary", got)
	}
	if err := u.Rollback(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second Rollback: %v, want fs.ErrNotExist", err)
	}
}

func TestUpdaterRunCheck(t *testing.T) {
	u, target, newBin := install(t, "echo 'cannot execute: wrong architecture' >&2; exit 126")
	oldBody := readFile(t, target)
	err := u.Prepare(newBin)
	if err == nil || !strings.Contains(err.Error(), "does not run") || !strings.Contains(err.Error(), "wrong architecture") {
		t.Fatalf("Prepare of a binary that fails: %v", err)
	}
	if got := readFile(t, target); got != oldBody {
		t.Error("failed Prepare changed the target")
	}
	if left := names(t, filepath.Dir(target)); len(left) != 1 {
		t.Errorf("failed Prepare left %v", left)
	}
	// Nothing is in progress after a failure; without the check it goes.
	u.NoRunCheck = true
	if err := u.Prepare(newBin); err != nil {
		t.Fatalf("Prepare without run check: %v", err)
	}
	if err := u.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if left := names(t, filepath.Dir(target)); len(left) != 1 {
		t.Errorf("Abort left %v", left)
	}
}

func TestUpdaterRunCheckTimeout(t *testing.T) {
	u, _, newBin := install(t, "exec sleep 30")
	u.RunTimeout = 100 * time.Millisecond
	start := time.Now()
	if err := u.Prepare(newBin); err == nil {
		t.Fatal("Prepare of a binary that hangs: no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Prepare took %v with a 100ms run timeout", d)
	}
}

func TestUpdaterBusy(t *testing.T) {
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	// The run check of this binary waits until the test lets it go.
	u, _, newBin := install(t, `touch '`+started+`'; i=0; while [ ! -e '`+release+`' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`)

	done := make(chan error, 1)
	go func() { done <- u.Prepare(newBin) }()
	waitFor(t, func() bool { _, err := os.Stat(started); return err == nil })

	if err := u.Prepare(newBin); !errors.Is(err, ErrBusy) {
		t.Errorf("Prepare during Prepare: %v, want ErrBusy", err)
	}
	if err := u.Rollback(); !errors.Is(err, ErrBusy) {
		t.Errorf("Rollback during Prepare: %v, want ErrBusy", err)
	}
	if err := u.Commit(); !errors.Is(err, ErrNotPrepared) {
		t.Errorf("Commit during Prepare: %v, want ErrNotPrepared", err)
	}
	writeFile(t, release, nil, 0o644)
	if err := <-done; err != nil {
		t.Fatalf("first Prepare: %v", err)
	}
	// Prepared and not yet committed is still in progress.
	if err := u.Prepare(newBin); !errors.Is(err, ErrBusy) {
		t.Errorf("Prepare before Commit: %v, want ErrBusy", err)
	}
	if err := u.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := u.Prepare(newBin); err != nil {
		t.Errorf("Prepare after Commit: %v", err)
	}
}

func TestUpdaterUnwritable(t *testing.T) {
	t.Run("blocked", func(t *testing.T) {
		u, target, newBin := install(t, "exit 0")
		oldBody := readFile(t, target)
		// A directory where the new binary must be written.
		if err := os.Mkdir(newPath(target), 0o755); err != nil {
			t.Fatal(err)
		}
		err := u.Prepare(newBin)
		if err == nil || !strings.Contains(err.Error(), target) {
			t.Fatalf("Prepare: %v, want an error naming the target", err)
		}
		if got := readFile(t, target); got != oldBody {
			t.Error("failed Prepare changed the target")
		}
	})
	t.Run("read-only-folder", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only folders; read-only-filesystem tests this as root")
		}
		u, target, newBin := install(t, "exit 0")
		oldBody := readFile(t, target)
		if err := os.Chmod(filepath.Dir(target), 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Dir(target), 0o755) })
		err := u.Prepare(newBin)
		if err == nil || !strings.Contains(err.Error(), "cannot write next to the target") || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Prepare: %v, want a permission error", err)
		}
		if got := readFile(t, target); got != oldBody {
			t.Error("failed Prepare changed the target")
		}
	})
	t.Run("read-only-filesystem", func(t *testing.T) {
		dir := testfs.Tmpfs(t, 1<<20)
		target := script(t, filepath.Join(dir, "equus"), "echo old")
		newBin := script(t, filepath.Join(t.TempDir(), "equus-new"), "exit 0")
		testfs.ReadOnly(t, dir)
		u := &Updater{Target: target}
		err := u.Prepare(newBin)
		if err == nil || !strings.Contains(err.Error(), "cannot write next to the target") || !errors.Is(err, syscall.EROFS) {
			t.Fatalf("Prepare: %v, want a read-only file system error", err)
		}
		if got := readFile(t, target); got != "#!/bin/sh\necho old\n" {
			t.Errorf("failed Prepare changed the target: %q", got)
		}
	})
	t.Run("full-disk", func(t *testing.T) {
		// Room for the old binary, not for the new one.
		dir := testfs.Tmpfs(t, 256<<10)
		target := script(t, filepath.Join(dir, "equus"), "echo old")
		newBin := script(t, filepath.Join(t.TempDir(), "equus-new"), "exit 0\n# "+strings.Repeat("x", 1<<20))
		u := &Updater{Target: target}
		err := u.Prepare(newBin)
		if err == nil || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Prepare: %v, want no space left on device", err)
		}
		if got := readFile(t, target); got != "#!/bin/sh\necho old\n" {
			t.Errorf("failed Prepare changed the target: %q", got)
		}
		if left, _ := os.ReadDir(dir); len(left) != 1 {
			t.Errorf("files left next to the target: %v", left)
		}
		// The disk has room again once the half-written file is gone:
		// a smaller update goes through.
		small := script(t, filepath.Join(t.TempDir(), "equus-small"), "exit 0")
		if err := u.Prepare(small); err != nil {
			t.Fatalf("Prepare after a full disk: %v", err)
		}
		if err := u.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, target); got != "#!/bin/sh\nexit 0\n" {
			t.Errorf("target after Commit: %q", got)
		}
	})
	t.Run("commit-fails", func(t *testing.T) {
		u, target, newBin := install(t, "exit 0")
		oldBody := readFile(t, target)
		if err := u.Prepare(newBin); err != nil {
			t.Fatal(err)
		}
		// The prepared file disappears before Commit.
		if err := os.Remove(newPath(target)); err != nil {
			t.Fatal(err)
		}
		if err := u.Commit(); err == nil {
			t.Fatal("Commit without its new file: no error")
		}
		if got := readFile(t, target); got != oldBody {
			t.Error("failed Commit lost the old binary")
		}
		if err := u.Prepare(newBin); err != nil {
			t.Errorf("Prepare after a failed Commit: %v", err)
		}
	})
	t.Run("missing-target", func(t *testing.T) {
		u, target, newBin := install(t, "exit 0")
		os.Remove(target)
		if err := u.Prepare(newBin); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Prepare with no target: %v", err)
		}
	})
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	wait.Until(t, "the condition", 10*time.Second, 10*time.Millisecond, cond)
}
