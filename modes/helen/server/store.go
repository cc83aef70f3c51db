package server

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
)

// DefaultDBCheckTimeout bounds the consistency check of the database at
// start.
const DefaultDBCheckTimeout = time.Minute

// openStore opens helen's database in dataDir. Beside a CA it must exist
// already: the CA is helen's identity, and the database holds the agents
// it enrolled and the ones it revoked; a new database there would be a
// helen trusting every certificate the CA ever signed, revoked ones too.
// A database missing there, or damaged, is an error saying how to restore
// it. With opt.Existing it must exist anyway: a directory with neither is
// no helen's (ErrNotHelenDir).
func openStore(dataDir string, opt state.Options) (*state.DB, error) {
	hasCA, err := pki.HasCA(dataDir)
	if err != nil {
		return nil, err
	}
	opt.Existing = opt.Existing || hasCA
	path := filepath.Join(dataDir, DBFile)
	db, err := state.Open(path, opt)
	switch {
	case errors.Is(err, state.ErrNoDatabase) && !hasCA:
		return nil, notHelenDir(dataDir, "no CA, no database")
	case errors.Is(err, state.ErrNoDatabase):
		return nil, fmt.Errorf("%w, but %s holds helen's CA: the agents it enrolled and revoked are in the database, "+
			"and helen does not start without it (it would accept revoked agents); restore %s from a backup; %s",
			err, dataDir, path, freshHint(dataDir, pki.CAFiles()))
	case errors.Is(err, state.ErrCorrupt):
		// The error says to restore the file from a backup.
		files := []string{DBFile}
		if hasCA {
			files = append(pki.CAFiles(), DBFile)
		}
		return nil, fmt.Errorf("%w (with helen stopped); %s", err, freshHint(dataDir, files))
	case err != nil:
		return nil, err
	}
	return db, nil
}

// freshHint says how to start anew instead of restoring the database: by
// moving files out of the data directory.
func freshHint(dataDir string, files []string) string {
	list := strings.Join(files[:len(files)-1], ", ") + " and " + files[len(files)-1]
	if len(files) == 1 {
		list = files[0]
	}
	why := "to start with a new database"
	if slices.Contains(files, pki.CAFiles()[0]) {
		why = "to start a new helen whose agents must all enroll again"
	}
	return fmt.Sprintf("or, %s, move %s out of %s", why, list, dataDir)
}

// checkLine says how the database check went, and whether that deserves
// a warning: a check that ran out of time is not finished, not failed.
func checkLine(db *state.DB) (msg string, level slog.Level, args []any) {
	rep := db.Checked()
	args = []any{"path", db.Path(), "took", rep.Took.Round(time.Microsecond), "parts", rep.Parts}
	switch {
	case rep.Skipped:
		return "database check skipped", slog.LevelInfo, args[:2]
	case !rep.Finished:
		return "database check not finished: out of time (--db-check-timeout); the parts checked are consistent",
			slog.LevelWarn, append(args, "checked", rep.Checked, "timeout", rep.Timeout)
	}
	return "database checked", slog.LevelInfo, args
}

// corruptLogEvery is how often at most helen logs that its database is
// damaged: every request that reads a damaged page meets it.
const corruptLogEvery = time.Minute

// corruptLog logs the errors of transactions that a damaged page of the
// database made fail (state.Options.OnCorrupt), at error level wherever
// the error itself goes, one per corruptLogEvery with how many it left out.
type corruptLog struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	last    time.Time // of the last line
	skipped int       // errors since then not logged
}

func (l *corruptLog) report(err error) {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < corruptLogEvery {
		l.skipped++
		l.mu.Unlock()
		return
	}
	skipped := l.skipped
	l.last, l.skipped = now, 0
	l.mu.Unlock()
	l.log.Error("database damaged: stop helen and restore the database from a backup", "err", err, "more_since_last", skipped)
}
