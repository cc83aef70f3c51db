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

// checkAPI is the check module: statuses, Nagios thresholds (check.range,
// in mod_check_range.go) and performance data. It also holds the
// constants OK, WARNING, CRITICAL and UNKNOWN ("ok", "warning",
// "critical", "unknown").
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
		for code := range 4 {
			s := result.FromCode(code)
			mod.RawSetString(strings.ToUpper(string(s)), glua.LString(s))
		}
		openRangeType(L)
		L.Push(mod)
		return 1
	}
}

// checkCode is check.code(status) -> number: the Nagios exit code of a
// status (0 ok, 1 warning, 2 critical, 3 unknown).
func checkCode(L *glua.LState) int {
	L.Push(glua.LNumber(checkStatusArg(L, 1).Code()))
	return 1
}

// checkStatus is check.status(code) -> status: the status of a Nagios exit
// code; any code but 0 to 3 is "unknown".
func checkStatus(L *glua.LState) int {
	code := L.CheckNumber(1)
	s := result.Unknown
	if i := int(code); float64(i) == float64(code) {
		s = result.FromCode(i)
	}
	L.Push(glua.LString(s))
	return 1
}

// checkWorst is check.worst(s1, s2, ...) -> status: the worst of the
// statuses given, in the order ok < unknown < warning < critical; nil
// arguments are skipped and no status at all is "ok".
func checkWorst(L *glua.LState) int {
	worst := result.OK
	for i := 1; i <= L.GetTop(); i++ {
		if L.Get(i) == glua.LNil {
			continue
		}
		if s := checkStatusArg(L, i); s.Severity() > worst.Severity() {
			worst = s
		}
	}
	L.Push(glua.LString(worst))
	return 1
}

// checkStatusArg returns argument n, which must be one of the statuses.
func checkStatusArg(L *glua.LState, n int) result.Status {
	s := result.Status(L.CheckString(n))
	if !s.Valid() {
		L.ArgError(n, fmt.Sprintf("unknown status %q", string(s)))
	}
	return s
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

// checkRound is check.round(x, places) -> number: x rounded to places
// decimal places (default 0), for metrics that need no more precision than
// a person reads (a percentage to 2 places, milliseconds to 3).
func checkRound(L *glua.LState) int {
	x := float64(L.CheckNumber(1))
	places := L.OptInt(2, 0)
	if places < 0 || places > 15 {
		L.ArgError(2, "places must be from 0 to 15")
	}
	p := math.Pow(10, float64(places))
	L.Push(glua.LNumber(math.Round(x*p) / p))
	return 1
}
