package lua

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// TestFSReadDoesNotOpenDevices: fs.read refuses a device or a FIFO
// without opening it, for opening one is an act of its own (a watchdog
// arms, a tape rewinds, a FIFO's writer wakes). Whether the FIFO was
// opened is asked of the kernel: inotify reports every open of it, as it
// does the test's own open after.
func TestFSReadDoesNotOpenDevices(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link") // a link to the FIFO is followed, and refused too
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	in, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Skipf("no inotify here: %v", err)
	}
	defer syscall.Close(in)
	if _, err := syscall.InotifyAddWatch(in, fifo, syscall.IN_OPEN); err != nil {
		t.Skipf("inotify cannot watch a FIFO here: %v", err)
	}
	opens := func() int {
		buf := make([]byte, 64*syscall.SizeofInotifyEvent)
		n := 0
		for {
			r, err := syscall.Read(in, buf)
			if errors.Is(err, syscall.EAGAIN) {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
			n += r / syscall.SizeofInotifyEvent // IN_OPEN of a watched file carries no name
			// (and the kernel folds an event into the same one before it)
		}
	}

	L := newModState(t, nil)
	for _, path := range []string{fifo, link, "/dev/null", "/dev/zero"} {
		L.SetGlobal("P", glua.LString(path))
		vals := evalLua(t, L, "return require('fs').read(P)")
		if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "not a regular file") {
			t.Errorf("fs.read(%s) = %v, want nil and not a regular file", path, vals)
		}
	}
	if n := opens(); n != 0 {
		t.Errorf("fs.read opened the FIFO %d times before refusing it", n)
	}
	// The watch sees an open: the test's own.
	f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n := opens(); n == 0 {
		t.Error("inotify reported no open of the test's own")
	}
}
