package result

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// A cleaner is a parser and the bytes of the number it reads, reused
// (cleaners): a parse then allocates only what the document keeps, its
// strings and metrics.
type cleaner struct {
	p   fastjson.Parser
	num []byte
}

var cleaners = sync.Pool{New: func() any { return new(cleaner) }}

// parseClean reads a document in one pass and reports whether it could
// vouch for the result, which is then what parseChecked returns for the
// blob: only for a document without a problem, whose every field decodes
// as encoding/json decodes it. It gives up, for parseChecked to read the
// blob, at anything else: JSON encoding/json refuses (json.Valid is its
// own scanner, and allocates nothing), a field of the wrong type, a key
// twice, a metric key other than the ones a metric has (encoding/json
// matches a struct's keys without regard to case), a string whose
// decoding may differ (a backslash or U+FFFD once unescaped: fastjson
// keeps a lone surrogate's escape where encoding/json puts U+FFFD), a
// number strconv refuses, a bad status, name or threshold.
//
// A run's result is thousands a second at helen under load: decoding the
// document into a map, then each field again, was most of the
// allocations of a run.
func parseClean(blob []byte) (Doc, bool) {
	if !json.Valid(blob) {
		return Doc{}, false
	}
	c := cleaners.Get().(*cleaner)
	defer cleaners.Put(c)
	v, err := c.p.ParseBytes(blob)
	if err != nil {
		return Doc{}, false
	}
	o, err := v.Object()
	if err != nil {
		return Doc{}, false
	}
	var d Doc
	var seen [5]bool
	ok := true
	o.Visit(func(key []byte, v *fastjson.Value) {
		if !ok {
			return
		}
		field := docField(key)
		if field < 0 {
			return // ignored, as parseChecked ignores it
		}
		if seen[field] {
			ok = false
			return
		}
		seen[field] = true
		switch field {
		case 0:
			d.Status, ok = cleanStatus(v)
		case 1:
			d.Message, ok = cleanString(v)
		case 2:
			d.LongOutput, ok = cleanString(v)
		case 3:
			d.DurationMS, _, ok = c.number(v)
		case 4:
			d.Metrics, ok = c.metrics(v)
		}
	})
	if !ok || d.Status == "" {
		return Doc{}, false
	}
	return d, true
}

// docField numbers the fields of a document, -1 for other keys.
func docField(key []byte) int {
	switch string(key) {
	case "status":
		return 0
	case "message":
		return 1
	case "long_output":
		return 2
	case "duration_ms":
		return 3
	case "metrics":
		return 4
	}
	return -1
}

// cleanString returns a string value, "" for null.
func cleanString(v *fastjson.Value) (string, bool) {
	switch v.Type() {
	case fastjson.TypeNull:
		return "", true
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if !utf8.Valid(b) || bytes.IndexByte(b, '\\') >= 0 || bytes.ContainsRune(b, utf8.RuneError) {
			return "", false
		}
		return string(b), true
	}
	return "", false
}

// cleanStatus returns a status, which must be one of the four.
func cleanStatus(v *fastjson.Value) (Status, bool) {
	b, err := v.StringBytes()
	if err != nil {
		return "", false
	}
	for _, s := range []Status{OK, Warning, Critical, Unknown} {
		if string(b) == string(s) {
			return s, true
		}
	}
	return "", false
}

// number returns a number value, read from its text as encoding/json
// reads it, and whether it was null (0 then).
func (c *cleaner) number(v *fastjson.Value) (f float64, null, ok bool) {
	switch v.Type() {
	case fastjson.TypeNull:
		return 0, true, true
	case fastjson.TypeNumber:
		c.num = v.MarshalTo(c.num[:0]) // the number as written
		f, err := strconv.ParseFloat(string(c.num), 64)
		return f, false, err == nil
	}
	return 0, false, false
}

// pointer is number for an optional number: nil for null.
func (c *cleaner) pointer(v *fastjson.Value) (*float64, bool) {
	f, null, ok := c.number(v)
	if null || !ok {
		return nil, ok
	}
	return &f, true
}

func (c *cleaner) metrics(v *fastjson.Value) ([]Metric, bool) {
	switch v.Type() {
	case fastjson.TypeNull:
		return nil, true
	case fastjson.TypeArray:
	default:
		return nil, false
	}
	items, _ := v.Array()
	if len(items) == 0 {
		return nil, true
	}
	out := make([]Metric, len(items))
	for i, item := range items {
		if !c.metric(item, &out[i]) {
			return nil, false
		}
	}
	return out, true
}

// metricKeys are the keys of a metric, in the order of the bits of
// metric's seen.
var metricKeys = [...]string{"name", "value", "unit", "warn", "warn_range", "crit", "crit_range", "min", "max"}

func (c *cleaner) metric(v *fastjson.Value, m *Metric) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	var seen uint
	ok := true
	o.Visit(func(key []byte, v *fastjson.Value) {
		if !ok {
			return
		}
		field := -1
		for i, k := range metricKeys {
			if string(key) == k {
				field = i
				break
			}
		}
		if field < 0 || seen&(1<<field) != 0 {
			ok = false
			return
		}
		seen |= 1 << field
		switch field {
		case 0:
			if m.Name, ok = cleanString(v); ok && (m.Name == "" || v.Type() != fastjson.TypeString) {
				ok = false
			}
		case 1:
			m.Value, m.Unknown, ok = c.number(v)
		case 2:
			m.Unit, ok = cleanString(v)
		case 3:
			m.Warn, ok = c.pointer(v)
		case 4:
			m.WarnRange, ok = cleanSpec(v)
		case 5:
			m.Crit, ok = c.pointer(v)
		case 6:
			m.CritRange, ok = cleanSpec(v)
		case 7:
			m.Min, ok = c.pointer(v)
		case 8:
			m.Max, ok = c.pointer(v)
		}
	})
	return ok && seen&0b11 == 0b11 // a name and a value
}

// cleanSpec returns a threshold's text, which must be a range.
func cleanSpec(v *fastjson.Value) (string, bool) {
	s, ok := cleanString(v)
	if !ok || s == "" {
		return s, ok
	}
	_, err := ParseRange(s)
	return s, err == nil
}
