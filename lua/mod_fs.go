package lua

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	glua "github.com/yuin/gopher-lua"
)

func init() { register("fs", openFS) }

const (
	defaultReadBytes = 64 << 10
	maxReadBytes     = 16 << 20
)

// fsAPI is the fs module: what a check may learn of files, read-only.
var fsAPI = map[string]glua.LGFunction{
	"stat": fsStat,
	"read": fsRead,
}

func openFS(*Env) glua.LGFunction {
	return func(L *glua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), fsAPI))
		return 1
	}
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
// max_bytes bytes of a file (default 64 KiB, at most 16 MiB).
func fsRead(L *glua.LState) int {
	path := L.CheckString(1)
	limit := L.OptInt(2, defaultReadBytes)
	if limit < 0 || limit > maxReadBytes {
		L.ArgError(2, fmt.Sprintf("max_bytes must be from 0 to %d", maxReadBytes))
	}
	f, err := os.Open(path)
	if err != nil {
		return returnFailure(L, "read", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)))
	if err != nil {
		return returnFailure(L, "read", err)
	}
	L.Push(glua.LString(data))
	return 1
}
