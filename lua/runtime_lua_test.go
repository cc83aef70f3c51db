package lua

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/equus-monitoring/equus/result"
)

// Lua tests: every global function Test* of a *_test.lua file runs as a
// Go subtest, in a sandboxed state with the Go modules, given a table t
// with t:error(...) (fail and go on), t:log(...) and t:skip(...); error()
// or a failed assert ends the test. check_run(name, args) runs a check of
// the library through the runtime and returns its result as a table.
//
// testdata/*_test.lua run against testdata/checks; checks/*_test.lua (the
// embedded library's own tests) against the embedded library.

func TestLuaTestdata(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{})
	runLuaTests(t, rt, "testdata/*_test.lua")
}

func TestLuaLibrary(t *testing.T) {
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	runLuaTests(t, rt, "checks/*_test.lua")
}

func runLuaTests(t *testing.T, rt *Runtime, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runLuaFile(t, rt, file) })
	}
}

func runLuaFile(t *testing.T, rt *Runtime, file string) {
	code, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	chunk, err := parse.Parse(bytes.NewReader(code), filepath.Base(file))
	if err != nil {
		t.Fatalf("syntax error: %v", err)
	}
	proto, err := glua.Compile(chunk, filepath.Base(file))
	if err != nil {
		t.Fatal(err)
	}
	s := rt.newState()
	defer s.close()
	L := s.L
	s.env.Check = strings.TrimSuffix(filepath.Base(file), ".lua")
	L.SetGlobal("check_run", L.NewFunction(func(L *glua.LState) int {
		var args []byte
		if L.GetTop() >= 2 && L.Get(2) != glua.LNil {
			var err error
			if args, err = appendJSON(nil, L.Get(2), 0); err != nil {
				L.ArgError(2, err.Error())
			}
		}
		L.Push(docTable(L, rt.Run(L.Context(), L.CheckString(1), args)))
		return 1
	}))

	fn := L.NewFunctionFromProto(proto)
	env := s.checkEnv()
	fn.Env = env
	L.Push(fn)
	if err := L.PCall(0, 0, nil); err != nil {
		t.Fatalf("loading: %v", err)
	}
	var names []string
	env.ForEach(func(k, v glua.LValue) {
		if name, ok := k.(glua.LString); ok && strings.HasPrefix(string(name), "Test") && v.Type() == glua.LTFunction {
			names = append(names, string(name))
		}
	})
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("%s has no Test functions", file)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			L.SetContext(ctx)
			defer L.RemoveContext()
			var skipped string
			L.Push(env.RawGetString(name))
			L.Push(testTable(L, t, &skipped))
			err := L.PCall(1, 0, nil)
			switch {
			case skipped != "":
				t.Skip(skipped)
			case err != nil:
				t.Fatal(err)
			}
		})
	}
}

// testTable is the t a Lua test function receives. t:skip records why and
// raises an error to unwind the Lua stack, since t.Skip must not be called
// from inside a Lua call.
func testTable(L *glua.LState, t *testing.T, skipped *string) *glua.LTable {
	tt := L.NewTable()
	text := func(L *glua.LState) string {
		var parts []string
		for i := 1; i <= L.GetTop(); i++ {
			if v := L.Get(i); v != tt {
				parts = append(parts, L.ToStringMeta(v).String())
			}
		}
		where := L.Where(1)
		return where + " " + strings.Join(parts, " ")
	}
	L.SetFuncs(tt, map[string]glua.LGFunction{
		"error": func(L *glua.LState) int { t.Error(text(L)); return 0 },
		"log":   func(L *glua.LState) int { t.Log(text(L)); return 0 },
		"skip": func(L *glua.LState) int {
			*skipped = text(L)
			L.RaiseError("skipped")
			return 0
		},
	})
	return tt
}

// docTable converts a result to the table check_run returns.
func docTable(L *glua.LState, d result.Doc) *glua.LTable {
	t := L.NewTable()
	t.RawSetString("status", glua.LString(d.Status))
	t.RawSetString("message", glua.LString(d.Message))
	t.RawSetString("duration_ms", glua.LNumber(d.DurationMS))
	ms := L.NewTable()
	for _, m := range d.Metrics {
		mt := L.NewTable()
		mt.RawSetString("name", glua.LString(m.Name))
		mt.RawSetString("value", glua.LNumber(m.Value))
		if m.Unit != "" {
			mt.RawSetString("unit", glua.LString(m.Unit))
		}
		for k, p := range map[string]*float64{"warn": m.Warn, "crit": m.Crit, "min": m.Min, "max": m.Max} {
			if p != nil {
				mt.RawSetString(k, glua.LNumber(*p))
			}
		}
		ms.Append(mt)
	}
	t.RawSetString("metrics", ms)
	return t
}
