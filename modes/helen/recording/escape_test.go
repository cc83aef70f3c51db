package recording

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzAppendJSONString: the recording's escaper writes JSON that decodes
// to what encoding/json writes of the same bytes, invalid UTF-8 as
// U+FFFD.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\x00b\x1f\x7f", "\"quoted\" \\ back", "\r\n\t", "snow ☃", "\xff\xfe", "\xe2\x98", "<&>\u2028\u2029", "é\xc3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := appendJSONString([]byte("x"), data)
		if got[0] != 'x' {
			t.Fatalf("the prefix was overwritten: %q", got)
		}
		var s string
		if err := json.Unmarshal(got[1:], &s); err != nil {
			t.Fatalf("%q gave %q, not JSON: %v", data, got[1:], err)
		}
		if want := strings.ToValidUTF8(string(data), "\uFFFD"); s != want {
			t.Fatalf("%q decodes to %q, want %q", data, s, want)
		}
	})
}

func BenchmarkAppendJSONString(b *testing.B) {
	for _, c := range []struct{ name, data string }{
		{"text", strings.Repeat("y\n", 16<<10)},
		{"nul", strings.Repeat("\x00", 32<<10)},
	} {
		b.Run(c.name, func(b *testing.B) {
			data := []byte(c.data)
			var dst []byte
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				dst = appendJSONString(dst[:0], data)
			}
		})
	}
}
