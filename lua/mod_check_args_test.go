package lua

import (
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

func TestCheckArgs(t *testing.T) {
	L := newModState(t, nil)
	spec := `{path = "string!", warn = "threshold", max_age = "number", on = "boolean",
		match = "pattern", expect = "list", headers = "table"}`
	tests := []struct {
		name, args string
		err        string // "" for none
	}{
		{"none-given", `nil`, "bad args: path is required"},
		{"required-only", `{path = "/"}`, ""},
		{"all", `{path = "/", warn = 10, max_age = 5, on = false, match = "^a.-b$", expect = {"x", 1},
			headers = {}, _timeout_ms = 100}`, ""},
		{"threshold-string", `{path = "/", warn = "~:10"}`, ""},
		{"bad-threshold", `{path = "/", warn = "abc"}`, `bad args: warn threshold "abc": end: "abc" is not a number`},
		{"threshold-type", `{path = "/", warn = {}}`, "bad args: warn is a table, want a threshold"},
		{"number-as-string", `{path = "/", max_age = "60"}`, "bad args: max_age is a string, want a number"},
		{"string-as-number", `{path = 5}`, "bad args: path is a number, want a string"},
		{"bad-pattern", `{path = "/", match = "(("}`, `bad args: match pattern "((": unfinished capture at EOS`},
		{"pattern-open-backref", `{path = "/", match = "(a%1)"}`, `bad args: match pattern "(a%1)": invalid capture index`},
		{"pattern-backref", `{path = "/", match = "(a)%1%f[%w]"}`, ""},
		{"list-item", `{path = "/", expect = {"a", {}}}`, "bad args: expect item 2 is a table, want a string"},
		{"list-one", `{path = "/", expect = 200}`, ""},
		{"list-bool", `{path = "/", expect = true}`, "bad args: expect is a boolean, want a string, a number or a list"},
		{"typo", `{path = "/", wran = "5"}`, "bad args: unknown arg wran (known: expect, headers, match, max_age, on, path, warn)"},
		{"not-a-table", `"x"`, "bad args: args is a string, want a table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryLua(L, "local check = require('check') return check.args("+tt.args+", "+spec+")")
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("got %v", err)
			case tt.err != "" && (err == nil || !strings.HasPrefix(luaMessage(err), tt.err)):
				t.Fatalf("got %v, want %q", err, tt.err)
			}
		})
	}
	if _, err := tryLua(L, `require('check').args({}, {x = "colour"})`); err == nil || !strings.Contains(err.Error(), `unknown kind "colour"`) {
		t.Fatalf("a bad spec: got %v", err)
	}
	vals := evalLua(t, L, `local check = require('check')
		local a = check.args(nil, {x = "number"})
		return type(a), check.round(18.461255130612724, 2), check.round(2.5), check.round(-1.23456, 3)`)
	if got := fmtValues(vals); got != "table 18.46 3 -1.235" {
		t.Fatalf("got %q", got)
	}
}

func fmtValues(vals []glua.LValue) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = v.String()
	}
	return strings.Join(s, " ")
}
