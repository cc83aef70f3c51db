package metricset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A ParsedFamily is a family of a page that Parse read.
type ParsedFamily struct {
	Name, Type, Help string
	Series           []Series
}

// A Series is one line of a family: its name (the family's, or a
// histogram's or a summary's with _bucket, _sum or _count), labels and
// value.
type Series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Parse reads a page of the Prometheus text format, as strictly as a
// scraper: a family's lines together, one TYPE and one HELP each at most,
// before its series; every series of a declared type; label values
// escaped; no label twice. Blanks may follow a label's comma, as a
// scraper allows. It is what tests read /metrics with.
func Parse(page string) (map[string]*ParsedFamily, error) {
	fams := map[string]*ParsedFamily{}
	var cur *ParsedFamily
	// open returns the family name, which must be cur or new.
	open := func(name string) (*ParsedFamily, error) {
		if cur != nil && cur.Name == name {
			return cur, nil
		}
		if _, ok := fams[name]; ok {
			return nil, fmt.Errorf("family %s: its lines are not together", name)
		}
		cur = &ParsedFamily{Name: name, Type: "untyped"}
		fams[name] = cur
		return cur, nil
	}
	for n, line := range strings.Split(strings.TrimSuffix(page, "\n"), "\n") {
		fail := func(err error) (map[string]*ParsedFamily, error) {
			return nil, fmt.Errorf("line %d %q: %w", n+1, line, err)
		}
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE "):
			kw, rest := line[2:6], line[7:]
			name, text, _ := strings.Cut(rest, " ")
			if !validName(name) {
				return fail(errors.New("bad family name"))
			}
			f, err := open(name)
			if err != nil {
				return fail(err)
			}
			if len(f.Series) > 0 {
				return fail(errors.New(kw + " after the family's series"))
			}
			if kw == "HELP" {
				if f.Help != "" {
					return fail(errors.New("second HELP"))
				}
				f.Help = strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(text)
				continue
			}
			if f.Type != "untyped" {
				return fail(errors.New("second TYPE"))
			}
			switch text {
			case "counter", "gauge", "histogram", "summary", "untyped":
				f.Type = text
			default:
				return fail(fmt.Errorf("unknown type %q", text))
			}
		case strings.HasPrefix(line, "#"):
			continue
		default:
			s, err := parseSeries(line)
			if err != nil {
				return fail(err)
			}
			fam := s.Name
			if cur != nil && (cur.Type == "histogram" || cur.Type == "summary") {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(s.Name, suffix); ok && base == cur.Name {
						fam = base
					}
				}
			}
			f, err := open(fam)
			if err != nil {
				return fail(err)
			}
			f.Series = append(f.Series, s)
		}
	}
	return fams, nil
}

// parseSeries reads name{labels} value [timestamp].
func parseSeries(line string) (Series, error) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return Series{}, errors.New("no value")
	}
	s := Series{Name: line[:i], Labels: map[string]string{}}
	if !validName(s.Name) {
		return s, errors.New("bad series name")
	}
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		rest = strings.TrimLeft(rest[1:], " \t")
		for !strings.HasPrefix(rest, "}") {
			name, after, ok := strings.Cut(rest, `="`)
			if !ok || !validName(name) {
				return s, errors.New("bad label")
			}
			var v strings.Builder
			j := 0
			for ; j < len(after) && after[j] != '"'; j++ {
				c := after[j]
				if c == '\\' && j+1 < len(after) {
					j++
					switch after[j] {
					case '\\', '"':
						c = after[j]
					case 'n':
						c = '\n'
					default:
						return s, errors.New("bad escape in a label value")
					}
				}
				v.WriteByte(c)
			}
			if j == len(after) {
				return s, errors.New("label value not closed")
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("label %s twice", name)
			}
			s.Labels[name] = v.String()
			rest = strings.TrimLeft(strings.TrimPrefix(after[j+1:], ","), " \t")
			if rest == "" {
				return s, errors.New("labels not closed")
			}
		}
		rest = rest[1:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 || !strings.HasPrefix(rest, " ") {
		return s, errors.New("want a value and at most a timestamp")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value: %w", err)
	}
	s.Value = v
	return s, nil
}

// validName reports whether s is a metric or label name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Value returns the value of the series of f whose labels include want,
// and whether there is one; f may be nil.
func (f *ParsedFamily) Value(want map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.Series {
		for k, v := range want {
			if s.Labels[k] != v {
				continue next
			}
		}
		return s.Value, true
	}
	return 0, false
}
