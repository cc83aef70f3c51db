// Command equus-man writes the manual page of equus, equus(1), made from its
// command line: every command, flag and environment variable that --help
// shows. The release build runs it and the packages ship the page, gzipped
// the way Debian wants (maximum compression, no name or time in the
// header, so two builds give the same bytes).
//
//	go run ./tools/equus-man -version 1.2.3 -date 2026-01-02 -o build/equus.1.gz
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "equus-man:", err)
		os.Exit(1)
	}
}

func run() error {
	version := flag.String("version", "0.0.0-dev", "the version the page documents")
	date := flag.String("date", "", "the page's date, YYYY-MM-DD or an RFC 3339 time (the commit's)")
	out := flag.String("o", "", "the file to write, gzipped when it ends in .gz (default: stdout, plain)")
	flag.Parse()

	day, _, _ := strings.Cut(*date, "T")
	page, err := Page(*version, day)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = os.Stdout.Write(page)
		return err
	}
	if strings.HasSuffix(*out, ".gz") {
		if page, err = gzipped(page); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, page, 0o644)
}

// Page returns the roff source of equus(1) for version, dated date.
func Page(version, date string) ([]byte, error) {
	app := modes.App(modes.Build{Version: version})
	app.Description = "Equus is a remote monitoring system in one executable. On every machine " +
		"watched, the agent (equus equus, kept running and up to date by its supervisor " +
		"equus stage0) dials out to the server, equus helen, over mutual TLS; helen sends " +
		"it checks, small Lua programs or Nagios plugins, and keeps every agent and result. " +
		"Every flag can also be set by the environment variable that --help shows with it, " +
		"and in the file given with --config (lines of name = value). The executable also answers to " +
		"the names helen and stage0."
	dataDefaults(app.Commands)
	man, err := app.ToManWithSection(1)
	if err != nil {
		return nil, err
	}
	return withTitle([]byte(man), version, date)
}

// dataDefaults makes the default of every --data flag say what it is for
// root and for other users, rather than what it is for whoever runs this
// tool, so that the page says the same whoever builds it.
func dataDefaults(cmds []*cli.Command) {
	for _, c := range cmds {
		for _, f := range c.Flags {
			if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "data" {
				name := filepath.Base(sf.Value)
				sf.DefaultText = fmt.Sprintf("/var/lib/%s as root, else %s under $XDG_STATE_HOME or ~/.local/state", name, name)
			}
		}
		dataDefaults(c.Subcommands)
	}
}

// withTitle replaces the .TH line md2man writes, which names neither the
// version nor a date, with one that does.
func withTitle(man []byte, version, date string) ([]byte, error) {
	lines := bytes.Split(man, []byte("\n"))
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte(".TH ")) {
			lines[i] = fmt.Appendf(nil, ".TH EQUUS 1 %q %q \"Equus Manual\"", date, "equus "+version)
			return bytes.Join(lines, []byte("\n")), nil
		}
	}
	return nil, fmt.Errorf("no .TH line in the page")
}

// gzipped compresses b at the best level with an empty header, so the
// output depends on b alone.
func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
