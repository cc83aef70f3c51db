package lua

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
)

func TestRunForms(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{})
	tests := []struct {
		name, check, args string
		status            result.Status
		message           string
		metrics           int
	}{
		{"table", "echo", `{"a":1,"b":[true,null,"x"],"c":null}`, result.OK, `{"a":1,"b":[true,null,"x"]}`, 0},
		{"no-args", "echo", ``, result.OK, `{}`, 0},
		{"status-from-args", "echo", `{"status":"CRITICAL"}`, result.Critical, `{"status":"CRITICAL"}`, 0},
		{"bare-function", "bare", `{"n":0.5}`, result.Warning, "bare 0.5", 2},
		{"embedded", "only", ``, result.OK, "only", 0},
		{"overlay-wins", "echo", `{}`, result.OK, `{}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rt.Run(context.Background(), tt.check, []byte(tt.args))
			if d.Status != tt.status || d.Message != tt.message || len(d.Metrics) != tt.metrics {
				t.Fatalf("got %+v, want %s %q with %d metrics", d, tt.status, tt.message, tt.metrics)
			}
			if d.DurationMS <= 0 {
				t.Errorf("DurationMS = %v, want > 0", d.DurationMS)
			}
		})
	}
	d := rt.Run(context.Background(), "bare", []byte(`{"n":3}`))
	m := d.Metrics[0]
	if m.Name != "n" || m.Value != 3 || m.Unit != "s" || *m.Warn != 1 || *m.Crit != 2 || *m.Min != 0 || m.Max != nil {
		t.Fatalf("metric = %+v", m)
	}
	if got, want := d.Line(), "WARNING: bare 3 | n=3s;1;2;0 two=2"; got != want {
		t.Fatalf("Line() = %q, want %q", got, want)
	}
}

func TestRunFailures(t *testing.T) {
	rt, rec := newTestRuntime(t, Options{})
	tests := []struct {
		name, check, args string
		message           string // what the message must contain
	}{
		{"no-such-check", "nosuch", ``, `no check named "nosuch"`},
		{"path-is-not-a-name", "../testdata/checks/echo", ``, `no check named`},
		{"syntax-error", "syntax", ``, "syntax error"},
		{"error", "fails", ``, "fails.lua:4: disk on fire"},
		{"error-at-load", "loaderror", ``, "loading: loaderror.lua"},
		{"no-return-at-load", "noreturn", ``, "returned nothing"},
		{"reserved-name", "equus.ping", ``, "reserved for built-in checks"},
		{"timeout", "loop", `{"_timeout_ms":50}`, "timed out after 50ms"},
		{"go-panic", "panics", ``, "go panic in testpanic.now: kaboom"},
		{"go-panic-in-a-method", "panics", `{"method":true}`, "go panic in the check's code: method kaboom"},
		{"go-panic-caught-by-pcall", "panics", `{"catch":true}`, "go panic in testpanic.now: kaboom"},
		{"bad-args-json", "echo", `{"a":`, "bad args: "},
		{"bad-args-array", "echo", `[1,2]`, "bad args: "},
		{"bad-args-null", "echo", `null`, "bad args: not a JSON object"},
		{"bad-timeout", "echo", `{"_timeout_ms":"soon"}`, "bad args: _timeout_ms"},
		{"negative-timeout", "echo", `{"_timeout_ms":-1}`, "bad args: _timeout_ms"},
		{"return-string", "badreturn", `{"kind":"string"}`, "bad return value: run returned a string, want a table"},
		{"return-nothing", "badreturn", `{"kind":"nothing"}`, "run returned nothing"},
		{"unknown-status", "badreturn", `{"kind":"status"}`, `status "fine" is not`},
		{"status-code", "badreturn", `{"kind":"code"}`, "status 7 is not a code"},
		{"no-status", "badreturn", `{"kind":"nostatus"}`, "no status"},
		{"message-table", "badreturn", `{"kind":"message"}`, "message is a table"},
		{"metrics-string", "badreturn", `{"kind":"metrics"}`, "metrics is a string"},
		{"metric-no-name", "badreturn", `{"kind":"metricname"}`, "metric 1: no name"},
		{"metric-string-value", "badreturn", `{"kind":"metricvalue"}`, "metric 1: x: value is 1"},
		{"metric-nan", "badreturn", `{"kind":"nan"}`, "want a finite number"},
		{"metric-warn", "badreturn", `{"kind":"warn"}`, `x: warn: threshold "high"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rt.Run(context.Background(), tt.check, []byte(tt.args))
			if d.Status != result.Unknown || !strings.Contains(d.Message, tt.message) {
				t.Fatalf("got %s %q, want unknown with %q", d.Status, d.Message, tt.message)
			}
			if d.DurationMS <= 0 {
				t.Errorf("DurationMS = %v, want > 0", d.DurationMS)
			}
		})
	}
	e, ok := rec.find(slog.LevelError, "go panic in testpanic.now: kaboom")
	if !ok {
		t.Fatalf("no panic in the log:\n%s", rec)
	}
	if _, ok := rec.find(slog.LevelDebug, "lua error: fails.lua:4: disk on fire\nstack traceback:"); !ok {
		t.Fatalf("no Lua error with its traceback in the log:\n%s", rec)
	}
	if e.check != "panics" || !strings.Contains(e.msg, "goroutine") || !strings.Contains(e.msg, "runtime_helpers_test.go") {
		t.Fatalf("the panic's log entry lacks the check or the stack: %+v", e)
	}
}

