package lua

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	glua "github.com/yuin/gopher-lua"
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
	"code":     checkCode,
	"status":   checkStatus,
	"range":    checkRange,
	"limit":    checkLimit,
	"evaluate": checkEvaluate,
	"worst":    checkWorst,
	"perfdata": checkPerfdata,
	"bytes":    checkBytes,
	"args":     checkArgs,
	"round":    checkRound,
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
// outside the range, or inside an @ range), and r:limit(), the number a
// metric carries for it (see check.limit). A malformed spec is raised.
func checkRange(L *glua.LState) int {
	t := checkThresholdArg(L, 1)
	ud := L.NewUserData()
	ud.Value = t
	L.SetMetatable(ud, L.GetTypeMetatable(rangeType))
	L.Push(ud)
	return 1
}

// checkLimit is check.limit(spec) -> number or nil: the number to put in a
// metric's warn or crit for a threshold: its upper bound, or nil when it
// has none ("10:").
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
// each {name, value, unit, warn, crit, min, max} (the last four only where
// they are numbers; warn and crit of a range carry its upper bound). Items
// that do not parse are left out and described by the second value, which
// is nil when every item parsed.
func checkPerfdata(L *glua.LState) int {
	ms, err := parsePerfdata(L.CheckString(1))
	list := L.CreateTable(len(ms), 0)
	for _, m := range ms {
		t := newRecord(L, map[string]any{"name": m.name, "value": m.value, "unit": m.unit})
		for k, v := range map[string]*float64{"warn": m.warn, "crit": m.crit, "min": m.min, "max": m.max} {
			if v != nil {
				t.RawSetString(k, glua.LNumber(*v))
			}
		}
		list.Append(t)
	}
	L.Push(list)
	if err != nil {
		L.Push(glua.LString(err.Error()))
	} else {
		L.Push(glua.LNil)
	}
	return 2
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
	t, err := parseRange(spec)
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return t
}

// threshold is a Nagios threshold range: a value alerts when it lies
// outside [low, high], or inside it for an inverted (@) range.
type threshold struct {
	low, high float64 // infinite where the range is open
	inside    bool
	spec      string
}

// parseRange parses a Nagios threshold range: "[@][start:][end]", where
// start defaults to 0, "~" as start means minus infinity, and an empty end
// means infinity.
func parseRange(spec string) (threshold, error) {
	t := threshold{spec: spec, high: math.Inf(1)}
	s := strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		t.inside, s = true, rest
	}
	start, end, hasColon := strings.Cut(s, ":")
	if !hasColon {
		start, end = "", s
		if end == "" {
			return t, fmt.Errorf("threshold %q: empty", spec)
		}
	}
	var err error
	switch start {
	case "~":
		t.low = math.Inf(-1)
	case "":
	default:
		if t.low, err = parseNumber(start); err != nil {
			return t, fmt.Errorf("threshold %q: start: %w", spec, err)
		}
	}
	if end != "" {
		if t.high, err = parseNumber(end); err != nil {
			return t, fmt.Errorf("threshold %q: end: %w", spec, err)
		}
	}
	if t.low > t.high {
		return t, fmt.Errorf("threshold %q: start is above end", spec)
	}
	return t, nil
}

// alert reports whether v calls for an alert under t.
func (t threshold) alert(v float64) bool {
	in := v >= t.low && v <= t.high
	return in == t.inside
}

// limit returns the number a metric carries for t: its upper bound, if it
// has one.
func (t threshold) limit() (float64, bool) {
	return t.high, !math.IsInf(t.high, 0)
}

// parseNumber parses a finite decimal number.
func parseNumber(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

// perfMetric is one item of Nagios performance data.
type perfMetric struct {
	name                 string
	value                float64
	unit                 string
	warn, crit, min, max *float64
}

// parsePerfdata parses Nagios performance data: items separated by
// spaces, each label=value[unit][;warn[;crit[;min[;max]]]], where a label
// with spaces is quoted with ' (and a ' inside it doubled). It returns the
// items that parse, and an error describing the others. Items whose value
// is "U" (undetermined) are left out without an error.
func parsePerfdata(text string) ([]perfMetric, error) {
	var ms []perfMetric
	var errs []error
	for s := strings.TrimLeftFunc(text, unicode.IsSpace); s != ""; s = strings.TrimLeftFunc(s, unicode.IsSpace) {
		label, rest, err := perfLabel(s)
		if err != nil {
			errs = append(errs, err)
			s = rest
			continue
		}
		data := rest[:len(rest)-len(skipField(rest))]
		s = rest[len(data):]
		m, ok, err := perfValues(label, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("perfdata %q: %w", label, err))
		} else if ok {
			ms = append(ms, m)
		}
	}
	return ms, errors.Join(errs...)
}

// perfLabel reads the label and its '=' at the start of s and returns the
// text after them; on error, rest is where the next item may start.
func perfLabel(s string) (label, rest string, err error) {
	if q, ok := strings.CutPrefix(s, "'"); ok {
		var b strings.Builder
		for {
			i := strings.IndexByte(q, '\'')
			if i < 0 {
				return "", "", fmt.Errorf("perfdata: unterminated label %q", s)
			}
			b.WriteString(q[:i])
			if strings.HasPrefix(q[i+1:], "'") { // a doubled quote
				b.WriteByte('\'')
				q = q[i+2:]
				continue
			}
			label, rest = b.String(), q[i+1:]
			break
		}
	} else {
		i := strings.IndexFunc(s, func(r rune) bool { return r == '=' || unicode.IsSpace(r) })
		if i < 0 {
			i = len(s)
		}
		label, rest = s[:i], s[i:]
	}
	after, ok := strings.CutPrefix(rest, "=")
	if !ok || label == "" {
		item := s[:len(s)-len(skipField(rest))]
		return "", skipField(rest), fmt.Errorf("perfdata: no label=value in %q", item)
	}
	return label, after, nil
}

// skipField returns s after its first run of non-space characters.
func skipField(s string) string {
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[i:]
	}
	return ""
}

// perfValues parses "value[unit];warn;crit;min;max" of the item label; ok
// is false for an undetermined value.
func perfValues(label, data string) (m perfMetric, ok bool, err error) {
	fields := strings.Split(data, ";")
	m.name = label
	num, unit := splitUnit(fields[0])
	if num == "" && unit == "U" {
		return m, false, nil
	}
	if m.value, err = parseNumber(num); err != nil {
		return m, false, fmt.Errorf("value: %w", err)
	}
	m.unit = unit
	dst := []**float64{&m.warn, &m.crit, &m.min, &m.max}
	for i, f := range fields[1:] {
		if i >= len(dst) || f == "" {
			continue
		}
		if v, ok := perfNumber(f, i < 2); ok {
			*dst[i] = &v
		}
	}
	return m, true, nil
}

// perfNumber returns the number of a perfdata field: a plain number, or
// for a threshold (warn, crit) the upper bound of its range.
func perfNumber(f string, threshold bool) (float64, bool) {
	if !threshold {
		v, err := parseNumber(f)
		return v, err == nil
	}
	t, err := parseRange(f)
	if err != nil {
		return 0, false
	}
	return t.limit()
}

// splitUnit splits "12.5ms" into "12.5" and "ms".
func splitUnit(s string) (num, unit string) {
	i := strings.LastIndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' || r == '.' })
	return s[:i+1], s[i+1:]
}
