package setup

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// ReadConfig parses a config file: one "name = value" (or "name: value")
// a line, where name is a flag's long name; blank lines and lines starting
// with # are ignored. A flag that takes several values may appear again or
// take a comma-separated list.
func ReadConfig(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	cfg := map[string][]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("config %s:%d: want name = value", path, n)
		}
		name := strings.TrimPrefix(strings.TrimSpace(line[:i]), "--")
		val := strings.Trim(strings.TrimSpace(line[i+1:]), `"'`)
		cfg[name] = append(cfg[name], val)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ApplyConfig sets the flags of c's command that were given neither on the
// command line nor in the environment from the file named by --config.
// Names in the file that are no flag of the command are ignored, so that one
// file can serve several commands.
func ApplyConfig(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	cfg, err := ReadConfig(path)
	if err != nil {
		return err
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		vals, ok := cfg[name]
		if !ok || c.IsSet(name) {
			continue
		}
		for _, v := range vals {
			for _, part := range splitList(f, v) {
				if err := c.Set(name, part); err != nil {
					return fmt.Errorf("config %s: %s: %w", path, name, err)
				}
			}
		}
	}
	return nil
}

func splitList(f cli.Flag, v string) []string {
	switch f.(type) {
	case *cli.StringSliceFlag, *cli.IntSliceFlag:
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	}
	return []string{v}
}
