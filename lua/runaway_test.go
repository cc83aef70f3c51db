package lua

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// TestRunawayChecks runs checks that try to exhaust time or memory: each
// must end quickly as unknown, saying why, and leave the process whole.
func TestRunawayChecks(t *testing.T) {
	tests := []struct {
		name, code string
		timeoutMS  int    // default 10000
		message    string // what the message must contain
	}{
		{"tail-calls", `local function f(n) return f(n + 1) end
			return function() return {status = "ok", message = f(1)} end`, 2000, "timed out after 2s"},
		{"deep-recursion", `local function f(n) return 1 + f(n + 1) end
			return function() return {status = "ok", message = f(1)} end`, 0, "stack overflow"},
		{"string-rep", `return function() return {status = "ok", message = #string.rep("x", 2^40)} end`,
			0, "string.rep: the result would be 1099511627776 bytes"},
		{"string-rep-method", `return function() return {status = "ok", message = #("xy"):rep(2^40)} end`,
			0, "string.rep: the result would be"},
		{"gsub-function", `return function()
			local s, r = string.rep("a", 1e5), string.rep("b", 1e4)
			return {status = "ok", message = #string.gsub(s, "a", function() return r end)} end`,
			0, "string.gsub: the result would be"},
		{"json-encode", `local json = require("json")
			return function()
			local t, s = {}, string.rep("x", 1e5)
			for i = 1, 1e4 do t[i] = s end
			return {status = "ok", message = #assert(json.encode(t))} end`,
			0, "json.encode: the result would be"},
		{"gsub-string", `return function()
			local s = string.rep("a", 1e6)
			return {status = "ok", message = #string.gsub(s, "a", string.rep("b", 1e5))} end`,
			0, "string.gsub: the result would be"},
		{"gsub-table", `return function()
			local s = string.rep("a", 1e5)
			return {status = "ok", message = #string.gsub(s, "a", {a = string.rep("b", 1e4)})} end`,
			0, "string.gsub: the result would be"},
		{"string-format", `return function()
			local t = {}
			for i = 1, 1000 do t[i] = i end
			return {status = "ok", message = #string.format(string.rep("%9999999d", 1000), unpack(t))} end`,
			0, "string.format: the result could be"},
		{"string-format-precision", `return function()
			return {status = "ok", message = #string.format(string.rep("%.9999999f", 100), unpack({1, 2, 3, 4, 5, 6, 7, 8}))} end`,
			0, "string.format: the result could be"},
		{"table-concat", `return function()
			local t, s = {}, string.rep("x", 1e6)
			for i = 1, 1e5 do t[i] = s end
			return {status = "ok", message = #table.concat(t, ",")} end`,
			0, "table.concat: the result would be"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		if err := os.WriteFile(filepath.Join(dir, tt.name+".lua"), []byte(tt.code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rt, _ := newTestRuntime(t, Options{Dir: dir})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A bound that works answers in milliseconds; the generous
			// default timeout keeps a loaded machine from reaching it
			// first, and a bound that fails still shows (the message is
			// then a timeout).
			timeout := time.Duration(cmp.Or(tt.timeoutMS, 10000)) * time.Millisecond
			args := fmt.Sprintf(`{"_timeout_ms":%d}`, timeout.Milliseconds())
			start := time.Now()
			d := rt.Run(context.Background(), tt.name, []byte(args))
			// A second for the race detector and a busy machine.
			if took := time.Since(start); took > timeout+time.Second {
				t.Errorf("took %v", took)
			}
			if d.Status != result.Unknown || !strings.Contains(d.Message, tt.message) {
				t.Fatalf("got %s %q, want unknown with %q", d.Status, d.Message, tt.message)
			}
		})
	}
}