func TestTimeoutStopsLoop(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{DefaultTimeout: 100 * time.Millisecond})
	start := time.Now()
	d := rt.Run(context.Background(), "loop", nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the loop ran %v", took)
	}
	if d.Status != result.Unknown || d.Message != "timed out after 100ms" {
		t.Fatalf("got %+v", d)
	}
	if d.DurationMS < 100 {
		t.Fatalf("DurationMS = %v, want >= 100", d.DurationMS)
	}

	// The caller's context stops it too.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	d = rt.Run(ctx, "loop", []byte(`{"_timeout_ms":60000}`))
	if d.Status != result.Unknown || !strings.Contains(d.Message, "canceled") {
		t.Fatalf("got %+v", d)
	}
	// So does its deadline, and the message says the deadline's time.
	dctx, dcancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer dcancel()
	d = rt.Run(dctx, "loop", []byte(`{"_timeout_ms":60000}`))
	// The time left when Run began: 80ms less what passed since.
	var left time.Duration
	if msg, ok := strings.CutPrefix(d.Message, "timed out after "); ok {
		left, _ = time.ParseDuration(msg)
	}
	if d.Status != result.Unknown || left <= 0 || left > 80*time.Millisecond {
		t.Fatalf("run under a caller's deadline: got %+v", d)
	}
	if d = rt.Run(ctx, "echo", nil); d.Status != result.Unknown || !strings.Contains(d.Message, "canceled") {
		t.Fatalf("run with a cancelled context: got %+v", d)
	}
	// A check that needs more than the default may ask for it.
	if d = rt.Run(context.Background(), "sleeps", []byte(`{"ms":150,"_timeout_ms":5000}`)); d.Status != result.OK {
		t.Fatalf("got %+v", d)
	}
}

func TestSandbox(t *testing.T) {
	dir := t.TempDir()
	evil := "return function() return { status = 'critical', message = 'evil ran' } end"
	if err := os.WriteFile(filepath.Join(dir, "evil.lua"), []byte(evil), 0o600); err != nil {
		t.Fatal(err)
	}
	checks := filepath.Join(testdataDir(t), "checks")
	// Where gopher-lua would look for a module file, were it allowed to.
	t.Setenv("LUA_PATH", filepath.Join(dir, "?.lua"))
	t.Chdir(dir)
	rt, _ := newTestRuntime(t, Options{Dir: checks})

	allowed := []string{"os.time", "os.clock", "os.date", "string.format", "table.insert", "math.floor",
		"pcall", "error", "require", "setmetatable", "tostring", "print", "_G"}
	denied := []string{"io", "io.open", "os.execute", "os.exit", "os.getenv", "os.remove", "os.rename",
		"os.tmpname", "os.setenv", "dofile", "loadfile", "load", "loadstring", "package", "module",
		"setfenv", "getfenv", "collectgarbage", "debug", "coroutine", "channel", "string.dump", "newproxy_none"}
	args, _ := json.Marshal(map[string]any{"names": append(append([]string{}, allowed...), denied...)})
	d := rt.Run(context.Background(), "sandbox", args)
	if d.Status != result.OK || d.Message != strings.Join(allowed, ",") {
		t.Fatalf("reachable: %q\nwant only:  %q", d.Message, strings.Join(allowed, ","))
	}

	for _, name := range []string{"evil", "echo", "checks/echo", "./evil", "io", "debug", "package", "coroutine"} {
		d := rt.Run(context.Background(), "require", []byte(`{"name":"`+name+`"}`))
		if d.Status != result.OK || !strings.Contains(d.Message, `module "`+name+`" is not available to checks`) {
			t.Errorf("require %q: got %s %q", name, d.Status, d.Message)
		}
	}
	for name, keys := range map[string]string{"os": "clock,date,time", "json": "decode,encode,null", "log": "debug,error,info,warn"} {
		d := rt.Run(context.Background(), "require", []byte(`{"name":"`+name+`"}`))
		if want := "loaded " + name + ": " + keys; d.Status != result.Warning || d.Message != want {
			t.Errorf("require %q: got %s %q, want %q", name, d.Status, d.Message, want)
		}
	}
}

