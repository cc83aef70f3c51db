package lua

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// CheckNames lists what a runtime with the same directory runs, without
// loading it.
func TestCheckNames(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"mine.lua", "load.lua", "mine_test.lua", ".hidden.lua", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("return {"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.lua"), 0o700); err != nil {
		t.Fatal(err)
	}
	rt, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	var want []string
	for _, c := range rt.Checks() {
		want = append(want, c.Name)
	}
	slices.Sort(want)
	got, err := CheckNames(dir)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("CheckNames = %q, %v; want the runtime's %q", got, err, want)
	}
	if !slices.Contains(got, "mine") || slices.Contains(got, "mine_test") {
		t.Errorf("CheckNames = %q", got)
	}
	if _, err := CheckNames(filepath.Join(dir, "missing")); err == nil {
		t.Error("CheckNames of a missing directory: no error")
	}
}
