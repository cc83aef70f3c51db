package setup

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxConfig bounds a config file that RemoveSetting rewrites.
const maxConfig = 1 << 20

// RemoveSetting removes the lines that set name from the config file at
// path (see ReadConfig for its grammar) and returns their values. Every
// other line, comments and blank lines included, stays as it was. The file
// is rewritten through a temporary file in its directory and a rename, with
// its mode, so that a crash leaves the old file or the new; a file without
// the setting is not written at all.
func RemoveSetting(path, name string) ([]string, error) {
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if info.Size() > maxConfig {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, maxConfig)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var kept bytes.Buffer
	var removed []string
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if n, v, ok := setting(string(line)); ok && n == name {
			removed = append(removed, v)
			continue
		}
		kept.Write(line)
	}
	if len(removed) == 0 {
		return nil, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone by the rename on success
	_, err = tmp.Write(kept.Bytes())
	if err == nil {
		err = tmp.Chmod(info.Mode().Perm())
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return removed, nil
}

// setting returns the name and value a line of a config file sets, as
// ReadConfig reads them; ok is false for blank lines, comments and lines
// that set nothing.
func setting(line string) (name, value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false
	}
	i := strings.IndexAny(line, "=:")
	if i <= 0 {
		return "", "", false
	}
	name = strings.TrimPrefix(strings.TrimSpace(line[:i]), "--")
	value = strings.Trim(strings.TrimSpace(line[i+1:]), `"'`)
	return name, value, true
}