// testdataDir is the absolute path of testdata, for tests that change the
// working directory.
func testdataDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPoolReuse(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{PoolSize: 1})
	run := func(check string) string {
		t.Helper()
		return rt.Run(context.Background(), check, nil).Message
	}
	// One idle state: sequential runs share it and its loaded checks.
	if got := []string{run("counter"), run("counter"), run("counter")}; strings.Join(got, " ") != "1 2 3" {
		t.Fatalf("counter over a reused state: %v", got)
	}
	// A check's globals are its own, even in a shared state.
	if got := run("spy"); got != "nil nil" {
		t.Fatalf("spy saw counter's global: %q", got)
	}
	if got := run("counter"); got != "4" {
		t.Fatalf("counter after spy: %q", got)
	}
	// A failed run throws its state away.
	if d := rt.Run(context.Background(), "fails", nil); d.Status != result.Unknown {
		t.Fatalf("fails: %+v", d)
	}
	if got := run("counter"); got != "1" {
		t.Fatalf("counter after a failed run: %q, want a fresh state", got)
	}
	// A bad return value is the check's mistake, not the state's: kept.
	rt.Run(context.Background(), "badreturn", []byte(`{"kind":"string"}`))
	if got := run("counter"); got != "2" {
		t.Fatalf("counter after a bad return: %q, want the state kept", got)
	}
}

func TestChecks(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{})
	byName := map[string]CheckInfo{}
	var names []string
	for _, c := range rt.Checks() {
		byName[c.Name] = c
		names = append(names, c.Name)
	}
	want := "badreturn bare big counter echo equus.ping fails loaderror logs loop noreturn only panics require sandbox sleeps spy syntax"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("checks:\n got %s\nwant %s", got, want)
	}
	if c := byName["echo"]; c.Source != filepath.Join("testdata/checks", "echo.lua") || c.Description != "returns its args as JSON" || c.Err != "" {
		t.Errorf("echo: %+v", c)
	}
	if c := byName["only"]; c.Source != "embedded" || c.Description != "only embedded" {
		t.Errorf("only: %+v", c)
	}
	for _, broken := range []string{"syntax", "loaderror", "noreturn", "equus.ping"} {
		if c := byName[broken]; c.Err == "" || !rt.Has(broken) {
			t.Errorf("%s: want an error, got %+v", broken, c)
		}
	}
	if c := byName["bare"]; c.Err != "" || c.Description != "" {
		t.Errorf("bare: %+v", c)
	}
	if rt.Has("helper_test") || rt.Has("only_test") || rt.Has("nosuch") {
		t.Errorf("Has reports a check that is not one")
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Fatalf("New with a missing dir: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := New(Options{Dir: file}); err == nil {
		t.Fatalf("New with a file for dir: no error")
	}
}

