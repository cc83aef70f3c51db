package lua

import (
	"fmt"
	"math"
	"sort"
	"strings"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/result"
)

// argKinds are the kinds check.args knows, each with the test of a value.
// A test returns why the value does not fit, or "".
var argKinds = map[string]func(glua.LValue) string{
	"string":  wantType(glua.LTString),
	"number":  wantType(glua.LTNumber),
	"boolean": wantType(glua.LTBool),
	"table":   wantType(glua.LTTable),
	"threshold": func(v glua.LValue) string {
		if v.Type() != glua.LTString && v.Type() != glua.LTNumber {
			return "is a " + v.Type().String() + ", want a threshold such as \"90\" or \"10:\""
		}
		if _, err := result.ParseRange(v.String()); err != nil {
			return err.Error()
		}
		return ""
	},
	"pattern": func(v glua.LValue) string {
		s, ok := v.(glua.LString)
		if !ok {
			return "is a " + v.Type().String() + ", want a Lua pattern"
		}
		if err := patternError(string(s)); err != nil {
			return fmt.Sprintf("pattern %q: %v", string(s), err)
		}
		return ""
	},
	"list": func(v glua.LValue) string { // a string or number, or a list of them
		t, ok := v.(*glua.LTable)
		if !ok {
			if v.Type() != glua.LTString && v.Type() != glua.LTNumber {
				return "is a " + v.Type().String() + ", want a string, a number or a list of them"
			}
			return ""
		}
		for i := 1; i <= t.Len(); i++ {
			if e := t.RawGetInt(i); e.Type() != glua.LTString && e.Type() != glua.LTNumber {
				return fmt.Sprintf("item %d is a %s, want a string", i, e.Type())
			}
		}
		return ""
	},
}

func wantType(want glua.LValueType) func(glua.LValue) string {
	return func(v glua.LValue) string {
		if v.Type() != want {
			return fmt.Sprintf("is a %s, want a %s", v.Type(), want)
		}
		return ""
	}
}

// checkArgs is check.args(args, spec) -> args: it checks a check's args
// against spec, which maps each arg the check takes to its kind: "string",
// "number", "boolean", "table", "threshold" (a Nagios range, as a string
// or a number), "pattern" (a Lua pattern), or "list" (a string, a number,
// or a list of them); a kind ending in "!" is required. Args whose names start
// with "_" belong to the runtime (_timeout_ms) and are let through. It
// returns args, or an empty table for nil, and raises an error, without a
// position, such as `bad args: warn: threshold "abc": ...` for an arg that
// does not fit or is not in spec: a typo in a threshold's name must not go
// unnoticed.
func checkArgs(L *glua.LState) int {
	args, ok := L.Get(1).(*glua.LTable)
	if !ok && L.Get(1) != glua.LNil {
		argsError(L, "args is a %s, want a table", L.Get(1).Type())
	}
	if args == nil {
		args = L.NewTable()
	}
	spec := L.CheckTable(2)
	var known []string
	spec.ForEach(func(k, v glua.LValue) {
		name, kind := k.String(), strings.TrimSuffix(v.String(), "!")
		if _, ok := argKinds[kind]; !ok || k.Type() != glua.LTString {
			L.ArgError(2, fmt.Sprintf("%s: unknown kind %q", name, v.String()))
		}
		known = append(known, name)
		val := args.RawGetString(name)
		if val == glua.LNil || val == jsonNull {
			if strings.HasSuffix(v.String(), "!") {
				argsError(L, "%s is required", name)
			}
			return
		}
		if why := argKinds[kind](val); why != "" {
			argsError(L, "%s %s", name, why)
		}
	})
	sort.Strings(known)
	args.ForEach(func(k, _ glua.LValue) {
		name, ok := k.(glua.LString)
		if ok && strings.HasPrefix(string(name), "_") {
			return
		}
		if !ok || spec.RawGetString(string(name)) == glua.LNil {
			argsError(L, "unknown arg %s (known: %s)", k, strings.Join(known, ", "))
		}
	})
	L.Push(args)
	return 1
}

// argsError raises a bad args error without the position of the caller,
// which would point into the check rather than at the operator's mistake.
func argsError(L *glua.LState, format string, a ...any) {
	L.Error(glua.LString("bad args: "+fmt.Sprintf(format, a...)), 0)
}

// checkRound is check.round(x, places) -> number: x rounded to places
// decimal places (default 0), for metrics that need no more precision than
// a person reads (a percentage to 2 places, milliseconds to 3).
func checkRound(L *glua.LState) int {
	x := float64(L.CheckNumber(1))
	places := L.OptInt(2, 0)
	if places < 0 || places > 15 {
		L.ArgError(2, "places must be from 0 to 15")
	}
	p := math.Pow(10, float64(places))
	L.Push(glua.LNumber(math.Round(x*p) / p))
	return 1
}
