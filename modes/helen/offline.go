package helen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// offlineBackend is the Backend of a helen that is not running, over its
// data directory opened by a helen command: what helen would load at its
// start (the statuses, the schedules) and the actions that need no
// connection. A run or a reload, which need one, answers that helen is
// not running.
type offlineBackend struct {
	// db is the concrete store: the offline forget (forget.go) takes it.
	db        *state.DB
	dataDir   string
	checksDir string // the check bundle to find a schedule's check in; "" for none known
	// notRunning says that no helen runs, and where it was looked for.
	notRunning error

	schedules        []state.Schedule
	folded, unfolded []monitor.StatusView
}

var _ Backend = (*offlineBackend)(nil)

// newOfflineBackend loads what a helen would at its start from db, opened
// in dataDir. checksDir is the check bundle a schedule's check is looked
// for in; notRunning the error a run or a reload answers.
func newOfflineBackend(db *state.DB, dataDir, checksDir string, notRunning error) (*offlineBackend, error) {
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
func (b *offlineBackend) Token(req tokenRequest) (tokenResponse, error) {
	join, err := offlineJoiner(b.dataDir)
	if err != nil {
		return tokenResponse{}, err
	}
	return newToken(b.db, req, join)
}

func (b *offlineBackend) Issue(name string) (issueResponse, error) {
	ca, err := pki.LoadCA(b.dataDir)
	if err != nil {
		return issueResponse{}, err
	}
	return issue(ca, b.db, name)
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
