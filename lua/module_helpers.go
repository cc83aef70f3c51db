package lua

// The helpers of this file are shared by the Go modules.

import (
	"context"
	"fmt"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// callContext returns the context of the run L is in, so that a blocking
// call stops at the check's deadline.
func callContext(L *glua.LState) context.Context {
	if ctx := L.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// returnFailure returns nil and a message to Lua: the way a module reports
// an expected failure, which the check turns into its result.
func returnFailure(L *glua.LState, what string, err error) int {
	L.Push(glua.LNil)
	L.Push(glua.LString(what + ": " + err.Error()))
	return 2
}

// newRecord builds a Lua table from Go strings, booleans and numbers.
func newRecord(L *glua.LState, fields map[string]any) *glua.LTable {
	t := L.CreateTable(0, len(fields))
	for k, v := range fields {
		t.RawSetString(k, luaScalar(v))
	}
	return t
}

// luaScalar converts a Go string, boolean or number to Lua; it panics on
// other types, which would be a mistake in a module, not in a check.
func luaScalar(v any) glua.LValue {
	switch v := v.(type) {
	case glua.LValue:
		return v
	case string:
		return glua.LString(v)
	case bool:
		return glua.LBool(v)
	case float64:
		return glua.LNumber(v)
	case int:
		return glua.LNumber(v)
	case int32:
		return glua.LNumber(v)
	case int64:
		return glua.LNumber(v)
	case uint32:
		return glua.LNumber(v)
	case uint64:
		return glua.LNumber(v)
	}
	panic(fmt.Sprintf("lua: no Lua value for %T", v))
}

// optField returns the number in field name of the options table at
// argument n, or def when the table or the field is absent; a value of
// another type is a misuse and raises an error.
func optField(L *glua.LState, n int, name string, def float64) float64 {
	if L.Get(n) == glua.LNil {
		return def
	}
	opts, ok := L.Get(n).(*glua.LTable)
	if !ok {
		L.ArgError(n, "options must be a table")
	}
	switch v := opts.RawGetString(name).(type) {
	case *glua.LNilType:
		return def
	case glua.LNumber:
		return float64(v)
	default:
		L.ArgError(n, fmt.Sprintf("%s must be a number, not %s", name, v.Type()))
		return def
	}
}

// msSince returns the milliseconds elapsed since start.
func msSince(start time.Time) float64 {
	return float64(time.Since(start)) / float64(time.Millisecond)
}
