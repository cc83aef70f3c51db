package lua

import (
	"context"
	"encoding/pem"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/result"
)

// newPatternState is a plain state with the sandbox's pattern functions.
func newPatternState(t testing.TB) *glua.LState {
	L := glua.NewState()
	t.Cleanup(L.Close)
	installPatterns(L)
	return L
}

// writeChecks writes files, by name, into a new directory and returns it.
func writeChecks(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, code := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serverCAFile writes the certificate of srv to a PEM file, for ca_file.
func serverCAFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile
}

// showLua runs the Lua expression expr (a call) and shows what it
// returned as patternOps does: the number of values, then type:value of
// each; or "error" and the message, without its position.
func showLua(L *glua.LState, expr string) string {
	vals, err := tryLua(L, "return "+expr)
	if err != nil {
		msg := luaMessage(err)
		if _, after, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "<string>:") {
			msg = after
		}
		return "error " + msg
	}
	parts := []string{fmt.Sprint(len(vals))}
	for _, v := range vals {
		parts = append(parts, v.Type().String()+":"+v.String())
	}
	return strings.Join(parts, " ")
}

// TestPatternFunctions: what Lua 5.1 (and gopher-lua, but for the
// departures patternlib.go lists) gives for each feature of patterns.
func TestPatternFunctions(t *testing.T) {
	L := newPatternState(t)
	tests := []struct{ expr, want string }{
		// find: positions, captures, position captures, init, plain.
		{`string.find("hello world", "o w")`, "2 number:5 number:7"},
		{`string.find("hello", "l+")`, "2 number:3 number:4"},
		{`string.find("hello", "(l)(l)")`, "4 number:3 number:4 string:l string:l"},
		{`string.find("abc", "()b()")`, "4 number:2 number:2 number:2 number:3"},
		{`string.find("abc", "c", -1)`, "2 number:3 number:3"},
		{`string.find("abc", "b", -1)`, "1 nil:nil"},
		{`string.find("abc", "a", -10)`, "2 number:1 number:1"},
		{`string.find("abc", "a", 10)`, "1 nil:nil"},
		{`string.find("a.b", ".", 1, true)`, "2 number:2 number:2"},
		{`string.find("abc", "b", 10, true)`, "1 nil:nil"}, // gopher-lua panics
		{`string.find("abc", "")`, "2 number:1 number:0"},
		{`("x=1"):find("(%w)=(%d)")`, "4 number:1 number:3 string:x string:1"},
		// anchors
		{`string.find("aaa", "^a", 2)`, "2 number:2 number:2"},
		{`string.find("baa", "^a")`, "1 nil:nil"},
		{`string.find("ab", "b$")`, "2 number:2 number:2"},
		{`string.find("ab$", "b$")`, "1 nil:nil"},
		{`string.find("a$b", "$b")`, "2 number:2 number:3"},
		{`string.match("x(^y", "(^y)")`, "1 string:^y"},
		// classes and sets
		{`string.match("  x1_y ", "%w+")`, "1 string:x1"},
		{`string.match("Hello World", "%u%l+$")`, "1 string:World"},
		{`string.match("a\0b", "%z")`, "1 string:\x00"},
		{`string.match("abc123", "[^%a]+")`, "1 string:123"},
		{`string.match("x]y", "[]]")`, "1 string:]"},
		{`string.match("a-z", "[a-]+")`, "1 string:a-"},
		{`string.match("ABCabc", "[A-C]+")`, "1 string:ABC"},
		{`string.match("3.14", "%d+%.%d+")`, "1 string:3.14"},
		{`string.match("q-z", "[%a-z]+")`, "0"},            // gopher-lua's reading: a range from %a matches nothing
		{`string.match("q-z", "[z%a-]+")`, "1 string:q-z"}, // a "-" last is itself
		// repetitions
		{`string.match("aaab", "a-b")`, "1 string:aaab"},
		{`string.match("<a><b>", "<(.-)>")`, "1 string:a"},
		{`string.match("<a><b>", "<(.*)>")`, "1 string:a><b"},
		{`string.match("color", "colou?r")`, "1 string:color"},
		{`string.match("a**", "a%*+")`, "1 string:a**"},
		// back references, %b, %f
		{`string.find("abab", "(ab)%1")`, "3 number:1 number:4 string:ab"},
		{`string.match([[say "hi" 'x']], "([\"'])(.-)%1")`, "2 string:\" string:hi"},
		{`string.find("xyz", "a%1")`, "1 nil:nil"}, // never reached
		{`string.find("abc", "(a%1)")`, "error invalid capture index"},
		{`string.find("x(a(b)c)y", "%b()")`, "2 number:2 number:8"},
		{`string.find("x(a(b", "%b()")`, "1 nil:nil"},
		{`string.gsub("THE (quick) fox", "%f[%a]%a+", "W")`, "2 string:W (W) W number:3"},
		{`string.find("hello", "%f[%l]")`, "2 number:1 number:0"},
		{`string.find("abc", "%f[%z]")`, "2 number:4 number:3"},
		{`string.find("a bc", "%f[%w]%w+", 2)`, "2 number:3 number:4"},
		// match and gmatch
		{`string.match("  trim  ", "^%s*(.-)%s*$")`, "1 string:trim"},
		{`string.match("key=val", "(%w+)=(%w+)")`, "2 string:key string:val"},
		{`string.match("hello", "xyz")`, "0"}, // nothing, not even nil, as gopher-lua's
		{`string.match("hello", "l", -2)`, "1 string:l"},
		{`string.match("hello", "()ll()")`, "2 number:3 number:5"},
		{`(function() local t = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t+1] = k .. v end return table.concat(t, " ") end)()`, "1 string:a1 b2"},
		{`(function() local t = {} for w in string.gmatch("one two", "%a+") do t[#t+1] = w end return table.concat(t, ",") end)()`, "1 string:one,two"},
		{`(function() local n = 0 for w in string.gmatch("abc", "") do n = n + 1 end return n end)()`, "1 number:4"},
		{`(function() local t = {} for w in string.gmatch("aaa", "^a") do t[#t+1] = w end return #t end)()`, "1 number:1"}, // gopher-lua anchors
		{`(function() local f = string.gmatch("ab", ".") return f(), f(), (f()) end)()`, "3 string:a string:b nil:nil"},
		{`string.gfind ~= nil`, "1 boolean:true"},
		// gsub: string, table and function replacements, n
		{`string.gsub("hello world", "(%w+)", "<%1>")`, "2 string:<hello> <world> number:2"},
		{`string.gsub("abc", "%w", "%0%0")`, "2 string:aabbcc number:3"},
		{`string.gsub("abc", "b", "%%")`, "2 string:a%c number:1"},
		{`string.gsub("abc", "b", "%x")`, "2 string:a%xc number:1"}, // gopher-lua keeps "%x"
		{`string.gsub("abc", "b", "<%1>")`, "2 string:a<b>c number:1"},
		{`string.gsub("abc", "b", "%2")`, "error invalid capture index"},
		{`string.gsub("abc", "()b", "%1")`, "2 string:a2c number:1"},
		{`string.gsub("hello world", "%w+", "%0 %0", 1)`, "2 string:hello hello world number:1"},
		{`string.gsub("abc", "", "-")`, "2 string:-a-b-c- number:4"},
		{`string.gsub("abc", "b*", "-")`, "2 string:-a--c- number:4"}, // Lua 5.1's, not 5.4's
		{`string.gsub("aaa", "^a", "b")`, "2 string:baa number:1"},
		{`string.gsub("abc", "x", "y")`, "2 string:abc number:0"},
		{`string.gsub(123, "x", "y")`, "2 number:123 number:0"},
		{`string.gsub("abc", "%w", "x", 0)`, "2 string:abc number:0"},  // Lua 5.1; gopher-lua replaces all
		{`string.gsub("abc", "%w", "x", -1)`, "2 string:abc number:0"}, // Lua 5.1
		{`string.gsub("$name is $age", "%$(%w+)", {name = "Lua", age = 5})`, "2 string:Lua is 5 number:2"},
		{`string.gsub("$a $b", "%$(%w+)", {a = false})`, "2 string:$a $b number:2"},
		{`string.gsub("abc", "()b", {[2] = "B"})`, "2 string:aBc number:1"},
		{`string.gsub("a b", "%w", function(c) return c:upper() end)`, "2 string:A B number:2"},
		{`string.gsub("k=v", "(%w)=(%w)", function(k, v) return v .. "=" .. k end)`, "2 string:v=k number:1"},
		{`string.gsub("ab", "%w", function(c) if c == "a" then return nil end return 1.5 end)`, "2 string:a1.5 number:2"},
		// malformed patterns: gopher-lua's messages
		{`string.find("abc", "[a")`, "error unexpected EOS at 1"},
		{`string.find("abc", "[%")`, "error unexpected EOS at EOS"},
		{`string.find("abc", "(a")`, "error unfinished capture at EOS"},
		{`string.find("abc", "ab)")`, "error invalid ')' at 1"},
		{`string.find("abc", "%0")`, "error invalid capture index at 0"},
		{`string.find("abc", "%f")`, "error missing '[' after '%f' in pattern"},
		{`string.gsub("abc", "(", "")`, "error unfinished capture at EOS"},
		{`string.find("abc", "a%")`, "1 nil:nil"}, // gopher-lua's reading: a class that matches nothing
		// bounds
		{`string.find(string.rep("a", 2e6) .. "b", ".-b")`, "2 number:1 number:2000001"}, // gopher-lua: too complex
		{`string.find(string.rep("a", 6000), string.rep("a?", 6000))`, "error pattern too complex"},
		{`string.gsub(string.rep("a", 1e6), "a", string.rep("b", 100))`, fmt.Sprintf("error string.gsub: the result would be more than the limit of %d bytes", maxString)},
	}
	for _, tt := range tests {
		if got := showLua(L, tt.expr); got != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.expr, got, tt.want)
		}
	}
}

