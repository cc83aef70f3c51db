package lua

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/result"
)

func init() { register("check", openCheck) }

// The statuses of a result, in the order of Nagios exit codes.
var statuses = []string{"ok", "warning", "critical", "unknown"}

// severity orders statuses from best to worst: a check that saw both a
// warning and an unknown reports the warning, since it is a known problem
// (the order monitoring-plugins calls max_state_alt).
var severity = map[string]int{"ok": 0, "unknown": 1, "warning": 2, "critical": 3}

// rangeType is the name of the metatable of check.range objects.
const rangeType = "check.range"

// checkAPI is the check module: statuses, Nagios thresholds and
// performance data. It also holds the constants OK, WARNING, CRITICAL and
// UNKNOWN ("ok", "warning", "critical", "unknown").
var checkAPI = map[string]glua.LGFunction{
	"code":          checkCode,
	"status":        checkStatus,
	"range":         checkRange,
	"limit":         checkLimit,
	"evaluate":      checkEvaluate,
	"worst":         checkWorst,
	"perfdata":      checkPerfdata,
	"plugin_output": checkPluginOutput,
	"bytes":         checkBytes,
	"args":          checkArgs,
	"round":         checkRound,
}

func openCheck(*Env) glua.LGFunction {
	return func(L *glua.LState) int {
		mod := L.SetFuncs(L.NewTable(), checkAPI)
		for _, s := range statuses {
			mod.RawSetString(strings.ToUpper(s), glua.LString(s))
		}
		mt := L.NewTypeMetatable(rangeType)
		L.SetField(mt, "__index", L.SetFuncs(L.NewTable(), map[string]glua.LGFunction{
			"alert": rangeAlert,
			"limit": rangeLimit,
			"scale": rangeScale,
		}))
		L.SetField(mt, "__tostring", L.NewFunction(rangeString))
		protectMetatable(mt) // shared by the checks of the state
		L.Push(mod)
		return 1
	}
}

// checkCode is check.code(status) -> number: the Nagios exit code of a
// status (0 ok, 1 warning, 2 critical, 3 unknown).
func checkCode(L *glua.LState) int {
	s := checkStatusArg(L, 1)
	for i, name := range statuses {
		if name == s {
			L.Push(glua.LNumber(i))
		}
	}
	return 1
}

// checkStatus is check.status(code) -> status: the status of a Nagios exit
// code; any code but 0 to 3 is "unknown".
func checkStatus(L *glua.LState) int {
	code := L.CheckNumber(1)
	s := "unknown"
	if i := int(code); float64(i) == float64(code) && i >= 0 && i < len(statuses) {
		s = statuses[i]
	}
	L.Push(glua.LString(s))
	return 1
}

// checkRange is check.range(spec) -> range: a Nagios threshold range such
// as "10" (0 to 10), "10:" (10 or more), "~:10" (10 or less), "10:20", or
// "@10:20" (inverted); a number n is the range 0 to n. The range has
// r:alert(value), which reports whether value calls for an alert (it lies
// outside the range, or inside an @ range), r:limit(), the one number that
// says it (see check.limit), and r:scale(n). A malformed spec is raised. A
// metric's warn or crit may be a range.
func checkRange(L *glua.LState) int {
	pushRange(L, checkThresholdArg(L, 1))
	return 1
}

func pushRange(L *glua.LState, t threshold) {
	ud := L.NewUserData()
	ud.Value = t
	L.SetMetatable(ud, L.GetTypeMetatable(rangeType))
	L.Push(ud)
}

// checkLimit is check.limit(spec) -> number or nil: the one number that
// says a threshold, its end, where the threshold is the range 0 to end
// ("10", "0:10"); nil for any other ("10:", "~:10", "1:2", "@3:4"), whose
// end alone would say something else. A metric's warn and crit take the
// spec itself, which keeps the range as written.
func checkLimit(L *glua.LState) int {
	t := checkThresholdArg(L, 1)
	pushLimit(L, t)
	return 1
}

// checkEvaluate is check.evaluate(value, warn, crit) -> status: "critical"
// when crit alerts, else "warning" when warn alerts, else "ok". warn and
// crit are specs (strings or numbers), ranges, or nil for no threshold.
func checkEvaluate(L *glua.LState) int {
	v := float64(L.CheckNumber(1))
	status := "ok"
	if L.Get(2) != glua.LNil && checkThresholdArg(L, 2).alert(v) {
		status = "warning"
	}
	if L.Get(3) != glua.LNil && checkThresholdArg(L, 3).alert(v) {
		status = "critical"
	}
	L.Push(glua.LString(status))
	return 1
}

// checkWorst is check.worst(s1, s2, ...) -> status: the worst of the
// statuses given, in the order ok < unknown < warning < critical; nil
// arguments are skipped and no status at all is "ok".
func checkWorst(L *glua.LState) int {
	worst := "ok"
	for i := 1; i <= L.GetTop(); i++ {
		if L.Get(i) == glua.LNil {
			continue
		}
		if s := checkStatusArg(L, i); severity[s] > severity[worst] {
			worst = s
		}
	}
	L.Push(glua.LString(worst))
	return 1
}

// checkPerfdata is check.perfdata(text) -> list, err: the metrics in
// Nagios performance data such as "'free space'=1.5GB;2;1;0;10 load=0.3",
// each a table as a check returns it (see metricList). Items that do not
// parse are left out, and fields that do not parse left out of their
// metric; the second value describes them, and is nil when all parsed.
func checkPerfdata(L *glua.LState) int {
	ms, err := result.ParsePerfdata(L.CheckString(1))
	L.Push(metricList(L, ms))
	pushError(L, err)
	return 2
}

