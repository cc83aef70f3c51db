package lua

import (
	"errors"
	"fmt"
	"math"
	"strings"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/result"
)

// toDoc converts what a check's run function returned into a result:
// {status = "ok"|"warning"|"critical"|"unknown" or 0..3, message = "...",
// long_output = "...", metrics = {{name=, value=, unit=, warn=, crit=,
// min=, max=}, ...}}.
func toDoc(v glua.LValue) (result.Doc, error) {
	t, ok := v.(*glua.LTable)
	if !ok {
		return result.Doc{}, fmt.Errorf("run returned %s, want a table", typeName(v))
	}
	status, err := toStatus(t.RawGetString("status"))
	if err != nil {
		return result.Doc{}, err
	}
	doc := result.Doc{Status: status}
	switch m := t.RawGetString("message").(type) {
	case *glua.LNilType:
	case glua.LString:
		doc.Message = string(m)
	case glua.LNumber:
		doc.Message = m.String()
	default:
		return result.Doc{}, fmt.Errorf("message is a %s, want a string", m.Type())
	}
	switch l := t.RawGetString("long_output").(type) {
	case *glua.LNilType:
	case glua.LString:
		doc.LongOutput = string(l)
	default:
		return result.Doc{}, fmt.Errorf("long_output is a %s, want a string", l.Type())
	}
	doc.Metrics, err = toMetrics(t.RawGetString("metrics"))
	return doc, err
}

func toStatus(v glua.LValue) (result.Status, error) {
	switch v := v.(type) {
	case *glua.LNilType:
		return "", errors.New("no status")
	case glua.LString:
		s := result.Status(strings.ToLower(string(v)))
		if !s.Valid() {
			return "", fmt.Errorf("status %q is not ok, warning, critical or unknown", string(v))
		}
		return s, nil
	case glua.LNumber:
		if f := float64(v); f == math.Trunc(f) && f >= 0 && f <= 3 {
			return result.FromCode(int(f)), nil
		}
		return "", fmt.Errorf("status %v is not a code from 0 to 3", v)
	}
	return "", fmt.Errorf("status is a %s, want a string or a number", v.Type())
}

func toMetrics(v glua.LValue) ([]result.Metric, error) {
	if v == glua.LNil {
		return nil, nil
	}
	t, ok := v.(*glua.LTable)
	if !ok {
		return nil, fmt.Errorf("metrics is a %s, want a list", v.Type())
	}
	n := t.Len()
	if n == 0 {
		return nil, nil
	}
	out := make([]result.Metric, 0, n)
	for i := 1; i <= n; i++ {
		m, err := toMetric(t.RawGetInt(i))
		if err != nil {
			return nil, fmt.Errorf("metric %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// toMetric converts one metric: {name, value, unit, warn, crit, min, max},
// or for a value the check could not determine {name, unknown = true, ...}
// without a value. warn and crit are thresholds (a number, a spec such as
// "10:20", or a check.range); warn_range and crit_range, the spec as
// written, may stand beside a number that agrees with them, as
// check.perfdata gives them.
func toMetric(v glua.LValue) (result.Metric, error) {
	t, ok := v.(*glua.LTable)
	if !ok {
		return result.Metric{}, fmt.Errorf("is a %s, want a table", v.Type())
	}
	name, ok := t.RawGetString("name").(glua.LString)
	if !ok || name == "" {
		return result.Metric{}, errors.New("no name")
	}
	m := result.Metric{Name: string(name)}
	switch u := t.RawGetString("unknown").(type) {
	case *glua.LNilType:
	case glua.LBool:
		m.Unknown = bool(u)
	default:
		return m, fmt.Errorf("%s: unknown is a %s, want a boolean", name, u.Type())
	}
	switch value := t.RawGetString("value").(type) {
	case glua.LNumber:
		if m.Unknown {
			return m, fmt.Errorf("%s: a value (%v) and unknown = true", name, value)
		}
		if !finite(float64(value)) {
			return m, fmt.Errorf("%s: value is %v, want a finite number", name, value)
		}
		m.Value = float64(value)
	case *glua.LNilType:
		if !m.Unknown {
			return m, fmt.Errorf("%s: no value, and not unknown = true", name)
		}
	default:
		return m, fmt.Errorf("%s: value is %s, want a finite number", name, value)
	}
	switch u := t.RawGetString("unit").(type) {
	case *glua.LNilType:
	case glua.LString:
		m.Unit = string(u)
	default:
		return m, fmt.Errorf("%s: unit is a %s, want a string", name, u.Type())
	}
	var err error
	if m.Warn, m.WarnRange, err = toThreshold(t, "warn"); err != nil {
		return m, fmt.Errorf("%s: %w", name, err)
	}
	if m.Crit, m.CritRange, err = toThreshold(t, "crit"); err != nil {
		return m, fmt.Errorf("%s: %w", name, err)
	}
	for _, f := range []struct {
		key string
		dst **float64
	}{{"min", &m.Min}, {"max", &m.Max}} {
		if *f.dst, err = toNumber(t, f.key); err != nil {
			return m, fmt.Errorf("%s: %w", name, err)
		}
	}
	return m, nil
}

// toThreshold reads the threshold key of a metric: its number, where one
// says it, and its spec as written, where it was written as text. A number
// alone is kept as it is.
func toThreshold(t *glua.LTable, key string) (*float64, string, error) {
	var spec string
	switch w := t.RawGetString(key + "_range").(type) {
	case *glua.LNilType:
	case glua.LString:
		spec = string(w)
	default:
		return nil, "", fmt.Errorf("%s_range is a %s, want a string", key, w.Type())
	}
	var number *float64
	switch v := t.RawGetString(key).(type) {
	case *glua.LNilType:
	case glua.LNumber:
		n, err := toNumber(t, key)
		if err != nil {
			return nil, "", err
		}
		if spec == "" {
			return n, "", nil
		}
		number = n
	case glua.LString:
		if spec != "" && spec != string(v) {
			return nil, "", fmt.Errorf("%s %q and %s_range %q differ", key, string(v), key, spec)
		}
		spec = string(v)
	case *glua.LUserData:
		th, ok := v.Value.(threshold)
		if !ok {
			return nil, "", fmt.Errorf("%s is a userdata, want a threshold", key)
		}
		if spec != "" && spec != th.spec {
			return nil, "", fmt.Errorf("%s %q and %s_range %q differ", key, th.spec, key, spec)
		}
		spec = th.spec
	default:
		return nil, "", fmt.Errorf("%s is a %s, want a threshold (a number, a spec or a check.range)", key, v.Type())
	}
	if spec == "" {
		return nil, "", nil
	}
	r, err := result.ParseRange(spec)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", key, err)
	}
	bound, ok := r.Bound()
	if number != nil && (!ok || *number != bound) {
		return nil, "", fmt.Errorf("%s %v is not the number of %s_range %q", key, *number, key, spec)
	}
	if !ok {
		return nil, spec, nil
	}
	return &bound, spec, nil
}

// toNumber reads the finite number key of a metric, if there is one.
func toNumber(t *glua.LTable, key string) (*float64, error) {
	switch x := t.RawGetString(key).(type) {
	case *glua.LNilType:
		return nil, nil
	case glua.LNumber:
		if !finite(float64(x)) {
			return nil, fmt.Errorf("%s is %v, want a finite number", key, x)
		}
		v := float64(x)
		return &v, nil
	default:
		return nil, fmt.Errorf("%s is a %s, want a number", key, x.Type())
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
