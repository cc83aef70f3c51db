package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// ErrNotHelenDir is a --data directory that holds no helen: no CA and no
// database. Only helen serve makes a data directory; any other command
// given the wrong one would otherwise leave a CA that no helen serves (and
// print a join command for it) or a database no helen reads.
var ErrNotHelenDir = errors.New("not a helen data directory")

// ErrSharedStore is the data directory of a helen whose state is in a
// store shared with other helens (PostgreSQL), not in the directory: the
// helen commands read it through that helen while it runs, and only then.
var ErrSharedStore = errors.New("the state of this helen is in PostgreSQL")

// SharedStoreFile records, in the data directory of a helen of a shared
// store, which store (its URL without its password), so that the helen
// commands run while that helen does not say so, rather than read a
// directory without its state; helen serve on bbolt removes it.
const SharedStoreFile = "store.json"

// sharedRecord is what SharedStoreFile holds.
type sharedRecord struct {
	Store string `json:"store"` // pgstore.Redact'ed
}

// recordShared records in dir that its helen keeps its state in the store
// at url.
func recordShared(dir, url string) error {
	data, err := json.Marshal(sharedRecord{Store: pgstore.Redact(url)})
	if err != nil {
		return err
	}
	if err := pki.WritePEMFile(filepath.Join(dir, SharedStoreFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("helen: record the store in the data directory: %w", err)
	}
	return nil
}

// forgetShared removes dir's record of a shared store: its helen keeps its
// state in the directory again.
func forgetShared(dir string) error {
	if err := os.Remove(filepath.Join(dir, SharedStoreFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("helen: %w", err)
	}
	return nil
}

// checkShared returns an ErrSharedStore when dir records a shared store.
func checkShared(dir string) error {
	path := filepath.Join(dir, SharedStoreFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	}
	var rec sharedRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Store == "" {
		return fmt.Errorf("%s: not what helen serve writes (%v); remove it and start helen serve", path, err)
	}
	return fmt.Errorf("%s: %w (--store %s), which helen serve alone opens: start it, and the helen commands ask it, "+
		"or run them on the machine of another helen of that store", dir, ErrSharedStore, rec.Store)
}

// CheckDataDir reports whether dir is a helen's data directory: one that
// holds its CA or its database (missing or empty: none, as for
// state.Options.Existing). A database with no CA beside it is a first
// start of helen serve cut short, which the next one finishes. A
// directory of a helen of a shared store is an ErrSharedStore, whatever
// it holds: its state is not there (a database left in it is the one it
// had before it moved onto the store).
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
	if err := checkShared(dir); err != nil {
		return err
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
