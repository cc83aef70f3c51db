package lua

import (
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/shirou/gopsutil/v4/process"
	glua "github.com/yuin/gopher-lua"
)

// pluginDir is where Debian's monitoring-plugins packages install the
// plugins the nagios check is tested with.
const pluginDir = "/usr/lib/nagios/plugins"

// requirePlugins skips the test when the monitoring plugins are missing,
// or fails it when EQUUS_REQUIRE_PLUGINS=1.
func requirePlugins(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(pluginDir, n)); err != nil {
			msg := "monitoring plugin " + n + " not installed (apt-get install monitoring-plugins-basic): " + err.Error()
			if os.Getenv("EQUUS_REQUIRE_PLUGINS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// libraryCheck runs the library check name with args (a Lua expression)
// in a bare state and returns its result, checked for the shape of a
// result document. A check that raises an error fails the test.
func libraryCheck(t *testing.T, env *Env, name, args string) glua.LValue {
	t.Helper()
	res, err := tryLibraryCheck(t, env, name, args)
	if err != nil {
		t.Fatalf("%s(%s): %v", name, args, err)
	}
	return res
}

// tryLibraryCheck is libraryCheck returning the error a check raised.
func tryLibraryCheck(t *testing.T, env *Env, name, args string) (glua.LValue, error) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("checks", name+".lua"))
	if err != nil {
		t.Fatal(err)
	}
	L := newModState(t, env)
	def := evalLua(t, L, string(src))[0]
	if d := field(t, def, "description"); d.Type() != glua.LTString || d.String() == "" || strings.Contains(d.String(), "\n") {
		t.Errorf("%s: description %q is not one line", name, d)
	}
	run, ok := field(t, def, "run").(*glua.LFunction)
	if !ok {
		t.Fatalf("%s: no run function", name)
	}
	argv := evalLua(t, L, "return "+args)[0]
	// As the runtime does: args are held to the check's declaration,
	// with its defaults set, before run sees them.
	if spec, ok := field(t, def, "args").(*glua.LTable); ok {
		specs, err := parseSpec(spec)
		if err != nil {
			t.Fatalf("%s: args: %v", name, err)
		}
		if argv == glua.LNil {
			argv = L.NewTable()
		}
		in, ok := argv.(*glua.LTable)
		if !ok {
			t.Fatalf("%s: args %s are not a table", name, args)
		}
		if err := validate(in, specs); err != nil {
			return nil, err
		}
	}
	if err := L.CallByParam(glua.P{Fn: run, NRet: 1, Protect: true}, argv); err != nil {
		return nil, err
	}
	res := L.Get(-1)
	L.Pop(1)
	checkResultShape(t, name, res)
	return res, nil
}

// checkResultShape fails the test unless res is a result as PROTOCOL.md
// describes it.
func checkResultShape(t *testing.T, name string, res glua.LValue) {
	t.Helper()
	switch s := field(t, res, "status").String(); s {
	case "ok", "warning", "critical", "unknown":
	default:
		t.Errorf("%s: status %q", name, s)
	}
	if m := field(t, res, "message"); m.Type() != glua.LTString || m.String() == "" {
		t.Errorf("%s: message %v", name, m)
	}
	// The runtime takes it as a result document: metrics with a name and
	// a number or unknown = true, thresholds that are numbers or ranges.
	if _, err := toDoc(res); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// metricNames returns the names of the metrics of res.
func metricNames(t *testing.T, res glua.LValue) []string {
	var names []string
	if list, ok := field(t, res, "metrics").(*glua.LTable); ok {
		list.ForEach(func(_, m glua.LValue) { names = append(names, field(t, m, "name").String()) })
	}
	return names
}

// metric returns the metric called name of res, or fails the test.
func metric(t *testing.T, res glua.LValue, name string) glua.LValue {
	t.Helper()
	var found glua.LValue
	if list, ok := field(t, res, "metrics").(*glua.LTable); ok {
		list.ForEach(func(_, m glua.LValue) {
			if field(t, m, "name").String() == name {
				found = m
			}
		})
	}
	if found == nil {
		t.Fatalf("no metric %q among %v", name, metricNames(t, res))
	}
	return found
}

// libraryCase is a run of a library check and what its result must be.
type libraryCase struct {
	name    string // of the case
	check   string
	args    string   // a Lua expression
	status  string   // "" for any
	message string   // a part of the message
	metrics []string // names among the metrics
}

func runLibraryCases(t *testing.T, env *Env, cases []libraryCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := libraryCheck(t, env, c.check, c.args)
			status, msg := field(t, res, "status").String(), field(t, res, "message").String()
			if c.status != "" && status != c.status {
				t.Errorf("status %q (%s), want %q", status, msg, c.status)
			}
			if !strings.Contains(msg, c.message) {
				t.Errorf("message %q does not contain %q", msg, c.message)
			}
			for _, m := range c.metrics {
				metric(t, res, m)
			}
		})
	}
}

