package update

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "own")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho own\n"), 0o555); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "data", "bin", "equus")

	// Missing: made, with its directory.
	if changed, err := Install(src, target); err != nil || !changed {
		t.Fatalf("first install: %v, %v", changed, err)
	}
	if b, _ := os.ReadFile(target); string(b) != "#!/bin/sh\necho own\n" {
		t.Errorf("target: %q", b)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("target mode: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Dir(target)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode: %v %v", fi, err)
	}

	// The same bytes: not written again.
	before, _ := os.Stat(target)
	if changed, err := Install(src, target); err != nil || changed {
		t.Fatalf("install of the same: %v, %v", changed, err)
	}
	if after, _ := os.Stat(target); !os.SameFile(before, after) {
		t.Error("the same binary was written again")
	}

	// Other bytes of the same size, and of another size: replaced.
	for _, other := range []string{"#!/bin/sh\necho new\n", "#!/bin/sh\necho newer build\n"} {
		if err := os.WriteFile(target, []byte(other), 0o755); err != nil {
			t.Fatal(err)
		}
		if changed, err := Install(src, target); err != nil || !changed {
			t.Fatalf("install over %q: %v, %v", other, changed, err)
		}
		if b, _ := os.ReadFile(target); string(b) != "#!/bin/sh\necho own\n" {
			t.Errorf("target: %q", b)
		}
	}
	if b, _ := os.ReadFile(src); string(b) != "#!/bin/sh\necho own\n" {
		t.Errorf("source changed: %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestInstallTooLarge(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "huge")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk is used.
	if err := f.Truncate(MaxBinary + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	target := filepath.Join(dir, "bin", "equus")
	if _, err := Install(src, target); !errors.Is(err, ErrTooLarge) {
		t.Errorf("install of %d bytes: %v, want ErrTooLarge", MaxBinary+1, err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("target: %v, want none", err)
	}
}
