package lua

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// The sandbox: a check gets base, table, string and math, os.time, os.clock
// and os.date, and require of the Go modules. Nothing of gopher-lua's reads
// or writes a file, runs a program or turns a string into code: those
// functions are removed, since all a check needs from the host comes from
// the Go modules, and a string that arrived over the wire must never become
// code. Text load and loadstring are removed too: checks are compiled once
// from the library and have no use for eval.

// removedGlobals are the functions of the base library a check may not use.
var removedGlobals = []string{
	"dofile", "loadfile", "load", "loadstring", // code from files or strings
	"module",             // writes into package.loaded and globals
	"getfenv", "setfenv", // setfenv(0, t) would swap a pooled state's globals
	"collectgarbage", // a full GC of the whole process, on demand
	"_printregs",     // debugging aid that writes to stdout
	"package",        // require keeps working through the registry
}

// osKept are the functions of the os library a check may use.
var osKept = []string{"time", "clock", "date"}

// openLibs lists the libraries opened in every state, package first so that
// Go modules can be preloaded.
var openLibs = []struct {
	name string
	open glua.LGFunction
}{
	{glua.LoadLibName, glua.OpenPackage},
	{glua.BaseLibName, glua.OpenBase},
	{glua.TabLibName, glua.OpenTable},
	{glua.StringLibName, glua.OpenString},
	{glua.MathLibName, glua.OpenMath},
	{glua.OsLibName, glua.OpenOs},
}

// registryStart is the size, in values, a state's registry starts at and
// grows by.
const registryStart = 256

// newSandbox returns a Lua state with the sandboxed libraries and every Go
// module preloaded, each module function guarded against Go panics.
func newSandbox(env *Env, onPanic func(what string, v any)) *glua.LState {
	// The registry (the data stack) and the call stack start small and
	// grow as a check needs, up to gopher-lua's fixed sizes, which stay
	// the bounds: a state made at those sizes holds about 110 KiB before
	// it runs anything, and a check of the library needs a few KiB.
	L := glua.NewState(glua.Options{
		SkipOpenLibs: true, IncludeGoStackTrace: true,
		RegistrySize: registryStart, RegistryMaxSize: glua.RegistrySize, RegistryGrowStep: registryStart,
		CallStackSize: glua.CallStackSize, MinimizeStackMemory: true,
	})
	for _, lib := range openLibs {
		L.Push(L.NewFunction(lib.open))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, n := range moduleNames() {
		L.PreloadModule(n, guardModule(n, modules[n].open(env), onPanic))
	}
	// require finds only the preloaded Go modules: it never searches
	// package.path, and the package table itself is gone from the globals.
	preload := L.GetField(L.GetGlobal(glua.LoadLibName), "preload").(*glua.LTable)
	loaders := L.GetField(L.Get(glua.RegistryIndex), "_LOADERS").(*glua.LTable)
	for i := loaders.Len(); i > 1; i-- {
		loaders.RawSetInt(i, glua.LNil)
	}
	loaders.RawSetInt(1, L.NewFunction(func(L *glua.LState) int {
		name := L.CheckString(1)
		if lv := preload.RawGetString(name); lv != glua.LNil {
			L.Push(lv)
		} else {
			L.Push(glua.LString("no Go module " + name))
		}
		return 1
	}))
	os := L.GetGlobal(glua.OsLibName).(*glua.LTable)
	safeOS := L.NewTable()
	for _, n := range osKept {
		safeOS.RawSetString(n, os.RawGetString(n))
	}
	L.SetGlobal(glua.OsLibName, safeOS)
	// require("os") must not hand back the whole library, nor
	// require("package") the loaders.
	loaded := L.GetField(L.Get(glua.RegistryIndex), "_LOADED").(*glua.LTable)
	loaded.RawSetString(glua.OsLibName, safeOS)
	loaded.RawSetString(glua.LoadLibName, glua.LNil)
	limitLibraries(L)
	installPatterns(L)
	protectStrings(L)
	supportPairs(L)
	// gopher-lua has no bytecode: string.dump only raises, so it goes.
	L.GetGlobal(glua.StringLibName).(*glua.LTable).RawSetString("dump", glua.LNil)
	for _, n := range removedGlobals {
		L.SetGlobal(n, glua.LNil)
	}
	L.SetGlobal("print", L.NewFunction(func(L *glua.LState) int {
		logArgs(L, env, slog.LevelDebug)
		return 0
	}))
	return L
}

// guardModule wraps a module's loader, and every Go function of the table
// it returns, so that a Go panic becomes a Lua error and a call of onPanic
// (which logs it with its stack and marks the run) instead of being taken
// by the check's pcall for an ordinary error.
func guardModule(name string, loader glua.LGFunction, onPanic func(string, any)) glua.LGFunction {
	return guard("require "+name, func(L *glua.LState) int {
		n := loader(L)
		if n > 0 {
			if t, ok := L.Get(-1).(*glua.LTable); ok {
				guardTable(name, t, onPanic, 2)
			}
		}
		return n
	}, onPanic)
}

// guardTable wraps the Go functions of t, and of its tables depth levels
// down.
func guardTable(prefix string, t *glua.LTable, onPanic func(string, any), depth int) {
	t.ForEach(func(k, v glua.LValue) {
		key, ok := k.(glua.LString)
		if !ok {
			return
		}
		switch v := v.(type) {
		case *glua.LFunction:
			if v.IsG {
				v.GFunction = guard(prefix+"."+string(key), v.GFunction, onPanic)
			}
		case *glua.LTable:
			if depth > 0 {
				guardTable(prefix+"."+string(key), v, onPanic, depth-1)
			}
		}
	})
}

// guard returns fn with a recover for Go panics. Lua errors (raised by
// RaiseError, ArgError, a cancelled context) pass through untouched.
func guard(what string, fn glua.LGFunction, onPanic func(string, any)) glua.LGFunction {
	return func(L *glua.LState) (n int) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if _, lua := r.(*glua.ApiError); lua {
				panic(r)
			}
			onPanic(what, r)
			L.RaiseError("go panic in %s: %v", what, r)
		}()
		return fn(L)
	}
}

// panicReport formats a recovered panic with the stack of the goroutine
// that panicked, for the log.
func panicReport(what string, v any) string {
	return fmt.Sprintf("go panic in %s: %v\n%s", what, v, debug.Stack())
}

// logArgs sends the arguments of a log or print call, joined by spaces as
// print does, to env.Log.
func logArgs(L *glua.LState, env *Env, level slog.Level) {
	if env.Log == nil {
		return
	}
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	env.Log(level, env.Check, strings.Join(parts, " "))
}
