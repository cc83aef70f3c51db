package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// offlineBackend is the web.Backend of a helen that is not running, over its
// data directory opened by a helen command: what helen would load at its
// start (the statuses, the schedules) and the actions that need no
// connection. A run or a reload, which need one, answers that helen is
// not running.
type offlineBackend struct {
	db        state.Store
	dataDir   string
	checksDir string // the check bundle to find a schedule's check in; "" for none known
	// notRunning says that no helen runs, and where it was looked for.
	notRunning error

	schedules        []state.Schedule
	folded, unfolded []monitor.StatusView
}

var _ web.Backend = (*offlineBackend)(nil)

// newOfflineBackend loads what a helen would at its start from db, opened
// in dataDir. checksDir is the check bundle a schedule's check is looked
// for in; notRunning the error a run or a reload answers.
func newOfflineBackend(db state.Store, dataDir, checksDir string, notRunning error) (*offlineBackend, error) {
	b := &offlineBackend{db: db, dataDir: dataDir, checksDir: checksDir, notRunning: notRunning}
	return b, b.load()
}

// load reads the schedules and the status list, folded and not, as they
// are after a change.
func (b *offlineBackend) load() error {
	var err error
	if b.schedules, err = monitor.StoredSchedules(b.db); err != nil {
		return err
	}
	if b.folded, err = monitor.StoredStatuses(b.db, false); err != nil {
		return err
	}
	b.unfolded, err = monitor.StoredStatuses(b.db, true)
	return err
}

func (b *offlineBackend) Statuses(unfold bool) []monitor.StatusView {
	if unfold {
		return b.unfolded
	}
	return b.folded
}

func (b *offlineBackend) Schedules() []state.Schedule { return b.schedules }

// AddSchedule stores a schedule, whose check must be among the built-in
// ones, the embedded library or b.checksDir's: helen not running, its
// check bundle is not known otherwise.
func (b *offlineBackend) AddSchedule(sch state.Schedule) (state.Schedule, error) {
	checks, err := knownChecks(b.checksDir)
	if err != nil {
		return sch, err
	}
	if err := checkRequest(&sch, checks); errors.Is(err, errNoCheck) && b.checksDir == "" {
		return sch, fmt.Errorf("%w; helen is not running, so its check bundle is not known here: give --checks DIR, the bundle helen serve serves", err)
	} else if err != nil {
		return sch, err
	}
	if sch, err = monitor.PutSchedule(b.db, sch, time.Now()); err != nil {
		return sch, err
	}
	return sch, b.load()
}

func (b *offlineBackend) DeleteSchedule(name string) error {
	if err := monitor.DeleteSchedule(b.db, name); err != nil {
		return err
	}
	return b.load()
}

// Token makes a token whose join command sends agents where the last
// helen serve of the data directory said it listens.
func (b *offlineBackend) Token(req web.TokenRequest) (web.TokenResponse, error) {
	join, err := offlineJoiner(b.dataDir)
	if err != nil {
		return web.TokenResponse{}, err
	}
	return newToken(b.db, req, join)
}

func (b *offlineBackend) Issue(name string) (web.IssueResponse, error) {
	ca, err := pki.LoadCA(b.dataDir)
	if err != nil {
		return web.IssueResponse{}, err
	}
	resp, _, err := issue(ca, b.db, name)
	return resp, err
}

func (b *offlineBackend) Revoke(name string) error { return revoke(b.db, name) }

func (b *offlineBackend) Forget(name string) error {
	if err := forget(b.db, name); err != nil {
		return err
	}
	return b.load()
}

func (b *offlineBackend) Run(context.Context, string, string, []byte, time.Duration) (result.Doc, error) {
	return result.Doc{}, b.notRunning
}

func (b *offlineBackend) Reload(context.Context, string) error { return b.notRunning }

// Offline is the data directory of a helen that is not running, opened by
// a helen command: it serves the same API as the admin socket, over the
// data directory, so that the command prints the same either way.
type Offline struct {
	db      state.Store
	handler http.Handler
	warning string
}

// OpenOffline opens dataDir's database (never making one: only helen
// serve does), its consistency check bounded by checkTimeout (0: the
// default). checksDir is the check bundle a schedule's check is looked
// for in; notRunning is what a run or a reload answers. Close it.
func OpenOffline(dataDir string, checkTimeout time.Duration, checksDir string, notRunning error) (*Offline, error) {
	db, err := openStore(dataDir, state.Options{CheckTimeout: checkTimeout, Existing: true})
	if err != nil {
		return nil, err
	}
	o := &Offline{db: db}
	if msg, level, args := checkLine(db); level > slog.LevelInfo {
		o.warning = msg
		for i := 0; i+1 < len(args); i += 2 {
			o.warning += fmt.Sprintf(" %v=%v", args[i], args[i+1])
		}
	}
	b, err := newOfflineBackend(db, dataDir, checksDir, notRunning)
	if err != nil {
		db.Close()
		return nil, err
	}
	o.handler = web.NewAPI(db, b, nil, 0)
	return o, nil
}

// Handler is the API, served over the data directory.
func (o *Offline) Handler() http.Handler { return o.handler }

// Warning is what the database's check at opening warns of, if anything.
func (o *Offline) Warning() string { return o.warning }

// Close closes the database.
func (o *Offline) Close() error { return o.db.Close() }
