package result

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxRangeLen is the most bytes of a threshold range's text: a range is a
// couple of numbers, and what an agent writes in a metric's warn_range
// must not grow the store or a label of /metrics without limit.
const MaxRangeLen = 64

// Range is a Nagios threshold range, as the Monitoring Plugins guidelines
// define it: a value alerts when it lies outside [Low, High], or inside it
// for an inverted range.
type Range struct {
	Low, High float64 // infinite where the range is open
	Inside    bool    // written with a leading @: alert inside the range
}

// ParseRange parses a threshold range "[@][start:][end]": "10" (0 to 10),
// "10:" (10 or more), "~:10" (10 or less), "10:20", "@10:20" (alert from
// 10 to 20). The start defaults to 0, "~" as start is minus infinity, and
// an empty end is infinity.
func ParseRange(spec string) (Range, error) {
	r := Range{High: math.Inf(1)}
	if len(spec) > MaxRangeLen {
		return r, fmt.Errorf("threshold %.16q...: longer than %d bytes", spec, MaxRangeLen)
	}
	s := strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		r.Inside, s = true, rest
	}
	start, end, hasColon := strings.Cut(s, ":")
	if !hasColon {
		start, end = "", s
		if end == "" {
			return r, fmt.Errorf("threshold %q: empty", spec)
		}
	}
	var err error
	switch start {
	case "~":
		r.Low = math.Inf(-1)
	case "":
	default:
		if r.Low, err = parseNumber(start); err != nil {
			return r, fmt.Errorf("threshold %q: start: %w", spec, err)
		}
	}
	if end != "" {
		if r.High, err = parseNumber(end); err != nil {
			return r, fmt.Errorf("threshold %q: end: %w", spec, err)
		}
	}
	if r.Low > r.High {
		return r, fmt.Errorf("threshold %q: start is above end", spec)
	}
	return r, nil
}

// Alert reports whether v calls for an alert under r.
func (r Range) Alert(v float64) bool {
	in := v >= r.Low && v <= r.High
	return in == r.Inside
}

// Bound returns the one number that says r: its end, when r is the range
// that number alone is read as (0 to end, not inverted, as in "10" or
// "0:10"). Any other range ("10:20", "~:10", "10:", "@0:10") has no such
// number: a reader given its end alone would take it for the range 0 to
// end, the opposite of what "@0:10" means.
func (r Range) Bound() (float64, bool) {
	return r.High, r.Low == 0 && !r.Inside && !math.IsInf(r.High, 1)
}

// String returns r as a spec that ParseRange reads back as r, in its
// shortest form: "10", "10:", "~:10", "10:20", "@10:20".
func (r Range) String() string {
	var b strings.Builder
	if r.Inside {
		b.WriteByte('@')
	}
	switch {
	case r.Low == 0 && !math.IsInf(r.High, 1):
		b.WriteString(formatNumber(r.High))
		return b.String()
	case math.IsInf(r.Low, -1):
		b.WriteByte('~')
	default:
		b.WriteString(formatNumber(r.Low))
	}
	b.WriteByte(':')
	if !math.IsInf(r.High, 1) {
		b.WriteString(formatNumber(r.High))
	}
	return b.String()
}

// formatNumber writes a number of a range, as short as it reads back.
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// parseNumber parses a finite decimal number.
func parseNumber(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}
