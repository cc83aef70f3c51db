package result

import (
	"math"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name, spec string
		want       Range
		err        bool
	}{
		{name: "end-only", spec: "10", want: Range{Low: 0, High: 10}},
		{name: "start-only", spec: "10:", want: Range{Low: 10, High: inf}},
		{name: "minus-infinity", spec: "~:10", want: Range{Low: math.Inf(-1), High: 10}},
		{name: "both", spec: "10:20", want: Range{Low: 10, High: 20}},
		{name: "inverted", spec: "@10:20", want: Range{Low: 10, High: 20, Inside: true}},
		{name: "inverted-end-only", spec: "@10", want: Range{Low: 0, High: 10, Inside: true}},
		{name: "inverted-start-only", spec: "@10:", want: Range{Low: 10, High: inf, Inside: true}},
		{name: "inverted-minus-infinity", spec: "@~:10", want: Range{Low: math.Inf(-1), High: 10, Inside: true}},
		{name: "empty-start", spec: ":5", want: Range{Low: 0, High: 5}},
		{name: "negative", spec: "-5:-1", want: Range{Low: -5, High: -1}},
		{name: "decimals", spec: "0.5:1.5", want: Range{Low: 0.5, High: 1.5}},
		{name: "plugin-decimals", spec: "5.000", want: Range{Low: 0, High: 5}},
		{name: "spaces", spec: " 7 ", want: Range{Low: 0, High: 7}},
		{name: "everything", spec: "~:", want: Range{Low: math.Inf(-1), High: inf}},
		{name: "empty", spec: "", err: true},
		{name: "at-only", spec: "@", err: true},
		{name: "word", spec: "abc", err: true},
		{name: "reversed", spec: "20:10", err: true},
		{name: "bad-end", spec: "1:x", err: true},
		{name: "infinity-word", spec: "inf", err: true},
		{name: "nan", spec: "NaN", err: true},
		{name: "tilde-end", spec: "1:~", err: true},
		{name: "tilde-alone", spec: "~", err: true},
		{name: "two-colons", spec: "1:2:3", err: true},
		{name: "too-long", spec: strings.Repeat("0", MaxRangeLen) + "1", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRange(tt.spec)
			if tt.err {
				if err == nil {
					t.Fatalf("ParseRange(%q) = %+v, want an error", tt.spec, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRange(%q): %v", tt.spec, err)
			}
			if got != tt.want {
				t.Errorf("ParseRange(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestRangeAlert(t *testing.T) {
	tests := []struct {
		spec  string
		value float64
		alert bool
	}{
		{"10", -1, true}, {"10", 0, false}, {"10", 10, false}, {"10", 10.01, true},
		{"10:", 9.9, true}, {"10:", 10, false}, {"10:", 1e12, false},
		{"~:10", -1e12, false}, {"~:10", 10, false}, {"~:10", 11, true},
		{"10:20", 9, true}, {"10:20", 15, false}, {"10:20", 21, true},
		{"@10:20", 9, false}, {"@10:20", 10, true}, {"@10:20", 20, true}, {"@10:20", 21, false},
		{"1:", 0, true}, {"1:", 3, false},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Alert(tt.value); got != tt.alert {
			t.Errorf("range %q Alert(%v) = %v, want %v", tt.spec, tt.value, got, tt.alert)
		}
	}
}

// A range has a number only where that number alone reads as the same
// range: warn=1:2 is not "alert above 2", and crit=@3:4 is not "alert
// above 4" but "alert from 3 to 4".
func TestRangeBound(t *testing.T) {
	tests := []struct {
		spec  string
		bound float64
		ok    bool
	}{
		{"10", 10, true}, {"0:10", 10, true}, {"5.000", 5, true}, {":7", 7, true},
		{"1:2", 0, false}, {"@3:4", 0, false}, {"@10", 0, false}, {"~:10", 0, false},
		{"10:", 0, false}, {"-5:-1", 0, false}, {"~:", 0, false},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := r.Bound()
		if ok != tt.ok || (ok && b != tt.bound) {
			t.Errorf("ParseRange(%q).Bound() = %v, %v; want %v, %v", tt.spec, b, ok, tt.bound, tt.ok)
		}
	}
}

func TestRangeString(t *testing.T) {
	for spec, want := range map[string]string{
		"10": "10", "0:10": "10", "10:": "10:", "~:10": "~:10", "10:20": "10:20", "@10:20": "@10:20",
		"@10": "@10", "@~:": "@~:", "0:": "0:", "5.000": "5", "-1.5e3:2": "-1500:2", "1e21": "1e+21",
	} {
		r, err := ParseRange(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.String(); got != want {
			t.Errorf("ParseRange(%q).String() = %q, want %q", spec, got, want)
		}
	}
}

// FuzzParseRange checks that a range that parses is well formed and reads
// the same once written back.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20", ":5", "-1.5e3:2", "@~:", "1:~", "", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		r, err := ParseRange(spec)
		if err != nil {
			return
		}
		if math.IsNaN(r.Low) || math.IsNaN(r.High) || r.Low > r.High {
			t.Fatalf("ParseRange(%q) = %+v", spec, r)
		}
		again, err := ParseRange(r.String())
		if err != nil {
			t.Fatalf("ParseRange(%q) = %+v, written %q: %v", spec, r, r.String(), err)
		}
		if again != r {
			t.Fatalf("ParseRange(%q) = %+v, but %q gives %+v", spec, r, r.String(), again)
		}
	})
}
