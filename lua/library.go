package lua

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// embedded holds the check library built into the binary. The directory is
// embedded whole rather than as checks/*.lua so that the package builds
// while the library is empty; load picks the .lua files.
//
//go:embed checks
var embedded embed.FS

// sourceEmbedded is the Source of a check built into the binary.
const sourceEmbedded = "embedded"

// describeTimeout bounds the run of a file's top-level code when the
// library is loaded. That code only requires modules and defines
// functions, which takes microseconds; a file that runs longer is stuck
// (a loop at the top level) and would hold up every load of the library,
// such as equus check --list.
const describeTimeout = 500 * time.Millisecond

// entry is one check of the library: its source, compiled once and shared
// by every Lua state, or the error that made it unusable.
type entry struct {
	name        string
	source      string // sourceEmbedded or the file's path
	code        []byte
	proto       *glua.FunctionProto
	description string
	// args is the declaration of the check's args, when declared.
	args     []argSpec
	declared bool
	err      error
}

// library is a loaded set of checks with the pool of states that run them.
// Reload makes a new library rather than changing one, so a running check
// finishes on the library it started with.
type library struct {
	checks map[string]*entry
	hash   string
	idle   chan *state
}

// compile parses and compiles one check file; a failure is kept in the
// entry so that the check reports it when run.
func compile(name, source string, code []byte) *entry {
	e := &entry{name: name, source: source, code: code}
	if err := validName(name); err != nil {
		e.err = err
		return e
	}
	chunkName := name + ".lua"
	chunk, err := parse.Parse(bytes.NewReader(code), chunkName)
	if err != nil {
		e.err = fmt.Errorf("syntax error: %w", err)
		return e
	}
	e.proto, err = glua.Compile(chunk, chunkName)
	if err != nil {
		e.err = fmt.Errorf("compile: %w", err)
	}
	compact(e.proto)
	return e
}

// validName reports why name can't be a check name: the rules of a wire
// <string>, and the equus. prefix reserved for the agent's built-in checks.
func validName(name string) error {
	switch {
	case name == "" || len(name) > 250:
		return fmt.Errorf("check name %q: must be 1 to 250 bytes", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("check name %q: not valid UTF-8", name)
	case strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return fmt.Errorf("check name %q: has a space or control character", name)
	case strings.HasPrefix(name, "equus."):
		return fmt.Errorf("check name %q: the equus. prefix is reserved for built-in checks", name)
	}
	return nil
}

// checkFile returns the check name of a file name, and whether it is a
// check at all (Lua tests and hidden files are not).
func checkFile(file string) (string, bool) {
	if !strings.HasSuffix(file, ".lua") || strings.HasSuffix(file, "_test.lua") || strings.HasPrefix(file, ".") {
		return "", false
	}
	return strings.TrimSuffix(file, ".lua"), true
}

// CheckNames returns the names of the checks of the embedded library
// overlaid by the files of dir ("" for none), sorted, without loading
// them: the checks a runtime with Options.Dir dir has, broken ones too.
func CheckNames(dir string) ([]string, error) {
	names := map[string]bool{}
	files, err := fs.ReadDir(embedded, "checks")
	if err != nil {
		return nil, fmt.Errorf("embedded checks: %w", err)
	}
	for _, f := range files {
		if name, ok := checkFile(f.Name()); ok && !f.IsDir() {
			names[name] = true
		}
	}
	if dir != "" {
		files, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("check directory: %w", err)
		}
		for _, f := range files {
			name, ok := checkFile(f.Name())
			if info, err := os.Stat(filepath.Join(dir, f.Name())); ok && (err != nil || !info.IsDir()) {
				names[name] = true
			}
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// loadEmbedded compiles the checks of the checks directory of fsys: the
// library built into the binary.
func loadEmbedded(fsys fs.FS) (map[string]*entry, error) {
	files, err := fs.ReadDir(fsys, "checks")
	if err != nil {
		return nil, fmt.Errorf("embedded checks: %w", err)
	}
	out := map[string]*entry{}
	for _, f := range files {
		name, ok := checkFile(f.Name())
		if !ok || f.IsDir() {
			continue
		}
		code, err := fs.ReadFile(fsys, "checks/"+f.Name())
		if err != nil {
			return nil, fmt.Errorf("embedded check %s: %w", f.Name(), err)
		}
		out[name] = compile(name, sourceEmbedded, code)
	}
	return out, nil
}

// loadDir compiles the checks of an overlay directory. A file that can't be
// read is recorded as a broken check; a directory that can't be listed is
// an error.
func loadDir(dir string) (map[string]*entry, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("check directory: %w", err)
	}
	out := map[string]*entry{}
	for _, f := range files {
		name, ok := checkFile(f.Name())
		if !ok {
			continue
		}
		path := filepath.Join(dir, f.Name())
		if info, err := os.Stat(path); err == nil && info.IsDir() {
			continue
		}
		code, err := os.ReadFile(path)
		if err != nil {
			out[name] = &entry{name: name, source: path, err: fmt.Errorf("read: %w", err)}
			continue
		}
		out[name] = compile(name, path, code)
	}
	return out, nil
}

// newLibrary overlays dir on base, runs the top-level code of every new
// entry once to learn its description and shape, and hashes the sources.
func (rt *Runtime) newLibrary(base, dir map[string]*entry) *library {
	lib := &library{checks: map[string]*entry{}, idle: make(chan *state, rt.opts.PoolSize)}
	for n, e := range base {
		lib.checks[n] = e
	}
	for n, e := range dir {
		lib.checks[n] = e
	}
	rt.describe(dir)
	lib.hash = bundleHash(lib.checks)
	return lib
}

// describe runs the top-level code of each compiled entry in a scratch
// state, to record its description or the error that makes it unusable.
func (rt *Runtime) describe(entries map[string]*entry) {
	var s *state
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	for _, e := range entries {
		if e.err != nil || e.proto == nil {
			continue
		}
		if s == nil {
			s = rt.newState()
		}
		ctx, cancel := context.WithTimeout(context.Background(), describeTimeout)
		ctx, unwatch := rt.heap.watch(ctx)
		s.L.SetContext(ctx)
		s.env.Check = e.name
		l, err := s.eval(e)
		s.L.RemoveContext()
		if herr := heapExceeded(ctx); herr != nil {
			err = fmt.Errorf("loading: %w", herr)
		} else if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("took too long to load (more than %v): does its top-level code loop?", describeTimeout)
		}
		if err != nil {
			e.err = err
			s.close()
			s = nil // a failed chunk may have left the state half-done
		} else {
			e.description, e.args, e.declared = l.description, l.args, l.declared
		}
		unwatch()
		cancel()
	}
}

// bundleHash is the SHA-256 over the names and sources of the checks, in
// name order, each length-prefixed so that no two bundles collide by
// moving bytes between a name and its source.
func bundleHash(checks map[string]*entry) string {
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	var n [8]byte
	for _, name := range names {
		for _, part := range [][]byte{[]byte(name), checks[name].code} {
			binary.BigEndian.PutUint64(n[:], uint64(len(part)))
			h.Write(n[:])
			h.Write(part)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
