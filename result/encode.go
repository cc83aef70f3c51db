package result

import (
	"encoding/json"
	"math"
	"unicode/utf8"
)

const (
	truncatedNote = " (truncated)"
	droppedNote   = " (truncated, metrics dropped)"
)

// Encode returns d as JSON no longer than max bytes (max <= 0: no limit).
// A longer document is cut in order of what matters least: its long output
// first, cut on a UTF-8 boundary with " (truncated)" appended, or dropped
// when even that does not fit; then its message, likewise; and if the
// metrics alone are too large they are dropped as well, the message saying
// so. The output is always valid JSON: a metric whose value is NaN or
// infinite is left out, and such a bound or duration is omitted or zeroed.
// Only a max too small for a document with an empty message is exceeded.
func (d Doc) Encode(max int) []byte {
	d = d.finite()
	b := marshal(d)
	if max <= 0 || len(b) <= max {
		return b
	}
	if long := d.LongOutput; long != "" {
		if fitText(&d, &d.LongOutput, long, truncatedNote, max) {
			return marshal(d)
		}
		d.LongOutput = ""
	}
	msg := d.Message
	note := truncatedNote
	d.Message = note
	if len(marshal(d)) > max {
		d.Metrics = nil
		note = droppedNote
	}
	if !fitText(&d, &d.Message, msg, note, max) {
		d.Message = note
	}
	return marshal(d)
}

// fitText sets *field, a text of d, to the longest prefix of s that keeps d
// within max bytes with note appended, and reports whether d fits with
// note alone (if not, *field is left as note).
func fitText(d *Doc, field *string, s, note string, max int) bool {
	*field = note
	if len(marshal(*d)) > max {
		return false
	}
	// JSON escaping makes the encoded length grow unevenly with the
	// prefix, but monotonically, so a binary search over cut points finds
	// the longest that fits.
	lo, hi := 0, len(s)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		*field = s[:runeStart(s, mid)] + note
		if len(marshal(*d)) <= max {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	*field = s[:runeStart(s, lo)] + note
	return true
}

// runeStart returns the largest index <= i that begins a rune of s (or
// len(s)), so that s[:i] never ends inside a UTF-8 sequence.
func runeStart(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// finite returns d with every NaN or infinity removed, since JSON has none.
func (d Doc) finite() Doc {
	if !isFinite(d.DurationMS) {
		d.DurationMS = 0
	}
	if len(d.Metrics) == 0 {
		return d
	}
	ms := make([]Metric, 0, len(d.Metrics))
	for _, m := range d.Metrics {
		if !isFinite(m.Value) {
			continue
		}
		m.Warn, m.Crit = finitePtr(m.Warn), finitePtr(m.Crit)
		m.Min, m.Max = finitePtr(m.Min), finitePtr(m.Max)
		ms = append(ms, m)
	}
	d.Metrics = ms
	return d
}

func finitePtr(p *float64) *float64 {
	if p == nil || !isFinite(*p) {
		return nil
	}
	return p
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func marshal(d Doc) []byte {
	b, err := json.Marshal(d)
	if err != nil {
		// Unreachable: every field is a string, a finite number, null
		// or a list of those.
		panic("result: encode: " + err.Error())
	}
	return b
}