func TestLibraryHostChecks(t *testing.T) {
	self, err := process.NewProcess(int32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	selfName, err := self.Name()
	if err != nil {
		t.Fatal(err)
	}
	// A process to count: this one, the agent, never is. The pattern of
	// its arguments is this test's own.
	child := startSleep(t)
	childPattern := luaQuote(strings.Join(child.Args, " "))
	selfPattern := luaQuote(os.Args[0])
	load3 := []string{"load1", "load5", "load15"}
	runLibraryCases(t, nil, []libraryCase{
		{"load", "load", "{}", "", "load ", load3},
		{"load-nil-args", "load", "nil", "", "CPUs", load3},
		{"load-critical", "load", "{crit = '@0:1000000'}", "critical", "load ", load3},
		{"load-absolute", "load", "{per_cpu = false, warn = '@0:1000000', crit = 1000000}", "warning", "load ", load3},
		{"cpu", "cpu", "{interval_ms = 50}", "", "% busy", []string{"cpu"}},
		{"cpu-critical", "cpu", "{interval_ms = 20, crit = '@0:100'}", "critical", "cpu ", nil},
		{"memory", "memory", "{}", "", "memory ", []string{"used_percent", "used", "available"}},
		{"memory-warning", "memory", "{warn = '@0:100'}", "warning", "% used", nil},
		{"swap", "swap", "{}", "", "swap", nil},
		{"disk", "disk", "{}", "", "/ ", []string{"used_percent", "used", "free"}},
		{"disk-thresholds", "disk", "{path = '/', warn = '@0:100', crit = 200, inode_crit = '@0:100'}", "critical", "inodes", []string{"inodes_used_percent"}},
		{"disk-missing", "disk", "{path = '/no/such/dir'}", "unknown", "disk usage of /no/such/dir", nil},
		{"uptime", "uptime", "{}", "ok", "up ", []string{"uptime"}},
		{"uptime-recent", "uptime", "{min = 1e12}", "warning", "rebooted", nil},
		{"process-child", "process", "{name = 'sleep', pattern = '" + childPattern + "'}", "ok", "1 process named sleep", []string{"procs"}},
		{"process-child-warn", "process", "{pattern = '" + childPattern + "', warn = '0'}", "warning", "1 process matching", nil},
		{"process-not-self", "process", "{pattern = '" + selfPattern + "'}", "critical", "0 processes matching", nil},
		{"process-not-self-name", "process", "{name = '" + selfName + "', pattern = '" + selfPattern + "'}", "critical", "0 processes", nil},
		{"process-none", "process", "{pattern = 'no such process %d+ here'}", "critical", "0 processes", nil},
		{"process-none-ok", "process", "{name = 'no-such-process', crit = '0'}", "ok", "0 processes", nil},
		{"process-user", "process", "{name = '" + selfName + "', user = 'no-such-user'}", "critical", "0 processes", nil},
		{"network", "network", "{}", "ok", "", nil},
		{"network-lo", "network", "{interface = 'lo'}", "ok", "lo rx", []string{"lo_bytes_recv", "lo_bytes_sent", "lo_err_in"}},
		{"network-missing", "network", "{interface = 'nope0'}", "unknown", "no interface nope0", nil},
	})
	if _, err := tryLibraryCheck(t, nil, "process", "{}"); err == nil || !strings.Contains(err.Error(), "name or pattern") {
		t.Errorf("process without name or pattern: %v", err)
	}
}

// startSleep starts a sleep with arguments of this process's own, ended
// when the test ends.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", fmt.Sprintf("300.%d", os.Getpid()))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// luaQuote escapes the magic characters of a Lua pattern in s, and the
// quote of a Lua string.
func luaQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' {
			b.WriteByte('%')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestLibraryNetworkChecks(t *testing.T) {
	srv, caFile := newTLSTestServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(closedPort(t)))
	q := strconv.Quote
	httpArgs := func(path, more string) string {
		return "{url = " + q(srv.URL+path) + ", ca_file = " + q(caFile) + more + "}"
	}
	runLibraryCases(t, nil, []libraryCase{
		{"http", "http", httpArgs("/echo", ""), "ok", "HTTP 201", []string{"time", "size"}},
		{"http-expect", "http", httpArgs("/echo", ", expect = 201, contains = 'GET', match = '^G.T'"), "ok", "HTTP 201", nil},
		{"http-expect-list", "http", httpArgs("/echo", ", expect = {200, 201}"), "ok", "", nil},
		{"http-wrong-status", "http", httpArgs("/echo", ", expect = 200"), "critical", "unexpected status, want 200)", nil},
		{"http-wrong-status-default", "http", httpArgs("/missing", ""), "critical", "HTTP 404", nil},
		{"http-no-match", "http", httpArgs("/echo", ", match = '^POST'"), "critical", "does not match", nil},
		{"http-plain-contains", "http", httpArgs("/echo", ", contains = 'G.T'"), "critical", "does not contain", nil},
		{"http-post", "http", httpArgs("/echo", ", body = 'hello', contains = 'POST  hello'"), "ok", "", nil},
		{"http-latency", "http", httpArgs("/echo", ", warn = '@0:100000'"), "warning", "", nil},
		{"http-untrusted", "http", "{url = " + q(srv.URL+"/echo") + "}", "critical", "certificate", nil},
		{"http-timeout", "http", httpArgs("/slow", ", timeout_ms = 100"), "critical", "no response", nil},
		{"http-redirect", "http", httpArgs("/moved", ", follow_redirects = false"), "ok", "HTTP 302", nil},
		{"tcp-address", "tcp", "{address = " + q(ln.Addr().String()) + "}", "ok", "connected to", []string{"time"}},
		{"tcp-host-port", "tcp", "{host = " + q(host) + ", port = " + port + ", crit = '@0:10000'}", "critical", "connected to", nil},
		{"tcp-closed", "tcp", "{address = " + q(closed) + ", timeout_ms = 1000}", "critical", "refused", nil},
		{"dns", "dns", "{name = 'localhost'}", "ok", "localhost is", []string{"addresses"}},
		{"dns-expect-missing", "dns", "{name = 'localhost', expect = {'192.0.2.1'}}", "critical", "not 192.0.2.1", nil},
		{"dns-bad-name", "dns", "{name = 'no..such..name'}", "critical", "lookup", nil},
	})
	for check, args := range map[string]string{"http": "{}", "tcp": "{host = 'x'}", "dns": "{}"} {
		if _, err := tryLibraryCheck(t, nil, check, args); err == nil {
			t.Errorf("%s with %s did not raise an error", check, args)
		}
	}
	// drain what the tcp cases connected, so that the listener closes clean
	ln.(*net.TCPListener).SetDeadline(time.Now())
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		c.Close()
	}
}

func TestLibraryFileCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.tar")
	if err := os.WriteFile(file, make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(file, old, old)
	f := strconv.Quote(file)
	missing := strconv.Quote(filepath.Join(dir, "missing"))
	runLibraryCases(t, nil, []libraryCase{
		{"exists", "file", "{path = " + f + "}", "ok", "2.0 KiB", []string{"age", "size"}},
		{"young-enough", "file", "{path = " + f + ", max_age = 3 * 3600, min_size = 1024, max_size = 4096}", "ok", "", nil},
		{"too-old", "file", "{path = " + f + ", max_age = 3600}", "critical", "older than 3600 s", nil},
		{"too-small", "file", "{path = " + f + ", min_size = 4096}", "critical", "smaller than 4.0 KiB", nil},
		{"too-large", "file", "{path = " + f + ", max_size = 1000}", "critical", "larger than", nil},
		{"missing", "file", "{path = " + missing + "}", "critical", "does not exist", nil},
		{"missing-allowed", "file", "{path = " + missing + ", must_exist = false}", "ok", "does not exist", nil},
	})
	res := libraryCheck(t, nil, "file", "{path = "+f+"}")
	if age := number(t, metric(t, res, "age"), "value"); age < 7100 || age > 7300 {
		t.Errorf("age = %v, want about 7200", age)
	}
}

