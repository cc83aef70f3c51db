package wire

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// try_elsewhere names the addresses given, at most MaxElsewhere, leaves
// out those that are no <string>, and the longest it can be still fits in
// a command line: written and read again, the same addresses.
func TestTryElsewhere(t *testing.T) {
	long := strings.Repeat("h", maxString-len(":7480")) + ":7480"
	var many []string
	for i := range MaxElsewhere + 3 {
		many = append(many, fmt.Sprintf("%s%02d", long[:maxString-2], i))
	}
	tests := []struct {
		name  string
		addrs []string
		want  []string
	}{
		{"none", nil, []string{}},
		{"two", []string{"h2:7480", "h3:7480"}, []string{"h2:7480", "h3:7480"}},
		{"bad-left-out", []string{"has space:1", "", "h\n:1", "h4:7480"}, []string{"h4:7480"}},
		{"bounded", many, many[:MaxElsewhere]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			if err := w.Write(TryElsewhere(tt.addrs)); err != nil {
				t.Fatalf("write: %v", err)
			}
			w.Flush()
			m, err := NewReader(&buf).Read()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			got, ok := Elsewhere(m.Text)
			if !ok || !slices.Equal(got, tt.want) {
				t.Errorf("Elsewhere(%q) = %q, %v; want %q", m.Text, got, ok, tt.want)
			}
		})
	}
	if _, ok := Elsewhere("shutting_down"); ok {
		t.Error("shutting_down taken for try_elsewhere")
	}
	if got, ok := Elsewhere("try_elsewhere " + strings.Repeat("a:1 ", 40)); !ok || len(got) != MaxElsewhere {
		t.Errorf("a peer's 40 addresses: %d taken, want %d", len(got), MaxElsewhere)
	}
}
