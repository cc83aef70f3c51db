package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/pki"
)

// ErrNotHelenDir is a --data directory that holds no helen: no CA and no
// database. Only helen serve makes a data directory; any other command
// given the wrong one would otherwise leave a CA that no helen serves (and
// print a join command for it) or a database no helen reads.
var ErrNotHelenDir = errors.New("not a helen data directory")

// CheckDataDir reports whether dir is a helen's data directory: one that
// holds its CA or its database (missing or empty: none, as for
// state.Options.Existing). A database with no CA beside it is a first
// start of helen serve cut short, which the next one finishes.
func CheckDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notHelenDir(dir, "no such directory")
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return notHelenDir(dir, "not a directory")
	}
	hasCA, err := pki.HasCA(dir)
	if err != nil || hasCA {
		return err
	}
	fi, err = os.Stat(filepath.Join(dir, DBFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("database: %w", err)
	case fi.Size() > 0:
		return nil
	}
	return notHelenDir(dir, "no CA, no database")
}

func notHelenDir(dir, why string) error {
	return fmt.Errorf("%s: %w (%s): give --data the directory of helen serve, which makes it at its first start; "+
		"helens keep theirs in %s", dir, ErrNotHelenDir, why, setup.DataDirs("helen"))
}
