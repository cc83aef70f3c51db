package result

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// PluginOutput is what a Nagios plugin printed, read as the Monitoring
// Plugins guidelines define it:
//
//	TEXT OUTPUT | OPTIONAL PERFDATA
//	LONG TEXT LINE 1
//	LONG TEXT LINE 2 | PERFDATA LINE 2
//	PERFDATA LINE 3
//
// The first line is the message and its performance data; the lines after
// it are long output up to their first "|", and everything after that "|",
// on any line, is performance data too.
type PluginOutput struct {
	Message    string   // the first line before its "|", trimmed
	LongOutput string   // the lines after it, "" for none
	Metrics    []Metric // of both parts of the performance data
}

// ParsePluginOutput splits a plugin's output into its message, long output
// and metrics. Lines may end in "\r\n": carriage returns at the end of a
// line are dropped. The long output keeps its lines as printed (their
// indentation too) without the blank lines around them. The error
// describes the performance data that does not parse, as ParsePerfdata's;
// the rest is returned whatever it says.
func ParsePluginOutput(out string) (PluginOutput, error) {
	if strings.Contains(out, "\r") {
		lines := strings.Split(out, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, "\r")
		}
		out = strings.Join(lines, "\n")
	}
	first, rest, _ := strings.Cut(out, "\n")
	message, perf, _ := strings.Cut(first, "|")
	long, more, hasMore := strings.Cut(rest, "|")
	if hasMore {
		perf += " " + more
	}
	metrics, err := ParsePerfdata(perf)
	return PluginOutput{
		Message:    strings.TrimSpace(message),
		LongOutput: trimBlankLines(long),
		Metrics:    metrics,
	}, err
}

// trimBlankLines returns s without its leading blank lines and its trailing
// white space, so that a line's own indentation is kept.
func trimBlankLines(s string) string {
	s = strings.TrimRightFunc(s, unicode.IsSpace)
	for {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok || strings.TrimSpace(line) != "" {
			return s
		}
		s = rest
	}
}

// ParsePerfdata parses Nagios performance data: items separated by white
// space, each 'label'=value[unit];[warn];[crit];[min];[max], where a label
// with spaces, = or ' is quoted with ' (and a ' inside it doubled).
//
// The value "U" is a value the plugin could not determine: the metric is
// Unknown. warn and crit are threshold ranges, kept as written (WarnRange,
// CritRange) and as a number where one number says them (Range.Bound).
// min and max are numbers in the unit of the value; for a percentage they
// are 0 and 100 unless given. Fields past max are ignored.
//
// It returns the metrics that parse, and an error describing the rest: an
// item without label=value or with a value that is not a number is left
// out; a field that does not parse is left out of its metric.
func ParsePerfdata(text string) ([]Metric, error) {
	var ms []Metric
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
		m, err := perfValues(label, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("perfdata %q: %w", label, err))
		}
		if m != nil {
			ms = append(ms, *m)
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

// perfValues parses "value[unit];warn;crit;min;max" of the item label. It
// returns nil for an item whose value does not parse, and the metric with
// an error for one of whose other fields some do not.
func perfValues(label, data string) (*Metric, error) {
	fields := strings.Split(data, ";")
	m := &Metric{Name: label}
	if fields[0] == "U" {
		m.Unknown = true
	} else {
		num, unit := splitUnit(fields[0])
		v, err := parseNumber(num)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		m.Value, m.Unit = v, unit
	}
	var errs []error
	field := func(i int) string {
		if i < len(fields) {
			return fields[i]
		}
		return ""
	}
	for i, t := range []struct {
		name    string
		bound   **float64
		written *string
	}{{"warn", &m.Warn, &m.WarnRange}, {"crit", &m.Crit, &m.CritRange}} {
		f := field(1 + i)
		if f == "" {
			continue
		}
		r, err := ParseRange(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
			continue
		}
		*t.written = f
		if b, ok := r.Bound(); ok {
			*t.bound = &b
		}
	}
	for i, dst := range []**float64{&m.Min, &m.Max} {
		f := field(3 + i)
		if f == "" {
			continue
		}
		v, err := parseNumber(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", []string{"min", "max"}[i], err))
			continue
		}
		*dst = &v
	}
	if m.Unit == "%" {
		if m.Min == nil {
			m.Min = ptr(0)
		}
		if m.Max == nil {
			m.Max = ptr(100)
		}
	}
	return m, errors.Join(errs...)
}

func ptr(v float64) *float64 { return &v }

// splitUnit splits "12.5ms" into "12.5" and "ms".
func splitUnit(s string) (num, unit string) {
	i := strings.LastIndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' || r == '.' })
	return s[:i+1], s[i+1:]
}