// TestPatternsRandom compares the pattern functions with gopher-lua's, as
// FuzzPatterns does, on patterns made of the pieces of the syntax, which
// random bytes seldom hit.
func TestPatternsRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	pieces := []string{"a", "b", "x", "%", "(", ")", ".", "-", "*", "+", "?", "[", "]", "^", "$",
		"0", "1", "2", "%a", "%d", "%s", "%w", "%x", "%A", "%z", "%c", "%p", "%u", "%l", "%%", "%]",
		"%1", "%2", "%b()", "%b", "%bx", "()", "[^", "[a-b]", "[%a-]", "-]", "\x00", "\xff"}
	subject := "ab()[]-^$%x 1\n\x00"
	repls := []string{"%1", "%0", "x%2", "%%", "%", "<%1%2>", "%a"}
	gopher := glua.NewState()
	defer gopher.Close()
	ours := newPatternState(t)
	for range 1000 {
		var p, s strings.Builder
		for k := r.Intn(12); k >= 0; k-- {
			p.WriteString(pieces[r.Intn(len(pieces))])
		}
		for k := r.Intn(12); k >= 0; k-- {
			s.WriteByte(subject[r.Intn(len(subject))])
		}
		comparePatternOps(t, gopher, ours, s.String(), p.String(), repls[r.Intn(len(repls))], r.Intn(20)-10, r.Intn(3)+1)
	}
}

