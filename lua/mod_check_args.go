package lua

import (
	"errors"
	"fmt"
	"slices"
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

// ArgInfo describes an arg a check takes, as its declaration says: the
// reference of `equus check --describe` and docs/checks.md.
type ArgInfo struct {
	Name string `json:"name"`
	// Kind is one of the kinds of check.args: string, number, boolean,
	// table, threshold, pattern or list.
	Kind     string `json:"kind"`
	Required bool   `json:"required,omitempty"`
	// Default is the value the arg takes when not given (a string, a
	// float64 or a bool), or nil for none.
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// argSpec is one arg of a declaration, parsed.
type argSpec struct {
	name, kind  string
	required    bool
	def         glua.LValue // LNil, or an LString, LNumber or LBool
	description string
}

// info returns the ArgInfo of a.
func (a argSpec) info() ArgInfo {
	ai := ArgInfo{Name: a.name, Kind: a.kind, Required: a.required, Description: a.description}
	switch v := a.def.(type) {
	case glua.LString:
		ai.Default = string(v)
	case glua.LNumber:
		ai.Default = float64(v)
	case glua.LBool:
		ai.Default = bool(v)
	}
	return ai
}

// parseSpec parses a declaration of args: a table mapping each arg's name
// to its kind ("number", "string!") or to a table
// {kind = KIND, default = VALUE, description = TEXT}. It returns the args
// in name order, or why the declaration is wrong.
func parseSpec(spec *glua.LTable) ([]argSpec, error) {
	var out []argSpec
	var bad error
	spec.ForEach(func(k, v glua.LValue) {
		if bad != nil {
			return
		}
		name, ok := k.(glua.LString)
		if !ok {
			bad = fmt.Errorf("arg name %s is a %s, want a string", k, k.Type())
			return
		}
		a := argSpec{name: string(name), def: glua.LNil}
		switch v := v.(type) {
		case glua.LString:
			a.kind = string(v)
		case *glua.LTable:
			a, bad = parseArgTable(a, v)
			if bad != nil {
				return
			}
		default:
			bad = fmt.Errorf("%s: is a %s, want a kind or a table with kind", name, v.Type())
			return
		}
		kind, required := strings.CutSuffix(a.kind, "!")
		if _, known := argKinds[kind]; !known {
			bad = fmt.Errorf("%s: unknown kind %q", name, a.kind)
			return
		}
		a.kind, a.required = kind, required
		if a.def != glua.LNil {
			if required {
				bad = fmt.Errorf("%s: a required arg has no default", name)
				return
			}
			if why := argKinds[kind](a.def); why != "" {
				bad = fmt.Errorf("%s: default %s", name, why)
				return
			}
		}
		out = append(out, a)
	})
	if bad != nil {
		return nil, bad
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// parseArgTable fills a from the table form of an arg's declaration.
func parseArgTable(a argSpec, t *glua.LTable) (argSpec, error) {
	var bad error
	t.ForEach(func(k, v glua.LValue) {
		if bad != nil {
			return
		}
		switch k.String() {
		case "kind":
			a.kind = v.String()
			if v.Type() != glua.LTString {
				bad = fmt.Errorf("%s: kind is a %s, want a string", a.name, v.Type())
			}
		case "default":
			switch v.Type() {
			case glua.LTString, glua.LTNumber, glua.LTBool:
				a.def = v
			default:
				bad = fmt.Errorf("%s: default is a %s, want a string, a number or a boolean", a.name, v.Type())
			}
		case "description":
			a.description = v.String()
			if v.Type() != glua.LTString || strings.ContainsAny(a.description, "\r\n") {
				bad = fmt.Errorf("%s: description must be one line of text", a.name)
			}
		default:
			bad = fmt.Errorf("%s: unknown field %s (want kind, default, description)", a.name, k)
		}
	})
	if bad == nil && a.kind == "" {
		bad = fmt.Errorf("%s: no kind", a.name)
	}
	return a, bad
}

// validate checks args against specs and sets the defaults of the args
// not given. It returns, without a position, an error such as
// `bad args: warn: threshold "abc": ...` for an arg that does not fit or
// is not in specs: a typo in a threshold's name must not go unnoticed.
// Args whose names start with "_" belong to the runtime (_timeout_ms)
// and are let through.
func validate(args *glua.LTable, specs []argSpec) error {
	known := make([]string, len(specs))
	for i, a := range specs {
		known[i] = a.name
		val := args.RawGetString(a.name)
		if val == glua.LNil || val == jsonNull {
			if a.required {
				return argsErr("%s is required", a.name)
			}
			args.RawSetString(a.name, a.def)
			continue
		}
		if why := argKinds[a.kind](val); why != "" {
			return argsErr("%s %s", a.name, why)
		}
	}
	var bad error
	args.ForEach(func(k, _ glua.LValue) {
		name, ok := k.(glua.LString)
		if bad != nil || ok && strings.HasPrefix(string(name), "_") {
			return
		}
		if !ok || !slices.Contains(known, string(name)) {
			bad = argsErr("unknown arg %s (known: %s)", k, strings.Join(known, ", "))
		}
	})
	return bad
}

func argsErr(format string, a ...any) error {
	return errors.New("bad args: " + fmt.Sprintf(format, a...))
}

// checkArgs is check.args(args, spec) -> args: it checks a check's args
// against spec (see parseSpec) as the runtime does for a check that
// declares its args, and returns args, or an empty table for nil, with
// the defaults of spec set. A kind is "string", "number", "boolean",
// "table", "threshold" (a Nagios range, as a string or a number),
// "pattern" (a Lua pattern), or "list" (a string, a number, or a list of
// them); a kind ending in "!" is required. A bad spec is an argument
// error; args that do not fit raise validate's error, without a position,
// which would point into the check rather than at the operator's mistake.
func checkArgs(L *glua.LState) int {
	args, ok := L.Get(1).(*glua.LTable)
	if !ok && L.Get(1) != glua.LNil {
		L.Error(glua.LString(argsErr("args is a %s, want a table", L.Get(1).Type()).Error()), 0)
	}
	if args == nil {
		args = L.NewTable()
	}
	specs, err := parseSpec(L.CheckTable(2))
	if err != nil {
		L.ArgError(2, err.Error())
	}
	if err := validate(args, specs); err != nil {
		L.Error(glua.LString(err.Error()), 0)
	}
	L.Push(args)
	return 1
}
