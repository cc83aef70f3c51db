package result

import (
	"fmt"
	"strconv"
	"strings"
)

// Metric is one measured value of a check, with optional thresholds and
// bounds, as in the performance data of a Nagios plugin.
type Metric struct {
	Name  string   `json:"name"`
	Value float64  `json:"value"`
	Unit  string   `json:"unit,omitempty"`
	Warn  *float64 `json:"warn,omitempty"`
	Crit  *float64 `json:"crit,omitempty"`
	Min   *float64 `json:"min,omitempty"`
	Max   *float64 `json:"max,omitempty"`
}

// Doc is the result document of one run of a check.
type Doc struct {
	Status     Status   `json:"status"`
	Message    string   `json:"message"`
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

// perfData formats m as Nagios performance data:
// 'label'=value[unit];[warn];[crit];[min];[max], without trailing semicolons.
func (m Metric) perfData() string {
	label := m.Name
	if strings.ContainsAny(label, " '=") {
		label = "'" + strings.ReplaceAll(label, "'", "''") + "'"
	}
	fields := []string{label + "=" + formatFloat(m.Value) + m.Unit}
	for _, p := range []*float64{m.Warn, m.Crit, m.Min, m.Max} {
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
