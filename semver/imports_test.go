package semver

import (
	"go/build"
	"testing"
)

// The package imports only the standard library: a leaf that any part of
// equus may use without pulling in more.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("found no imports: the test looked in the wrong place")
	}
	for _, path := range pkg.Imports {
		std, err := build.Default.Import(path, ".", build.FindOnly)
		if err != nil || !std.Goroot {
			t.Errorf("semver imports %s, which is not in the standard library (%v)", path, err)
		}
	}
}
