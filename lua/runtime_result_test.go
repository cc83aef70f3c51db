package lua

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestToDocMetrics converts what checks return: thresholds as numbers,
// specs or ranges, kept as written with their number only where one says
// them; values unknown; long output.
func TestToDocMetrics(t *testing.T) {
	L := newModState(t, nil)
	tests := []struct {
		name, ret string
		want      string // the document's JSON, without duration_ms
		err       string
	}{
		{name: "numbers", ret: `{name = "a", value = 1, warn = 4, crit = 8.5, min = 0}`,
			want: `{"name":"a","value":1,"warn":4,"crit":8.5,"min":0}`},
		{name: "specs", ret: `{name = "a", value = 1, warn = "4", crit = "1:2"}`,
			want: `{"name":"a","value":1,"warn":4,"warn_range":"4","crit_range":"1:2"}`},
		{name: "ranges", ret: `{name = "a", value = 1, warn = check.range("@3:4"), crit = check.range(10)}`,
			want: `{"name":"a","value":1,"warn_range":"@3:4","crit":10,"crit_range":"10"}`},
		{name: "scaled", ret: `{name = "a", value = 1, warn = check.range("1:2"):scale(4), crit = check.range("~:2.5"):scale(2)}`,
			want: `{"name":"a","value":1,"warn_range":"4:8","crit_range":"~:5"}`},
		{name: "as-perfdata-gives", ret: `check.perfdata("a=1;5.000;@1:2")[1]`,
			want: `{"name":"a","value":1,"warn":5,"warn_range":"5.000","crit_range":"@1:2"}`},
		{name: "number-and-range", ret: `{name = "a", value = 1, warn = 5, warn_range = "0:5"}`,
			want: `{"name":"a","value":1,"warn":5,"warn_range":"0:5"}`},
		{name: "unknown", ret: `{name = "a", unknown = true, unit = "s", crit = "@1:"}`,
			want: `{"name":"a","value":null,"unit":"s","crit_range":"@1:"}`},
		{name: "not-unknown", ret: `{name = "a", unknown = false, value = 2}`, want: `{"name":"a","value":2}`},
		{name: "number-disagrees", ret: `{name = "a", value = 1, warn = 2, warn_range = "1:2"}`,
			err: `a: warn 2 is not the number of warn_range "1:2"`},
		{name: "spec-disagrees", ret: `{name = "a", value = 1, crit = "3", crit_range = "4"}`,
			err: `a: crit "3" and crit_range "4" differ`},
		{name: "bad-spec", ret: `{name = "a", value = 1, warn = "2:1"}`, err: `a: warn: threshold "2:1": start is above end`},
		{name: "bad-range-text", ret: `{name = "a", value = 1, warn_range = 3}`, err: "a: warn_range is a number, want a string"},
		{name: "range-table", ret: `{name = "a", value = 1, crit = {}}`, err: "a: crit is a table, want a threshold"},
		{name: "unknown-with-value", ret: `{name = "a", value = 1, unknown = true}`, err: "a: a value (1) and unknown = true"},
		{name: "no-value", ret: `{name = "a"}`, err: "a: no value, and not unknown = true"},
		{name: "unknown-not-boolean", ret: `{name = "a", unknown = "yes"}`, err: "a: unknown is a string, want a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := evalLua(t, L, "local check = require('check') return {status = 'ok', metrics = {"+tt.ret+"}}")[0]
			doc, err := toDoc(v)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("toDoc: %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(doc.Metrics[0]); string(got) != tt.want {
				t.Errorf("metric %s\nwant   %s", got, tt.want)
			}
		})
	}
	for ret, want := range map[string]string{
		`{status = "ok", message = "m", long_output = "a\n  b"}`: "a\n  b",
		`{status = "ok", message = "m", long_output = ""}`:       "",
		`{status = "ok", message = "m"}`:                         "",
	} {
		doc, err := toDoc(evalLua(t, L, "return "+ret)[0])
		if err != nil || doc.LongOutput != want {
			t.Errorf("%s: long output %q, %v; want %q", ret, doc.LongOutput, err, want)
		}
	}
	if _, err := toDoc(evalLua(t, L, `return {status = "ok", long_output = {}}`)[0]); err == nil || !strings.Contains(err.Error(), "long_output is a table, want a string") {
		t.Errorf("long_output = {}: %v", err)
	}
}
