package lua

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
)

func TestFS(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(file, []byte("hello, world"), 0o640); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 500e6, time.UTC)
	if err := os.Chtimes(file, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	L := newModState(t, nil)
	L.SetGlobal("DIR", glua.LString(dir))
	L.SetGlobal("FILE", glua.LString(file))

	st := mustSucceed(t, evalLua(t, L, "return require('fs').stat(FILE)"))
	if field(t, st, "exists") != glua.LTrue || field(t, st, "is_dir") != glua.LFalse ||
		number(t, st, "size") != 12 || number(t, st, "mode") != 0o640 ||
		number(t, st, "mtime") != float64(mtime.UnixNano())/1e9 {
		t.Errorf("stat(file) = exists %v, is_dir %v, size %v, mode %o, mtime %v",
			field(t, st, "exists"), field(t, st, "is_dir"), number(t, st, "size"),
			int(number(t, st, "mode")), number(t, st, "mtime"))
	}
	st = mustSucceed(t, evalLua(t, L, "return require('fs').stat(DIR)"))
	if field(t, st, "exists") != glua.LTrue || field(t, st, "is_dir") != glua.LTrue {
		t.Errorf("stat(dir): is_dir %v", field(t, st, "is_dir"))
	}
	st = mustSucceed(t, evalLua(t, L, "return require('fs').stat(DIR .. '/missing')"))
	if field(t, st, "exists") != glua.LFalse || field(t, st, "size") != glua.LNil {
		t.Errorf("stat(missing) = exists %v", field(t, st, "exists"))
	}

	tests := []struct{ call, want string }{
		{"read(FILE)", "hello, world"},
		{"read(FILE, 5)", "hello"},
		{"read(FILE, 0)", ""},
	}
	for _, tt := range tests {
		if got := mustSucceed(t, evalLua(t, L, "return require('fs')."+tt.call)).String(); got != tt.want {
			t.Errorf("fs.%s = %q, want %q", tt.call, got, tt.want)
		}
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, []byte(strings.Repeat("y", 100<<10)), 0o600)
	L.SetGlobal("BIG", glua.LString(big))
	if got := mustSucceed(t, evalLua(t, L, "return require('fs').read(BIG)")).String(); len(got) != 64<<10 {
		t.Errorf("read(big) = %d bytes, want the default 64 KiB", len(got))
	}
	for _, call := range []string{"read(DIR .. '/missing')", "read(DIR)"} {
		vals := evalLua(t, L, "return require('fs')."+call)
		if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "read") {
			t.Errorf("fs.%s = %v, want nil, err", call, vals)
		}
	}
	for _, call := range []string{"read(FILE, -1)", "read(FILE, 1e9)", "read()", "stat()"} {
		if _, err := tryLua(L, "return require('fs')."+call); err == nil {
			t.Errorf("fs.%s was not refused", call)
		}
	}
}

// TestFSPrivate: fs.read refuses the files of a private directory (the
// agent's data directory, with its key), however the path gets there; a
// file elsewhere, and stat, still work.
func TestFSPrivate(t *testing.T) {
	root := t.TempDir()
	priv := filepath.Join(root, "equus")
	open := filepath.Join(root, "open")
	for _, d := range []string{priv, open} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(priv, "agent-key.pem")
	if err := os.WriteFile(key, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(open, "ok.txt"), []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(key, filepath.Join(open, "link")); err != nil {
		t.Fatal(err)
	}
	// The agent names its data directory through a link of its own.
	alias := filepath.Join(root, "alias")
	if err := os.Symlink(priv, alias); err != nil {
		t.Fatal(err)
	}
	L := newModState(t, &Env{PrivatePaths: resolveDirs([]string{alias})})
	for _, path := range []string{key, filepath.Join(alias, "agent-key.pem"), filepath.Join(open, "link"),
		filepath.Join(open, "..", "equus", "agent-key.pem"), priv} {
		L.SetGlobal("P", glua.LString(path))
		vals := evalLua(t, L, "return require('fs').read(P)")
		if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "not for checks to read") {
			t.Errorf("fs.read(%s) = %v, want nil and a refusal", path, vals)
		}
	}
	L.SetGlobal("P", glua.LString(filepath.Join(open, "ok.txt")))
	if got := mustSucceed(t, evalLua(t, L, "return require('fs').read(P)")).String(); got != "fine" {
		t.Errorf("fs.read outside the private directory = %q", got)
	}
	L.SetGlobal("P", glua.LString(key))
	if st := mustSucceed(t, evalLua(t, L, "return require('fs').stat(P)")); field(t, st, "exists") != glua.LTrue {
		t.Error("fs.stat of a private file: not found")
	}
}
