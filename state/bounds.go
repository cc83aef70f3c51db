package state

import (
	"fmt"
	"unicode/utf8"
)

// What the store keeps of one result, status or event. An agent decides
// what its checks answer, up to the protocol's 1 MiB blob; kept whole, one
// agent answering every check with a megabyte would grow the file by a
// megabyte a result and every list of results beyond what a client reads.
// Cap is applied by every write (AddResult, PutStatuses, AddEvents), so no
// path around it exists; helen applies it too where a result comes in, so
// that what it holds in memory is what it stored.
const (
	// MaxMessage is the most bytes of a message kept, the note that says
	// it was cut included. It is Nagios' own limit on a plugin's output.
	MaxMessage = 8 << 10
	// MaxMetrics is the most metrics kept of a result; the rest are
	// dropped and the message says how many there were.
	MaxMetrics = 32
	// MaxMetricName and MaxMetricUnit are the most bytes kept of a
	// metric's name and unit.
	MaxMetricName = 128
	MaxMetricUnit = 32
)

// Cap returns message and metrics cut to the bounds above, each cut said
// in the message: "… [cut from 1048576 bytes]" for a message, "[metrics
// cut from 1000 to 32]" for metrics. Names and units are cut on a UTF-8
// boundary. What is within the bounds comes back as it is (so Cap of
// Cap's result changes nothing), and metrics is never changed in place.
func Cap(message string, metrics []Metric) (string, []Metric) {
	var note string
	if len(metrics) > MaxMetrics {
		note = fmt.Sprintf(" [metrics cut from %d to %d]", len(metrics), MaxMetrics)
		metrics = metrics[:MaxMetrics]
	}
	copied := false
	for i, m := range metrics {
		if len(m.Name) <= MaxMetricName && len(m.Unit) <= MaxMetricUnit {
			continue
		}
		if !copied {
			metrics, copied = append([]Metric(nil), metrics...), true
		}
		metrics[i].Name = cut(m.Name, MaxMetricName)
		metrics[i].Unit = cut(m.Unit, MaxMetricUnit)
	}
	if len(message)+len(note) <= MaxMessage {
		return message + note, metrics
	}
	cutNote := fmt.Sprintf("… [cut from %d bytes]", len(message))
	return cut(message, MaxMessage-len(cutNote)-len(note)) + cutNote + note, metrics
}

// cut returns the longest prefix of s of at most n bytes that does not end
// inside a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
