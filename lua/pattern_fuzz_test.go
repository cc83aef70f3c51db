package lua

import (
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// patternOps calls every pattern function on its args, s, p, r, init and
// n, and returns one line per call: the values it returned (their number,
// then type:value of each), or its error.
const patternOps = `
local s, p, r, init, n = ...
local out = {}
local function show(...)
  local parts = {select("#", ...)}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[#parts + 1] = type(v) .. ":" .. tostring(v)
  end
  return table.concat(parts, " ")
end
local function rec(name, ok, ...)
  if ok then
    out[#out + 1] = name .. " " .. show(...)
  else
    out[#out + 1] = name .. " error " .. tostring((...))
  end
end
local tbl = {a = "A", b = true, c = false, ab = "AB", [""] = "empty",
  ["1"] = "text1", [1] = "num1", [2] = 2.5, [3] = {}}
local function fn(...)
  local a = ...
  if a == "" then return false end
  if a == "x" then return nil end
  if type(a) == "number" then return a * 2 end
  return select("#", ...) .. "<" .. tostring(a) .. ">"
end
rec("find", pcall(string.find, s, p, init))
rec("find-noinit", pcall(string.find, s, p))
rec("find-plain", pcall(string.find, s, p, init, true))
rec("method-find", pcall(function() return s:find(p, init) end))
rec("match", pcall(string.match, s, p, init))
rec("match-noinit", pcall(string.match, s, p))
rec("gmatch", pcall(function()
  local all = {}
  for a, b, c, d, e, f, g, h, i, j in string.gmatch(s, p) do
    all[#all + 1] = show(a, b, c, d, e, f, g, h, i, j)
    if #all > 300 then break end
  end
  return table.concat(all, "; ")
end))
rec("gsub", pcall(string.gsub, s, p, r))
rec("gsub-n", pcall(string.gsub, s, p, r, n))
rec("gsub-table", pcall(string.gsub, s, p, tbl))
rec("gsub-function", pcall(string.gsub, s, p, fn))
rec("gsub-function-n", pcall(string.gsub, s, p, fn, n))
return table.concat(out, "\30")
`

// runPatternOps runs patternOps in L and returns its lines.
func runPatternOps(t testing.TB, L *glua.LState, s, p, r string, init, n int) []string {
	t.Helper()
	fn, err := L.LoadString(patternOps)
	if err != nil {
		t.Fatal(err)
	}
	L.Push(fn)
	for _, v := range []glua.LValue{glua.LString(s), glua.LString(p), glua.LString(r), glua.LNumber(init), glua.LNumber(n)} {
		L.Push(v)
	}
	if err := L.PCall(5, 1, nil); err != nil {
		t.Fatalf("pattern ops: %v", err)
	}
	out := L.Get(-1).String()
	L.Pop(1)
	return strings.Split(out, "\x1e")
}

// quickPattern reports whether trying p at every position of s takes few
// steps of the matcher, so that gopher-lua's own, which no deadline stops,
// finishes in milliseconds too.
func quickPattern(p *pattern, s string) (quick bool) {
	m := newMatcher(nil, s, p)
	m.budget = 100_000
	defer func() {
		if r := recover(); r != nil {
			stop, ok := r.(stopMatch)
			if !ok {
				panic(r)
			}
			quick = stop.err != errBudget
		}
	}()
	for sp := 0; sp <= len(s); sp++ {
		m.depth = 0
		m.match(sp, 0)
	}
	return true
}

// FuzzPatterns compares the pattern functions of the sandbox with
// gopher-lua's own on the same calls (see comparePatternOps): the same
// values, or the same error. gsub's n is from 1 to 8 (TestPatternFunctions
// covers 0 and less, where the two differ).
func FuzzPatterns(f *testing.F) {
	f.Add("hello world", "(o)(r?)", "%2%1", int8(5), uint8(2))
	f.Fuzz(func(t *testing.T, s, pat, repl string, init int8, n uint8) {
		if len(s) > 256 || len(pat) > 48 || len(repl) > 32 {
			return
		}
		// patternOps parts its answers with \x1e, which the inputs must
		// not hold (a replacement with one split gsub's answer in two).
		if strings.Contains(s+pat+repl, "\x1e") {
			return
		}
		gopher := glua.NewState()
		defer gopher.Close()
		ours := glua.NewState()
		defer ours.Close()
		installPatterns(ours)
		comparePatternOps(t, gopher, ours, s, pat, repl, int(init), int(n%8)+1)
	})
}

// comparePatternOps runs patternOps in a gopher-lua state and in one with
// the pattern functions of the sandbox, and fails the test where they
// differ, but for what they are meant to differ on: patterns with %f (a
// literal f to gopher-lua) and calls where gopher-lua panics or gives up on the input being too
// complex are left out; a back reference to a capture not closed before
// it may be an error here whatever gopher-lua made of it. Patterns that
// take more than a few steps are left out too, since nothing stops
// gopher-lua's matcher.
func comparePatternOps(t *testing.T, gopher, ours *glua.LState, s, pat, repl string, init, n int) {
	t.Helper()
	p, err := compilePattern(pat)
	if err == nil && (p.hasFrontier() || !quickPattern(p, s)) || err == errFrontierSet {
		return
	}
	invalidRef := err == nil && p.checkBackrefs() != nil
	want := runPatternOps(t, gopher, s, pat, repl, init, n)
	got := runPatternOps(t, ours, s, pat, repl, init, n)
	for i := range want {
		w, g := want[i], got[i]
		switch {
		case w == g:
		case strings.Contains(w, "runtime error"), strings.Contains(w, "pattern/input too complex"):
		case invalidRef && strings.Contains(g, " error ") && strings.HasSuffix(g, "invalid capture index"):
		default:
			t.Errorf("s=%q p=%q r=%q init=%d n=%d:\n gopher-lua: %s\n ours:       %s", s, pat, repl, init, n, w, g)
		}
	}
}
