package lua

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/result"
)

// TestLibrariesReadOnly runs a check that tries every way to change the
// shared libraries, then, in the same Lua state, a check that uses them.
func TestLibrariesReadOnly(t *testing.T) {
	attempts := []struct{ name, code, err string }{
		{"string-field", `string.format = nil`, "cannot change the string library"},
		{"string-new", `string.trim = function(s) return s end`, "cannot change the string library"},
		{"table-field", `table.insert = function() end`, "cannot change the table library"},
		{"math-field", `math.floor = function() return 42 end`, "cannot change the math library"},
		{"os-field", `os.time = nil`, "cannot change the os library"},
		{"string-metatable", `getmetatable("").__index = {}`, ""},
		{"string-metatable-rep", `getmetatable("").__index.rep = nil`, ""},
		{"string-method-index", `("").__index.format = nil`, ""},
		{"string-method-set", `local s = ""; s.format = nil`, ""},
		{"setmetatable-lib", `setmetatable(string, nil)`, "protected metatable"},
		{"require-string", `require("string").format = nil`, "cannot change the string library"},
		{"require-G", `require("_G").print = nil; require("_G").string = nil`, ""},
		{"globals-behind-env", `getmetatable(_G).__index.string = nil`, ""},
		{"module-field", `require("check").evaluate = nil`, "cannot change the check module"},
		{"range-metatable", `getmetatable(require("check").range("1")).__index.alert = nil`, ""},
		{"rawset", `rawset(string, "format", nil); rawset(string, "upper", function() return "poison" end)`, ""},
		{"table-insert", `table.insert(math, "poison")`, ""},
		{"own-nil-then-rawset", `math = nil; rawset(math, "floor", nil)`, "bad argument"},
	}
	var poison strings.Builder
	poison.WriteString("local results = {}\n")
	for _, a := range attempts {
		poison.WriteString("results[#results + 1] = {pcall(function() " + a.code + " end)}\n")
	}
	poison.WriteString(`return function()
		local msgs = {}
		for i, r in ipairs(results) do msgs[i] = tostring(r[1]) .. "\t" .. tostring(r[2]) end
		return {status = "ok", message = table.concat(msgs, "\n")}
	end`)
	victim := `local check = require("check")
		return function()
			local got = {
				string.format("%d", 7) .. ("%d"):format(7), ("x"):rep(2), string.upper("a"), math.floor(1.5),
				type(os.time()), check.evaluate(5, 10, 20), tostring(check.range("1"):alert(2)),
				require("string").format("%s", "s"), #math == 0 and "no-keys" or "keys",
			}
			table.insert(got, "inserted")
			local names = 0
			for k in pairs(math) do names = names + 1 end
			got[#got + 1] = names > 10 and "pairs" or "no-pairs"
			return {status = "ok", message = table.concat(got, ",", 1, 8) .. "," .. tostring(got[9]) ..
				"," .. got[10] .. "," .. got[11] .. "," .. tostring(print ~= nil)}
		end`
	dir := t.TempDir()
	for name, code := range map[string]string{"poison": poison.String(), "victim": victim} {
		if err := os.WriteFile(filepath.Join(dir, name+".lua"), []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rt, _ := newTestRuntime(t, Options{Dir: dir, PoolSize: 1})
	d := rt.Run(context.Background(), "poison", nil)
	if d.Status != result.OK {
		t.Fatalf("poison: %s %q", d.Status, d.Message)
	}
	for i, line := range strings.Split(d.Message, "\n") {
		a := attempts[i]
		if a.err != "" && (!strings.HasPrefix(line, "false\t") || !strings.Contains(line, a.err)) {
			t.Errorf("%s: got %q, want an error with %q", a.name, line, a.err)
		}
	}
	if n := len(rt.lib.Load().idle); n != 1 {
		t.Fatalf("%d idle states, want the poison's", n)
	}
	d = rt.Run(context.Background(), "victim", nil)
	const want = "77,xx,A,1,number,ok,true,s,no-keys,inserted,pairs,true"
	if d.Status != result.OK || d.Message != want {
		t.Errorf("victim after poison: got %s %q, want ok %q", d.Status, d.Message, want)
	}
}
