package update

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzParseChecksums checks a round trip: what ParseChecksums accepts,
// written back in goreleaser's form, parses to the same map.
func FuzzParseChecksums(f *testing.F) {
	f.Add(sumA + "  equus_1.2.3_linux_amd64.tar.gz\n" + sumB + " *equus.exe\n")
	f.Add("\n\r\n" + sumA + "  a b\r\n")
	f.Add(sumA + "  a\n" + sumA + "  a\n")
	f.Add("SHA256 (a) = " + sumA)
	f.Fuzz(func(t *testing.T, in string) {
		sums, err := ParseChecksums(strings.NewReader(in))
		if err != nil {
			return
		}
		var sb strings.Builder
		for _, name := range slices.Sorted(maps.Keys(sums)) {
			fmt.Fprintf(&sb, "%s  %s\n", sums[name], name)
		}
		again, err := ParseChecksums(strings.NewReader(sb.String()))
		if err != nil {
			t.Fatalf("written back %q: %v", sb.String(), err)
		}
		if !maps.Equal(again, sums) {
			t.Fatalf("round trip: %v, then %v", sums, again)
		}
	})
}
