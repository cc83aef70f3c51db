//go:build unix

package lua

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// TestFSReadFIFO: fs.read of a FIFO with no writer returns an error at
// once instead of waiting for one past the check's deadline.
func TestFSReadFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	L := newModState(t, nil)
	L.SetGlobal("P", glua.LString(fifo))
	start := time.Now()
	vals := evalLua(t, L, "return require('fs').read(P)")
	if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "not a regular file") {
		t.Errorf("fs.read(fifo) = %v, want nil and not a regular file", vals)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("fs.read(fifo) took %v", d)
	}
}
