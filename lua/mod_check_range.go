package lua

import (
	"math"
	"strconv"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/result"
)

// The thresholds of the check module: check.range objects, and the specs,
// numbers and ranges that check.limit, check.evaluate and a metric's warn
// and crit take. The grammar is result.ParseRange's; this file is what
// Lua sees of it.

// rangeType is the name of the metatable of check.range objects.
const rangeType = "check.range"

// threshold is a Nagios threshold range and the spec it was read from.
type threshold struct {
	result.Range
	spec string
}

// openRangeType sets up the metatable of check.range objects in L.
func openRangeType(L *glua.LState) {
	mt := L.NewTypeMetatable(rangeType)
	L.SetField(mt, "__index", L.SetFuncs(L.NewTable(), map[string]glua.LGFunction{
		"alert": rangeAlert,
		"limit": rangeLimit,
		"scale": rangeScale,
	}))
	L.SetField(mt, "__tostring", L.NewFunction(rangeString))
	protectMetatable(mt) // shared by the checks of the state
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
	status := result.OK
	if L.Get(2) != glua.LNil && checkThresholdArg(L, 2).Alert(v) {
		status = result.Warning
	}
	if L.Get(3) != glua.LNil && checkThresholdArg(L, 3).Alert(v) {
		status = result.Critical
	}
	L.Push(glua.LString(status))
	return 1
}

// rangeAlert is r:alert(value) -> boolean: whether value calls for an
// alert under the range r.
func rangeAlert(L *glua.LState) int {
	t := checkRangeSelf(L)
	L.Push(glua.LBool(t.Alert(float64(L.CheckNumber(2)))))
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

// pushLimit pushes the one number that says t (result.Range.Bound), or nil.
func pushLimit(L *glua.LState, t threshold) {
	if v, ok := t.Bound(); ok {
		L.Push(glua.LNumber(v))
	} else {
		L.Push(glua.LNil)
	}
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
