package lua

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

// testpanic is a Go module that panics, to see the runtime catch it.
func init() {
	register("testpanic", func(*Env) glua.LGFunction {
		return func(L *glua.LState) int {
			// object() is a userdata whose method boom panics: a Go
			// function no module guard wraps.
			mt := L.NewTable()
			L.SetField(mt, "__index", L.SetFuncs(L.NewTable(), map[string]glua.LGFunction{
				"boom": func(*glua.LState) int { panic("method kaboom") },
			}))
			L.Push(L.SetFuncs(L.NewTable(), map[string]glua.LGFunction{
				"now": func(*glua.LState) int { panic("kaboom") },
				"object": func(L *glua.LState) int {
					ud := L.NewUserData()
					L.SetMetatable(ud, mt)
					L.Push(ud)
					return 1
				},
			}))
			return 1
		}
	})
}

// builtinFS stands for the embedded library in tests.
var builtinFS = fstest.MapFS{
	"checks/echo.lua":      {Data: []byte(`return { description = "embedded echo", run = function() return { status = "ok", message = "embedded" } end }`)},
	"checks/only.lua":      {Data: []byte(`return { description = "only embedded", run = function() return { status = "ok", message = "only" } end }`)},
	"checks/only_test.lua": {Data: []byte(`error("a test file is not a check")`)},
	"checks/README.md":     {Data: []byte("# not a check")},
}

// logEntry is one message the runtime logged.
type logEntry struct {
	level slog.Level
	check string
	msg   string
}

// logRecorder collects the runtime's log.
type logRecorder struct {
	mu      sync.Mutex
	entries []logEntry
}

func (r *logRecorder) log(level slog.Level, check, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, logEntry{level, check, msg})
}

// find returns the first entry at level whose message contains s.
func (r *logRecorder) find(level slog.Level, s string) (logEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries {
		if e.level == level && strings.Contains(e.msg, s) {
			return e, true
		}
	}
	return logEntry{}, false
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.entries {
		fmt.Fprintf(&b, "%v %s: %s\n", e.level, e.check, e.msg)
	}
	return b.String()
}

// newTestRuntime opens a runtime on testdata/checks over builtinFS, closed
// when the test ends.
func newTestRuntime(t testing.TB, opts Options) (*Runtime, *logRecorder) {
	t.Helper()
	noLeaks(t)
	rec := &logRecorder{}
	if opts.Dir == "" {
		opts.Dir = "testdata/checks"
	}
	opts.Log = rec.log
	rt, err := newRuntime(opts, builtinFS)
	if err != nil {
		t.Fatalf("newRuntime: %v", err)
	}
	t.Cleanup(rt.Close)
	return rt, rec
}

// noLeaks fails the test if it ends with goroutines it started, once
// those that are ending have had a moment to end.
func noLeaks(t testing.TB) { leakcheck.Test(t, 2*time.Second) }

// TestMain fails the run when the tests leave a goroutine of the runtime
// behind, such as the heap watcher of a Runtime not closed.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/lua.") }
