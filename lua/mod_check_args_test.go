package lua

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/result"
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
		return type(a)`)
	if got := fmtValues(vals); got != "table" {
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

func TestParseSpec(t *testing.T) {
	L := newModState(t, nil)
	for _, tt := range []struct {
		name, spec string
		want       string // the args as name:kind:required:default:description, or the error
	}{
		{"kinds", `{b = "number", a = "string!"}`, "a:string:true:<nil>: b:number:false:<nil>:"},
		{"table", `{warn = {kind = "threshold", default = "90", description = "when to warn"}}`,
			"warn:threshold:false:90:when to warn"},
		{"required-table", `{url = {kind = "string!", description = "the URL"}}`, "url:string:true:<nil>:the URL"},
		{"defaults", `{n = {kind = "number", default = 5}, on = {kind = "boolean", default = false}, l = {kind = "list", default = 200}}`,
			"l:list:false:200: n:number:false:5: on:boolean:false:false:"},
		{"empty", `{}`, ""},
		{"unknown-kind", `{x = "colour"}`, `x: unknown kind "colour"`},
		{"unknown-kind-table", `{x = {kind = "colour"}}`, `x: unknown kind "colour"`},
		{"no-kind", `{x = {description = "what"}}`, "x: no kind"},
		{"kind-not-string", `{x = {kind = 5}}`, "x: kind is a number"},
		{"bad-default", `{warn = {kind = "threshold", default = "abc"}}`, `warn: default threshold "abc"`},
		{"default-wrong-kind", `{n = {kind = "number", default = "5"}}`, "n: default is a string, want a number"},
		{"default-table", `{t = {kind = "table", default = {}}}`, "t: default is a table"},
		{"required-default", `{x = {kind = "string!", default = "a"}}`, "x: a required arg has no default"},
		{"two-lines", `{x = {kind = "string", description = "a\nb"}}`, "x: description must be one line"},
		{"typo-field", `{x = {kind = "string", defualt = "a"}}`, "x: unknown field defualt"},
		{"number-name", `{"string"}`, "arg name 1 is a number"},
		{"bad-value", `{x = 5}`, "x: is a number, want a kind"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := evalLua(t, L, "return "+tt.spec)[0].(*glua.LTable)
			specs, err := parseSpec(spec)
			var got string
			if err != nil {
				got = err.Error()
			} else {
				var parts []string
				for _, a := range specs {
					ai := a.info()
					parts = append(parts, fmt.Sprintf("%s:%s:%t:%v:%s", ai.Name, ai.Kind, ai.Required, ai.Default, ai.Description))
				}
				got = strings.Join(parts, " ")
			}
			if !strings.HasPrefix(got, tt.want) || tt.want == "" && got != "" {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCheckArgsDefaults checks that check.args sets the defaults of the
// args not given, and leaves those given.
func TestCheckArgsDefaults(t *testing.T) {
	L := newModState(t, nil)
	vals := evalLua(t, L, `local check = require('check')
		local spec = {warn = {kind = "threshold", default = "90"}, n = {kind = "number", default = 3}, s = "string"}
		local a = check.args({warn = "80"}, spec)
		local b = check.args(nil, spec)
		return a.warn, a.n, tostring(a.s), b.warn`)
	if got := fmtValues(vals); got != "80 3 nil 90" {
		t.Fatalf("got %q", got)
	}
}

// TestDeclaredArgs runs checks that declare their args through the
// runtime: their args are checked and given their defaults before run
// sees them, Checks describes them, and a bad declaration breaks the check
// when the library loads.
func TestDeclaredArgs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name+".lua"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("declared", `return {
  description = "echoes its args",
  args = {
    path = {kind = "string!", description = "a path"},
    warn = {kind = "threshold", default = "90", description = "when to warn"},
    deep = {kind = "boolean", default = false},
  },
  run = function(args)
    return {status = "ok", message = args.path .. " " .. args.warn .. " " .. tostring(args.deep) .. " " .. tostring(args._timeout_ms)}
  end,
}`)
	write("baddecl", `return {args = {warn = {kind = "threshold", default = "abc"}}, run = function() return {status = "ok", message = "x"} end}`)
	write("notable", `return {args = "warn", run = function() return {status = "ok", message = "x"} end}`)
	rt, _ := newTestRuntime(t, Options{Dir: dir})

	for _, tt := range []struct{ args, status, message string }{
		{`{"path":"/x"}`, "ok", "/x 90 false nil"},
		{`{"path":"/x","warn":"80","deep":true,"_timeout_ms":5000}`, "ok", "/x 80 true 5000"},
		{`{"path":"/x","warn":null}`, "ok", "/x 90 false nil"},
		{`{}`, "unknown", "bad args: path is required"},
		{`{"path":"/x","wran":"80"}`, "unknown", "bad args: unknown arg wran (known: deep, path, warn)"},
		{`{"path":"/x","warn":"abc"}`, "unknown", `bad args: warn threshold "abc"`},
	} {
		doc := rt.Run(context.Background(), "declared", []byte(tt.args))
		if string(doc.Status) != tt.status || !strings.HasPrefix(doc.Message, tt.message) {
			t.Errorf("declared %s: %s %q, want %s %q", tt.args, doc.Status, doc.Message, tt.status, tt.message)
		}
	}

	infos := map[string]CheckInfo{}
	for _, c := range rt.Checks() {
		infos[c.Name] = c
	}
	got, _ := json.Marshal(infos["declared"].Args)
	want := `[{"name":"deep","kind":"boolean","default":false},{"name":"path","kind":"string","required":true,"description":"a path"},` +
		`{"name":"warn","kind":"threshold","default":"90","description":"when to warn"}]`
	if string(got) != want {
		t.Errorf("declared args:\n got %s\nwant %s", got, want)
	}
	for name, want := range map[string]string{
		"baddecl": `args: warn: default threshold "abc"`,
		"notable": "args is a string, want a table",
	} {
		if c := infos[name]; !strings.Contains(c.Err, want) {
			t.Errorf("%s: error %q, want %q", name, c.Err, want)
		}
		if doc := rt.Run(context.Background(), name, nil); doc.Status != result.Unknown || !strings.Contains(doc.Message, want) {
			t.Errorf("%s run: %s %q", name, doc.Status, doc.Message)
		}
	}
}
