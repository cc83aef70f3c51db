package lua

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// newModState returns a bare Lua state with the Go modules preloaded,
// closed when the test ends.
func newModState(t testing.TB, env *Env) *glua.LState {
	t.Helper()
	if env == nil {
		env = &Env{}
	}
	L := glua.NewState()
	t.Cleanup(L.Close)
	preloadModules(L, env)
	installPatterns(L) // the checks' own, as in the sandbox
	return L
}

// evalLua runs chunk in L and returns what it returns, failing the test on
// a Lua error.
func evalLua(t testing.TB, L *glua.LState, chunk string) []glua.LValue {
	t.Helper()
	vals, err := tryLua(L, chunk)
	if err != nil {
		t.Fatalf("lua: %v\n%s", err, chunk)
	}
	return vals
}

// tryLua runs chunk in L and returns what it returns, or the error raised.
func tryLua(L *glua.LState, chunk string) ([]glua.LValue, error) {
	top := L.GetTop()
	defer L.SetTop(top)
	if err := L.DoString(chunk); err != nil {
		return nil, err
	}
	vals := make([]glua.LValue, 0, L.GetTop()-top)
	for i := top + 1; i <= L.GetTop(); i++ {
		vals = append(vals, L.Get(i))
	}
	return vals, nil
}

// field returns v[name], failing the test when v is not a table.
func field(t testing.TB, v glua.LValue, name string) glua.LValue {
	t.Helper()
	tbl, ok := v.(*glua.LTable)
	if !ok {
		t.Fatalf("want a table with %q, got %s %v", name, v.Type(), v)
	}
	return tbl.RawGetString(name)
}

// number returns v[name] as a number, failing the test when it is not one.
func number(t testing.TB, v glua.LValue, name string) float64 {
	t.Helper()
	n, ok := field(t, v, name).(glua.LNumber)
	if !ok {
		t.Fatalf("%s = %v, want a number", name, field(t, v, name))
	}
	return float64(n)
}

// mustSucceed fails the test when a module call returned nil, err.
func mustSucceed(t testing.TB, vals []glua.LValue) glua.LValue {
	t.Helper()
	if len(vals) == 0 || vals[0] == glua.LNil {
		t.Fatalf("call failed: %v", vals)
	}
	return vals[0]
}

func TestHostValues(t *testing.T) {
	L := newModState(t, nil)
	host := func(call string) glua.LValue {
		t.Helper()
		return mustSucceed(t, evalLua(t, L, "return require('host')."+call))
	}

	m := host("memory()")
	if total := number(t, m, "total"); total <= 0 || number(t, m, "available") > total || number(t, m, "used") > total {
		t.Errorf("memory: implausible %v", m.(*glua.LTable))
	}
	if p := number(t, m, "used_percent"); p < 0 || p > 100 {
		t.Errorf("memory used_percent = %v", p)
	}
	s := host("swap()")
	if number(t, s, "used") > number(t, s, "total") {
		t.Errorf("swap used above total")
	}
	ld := host("load()")
	for _, k := range []string{"load1", "load5", "load15"} {
		if number(t, ld, k) < 0 {
			t.Errorf("%s < 0", k)
		}
	}
	if up := float64(host("uptime()").(glua.LNumber)); up <= 0 {
		t.Errorf("uptime = %v", up)
	}
	if n := float64(host("cpu_count()").(glua.LNumber)); n < 1 {
		t.Errorf("cpu_count = %v", n)
	}
	if p := float64(host("cpu_percent(50)").(glua.LNumber)); p < 0 || p > 100 {
		t.Errorf("cpu_percent = %v", p)
	}
	ct := host("cpu_times()")
	if number(t, ct, "user")+number(t, ct, "system")+number(t, ct, "idle") <= 0 {
		t.Errorf("cpu_times all zero")
	}
	du := host("disk_usage('/')")
	if number(t, du, "total") <= 0 || field(t, du, "path").String() != "/" {
		t.Errorf("disk_usage('/') = %v", du)
	}
	if disks, ok := host("disks()").(*glua.LTable); !ok {
		t.Errorf("disks() is not a list")
	} else if disks.Len() > 0 && field(t, disks.RawGetInt(1), "mountpoint").Type() != glua.LTString {
		t.Errorf("disks()[1] has no mountpoint")
	}
	nics := host("net_counters()").(*glua.LTable)
	if nics.Len() == 0 || field(t, nics.RawGetInt(1), "name").String() == "" || number(t, nics.RawGetInt(1), "bytes_recv") < 0 {
		t.Errorf("net_counters() = %d interfaces", nics.Len())
	}
	want, _ := os.Hostname()
	if got := host("hostname()").String(); got != want {
		t.Errorf("hostname() = %q, want %q", got, want)
	}
}

func TestHostProcesses(t *testing.T) {
	L := newModState(t, nil)
	procs := mustSucceed(t, evalLua(t, L, "return require('host').processes()")).(*glua.LTable)
	found := false
	procs.ForEach(func(_, p glua.LValue) {
		self := int(number(t, p, "pid")) == os.Getpid()
		if got := field(t, p, "self"); got != glua.LBool(self) {
			t.Errorf("process %v: self is %v", field(t, p, "pid"), got)
		}
		if self {
			found = true
			if !strings.Contains(field(t, p, "cmdline").String(), "lua") || field(t, p, "name").String() == "" {
				t.Errorf("this process: %v %v", field(t, p, "name"), field(t, p, "cmdline"))
			}
			if field(t, p, "username").String() == "" || field(t, p, "status").String() == "" {
				t.Errorf("this process has no username or status")
			}
		}
	})
	if !found {
		t.Errorf("this process (%d) is not among %d processes", os.Getpid(), procs.Len())
	}
	one := mustSucceed(t, evalLua(t, L, "return require('host').processes(1)")).(*glua.LTable)
	if one.Len() != 1 {
		t.Errorf("processes(1) listed %d", one.Len())
	}
	if _, err := tryLua(L, "return require('host').processes(0)"); err == nil {
		t.Errorf("processes(0) was not refused")
	}
}

func TestHostFailures(t *testing.T) {
	L := newModState(t, nil)
	vals := evalLua(t, L, "return require('host').disk_usage('"+t.TempDir()+"/missing')")
	if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "disk usage") {
		t.Errorf("disk_usage of a missing path = %v", vals)
	}
	if _, err := tryLua(L, "return require('host').cpu_percent(-1)"); err == nil {
		t.Errorf("cpu_percent(-1) was not refused")
	}
}

func TestHostDeadline(t *testing.T) {
	L := newModState(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	L.SetContext(ctx)
	start := time.Now()
	vals, err := tryLua(L, "return require('host').cpu_percent(10000)")
	if err == nil && (len(vals) < 2 || vals[0] != glua.LNil) {
		t.Errorf("cpu_percent outlived its deadline: %v", vals)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cpu_percent(10000) returned after %v, past its 100ms deadline", d)
	}
}