func TestLibraryNagiosCheck(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, filepath.Join(dir, "check_fake"), `printf 'FAKE OK - all good | a=1;2;3 '"'"'b c'"'"'=2ms\nlong 1\nlong 2 | d=4;;;0;10\ne=5%%\n'; exit ${1:-0}`)
	writeScript(t, filepath.Join(dir, "check_quiet"), "echo 'to stderr' >&2; exit 2")
	env := &Env{Exec: ExecPolicy{Dirs: []string{dir}}}
	runLibraryCases(t, env, []libraryCase{
		{"ok", "nagios", "{plugin = 'check_fake'}", "ok", "FAKE OK - all good", []string{"a", "b c", "d", "e"}},
		{"warning", "nagios", "{plugin = 'check_fake', args = {'1'}}", "warning", "", nil},
		{"critical", "nagios", "{plugin = 'check_fake', args = {'2'}}", "critical", "", nil},
		{"unknown", "nagios", "{plugin = 'check_fake', args = {'3'}}", "unknown", "", nil},
		{"other-code", "nagios", "{plugin = 'check_fake', args = {'7'}}", "unknown", "FAKE OK", nil},
		{"stderr", "nagios", "{plugin = 'check_quiet'}", "critical", "to stderr", nil},
		{"missing", "nagios", "{plugin = 'check_none'}", "unknown", "no such program", nil},
	})
	res := libraryCheck(t, env, "nagios", "{plugin = 'check_fake'}")
	if msg := field(t, res, "message").String(); msg != "FAKE OK - all good" {
		t.Errorf("message %q", msg)
	}
	d := metric(t, res, "d")
	if number(t, d, "value") != 4 || number(t, d, "min") != 0 || number(t, d, "max") != 10 || field(t, d, "warn") != glua.LNil {
		t.Errorf("metric d: value %v min %v max %v warn %v", field(t, d, "value"), field(t, d, "min"), field(t, d, "max"), field(t, d, "warn"))
	}
	if u := field(t, metric(t, res, "b c"), "unit").String(); u != "ms" {
		t.Errorf("metric 'b c' unit %q", u)
	}
	for _, plugin := range []string{"'../check_fake'", q(filepath.Join(dir, "check_fake")), "'.hidden'", "''"} {
		if _, err := tryLibraryCheck(t, env, "nagios", "{plugin = "+plugin+"}"); err == nil || !strings.Contains(err.Error(), "plain file name") {
			t.Errorf("plugin %s: %v, want a refusal", plugin, err)
		}
	}
	if _, err := tryLibraryCheck(t, env, "nagios", "{}"); err == nil || !strings.Contains(err.Error(), "bad args: plugin is required") {
		t.Errorf("no plugin: %v, want bad args", err)
	}
}

func q(s string) string { return strconv.Quote(s) }

