// Package lua runs checks: Lua files of the check library, compiled once,
// run in pooled, sandboxed gopher-lua states, each run bounded by its
// timeout, with Go modules (host, http, net, fs, exec, json, log, check)
// for what a check needs from the machine. Every run yields a result
// document; whatever goes wrong becomes status unknown.
package lua

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// MaxResult is the largest encoded result a run returns: the blob limit of
// the wire protocol.
const MaxResult = 1 << 20

// Options configure a Runtime. The zero value runs the embedded library.
type Options struct {
	// Dir is a directory of *.lua checks laid over the embedded ones;
	// "" runs the embedded library alone.
	Dir string
	// Exec is the policy for the programs the exec module may run; its
	// Dirs default to DefaultExecDirs unless it is Off.
	Exec ExecPolicy
	// PrivatePaths are files, and directories of files, that checks may
	// not read with the fs module: the agent's data directory, key and
	// config file.
	PrivatePaths []string
	// Log receives the messages of checks (the log module, print) and the
	// runtime's reports of Go panics, with the check's name; nil discards.
	Log func(level slog.Level, check, msg string)
	// PoolSize is the number of idle Lua states kept for reuse (default
	// GOMAXPROCS*4).
	PoolSize int
	// DefaultTimeout bounds a run whose args carry no _timeout_ms
	// (default 30s).
	DefaultTimeout time.Duration
	// MaxHeap is the size in bytes of the Go heap past which every
	// running check is canceled and ends as unknown ("memory limit
	// exceeded"): 0 means DefaultMaxHeap, a negative value no limit.
	MaxHeap int64
}

// CheckInfo describes a check of the loaded library.
type CheckInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Source is "embedded" or the path of the file.
	Source string `json:"source"`
	// Err is why the check can't run, for a broken file.
	Err string `json:"error,omitempty"`
	// Args are the args the check declares, in name order; nil for a
	// check that declares none.
	Args []ArgInfo `json:"args,omitempty"`
}

// Runtime runs the checks of a library. It is safe for concurrent use.
type Runtime struct {
	opts     Options
	embedded map[string]*entry
	lib      atomic.Pointer[library]
	reload   sync.Mutex // one Reload at a time
	closed   atomic.Bool
	heap     *heapWatch // nil without a heap limit
}

// New loads the embedded library overlaid by opts.Dir. A file that does
// not compile or load is kept with its error, which it reports when run;
// a Dir that can't be read, or an opts.Exec that does not validate, is an
// error.
func New(opts Options) (*Runtime, error) {
	return newRuntime(opts, embedded)
}

// newRuntime is New with the library to embed given, for tests.
func newRuntime(opts Options, builtin fs.FS) (*Runtime, error) {
	if err := opts.Exec.Validate(); err != nil {
		return nil, err
	}
	opts.PrivatePaths = resolveDirs(opts.PrivatePaths)
	if len(opts.Exec.Dirs) == 0 && !opts.Exec.Off {
		opts.Exec.Dirs = DefaultExecDirs
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = runtime.GOMAXPROCS(0) * 4
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 30 * time.Second
	}
	if opts.MaxHeap == 0 {
		opts.MaxHeap = DefaultMaxHeap()
	}
	rt := &Runtime{opts: opts, heap: newHeapWatch(opts.MaxHeap)}
	var err error
	if rt.embedded, err = loadEmbedded(builtin); err != nil {
		return nil, err
	}
	rt.describe(rt.embedded)
	if err := rt.Reload(); err != nil {
		return nil, err
	}
	return rt, nil
}

// Reload re-reads the check directory and swaps the new library in at
// once: runs already started finish on the old one.
func (rt *Runtime) Reload() error {
	rt.reload.Lock()
	defer rt.reload.Unlock()
	var dir map[string]*entry
	if rt.opts.Dir != "" {
		var err error
		if dir, err = loadDir(rt.opts.Dir); err != nil {
			return err
		}
	}
	if old := rt.lib.Swap(rt.newLibrary(rt.embedded, dir)); old != nil {
		drain(old)
	}
	return nil
}

