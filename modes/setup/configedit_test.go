package setup

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRemoveSetting(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		removed        []string
	}{
		{"one", "helen = h:7480\ntoken = abc\nname = web-1\n", "helen = h:7480\nname = web-1\n", []string{"abc"}},
		{"comments-and-blanks-stay", "# my note\n\ntoken = abc\n  # token = old\n#token=x\n", "# my note\n\n  # token = old\n#token=x\n", []string{"abc"}},
		{"every-form", "token: a\n  --token = 'b'\ntoken=\"c\"\n\ttoken = d", "", []string{"a", "b", "c", "d"}},
		{"last-line-without-newline", "name = web-1\ntoken = abc", "name = web-1\n", []string{"abc"}},
		{"crlf", "name = web-1\r\ntoken = abc\r\n", "name = web-1\r\n", []string{"abc"}},
		{"only-that-name", "tokens = 1\nmy-token = 2\ntoken-file = 3\n", "tokens = 1\nmy-token = 2\ntoken-file = 3\n", nil},
		{"none", "name = web-1\n", "name = web-1\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "equus.conf")
			if err := os.WriteFile(path, []byte(tt.in), 0o640); err != nil {
				t.Fatal(err)
			}
			before, err := ReadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			removed, err := RemoveSetting(path, "token")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(removed, tt.removed) {
				t.Errorf("removed %q, want %q", removed, tt.removed)
			}
			// What it removed is what ReadConfig read for the name.
			if read := valuesOf(before, "token"); !slices.Equal(removed, read) {
				t.Errorf("removed %q, ReadConfig read %q", removed, read)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("file:\n%q\nwant:\n%q", got, tt.want)
			}
			after, err := ReadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if others := withoutName(before, "token"); !slices.EqualFunc(others, after, sameSetting) {
				t.Errorf("other settings changed: %v, were %v", after, others)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode: %v %v, want 0640", fi, err)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// A config file reached through a link is edited where it is, and the
// link stays.
func TestRemoveSettingLink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.conf")
	if err := os.WriteFile(real, []byte("token = abc\nname = n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "equus.conf")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := RemoveSetting(link, "token"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(real); string(b) != "name = n\n" {
		t.Errorf("real file: %q", b)
	}
}

func TestRemoveSettingMissing(t *testing.T) {
	if _, err := RemoveSetting(filepath.Join(t.TempDir(), "none.conf"), "token"); err == nil {
		t.Error("no error for a missing file")
	}
}

func valuesOf(settings []Setting, name string) []string {
	var v []string
	for _, s := range settings {
		if s.Name == name {
			v = append(v, s.Value)
		}
	}
	return v
}

func withoutName(settings []Setting, name string) []Setting {
	return slices.DeleteFunc(slices.Clone(settings), func(s Setting) bool { return s.Name == name })
}

// sameSetting compares name and value: the lines move up as others go.
func sameSetting(a, b Setting) bool { return a.Name == b.Name && a.Value == b.Value }
