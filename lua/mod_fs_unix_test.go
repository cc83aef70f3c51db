//go:build unix

package lua

import (
	"fmt"
	"os"
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

// TestFSReadPrivateBypasses: fs.read refuses the agent's key and the files
// of its data directory by every way of naming them that the kernel
// resolves differently from the path: a hard link, a process's root,
// working directory, thread or open files in /proc, /dev/fd; and its
// environment and command line, which hold its settings. Ordinary
// files, /proc's own included, still read.
func TestFSReadPrivateBypasses(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here")
	}
	root := t.TempDir()
	data := filepath.Join(root, "data")
	sub := filepath.Join(data, "checks")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(root, "agent-key.pem") // given apart from the data directory
	cert := filepath.Join(data, "agent.pem")
	for _, f := range []string{key, cert} {
		if err := os.WriteFile(f, []byte("SECRET"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	links := t.TempDir()
	keyLink, certLink := filepath.Join(links, "key"), filepath.Join(links, "cert")
	for old, link := range map[string]string{key: keyLink, cert: certLink} {
		if err := os.Link(old, link); err != nil {
			t.Skipf("no hard links here: %v", err)
		}
	}
	openKey, err := os.Open(key)
	if err != nil {
		t.Fatal(err)
	}
	defer openKey.Close()
	openSub, err := os.Open(sub)
	if err != nil {
		t.Fatal(err)
	}
	defer openSub.Close()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relKey, err := filepath.Rel(cwd, key)
	if err != nil {
		t.Fatal(err)
	}
	ordinary := filepath.Join(links, "ok.txt")
	if err := os.WriteFile(ordinary, []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(links, "self") // a link of the check's own to /proc/self
	if err := os.Symlink("/proc/self", self); err != nil {
		t.Fatal(err)
	}
	L := newModState(t, &Env{PrivatePaths: resolveDirs([]string{data, key})})
	read := func(path string) []glua.LValue {
		L.SetGlobal("P", glua.LString(path))
		return evalLua(t, L, "return require('fs').read(P)")
	}
	for _, path := range []string{
		key, cert,
		keyLink, certLink,
		"/proc/self/root" + key,
		"/proc/self/root/" + cert,
		"/proc/thread-self/root" + key,
		fmt.Sprintf("/proc/%d/root%s", os.Getpid(), key),
		fmt.Sprintf("/proc/self/task/%d/root%s", os.Getpid(), key),
		"/proc/self/cwd/" + relKey,
		fmt.Sprintf("/proc/self/fd/%d/../agent.pem", openSub.Fd()),
		fmt.Sprintf("/proc/self/fd/%d", openKey.Fd()),
		fmt.Sprintf("/dev/fd/%d", openKey.Fd()),
		fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), openKey.Fd()),
		"/proc/self/environ",
		self + "/environ",
		"/proc/self/cmdline",
		self + "/cmdline",
		fmt.Sprintf("/proc/%d/cmdline", os.Getpid()),
		fmt.Sprintf("/proc/self/task/%d/cmdline", os.Getpid()),
		self + "/root" + key,
		"/proc/self/cwd/../" + filepath.Base(cwd) + "/" + relKey,
		"/proc/self/root" + ordinary, // what a path through /proc leads to is not told by it
		data, sub,
	} {
		if vals := read(path); len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "not for checks to read") {
			t.Errorf("fs.read(%s) = %.40q, want nil and a refusal", path, fmtValues(vals))
		}
	}
	if vals := read(ordinary); len(vals) != 1 || vals[0].String() != "fine" {
		t.Errorf("fs.read(%s) = %v, want fine", ordinary, vals)
	}
	for _, path := range []string{"/proc/loadavg", "/proc/self/status"} {
		if vals := read(path); len(vals) != 1 || vals[0].Type() != glua.LTString {
			t.Errorf("fs.read(%s) = %v", path, vals)
		}
	}
}