func errorsUnwrapAll(err error) error {
	for {
		type unwrapper interface{ Unwrap() error }
		u, ok := err.(unwrapper)
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// writeCheck writes a check that says msg, after logging "started" and
// busy-waiting args.ms milliseconds.
func writeCheck(t *testing.T, dir, name, msg string) {
	t.Helper()
	src := fmt.Sprintf(`local log = require("log")
return { description = %q, run = function(args)
  log.info("started")
  local stop = os.clock() + (args.ms or 0) / 1000
  while os.clock() < stop do end
  return { status = "ok", message = %q }
end }`, msg, msg)
	if err := os.WriteFile(filepath.Join(dir, name+".lua"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReload(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	writeCheck(t, dir, "a", "v1")
	started := make(chan struct{}, 1)
	rt, err := newRuntime(Options{Dir: dir, Log: func(_ slog.Level, check, msg string) {
		if msg == "started" {
			select {
			case started <- struct{}{}:
			default:
			}
		}
	}}, builtinFS)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	hash1 := rt.BundleHash()
	if d := rt.Run(context.Background(), "a", nil); d.Message != "v1" {
		t.Fatalf("before reload: %+v", d)
	}
	<-started

	// A run in progress finishes on the library it started with.
	done := make(chan result.Doc)
	go func() { done <- rt.Run(context.Background(), "a", []byte(`{"ms":300}`)) }()
	<-started
	writeCheck(t, dir, "a", "v2")
	writeCheck(t, dir, "b", "new")
	if err := rt.Reload(); err != nil {
		t.Fatal(err)
	}
	if d := rt.Run(context.Background(), "a", nil); d.Message != "v2" {
		t.Fatalf("after reload: %+v", d)
	}
	if d := <-done; d.Message != "v1" {
		t.Fatalf("the run across the reload: %+v", d)
	}
	if !rt.Has("b") || rt.BundleHash() == hash1 || len(rt.BundleHash()) != 64 {
		t.Fatalf("after reload: has b %v, hash %s (was %s)", rt.Has("b"), rt.BundleHash(), hash1)
	}

	// A directory that went away is an error, and the library stays.
	hash2 := rt.BundleHash()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := rt.Reload(); err == nil {
		t.Fatal("Reload of a removed directory: no error")
	}
	if d := rt.Run(context.Background(), "b", nil); d.Message != "new" || rt.BundleHash() != hash2 {
		t.Fatalf("after a failed reload: %+v", d)
	}
}

func TestBundleHash(t *testing.T) {
	dir := t.TempDir()
	writeCheck(t, dir, "a", "x")
	open := func() string {
		rt, err := newRuntime(Options{Dir: dir}, builtinFS)
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		return rt.BundleHash()
	}
	h1, h2 := open(), open()
	if h1 != h2 {
		t.Fatalf("the same library hashes differently: %s %s", h1, h2)
	}
	writeCheck(t, dir, "a", "y")
	if h3 := open(); h3 == h1 {
		t.Fatal("a changed source did not change the hash")
	}
	// Moving bytes between name and source changes the hash.
	d1, d2 := map[string]*entry{"ab": {code: []byte("c")}}, map[string]*entry{"a": {code: []byte("bc")}}
	if bundleHash(d1) == bundleHash(d2) {
		t.Fatal("length prefixes do not separate name and source")
	}
}

func TestConcurrentRuns(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{PoolSize: 4})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				n := g*100 + i
				switch i % 4 {
				case 0, 1:
					d := rt.Run(context.Background(), "bare", []byte(fmt.Sprintf(`{"n":%d}`, n)))
					if d.Message != fmt.Sprintf("bare %d", n) || d.Metrics[0].Value != float64(n) {
						errs <- fmt.Sprintf("bare %d: %+v", n, d)
						return
					}
				case 2:
					d := rt.Run(context.Background(), "echo", []byte(fmt.Sprintf(`{"n":%d}`, n)))
					if d.Message != fmt.Sprintf(`{"n":%d}`, n) {
						errs <- fmt.Sprintf("echo %d: %+v", n, d)
						return
					}
				case 3:
					if d := rt.Run(context.Background(), "fails", nil); d.Status != result.Unknown {
						errs <- fmt.Sprintf("fails: %+v", d)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLogModule(t *testing.T) {
	rt, rec := newTestRuntime(t, Options{})
	if d := rt.Run(context.Background(), "logs", nil); d.Status != result.OK {
		t.Fatalf("got %+v", d)
	}
	for _, want := range []logEntry{
		{slog.LevelInfo, "logs", "hello 42 true"},
		{slog.LevelWarn, "logs", "careful"},
		{slog.LevelDebug, "logs", "printed"},
	} {
		if e, ok := rec.find(want.level, want.msg); !ok || e != want {
			t.Errorf("want %+v in the log:\n%s", want, rec)
		}
	}
}

func TestBigResultIsCut(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{})
	d := rt.Run(context.Background(), "big", nil)
	if d.Status != result.Warning || !strings.HasSuffix(d.Message, "(truncated)") {
		t.Fatalf("got %s, message ending %q", d.Status, d.Message[max(0, len(d.Message)-20):])
	}
	if n := len(d.Encode(MaxResult)); n > MaxResult || n < MaxResult-64 {
		t.Fatalf("encoded %d bytes, want just under %d", n, MaxResult)
	}
	if !strings.HasSuffix(string(d.Encode(0)), `(truncated)","duration_ms":`+fmt.Sprint(d.DurationMS)+`}`) {
		t.Fatalf("the cut result, encoded without a limit, was cut again")
	}
}

func TestClose(t *testing.T) {
	rt, _ := newTestRuntime(t, Options{})
	rt.Run(context.Background(), "echo", nil)
	rt.Close()
	if d := rt.Run(context.Background(), "echo", nil); d.Status != result.Unknown || !strings.Contains(d.Message, "closed") {
		t.Fatalf("after Close: %+v", d)
	}
}