// deadlineSlack is how far past its timeout a run stuck in a pattern may
// end before a test says the deadline was missed: room for the race
// detector on a loaded machine. Each stuck pattern, deadline ignored, runs
// for many minutes at least (the balance one, the shortest, for a quarter
// of an hour without the race detector), so a matcher that does not look
// at the deadline still fails.
const deadlineSlack = 5 * time.Second

// TestPatternDeadline: a backtracking pattern in each pattern function
// ends at the run's timeout, as unknown.
func TestPatternDeadline(t *testing.T) {
	subject := `string.rep("a", 1e5)`
	calls := map[string]string{
		"find":       `string.find(S, ".-.-.-.-.-b")`,
		"find-init":  `string.find(S, ".-.-.-.-.-b", 10)`,
		"find-pcall": `(function() while true do pcall(string.find, S, ".-.-.-.-.-b") end end)()`,
		"method":     `S:find(".-.-.-.-.-b")`,
		"match":      `string.match(S, "(.-)(.-)(.-)(.-)b")`,
		"gmatch":     `string.gmatch(S, ".-.-.-.-.-b")()`,
		"gsub":       `string.gsub(S, ".-.-.-.-.-b", "x")`,
		"backref":    `string.find(S, "(a*)(a*)(a*)%1%2%3b")`,
		"balance":    `string.find(string.rep("(", 1e6), "%b()%b()%b()")`, // n²/2 steps
		"frontier":   `string.find(S, "%f[a].-.-.-.-b")`,
	}
	files := map[string]string{}
	for name, call := range calls {
		files[name+".lua"] = "local S = " + subject + "\nreturn function() return {status = 'ok', message = tostring(" + call + ")} end"
	}
	rt, _ := newTestRuntime(t, Options{Dir: writeChecks(t, files)})
	for name := range calls {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			d := rt.Run(context.Background(), name, []byte(`{"_timeout_ms":200}`))
			if took := time.Since(start); took > 200*time.Millisecond+deadlineSlack {
				t.Errorf("took %v", took)
			}
			if d.Status != result.Unknown || d.Message != "timed out after 200ms" {
				t.Fatalf("got %s %q, want unknown, timed out", d.Status, d.Message)
			}
		})
	}
}

