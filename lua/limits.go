package lua

import (
	glua "github.com/yuin/gopher-lua"
)

// Memory. gopher-lua has no bound on the memory of a state: a check can
// build strings and tables until the process runs out, and Go ends a
// process that runs out of memory. The run's timeout stops growth made by
// Lua code, one instruction at a time, but a single call of a library
// function can ask for gigabytes at once, before any deadline is looked
// at, and the Go runtime cannot refuse it. So the library functions whose
// result can be far larger than their arguments check its size first and
// raise an error beyond maxString. What Lua code grows step by step (a
// table filled in a loop, a string doubled by ..) is bounded only by the
// timeout; the registry and the call stack have gopher-lua's fixed sizes.

// maxString is the longest string string.rep, string.gsub (see
// patternlib.go), table.concat and json.encode will build: the largest
// body the http module may return.
const maxString = maxMaxBody

// limitLibraries replaces the library functions of L whose result may be
// far larger than their arguments with versions that check its size first.
func limitLibraries(L *glua.LState) {
	str := L.GetGlobal(glua.StringLibName).(*glua.LTable)
	tbl := L.GetGlobal(glua.TabLibName).(*glua.LTable)
	rep := str.RawGetString("rep").(*glua.LFunction).GFunction
	concat := tbl.RawGetString("concat").(*glua.LFunction).GFunction
	str.RawSetString("rep", L.NewFunction(func(L *glua.LState) int {
		s, n := L.CheckString(1), L.CheckInt(2)
		if size := float64(len(s)) * float64(n); size > maxString {
			L.RaiseError("string.rep: the result would be %.0f bytes, more than the limit of %d", size, maxString)
		}
		return rep(L)
	}))
	tbl.RawSetString("concat", L.NewFunction(func(L *glua.LState) int {
		limitConcat(L)
		return concat(L)
	}))
}

// limitConcat checks that table.concat(t, sep, i, j) builds at most
// maxString bytes.
func limitConcat(L *glua.LState) {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	n := t.Len()
	i, j := max(L.OptInt(3, 1), 1), min(L.OptInt(4, n), n)
	size := 0.0
	for k := i; k <= j; k++ {
		if v := t.RawGetInt(k); glua.LVCanConvToString(v) {
			size += float64(len(glua.LVAsString(v)) + len(sep))
		}
		if size > maxString {
			L.RaiseError("table.concat: the result would be more than the limit of %d bytes", maxString)
		}
	}
}
