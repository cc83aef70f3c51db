package result

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Parse reads a result document. It never fails: a blob that is not valid
// JSON, has no status or an unknown one, or carries a malformed metric
// becomes a document with status Unknown whose message says what was wrong,
// followed by the original message where there was one. Well-formed metrics
// are kept.
//
// A document as agents write it is read in one pass (parseClean); any
// other, and every one with a problem, is read as it always was
// (parseChecked), which says what the problems are.
func Parse(blob []byte) Doc {
	if d, ok := parseClean(blob); ok {
		return d
	}
	return parseChecked(blob)
}

// parseChecked is Parse for any blob: each field decoded on its own, so
// that every problem is found and said.
func parseChecked(blob []byte) Doc {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(blob, &raw); err != nil {
		return Unknownf("invalid result document: %v", err)
	}
	if raw == nil {
		return Unknownf("invalid result document: not a JSON object")
	}
	var d Doc
	var problems []string
	if m, ok := raw["message"]; ok && !isNull(m) {
		if err := json.Unmarshal(m, &d.Message); err != nil {
			problems = append(problems, "message is not a string")
		}
	}
	if l, ok := raw["long_output"]; ok && !isNull(l) {
		if err := json.Unmarshal(l, &d.LongOutput); err != nil {
			problems = append(problems, "long_output is not a string")
		}
	}
	if v, ok := raw["duration_ms"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &d.DurationMS); err != nil {
			problems = append(problems, "duration_ms is not a number")
		}
	}
	d.Status, problems = parseStatus(raw["status"], problems)
	d.Metrics, problems = parseMetrics(raw["metrics"], problems)
	if len(problems) > 0 {
		d.Status = Unknown
		note := "invalid result document: " + strings.Join(problems, "; ")
		if d.Message != "" {
			note += ": " + d.Message
		}
		d.Message = note
	}
	return d
}

func parseStatus(v json.RawMessage, problems []string) (Status, []string) {
	if v == nil || isNull(v) {
		return Unknown, append(problems, "no status")
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return Unknown, append(problems, "status is not a string")
	}
	if !Status(s).Valid() {
		return Unknown, append(problems, fmt.Sprintf("unknown status %q", s))
	}
	return Status(s), problems
}

func parseMetrics(v json.RawMessage, problems []string) ([]Metric, []string) {
	if v == nil || isNull(v) {
		return nil, problems
	}
	var list []json.RawMessage
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, append(problems, "metrics is not a list")
	}
	var out []Metric
	for i, item := range list {
		m, err := parseMetric(item)
		if err != nil {
			problems = append(problems, fmt.Sprintf("metric %d: %v", i+1, err))
			continue
		}
		out = append(out, m)
	}
	return out, problems
}

func parseMetric(item json.RawMessage) (Metric, error) {
	var f struct {
		Name      *string         `json:"name"`
		Value     json.RawMessage `json:"value"`
		Unit      string          `json:"unit"`
		Warn      *float64        `json:"warn"`
		WarnRange string          `json:"warn_range"`
		Crit      *float64        `json:"crit"`
		CritRange string          `json:"crit_range"`
		Min       *float64        `json:"min"`
		Max       *float64        `json:"max"`
	}
	if err := json.Unmarshal(item, &f); err != nil {
		return Metric{}, fmt.Errorf("malformed: %w", err)
	}
	if f.Name == nil || *f.Name == "" {
		return Metric{}, fmt.Errorf("no name")
	}
	m := Metric{Name: *f.Name, Unit: f.Unit, Warn: f.Warn, WarnRange: f.WarnRange,
		Crit: f.Crit, CritRange: f.CritRange, Min: f.Min, Max: f.Max}
	switch {
	case f.Value == nil:
		return Metric{}, fmt.Errorf("%s has no numeric value", m.Name)
	case isNull(f.Value):
		m.Unknown = true
	default:
		if err := json.Unmarshal(f.Value, &m.Value); err != nil {
			return Metric{}, fmt.Errorf("malformed: %s: value is neither a number nor null", m.Name)
		}
	}
	for _, spec := range []string{m.WarnRange, m.CritRange} {
		if spec == "" {
			continue
		}
		if _, err := ParseRange(spec); err != nil {
			return Metric{}, fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return m, nil
}

func isNull(v json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}
