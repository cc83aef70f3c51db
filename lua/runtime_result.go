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
// metrics = {{name=, value=, unit=, warn=, crit=, min=, max=}, ...}}.
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
	value, ok := t.RawGetString("value").(glua.LNumber)
	if !ok || !finite(float64(value)) {
		return m, fmt.Errorf("%s: value is %s, want a finite number", name, t.RawGetString("value"))
	}
	m.Value = float64(value)
	switch u := t.RawGetString("unit").(type) {
	case *glua.LNilType:
	case glua.LString:
		m.Unit = string(u)
	default:
		return m, fmt.Errorf("%s: unit is a %s, want a string", name, u.Type())
	}
	for _, f := range []struct {
		key string
		dst **float64
	}{{"warn", &m.Warn}, {"crit", &m.Crit}, {"min", &m.Min}, {"max", &m.Max}} {
		switch x := t.RawGetString(f.key).(type) {
		case *glua.LNilType:
		case glua.LNumber:
			if !finite(float64(x)) {
				return m, fmt.Errorf("%s: %s is %v, want a finite number", name, f.key, x)
			}
			val := float64(x)
			*f.dst = &val
		default:
			return m, fmt.Errorf("%s: %s is a %s, want a number", name, f.key, x.Type())
		}
	}
	return m, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