// Run runs the named check with args, a JSON object (empty for none). It
// never fails: an unknown check, bad args, a Lua error, a Go panic, a
// timeout or a bad return value each give a result with status Unknown
// saying so, as does a run canceled because the heap passed
// Options.MaxHeap. The result fits MaxResult once encoded and has
// DurationMS set.
func (rt *Runtime) Run(ctx context.Context, name string, args []byte) (doc result.Doc) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			rt.log(slog.LevelError, name, panicReport("the runtime", r))
			doc = result.Unknownf("go panic in the runtime: %v", r)
		}
		doc = fit(doc)
		doc.DurationMS = float64(time.Since(start)) / float64(time.Millisecond)
	}()
	if rt.closed.Load() {
		return result.Unknownf("the check runtime is closed")
	}
	lib := rt.lib.Load()
	e := lib.checks[name]
	if e == nil {
		return result.Unknownf("no check named %q", name)
	}
	if e.err != nil {
		return result.Unknownf("check %s (%s) is broken: %v", name, e.source, e.err)
	}
	decoded, timeout, err := rt.parseArgs(args)
	if err != nil {
		return result.Unknownf("bad args: %v", err)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		// The caller's deadline comes first: say that one when it hits.
		timeout = max(time.Until(dl), 0).Round(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return result.Unknownf("canceled before it ran: %v", err)
	}
	ctx, unwatch := rt.heap.watch(ctx)
	defer unwatch() // after the state is let go
	s := rt.get(lib)
	doc, reuse := s.run(ctx, timeout, e, decoded)
	if err := heapExceeded(ctx); err != nil {
		// Whatever the check returned, its state may hold the memory.
		doc, reuse = result.Unknownf("%v", err), false
	}
	if reuse {
		rt.put(lib, s)
	} else {
		s.close()
	}
	return doc
}

// parseArgs decodes a check's args and reads the run's timeout from them.
func (rt *Runtime) parseArgs(args []byte) (map[string]any, time.Duration, error) {
	timeout := rt.opts.DefaultTimeout
	if len(args) == 0 {
		return nil, timeout, nil
	}
	if ms, ok := onlyTimeout(args); ok {
		return map[string]any{timeoutArg: ms}, checkTimeout(ms), nil
	}
	var m map[string]any
	if err := json.Unmarshal(args, &m); err != nil {
		return nil, 0, err
	}
	if m == nil {
		return nil, 0, errors.New("not a JSON object")
	}
	if v, ok := m[timeoutArg]; ok {
		ms, ok := v.(float64)
		if !ok || ms <= 0 || ms > float64(24*time.Hour/time.Millisecond) {
			return nil, 0, fmt.Errorf("_timeout_ms is %v, want milliseconds from 1 to a day", v)
		}
		timeout = checkTimeout(ms)
	}
	return m, timeout, nil
}

// timeoutArg is the arg that bounds a run, in milliseconds.
const timeoutArg = "_timeout_ms"

// onlyTimeout reads the args helen sends a check that has none of its
// own, {"_timeout_ms":N} as helen writes it, N from 1 to a day, without
// a JSON decoder: decoding them was a good part of a quick check's cost.
// It reports false for any other args, which parseArgs decodes.
func onlyTimeout(args []byte) (float64, bool) {
	const prefix = `{"` + timeoutArg + `":`
	n, ok := bytes.CutPrefix(args, []byte(prefix))
	if !ok || len(n) < 2 || n[len(n)-1] != '}' {
		return 0, false
	}
	n = n[:len(n)-1]
	for _, c := range n {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	if n[0] == '0' || len(n) > 9 {
		return 0, false
	}
	ms, err := strconv.Atoi(string(n))
	if err != nil || ms > int(24*time.Hour/time.Millisecond) {
		return 0, false
	}
	return float64(ms), true
}

// checkTimeout is the timeout of a run whose _timeout_ms is ms, which
// parseArgs has checked.
func checkTimeout(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// fit cuts a result whose encoding would exceed MaxResult, the way Encode
// does. The cheap bound first: only a large result pays for the encoding.
func fit(d result.Doc) result.Doc {
	const perMetric = 512 // the numbers and keys of a metric, generously
	size := 6*len(d.Message) + 256
	for _, m := range d.Metrics {
		size += perMetric + 6*(len(m.Name)+len(m.Unit))
	}
	if size <= MaxResult {
		return d
	}
	return result.Parse(d.Encode(MaxResult))
}

// Checks describes the loaded checks, sorted by name.
func (rt *Runtime) Checks() []CheckInfo {
	lib := rt.lib.Load()
	out := make([]CheckInfo, 0, len(lib.checks))
	for _, e := range lib.checks {
		ci := CheckInfo{Name: e.name, Description: e.description, Source: e.source}
		if e.err != nil {
			ci.Err = e.err.Error()
		}
		for _, a := range e.args {
			ci.Args = append(ci.Args, a.info())
		}
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Has reports whether a check of that name is loaded (broken or not).
func (rt *Runtime) Has(name string) bool {
	_, ok := rt.lib.Load().checks[name]
	return ok
}

// BundleHash is the SHA-256, in hex, of the loaded checks' names and
// sources, in name order.
func (rt *Runtime) BundleHash() string { return rt.lib.Load().hash }

// Close releases the idle Lua states and stops the heap watchdog. Runs
// after Close return Unknown.
func (rt *Runtime) Close() {
	rt.closed.Store(true)
	drain(rt.lib.Load())
	rt.heap.close()
}

func (rt *Runtime) log(level slog.Level, check, msg string) {
	if rt.opts.Log != nil {
		rt.opts.Log(level, check, msg)
	}
}
