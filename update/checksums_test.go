package update

import (
	"maps"
	"strings"
	"testing"
)

const (
	sumA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sumB = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

func TestParseChecksums(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{"empty", "", map[string]string{}, ""},
		{"goreleaser", sumA + "  equus_1.2.3_linux_amd64.tar.gz\n" + sumB + "  equus_1.2.3_windows_amd64.zip\n",
			map[string]string{"equus_1.2.3_linux_amd64.tar.gz": sumA, "equus_1.2.3_windows_amd64.zip": sumB}, ""},
		{"binary-marker", sumA + " *equus_1.2.3_linux_arm64\n", map[string]string{"equus_1.2.3_linux_arm64": sumA}, ""},
		{"blank-lines", "\n\n" + sumA + "  a\n   \n\r\n" + sumB + "  b\n\n", map[string]string{"a": sumA, "b": sumB}, ""},
		{"crlf", sumA + "  a\r\n", map[string]string{"a": sumA}, ""},
		{"no-final-newline", sumA + "  a", map[string]string{"a": sumA}, ""},
		{"upper-hex", strings.ToUpper(sumA) + "  a\n", map[string]string{"a": sumA}, ""},
		{"name-with-space", sumA + "  my file\n", map[string]string{"my file": sumA}, ""},
		{"same-duplicate", sumA + "  a\n" + sumA + "  a\n", map[string]string{"a": sumA}, ""},
		{"conflicting-duplicate", sumA + "  a\n" + sumB + "  a\n", nil, "line 2: \"a\" listed twice"},
		{"bad-hex", strings.Replace(sumA, "e", "g", 1) + "  a\n", nil, "line 1: bad SHA-256"},
		{"short-hex", sumA[:63] + "  a\n", nil, "line 1: bad SHA-256"},
		{"sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709  a\n", nil, "bad SHA-256"},
		{"no-name", sumA + "\n", nil, "line 1: no file name"},
		{"empty-name", sumA + "  \n", nil, "line 1: no file name"},
		{"one-space", sumA + " a\n", nil, "line 1: want two spaces"},
		{"bsd-style", "SHA256 (a) = " + sumA + "\n", nil, "line 1: bad SHA-256"},
		{"line-too-long", sumA + "  " + strings.Repeat("x", maxChecksumLine) + "\n", nil, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChecksums(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseChecksums: err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseChecksums: %v", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseChecksums = %v, want %v", got, tt.want)
			}
		})
	}
}
