package result

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Metric is one measured value of a check, with optional thresholds and
// bounds, as in the performance data of a Nagios plugin. Its JSON form is
// MetricJSON's.
type Metric struct {
	Name string
	// Value is the figure, unless Unknown: the check could not determine
	// it (a plugin's "U"), and Value is then 0 and meaningless.
	Value   float64
	Unknown bool
	Unit    string
	// WarnRange and CritRange are the thresholds as written, where they
	// were written as text (every threshold of performance data, and a
	// check's that gives a spec or a range). Warn and Crit are them as
	// numbers, only where one number says the range (Range.Bound: "N" or
	// "0:N"); "10:20" or "@3:4" has none and is only in its text. A
	// number without its text (a check's, an older agent's) is the
	// threshold's upper end.
	Warn, Crit           *float64
	WarnRange, CritRange string
	Min, Max             *float64
}

// MetricJSON is a Metric in the result document: the value is null when
// unknown. It is what MarshalJSON writes, for an encoder that marshals
// many metrics and would rather not have encoding/json marshal and
// compact each MarshalJSON's bytes again (state's results).
type MetricJSON struct {
	Name      string   `json:"name"`
	Value     *float64 `json:"value"`
	Unit      string   `json:"unit,omitempty"`
	Warn      *float64 `json:"warn,omitempty"`
	WarnRange string   `json:"warn_range,omitempty"`
	Crit      *float64 `json:"crit,omitempty"`
	CritRange string   `json:"crit_range,omitempty"`
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
}

// MarshalJSON writes m as the result document has it.
func (m Metric) MarshalJSON() ([]byte, error) { return json.Marshal(m.JSON()) }

// JSON returns m as the result document holds it; its value points at
// m's.
func (m *Metric) JSON() MetricJSON {
	j := MetricJSON{Name: m.Name, Unit: m.Unit, Warn: m.Warn, WarnRange: m.WarnRange,
		Crit: m.Crit, CritRange: m.CritRange, Min: m.Min, Max: m.Max}
	if !m.Unknown {
		j.Value = &m.Value
	}
	return j
}

// UnmarshalJSON reads a metric as MarshalJSON writes it, without the checks
// of Parse: it reads what helen stored.
func (m *Metric) UnmarshalJSON(b []byte) error {
	var j MetricJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Metric{Name: j.Name, Unknown: j.Value == nil, Unit: j.Unit, Warn: j.Warn, WarnRange: j.WarnRange,
		Crit: j.Crit, CritRange: j.CritRange, Min: j.Min, Max: j.Max}
	if j.Value != nil {
		m.Value = *j.Value
	}
	return nil
}

// WarnSpec returns the warn threshold as text: as written, or its number.
func (m Metric) WarnSpec() string { return spec(m.WarnRange, m.Warn) }

// CritSpec returns the crit threshold as text: as written, or its number.
func (m Metric) CritSpec() string { return spec(m.CritRange, m.Crit) }

func spec(written string, bound *float64) string {
	if written == "" && bound != nil {
		return formatFloat(*bound)
	}
	return written
}

// Doc is the result document of one run of a check.
type Doc struct {
	Status  Status `json:"status"`
	Message string `json:"message"`
	// LongOutput is the lines of detail after the message, as a Nagios
	// plugin prints them after its first line; "" for none.
	LongOutput string   `json:"long_output,omitempty"`
	Metrics    []Metric `json:"metrics,omitempty"`
	DurationMS float64  `json:"duration_ms"`
}

// Unknownf returns a document with status Unknown and a formatted message.
func Unknownf(format string, a ...any) Doc {
	return Doc{Status: Unknown, Message: fmt.Sprintf(format, a...)}
}

// Line returns the document as a line for people, in the style of a Nagios
// plugin's output: "OK: message | load1=0.42;4;8".
func (d Doc) Line() string {
	var b strings.Builder
	b.WriteString(d.Status.label())
	if d.Message != "" {
		b.WriteString(": ")
		b.WriteString(d.Message)
	}
	for i, m := range d.Metrics {
		if i == 0 {
			b.WriteString(" |")
		}
		b.WriteByte(' ')
		b.WriteString(m.perfData())
	}
	return b.String()
}

// Text returns the document as a Nagios plugin prints it: Line, then the
// lines of the long output, if any. ParsePluginOutput reads it back.
func (d Doc) Text() string {
	if d.LongOutput == "" {
		return d.Line()
	}
	return d.Line() + "\n" + d.LongOutput
}

// perfData formats m as Nagios performance data:
// 'label'=value[unit];[warn];[crit];[min];[max], without trailing
// semicolons, the value "U" when unknown and the thresholds as written.
func (m Metric) perfData() string {
	label := m.Name
	if strings.ContainsFunc(label, func(r rune) bool { return r == '\'' || r == '=' || unicode.IsSpace(r) }) {
		label = "'" + strings.ReplaceAll(label, "'", "''") + "'"
	}
	value := "U"
	if !m.Unknown {
		value = formatFloat(m.Value) + m.Unit
	}
	fields := []string{label + "=" + value, m.WarnSpec(), m.CritSpec()}
	for _, p := range []*float64{m.Min, m.Max} {
		if p == nil {
			fields = append(fields, "")
		} else {
			fields = append(fields, formatFloat(*p))
		}
	}
	for len(fields) > 1 && fields[len(fields)-1] == "" {
		fields = fields[:len(fields)-1]
	}
	return strings.Join(fields, ";")
}

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}
