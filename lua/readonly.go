package lua

import (
	"fmt"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// Read-only libraries. A pooled state runs one check after another, and
// the library tables (string, table, math, os, the Go modules) are the
// state's: a check that set string.format = nil would break every check
// run by that state after it. So a check never holds the real tables. Its
// environment has a proxy of each: an empty table whose metatable reads
// through to the real one and refuses writes. The proxies are the check's
// own, made when its code is loaded in a state, so even a raw write
// (rawset, table.insert) changes only what that check sees; their
// metatables, like the string metatable and the other metatables a check
// can reach, are protected (getmetatable gives false, setmetatable
// refuses), and require hands out proxies too.

// libraryTables are the globals that are library tables.
var libraryTables = []string{glua.StringLibName, glua.TabLibName, glua.MathLibName, glua.OsLibName}

// protectMetatable makes mt unreachable from Lua: getmetatable returns
// false for the values it belongs to, and setmetatable refuses them.
func protectMetatable(mt *glua.LTable) { mt.RawSetString("__metatable", glua.LFalse) }

// readOnlyMeta returns the metatable of the proxies of t: reads go to t,
// writes raise an error naming what, pairs lists t.
func readOnlyMeta(L *glua.LState, what string, t *glua.LTable) *glua.LTable {
	return readOnlyMetaSeen(L, what, t, map[*glua.LTable]*glua.LTable{})
}

// readOnlyMetaSeen is readOnlyMeta with the metatables already made for
// the tables t holds, so that a cycle ends.
func readOnlyMetaSeen(L *glua.LState, what string, t *glua.LTable, seen map[*glua.LTable]*glua.LTable) *glua.LTable {
	mt := L.NewTable()
	seen[t] = mt
	view := readView(L, what, t, seen)
	mt.RawSetString("__index", view)
	mt.RawSetString("__newindex", L.NewFunction(func(L *glua.LState) int {
		L.RaiseError("cannot change %s", what)
		return 0
	}))
	next := L.NewFunction(func(L *glua.LState) int {
		k, v := view.Next(L.Get(2))
		L.Push(k)
		L.Push(v)
		return 2
	})
	mt.RawSetString("__pairs", L.NewFunction(func(L *glua.LState) int {
		L.Push(next)
		L.Push(L.Get(1))
		L.Push(glua.LNil)
		return 3
	}))
	protectMetatable(mt)
	return mt
}

// readView is t itself, or, when t holds tables, a copy of t whose tables
// are read-only proxies in turn, and without the fields of a metatable
// (gopher-lua's string table is also the strings' metatable, its own
// __index).
func readView(L *glua.LState, what string, t *glua.LTable, seen map[*glua.LTable]*glua.LTable) *glua.LTable {
	plain := true
	t.ForEach(func(k, v glua.LValue) {
		if _, ok := v.(*glua.LTable); ok {
			plain = false
		}
	})
	if plain {
		return t
	}
	view := L.NewTable()
	t.ForEach(func(k, v glua.LValue) {
		if k, ok := k.(glua.LString); ok && strings.HasPrefix(string(k), "__") {
			return
		}
		if sub, ok := v.(*glua.LTable); ok {
			mt := seen[sub]
			if mt == nil {
				mt = readOnlyMetaSeen(L, fmt.Sprintf("%s (%v)", what, k), sub, seen)
			}
			p := L.NewTable()
			p.Metatable = mt
			v = p
		}
		view.RawSet(k, v)
	})
	return view
}

// protectStrings gives strings a protected metatable of their own. In
// gopher-lua it is the string table itself, its own __index: a check
// could reach the real table as getmetatable("") or ("").__index. Method
// calls such as ("x"):rep(2) still read the real table.
func protectStrings(L *glua.LState) {
	str := L.GetGlobal(glua.StringLibName).(*glua.LTable)
	str.RawSetString("__index", glua.LNil)
	mt := L.NewTable()
	mt.RawSetString("__index", str)
	protectMetatable(mt)
	L.SetMetatable(glua.LString(""), mt)
}

// supportPairs makes pairs honour a __pairs metamethod, as Lua 5.2 does,
// so that pairs over a library proxy lists the library.
func supportPairs(L *glua.LState) {
	pairs := L.GetGlobal("pairs").(*glua.LFunction).GFunction
	L.SetGlobal("pairs", L.NewFunction(func(L *glua.LState) int {
		if t, ok := L.Get(1).(*glua.LTable); ok {
			if mt, ok := t.Metatable.(*glua.LTable); ok {
				if fn, ok := mt.RawGetString("__pairs").(*glua.LFunction); ok {
					L.Push(fn)
					L.Push(t)
					L.Call(1, 3)
					return 3
				}
			}
		}
		return pairs(L)
	}))
}

// proxy returns a new read-only proxy of the library or module name,
// whose real table is t, making its metatable the first time.
func (s *state) proxy(name string, t *glua.LTable) *glua.LTable {
	mt := s.readOnly[name]
	if mt == nil {
		what := "the " + name + " module"
		if _, ok := modules[name]; !ok {
			what = "the " + name + " library"
		}
		mt = readOnlyMeta(s.L, what, t)
		s.readOnly[name] = mt
	}
	p := s.L.NewTable()
	p.Metatable = mt
	return p
}

// baseGlobals is a copy of the globals without the library tables, _G
// and require: what a check's globals fall through to. A check that sets
// its own string to nil must not find the real table behind it.
func baseGlobals(L *glua.LState, globals *glua.LTable) *glua.LTable {
	base := L.NewTable()
	globals.ForEach(func(k, v glua.LValue) {
		if _, ok := v.(*glua.LTable); !ok && k != glua.LString("require") {
			base.RawSet(k, v)
		}
	})
	return base
}

// checkEnv returns a new environment for a check's code: its own globals,
// whose misses fall through to the state's functions, with proxies of the libraries
// and a require that hands out proxies of the modules.
func (s *state) checkEnv() *glua.LTable {
	L := s.L
	globals := L.Get(glua.GlobalsIndex).(*glua.LTable)
	if s.base == nil {
		s.base = baseGlobals(L, globals)
	}
	env := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", s.base)
	protectMetatable(mt)
	env.Metatable = mt
	env.RawSetString("_G", env)
	loaded := map[string]glua.LValue{"_G": env}
	for _, name := range libraryTables {
		p := s.proxy(name, globals.RawGetString(name).(*glua.LTable))
		env.RawSetString(name, p)
		loaded[name] = p
	}
	require := globals.RawGetString("require")
	env.RawSetString("require", L.NewFunction(func(L *glua.LState) int {
		name := L.CheckString(1)
		if v, ok := loaded[name]; ok {
			L.Push(v)
			return 1
		}
		if _, ok := modules[name]; !ok {
			L.RaiseError("module %q is not available to checks (modules: %s)", name, strings.Join(moduleNames(), ", "))
		}
		L.Push(require)
		L.Push(glua.LString(name))
		L.Call(1, 1)
		v := L.Get(-1)
		if t, ok := v.(*glua.LTable); ok {
			v = s.proxy(name, t)
			L.Replace(-1, v)
		}
		loaded[name] = v
		return 1
	}))
	return env
}
