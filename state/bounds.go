package state

import (
	"fmt"
	"unicode/utf8"

	"github.com/equus-monitoring/equus/result"
)

// What the store keeps of one result, status or event. An agent decides
// what its checks answer, up to the protocol's 1 MiB blob; kept whole, one
// agent answering every check with a megabyte would grow the file by a
// megabyte a result and every list of results beyond what a client reads.
// Cap and CapLongOutput are applied by every write (AddResult,
// PutStatuses, AddEvents), so no path around them exists; helen applies
// them too where a result comes in, so that what it holds in memory is what
// it stored.
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
	// MaxLongOutput is the most bytes of a long output kept, the note that
	// says it was cut included: as much as the message, so that what a
	// plugin written for Nagios prints (8 KiB in all) is kept whole.
	MaxLongOutput = 8 << 10
)

// Cap returns message and metrics cut to the bounds above, each cut said
// in the message: "… [cut from 1048576 bytes]" for a message, "[metrics
// cut from 1000 to 32]" for metrics. Names and units are cut on a UTF-8
// boundary; a threshold range longer than result.MaxRangeLen, which
// result.Parse refuses, is dropped. What is within the bounds comes back as
// it is (so Cap of Cap's result changes nothing), and metrics is never
// changed in place.
func Cap(message string, metrics []Metric) (string, []Metric) {
	var note string
	if len(metrics) > MaxMetrics {
		note = fmt.Sprintf(" [metrics cut from %d to %d]", len(metrics), MaxMetrics)
		metrics = metrics[:MaxMetrics]
	}
	copied := false
	for i, m := range metrics {
		if len(m.Name) <= MaxMetricName && len(m.Unit) <= MaxMetricUnit &&
			len(m.WarnRange) <= result.MaxRangeLen && len(m.CritRange) <= result.MaxRangeLen {
			continue
		}
		if !copied {
			metrics, copied = append([]Metric(nil), metrics...), true
		}
		metrics[i].Name = cut(m.Name, MaxMetricName)
		metrics[i].Unit = cut(m.Unit, MaxMetricUnit)
		for _, r := range []*string{&metrics[i].WarnRange, &metrics[i].CritRange} {
			if len(*r) > result.MaxRangeLen {
				*r = ""
			}
		}
	}
	return capText(message, MaxMessage, note), metrics
}

// CapLongOutput returns a long output cut to MaxLongOutput bytes, the cut
// said at its end as Cap says it of a message.
func CapLongOutput(long string) string { return capText(long, MaxLongOutput, "") }

// capText returns s and note within max bytes, s cut on a UTF-8 boundary
// with "… [cut from N bytes]" where they do not fit.
func capText(s string, max int, note string) string {
	if len(s)+len(note) <= max {
		return s + note
	}
	cutNote := fmt.Sprintf("… [cut from %d bytes]", len(s))
	return cut(s, max-len(cutNote)-len(note)) + cutNote + note
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