func TestLibraryNagiosPlugins(t *testing.T) {
	requirePlugins(t, "check_dummy", "check_load", "check_disk", "check_procs")
	env := &Env{Exec: ExecPolicy{Dirs: []string{pluginDir}}}
	runLibraryCases(t, env, []libraryCase{
		{"dummy-ok", "nagios", "{plugin = 'check_dummy', args = {'0', 'all fine'}}", "ok", "all fine", nil},
		{"dummy-warning", "nagios", "{plugin = 'check_dummy', args = {'1', 'hmm'}}", "warning", "hmm", nil},
		{"dummy-critical", "nagios", "{plugin = 'check_dummy', args = {'2', 'down'}}", "critical", "down", nil},
		{"dummy-unknown", "nagios", "{plugin = 'check_dummy', args = {'3', 'what'}}", "unknown", "what", nil},
		{"load", "nagios", `{plugin = "check_load", args = {"-w", "5,4,3", "-c", "10,8,6"}}`, "", "load average", []string{"load1", "load5", "load15"}},
		{"load-critical", "nagios", `{plugin = "check_load", args = {"-w", "0,0,0", "-c", "0,0,0"}}`, "", "LOAD", nil},
		{"disk", "nagios", `{plugin = "check_disk", args = {"-w", "1%", "-c", "1%", "-p", "/"}}`, "", "/", []string{"/"}},
		{"procs", "nagios", `{plugin = "check_procs"}`, "ok", "PROCS OK", []string{"procs"}},
		{"procs-critical", "nagios", `{plugin = "check_procs", args = {"-c", "1:1", "-C", "no-such-command"}}`, "critical", "PROCS CRITICAL", nil},
		{"bad-usage", "nagios", `{plugin = "check_load", args = {"--no-such-flag"}}`, "unknown", "", nil},
	})
	// check_dummy says "CRITICAL: down": the status is not repeated.
	res := libraryCheck(t, env, "nagios", "{plugin = 'check_dummy', args = {'2', 'down'}}")
	if msg := field(t, res, "message").String(); msg != "down" {
		t.Errorf("check_dummy message %q, want %q", msg, "down")
	}
	res = libraryCheck(t, env, "nagios", `{plugin = "check_load", args = {"-w", "5,4,3", "-c", "10,8,6"}}`)
	l1 := metric(t, res, "load1")
	if number(t, l1, "warn") != 5 || number(t, l1, "crit") != 10 || number(t, l1, "min") != 0 {
		t.Errorf("check_load load1: warn %v crit %v min %v", field(t, l1, "warn"), field(t, l1, "crit"), field(t, l1, "min"))
	}
}

// TestLibraryBadArgs runs each library check with an arg it does not take
// and with one of the wrong kind: each must raise a "bad args" error that
// names the arg, not fail somewhere inside with a Lua error.
func TestLibraryBadArgs(t *testing.T) {
	tests := []struct{ check, args, err string }{
		{"cpu", "{wran = '5'}", "bad args: unknown arg wran"},
		{"cpu", "{interval_ms = 'x'}", "bad args: interval_ms is a string, want a number"},
		{"disk", "{warn = 'abc'}", `bad args: warn threshold "abc"`},
		{"disk", "{path = 5}", "bad args: path is a number, want a string"},
		{"dns", "{}", "bad args: name is required"},
		{"dns", "{name = 'localhost', expect = true}", "bad args: expect is a boolean"},
		{"file", "{path = '/', max_age = '60'}", "bad args: max_age is a string, want a number"},
		{"http", "{}", "bad args: url is required"},
		{"http", "{url = 'http://127.0.0.1:1/', match = '(('}", `bad args: match pattern "(("`},
		{"load", "{crit = 'abc'}", `bad args: crit threshold "abc"`},
		{"memory", "{warning = 90}", "bad args: unknown arg warning"},
		{"nagios", "{plugin = 'check_load', args = '-w 5'}", "bad args: args is a string, want a table"},
		{"nagios", "{plugin = {}}", "bad args: plugin is a table, want a string"},
		{"network", "{interface = 1}", "bad args: interface is a number"},
		{"process", "{pattern = '[('}", `bad args: pattern pattern "[("`},
		{"swap", "{crit = {}}", "bad args: crit is a table, want a threshold"},
		{"tcp", "{host = 'x', port = 'ssh'}", "bad args: port is a string, want a number"},
		{"uptime", "{min = '1d'}", "bad args: min is a string, want a number"},
	}
	for _, tt := range tests {
		t.Run(tt.check+tt.args, func(t *testing.T) {
			_, err := tryLibraryCheck(t, nil, tt.check, tt.args)
			if err == nil || !strings.HasPrefix(luaMessage(err), tt.err) {
				t.Fatalf("got %v, want an error starting %q", err, tt.err)
			}
		})
	}
}

// TestLibraryMetricsRounded checks that percentages carry two decimals
// at most and times three, rather than every digit of a float.
func TestLibraryMetricsRounded(t *testing.T) {
	for _, c := range []struct{ check, args, metric string }{
		{"memory", "{}", "used_percent"},
		{"disk", "{}", "used_percent"},
		{"disk", "{}", "inodes_used_percent"},
		{"cpu", "{interval_ms = 20}", "cpu"},
	} {
		v := number(t, metric(t, libraryCheck(t, nil, c.check, c.args), c.metric), "value")
		if math.Abs(v*100-math.Round(v*100)) > 1e-9 {
			t.Errorf("%s %s = %v, want two decimals at most", c.check, c.metric, v)
		}
	}
}