// checkPluginOutput is check.plugin_output(text) -> output, err: what a
// Nagios plugin printed, as {message = the first line before its "|",
// long_output = the lines after it up to their first "|", metrics = the
// performance data after both "|"}, and err as check.perfdata's.
func checkPluginOutput(L *glua.LState) int {
	out, err := result.ParsePluginOutput(L.CheckString(1))
	t := L.CreateTable(0, 3)
	t.RawSetString("message", glua.LString(out.Message))
	t.RawSetString("long_output", glua.LString(out.LongOutput))
	t.RawSetString("metrics", metricList(L, out.Metrics))
	L.Push(t)
	pushError(L, err)
	return 2
}

// metricList returns metrics as a list of tables: each {name, value, unit,
// warn, warn_range, crit, crit_range, min, max} where set, and for a value
// the plugin could not determine unknown = true and no value.
func metricList(L *glua.LState, ms []result.Metric) *glua.LTable {
	list := L.CreateTable(len(ms), 0)
	for _, m := range ms {
		t := L.CreateTable(0, 9)
		t.RawSetString("name", glua.LString(m.Name))
		if m.Unknown {
			t.RawSetString("unknown", glua.LTrue)
		} else {
			t.RawSetString("value", glua.LNumber(m.Value))
		}
		t.RawSetString("unit", glua.LString(m.Unit))
		for k, v := range map[string]string{"warn_range": m.WarnRange, "crit_range": m.CritRange} {
			if v != "" {
				t.RawSetString(k, glua.LString(v))
			}
		}
		for k, v := range map[string]*float64{"warn": m.Warn, "crit": m.Crit, "min": m.Min, "max": m.Max} {
			if v != nil {
				t.RawSetString(k, glua.LNumber(*v))
			}
		}
		list.Append(t)
	}
	return list
}

// pushError pushes err's text, or nil for no error.
func pushError(L *glua.LState, err error) {
	if err != nil {
		L.Push(glua.LString(err.Error()))
	} else {
		L.Push(glua.LNil)
	}
}

// checkBytes is check.bytes(n) -> string: n bytes for people, in binary
// units ("512 B", "1.5 KiB", "41.2 GiB").
func checkBytes(L *glua.LState) int {
	L.Push(glua.LString(formatBytes(float64(L.CheckNumber(1)))))
	return 1
}

// formatBytes writes n bytes with a binary unit and one decimal.
func formatBytes(n float64) string {
	const units = "KMGTPE"
	if math.Abs(n) < 1024 {
		return strconv.FormatFloat(n, 'f', -1, 64) + " B"
	}
	i := -1
	for math.Abs(n) >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", n, units[i])
}

// rangeAlert is r:alert(value) -> boolean: whether value calls for an
// alert under the range r.
func rangeAlert(L *glua.LState) int {
	t := checkRangeSelf(L)
	L.Push(glua.LBool(t.alert(float64(L.CheckNumber(2)))))
	return 1
}

// rangeLimit is r:limit() -> number or nil, as check.limit.
func rangeLimit(L *glua.LState) int {
	pushLimit(L, checkRangeSelf(L))
	return 1
}

// rangeScale is r:scale(n) -> range: r with both ends times n, a number
// above 0, such as a threshold per CPU made the threshold of n CPUs.
func rangeScale(L *glua.LState) int {
	t := checkRangeSelf(L)
	n := float64(L.CheckNumber(2))
	if !(n > 0) || math.IsInf(n, 1) {
		L.ArgError(2, "scale by a finite number above 0")
	}
	r := t.Range
	r.Low, r.High = r.Low*n, r.High*n
	for _, end := range [][2]float64{{t.Low, r.Low}, {t.High, r.High}} {
		if !math.IsInf(end[0], 0) && math.IsInf(end[1], 0) {
			L.ArgError(2, "the scaled range overflows")
		}
	}
	pushRange(L, threshold{r, r.String()})
	return 1
}

// rangeString is tostring(r): the spec the range was made from.
func rangeString(L *glua.LState) int {
	L.Push(glua.LString(checkRangeSelf(L).spec))
	return 1
}

func checkRangeSelf(L *glua.LState) threshold {
	if t, ok := L.CheckUserData(1).Value.(threshold); ok {
		return t
	}
	L.ArgError(1, "range expected")
	return threshold{}
}

func pushLimit(L *glua.LState, t threshold) {
	if v, ok := t.limit(); ok {
		L.Push(glua.LNumber(v))
	} else {
		L.Push(glua.LNil)
	}
}

// checkStatusArg returns argument n, which must be one of the statuses.
func checkStatusArg(L *glua.LState, n int) string {
	s := L.CheckString(n)
	if _, ok := severity[s]; !ok {
		L.ArgError(n, fmt.Sprintf("unknown status %q", s))
	}
	return s
}

// checkThresholdArg returns argument n as a threshold: a range, a spec, or
// a number n meaning 0 to n.
func checkThresholdArg(L *glua.LState, n int) threshold {
	var spec string
	switch v := L.Get(n).(type) {
	case *glua.LUserData:
		if t, ok := v.Value.(threshold); ok {
			return t
		}
		L.ArgError(n, "threshold expected, got userdata")
	case glua.LNumber:
		spec = strconv.FormatFloat(float64(v), 'g', -1, 64)
	case glua.LString:
		spec = string(v)
	default:
		L.ArgError(n, "threshold expected (string, number or range), got "+v.Type().String())
	}
	r, err := result.ParseRange(spec)
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return threshold{r, spec}
}

// threshold is a Nagios threshold range and the spec it was read from.
type threshold struct {
	result.Range
	spec string
}

// alert reports whether v calls for an alert under t.
func (t threshold) alert(v float64) bool { return t.Alert(v) }

// limit returns the one number that says t, if there is one.
func (t threshold) limit() (float64, bool) { return t.Bound() }
