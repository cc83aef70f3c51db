package lua

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	glua "github.com/yuin/gopher-lua"
)

func init() { register("fs", openFS) }

const (
	defaultReadBytes = 64 << 10
	maxReadBytes     = 16 << 20
)

// The fs module: what a check may learn of files, read-only.
func openFS(env *Env) glua.LGFunction {
	api := map[string]glua.LGFunction{
		"stat": fsStat,
		"read": func(L *glua.LState) int { return fsRead(L, env) },
	}
	return func(L *glua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), api))
		return 1
	}
}

// errPrivate refuses to read a file of a private directory.
var errPrivate = errors.New("refused: the agent's own files (its data directory) are not for checks to read")

// private reports whether path, once absolute and with its links
// resolved, is one of paths or lies in one of them.
func private(path string, dirs []string) bool {
	if len(dirs) == 0 {
		return false
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return true
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return slices.Contains(dirs, abs) || insideAny(dirs, abs)
}

// resolveDirs makes paths absolute, with their links resolved where they
// exist.
func resolveDirs(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		out = append(out, filepath.Clean(abs))
	}
	return out
}

// fsStat is fs.stat(path) -> {exists, size, mode, mtime, is_dir}, or nil,
// err: a missing file is {exists = false}, not an error. Links are
// followed; mode is the permission bits (420 for 0644), mtime the
// modification time in seconds since 1970.
func fsStat(L *glua.LState) int {
	path := L.CheckString(1)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		L.Push(newRecord(L, map[string]any{"exists": false}))
		return 1
	}
	if err != nil {
		return returnFailure(L, "stat", err)
	}
	L.Push(newRecord(L, map[string]any{
		"exists": true, "size": fi.Size(), "mode": int(fi.Mode().Perm()),
		"mtime":  float64(fi.ModTime().UnixNano()) / 1e9,
		"is_dir": fi.IsDir(),
	}))
	return 1
}

// fsRead is fs.read(path, max_bytes) -> string, or nil, err: the first
// max_bytes bytes of a regular file (default 64 KiB, at most 16 MiB). Files
// of the agent's data directory are refused.
func fsRead(L *glua.LState, env *Env) int {
	path := L.CheckString(1)
	limit := L.OptInt(2, defaultReadBytes)
	if limit < 0 || limit > maxReadBytes {
		L.ArgError(2, fmt.Sprintf("max_bytes must be from 0 to %d", maxReadBytes))
	}
	if private(path, env.PrivatePaths) {
		return returnFailure(L, "read", fmt.Errorf("%s: %w", path, errPrivate))
	}
	// Non-blocking, so that opening a FIFO does not wait for a writer
	// past the check's deadline; only regular files are read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return returnFailure(L, "read", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return returnFailure(L, "read", err)
	} else if !fi.Mode().IsRegular() {
		return returnFailure(L, "read", fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type()))
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)))
	if err != nil {
		return returnFailure(L, "read", err)
	}
	L.Push(glua.LString(data))
	return 1
}
