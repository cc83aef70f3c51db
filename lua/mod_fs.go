package lua

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// errPrivate refuses to read a file of the agent's own.
var errPrivate = errors.New("refused: the agent's own files (its data directory, key, config file and settings) are not for checks to read")

// maxPrivateFiles bounds the files of the private directories that
// fs.read compares an opened file with: past it, it refuses to read.
const maxPrivateFiles = 10000

// procLinks are the entries of a process's directory in /proc that fs.read
// refuses: those whose file is not the one their path names (the
// process's root and working directory, its open and mapped files, which
// lead anywhere), and its environment and command line, which hold the
// agent's settings (its token among them).
var procLinks = map[string]bool{"root": true, "cwd": true, "fd": true, "map_files": true, "environ": true, "cmdline": true}

// throughProcLink reports whether path, absolute, goes through
// one of procLinks, of any process or thread (/proc/PID, /proc/self,
// /proc/thread-self, /proc/PID/task/TID), or through /dev/fd and the
// standard streams, which lead to /proc/self/fd.
func throughProcLink(path string) bool {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) >= 2 && parts[0] == "dev" {
		switch parts[1] {
		case "fd", "stdin", "stdout", "stderr":
			return true
		}
	}
	if len(parts) < 3 || parts[0] != "proc" {
		return false
	}
	if procLinks[parts[2]] {
		return true
	}
	return parts[2] == "task" && len(parts) >= 5 && procLinks[parts[4]]
}

// viaProcLink reports whether path goes through one of procLinks as
// written (made absolute, with "/proc/self/cwd/.." read as the kernel
// reads it: through the link) or once cleaned.
func viaProcLink(path string) bool {
	if !filepath.IsAbs(path) {
		cwd, err := os.Getwd()
		if err != nil {
			return true
		}
		path = cwd + string(filepath.Separator) + path
	}
	var parts []string
	for _, p := range strings.Split(path, "/") {
		if p != "" && p != "." {
			parts = append(parts, p)
		}
	}
	return throughProcLink("/"+strings.Join(parts, "/")) || throughProcLink(filepath.Clean(path))
}

// privateFiles returns the files of paths, each a file or a directory of
// files: a directory, the files and directories of its tree, and the
// files that links there name.
func privateFiles(paths []string) ([]os.FileInfo, error) {
	var files []os.FileInfo
	add := func(fi os.FileInfo) error {
		if len(files) >= maxPrivateFiles {
			return fmt.Errorf("refused: the agent's data directory holds more than %d files, too many to tell a check's file from them", maxPrivateFiles)
		}
		files = append(files, fi)
		return nil
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue // not there (yet): nothing of it to read either
		}
		if !fi.IsDir() {
			if err := add(fi); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // an unreadable directory holds nothing a check can read either
			}
			fi, err := os.Stat(path) // through a link, the file it names
			if err != nil || !fi.Mode().IsRegular() && !fi.IsDir() {
				return nil
			}
			return add(fi)
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// checkNotPrivate returns errPrivate when the opened file fi is one of the
// private files, compared by device and inode: however the path reached
// it (a hard link, a link in /proc, a bind mount), the kernel opened that
// file.
func checkNotPrivate(fi os.FileInfo, paths []string) error {
	files, err := privateFiles(paths)
	if err != nil {
		return err
	}
	for _, p := range files {
		if os.SameFile(fi, p) {
			return errPrivate
		}
	}
	return nil
}

// private reports whether path, once absolute and with its links
// resolved, is one of dirs or lies in one of them: a test of the path, for
// the exec policy, which runs what the path names; fs.read decides on the
// file it opened (checkNotPrivate).
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
// max_bytes bytes of a regular file (default 64 KiB, at most 16 MiB),
// anything else refused before it is opened. The agent's key and the
// files of its data directory are refused, and so are paths through the
// links of /proc that lead to other files than they name.
func fsRead(L *glua.LState, env *Env) int {
	path := L.CheckString(1)
	limit := L.OptInt(2, defaultReadBytes)
	if limit < 0 || limit > maxReadBytes {
		L.ArgError(2, fmt.Sprintf("max_bytes must be from 0 to %d", maxReadBytes))
	}
	if viaProcLink(path) {
		return returnFailure(L, "read", fmt.Errorf("%s: %w", path, errPrivate))
	}
	// Only regular files are read, and what the path names is told before
	// it is opened: opening a device is itself an act (a watchdog arms, a
	// tape rewinds, a serial line raises DTR), and opening a FIFO wakes
	// its writer. (The private files are told from the file opened.)
	if fi, err := os.Stat(path); err != nil {
		return returnFailure(L, "read", err)
	} else if !fi.Mode().IsRegular() {
		return returnFailure(L, "read", checkReadable(path, fi, env.PrivatePaths))
	}
	// The path may name another file by the time it is opened: the file
	// opened is told again. Non-blocking, so that a FIFO put there in
	// between does not wait for a writer past the check's deadline.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return returnFailure(L, "read", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return returnFailure(L, "read", err)
	}
	if err := checkReadable(path, fi, env.PrivatePaths); err != nil {
		return returnFailure(L, "read", err)
	}
	if opened, ok := openedPath(f); ok && throughProcLink(opened) {
		return returnFailure(L, "read", fmt.Errorf("%s (%s): %w", path, opened, errPrivate))
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)))
	if err != nil {
		return returnFailure(L, "read", err)
	}
	L.Push(glua.LString(data))
	return 1
}

// checkReadable returns why fs.read refuses the file fi that path names:
// one of the private files, or not a regular file.
func checkReadable(path string, fi os.FileInfo, private []string) error {
	if err := checkNotPrivate(fi, private); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
	}
	return nil
}
