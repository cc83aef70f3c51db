package lua

import (
	"log/slog"
	"sort"

	glua "github.com/yuin/gopher-lua"
)

// Env is what the Go modules need from the runtime that opens them.
type Env struct {
	// Exec is the agent's policy for the programs the exec module runs.
	Exec ExecPolicy
	// PrivatePaths are files, and directories of files, that the fs module
	// does not read (the agent's data directory and its key), as absolute
	// paths with their links resolved.
	PrivatePaths []string
	// Log receives the messages of the log module; nil discards them.
	Log func(level slog.Level, check, msg string)
	// Check is the name of the check running in the Lua state. Each state
	// has its own Env, and the runtime sets Check before every run, so a
	// module function reads it when called, not when opened.
	Check string
}

// A module is a Go module that checks may require, such as host or http.
type module struct {
	name string
	open func(env *Env) glua.LGFunction
}

// modules holds every Go module, filled by the init function of each
// module's file so that a module is one file.
var modules = map[string]module{}

func register(name string, open func(env *Env) glua.LGFunction) {
	if _, dup := modules[name]; dup {
		panic("lua: module registered twice: " + name)
	}
	modules[name] = module{name: name, open: open}
}

// moduleNames returns the names of the registered modules in order.
func moduleNames() []string {
	names := make([]string, 0, len(modules))
	for n := range modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// preloadModules makes every Go module available to require in L.
func preloadModules(L *glua.LState, env *Env) {
	for _, n := range moduleNames() {
		L.PreloadModule(n, modules[n].open(env))
	}
}