// TestPatternDeadlineOvershoot measures how far past a 1 s timeout a run
// stuck in a backtracking pattern goes (go test -run
// TestPatternDeadlineOvershoot -v ./lua/ shows it).
func TestPatternDeadlineOvershoot(t *testing.T) {
	code := `return function()
  return {status = "ok", message = tostring(string.find(string.rep("a", 1e5), ".-.-.-.-.-b"))}
end`
	rt, _ := newTestRuntime(t, Options{Dir: writeChecks(t, map[string]string{"stuck.lua": code})})
	start := time.Now()
	d := rt.Run(context.Background(), "stuck", []byte(`{"_timeout_ms":1000}`))
	took := time.Since(start)
	if d.Status != result.Unknown || d.Message != "timed out after 1s" {
		t.Fatalf("got %s %q", d.Status, d.Message)
	}
	if took > time.Second+deadlineSlack {
		t.Errorf("took %v", took)
	}
	t.Logf("a backtracking string.find under a 1 s timeout ended after %v (%v past the deadline)", took.Round(time.Microsecond), (took - time.Second).Round(time.Microsecond))
}

// TestHTTPCheckHostilePage: the http check's match against a hostile page
// (1 MiB that a backtracking pattern cannot match) ends at the timeout.
func TestHTTPCheckHostilePage(t *testing.T) {
	page := strings.Repeat("a", 1<<20)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(page))
	}))
	defer srv.Close()
	caFile := serverCAFile(t, srv)
	rt := newLibraryRuntime(t)
	args := fmt.Sprintf(`{"url": %q, "ca_file": %q, "match": ".-.-.-.-.-b", "_timeout_ms": 1500}`, srv.URL, caFile)
	start := time.Now()
	d := rt.Run(context.Background(), "http", []byte(args))
	if took := time.Since(start); took > 1500*time.Millisecond+deadlineSlack {
		t.Errorf("took %v", took)
	}
	if d.Status != result.Unknown || d.Message != "timed out after 1.5s" {
		t.Fatalf("got %s %q, want unknown, timed out", d.Status, d.Message)
	}
	// An ordinary pattern on the same page still works.
	args = fmt.Sprintf(`{"url": %q, "ca_file": %q, "match": "^a+$"}`, srv.URL, caFile)
	if d := rt.Run(context.Background(), "http", []byte(args)); d.Status != result.OK {
		t.Errorf("match ^a+$: %s %q", d.Status, d.Message)
	}
}

// TestProcessCheckBacktrackingPattern: the process check's pattern, tried
// on every command line, ends at the timeout.
func TestProcessCheckBacktrackingPattern(t *testing.T) {
	startSleep(t) // a command line to try it on, whatever runs the test
	rt := newLibraryRuntime(t)
	d := rt.Run(context.Background(), "process", []byte(`{"pattern": ".-.-.-.-.-.-.-.-.-.-%z", "_timeout_ms": 1500}`))
	if d.Status != result.Unknown || d.Message != "timed out after 1.5s" {
		t.Fatalf("got %s %q, want unknown, timed out", d.Status, d.Message)
	}
}
