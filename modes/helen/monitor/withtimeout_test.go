package monitor

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestWithTimeout: the args a check goes out with decode to the args
// given with _timeout_ms added, unless they hold one (however its name is
// spelled); args that are not a JSON object are refused.
func TestWithTimeout(t *testing.T) {
	for _, tc := range []struct {
		name, args string
		want       map[string]any // decoded; nil: refused
	}{
		{"none", ``, map[string]any{"_timeout_ms": 900.0}},
		{"empty", `{}`, map[string]any{"_timeout_ms": 900.0}},
		{"empty-spaced", " {\n } \t", map[string]any{"_timeout_ms": 900.0}},
		{"members", `{"x":1,"y":"z"}`, map[string]any{"_timeout_ms": 900.0, "x": 1.0, "y": "z"}},
		{"members-spaced", ` { "x" : [1, 2] } `, map[string]any{"_timeout_ms": 900.0, "x": []any{1.0, 2.0}}},
		{"has-timeout", `{"x":1,"_timeout_ms":5}`, map[string]any{"_timeout_ms": 5.0, "x": 1.0}},
		{"has-timeout-escaped", `{"_timeout_\u006ds":5}`, map[string]any{"_timeout_ms": 5.0}},
		{"nested-timeout", `{"a":{"_timeout_ms":1}}`, map[string]any{"_timeout_ms": 900.0, "a": map[string]any{"_timeout_ms": 1.0}}},
		{"null", `null`, nil},
		{"array", `[1]`, nil},
		{"string", `"x"`, nil},
		{"cut", `{"x":`, nil},
		{"trailing", `{"x":1} {}`, nil},
		{"spaces-only", `  `, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := WithTimeout([]byte(tc.args), time.Second)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("WithTimeout(%q) = %s, want an error", tc.args, b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("WithTimeout(%q) = %s: %v", tc.args, b, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("WithTimeout(%q) = %s, want %v", tc.args, b, tc.want)
			}
		})
	}
}

func BenchmarkWithTimeout(b *testing.B) {
	args := []byte(`{"path":"/","warn":80}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WithTimeout(args, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
