package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors returned by the store. Check them with errors.Is.
var (
	ErrNotFound     = errors.New("state: not found")
	ErrTokenUnknown = errors.New("state: token unknown")
	ErrTokenExpired = errors.New("state: token expired")
	ErrTokenUsedUp  = errors.New("state: token used up")
	ErrRevoked      = errors.New("state: agent revoked")
	// ErrEnrolled refuses a token made for no agent in particular to
	// enroll a name that is already known: that takes a token made for it.
	ErrEnrolled = errors.New("state: agent enrolled already")
	// ErrTokenOtherAgent refuses a token made for another agent.
	ErrTokenOtherAgent = errors.New("state: token is for another agent")
	// ErrCertReplaced refuses an agent's certificate that a later
	// enrollment (or helen issue) replaced.
	ErrCertReplaced = errors.New("state: certificate replaced by a later one")
	ErrInvalid      = errors.New("state: invalid input")
	ErrClosed       = errors.New("state: closed")
	ErrLocked       = errors.New("state: database in use by another process")
	ErrSchema       = errors.New("state: unsupported schema version")
)

// Options tune a DB. The zero value gives the defaults.
type Options struct {
	HistoryMaxAge      time.Duration // default 30 days (0 means default)
	HistoryMaxPerCheck int           // default 10000 results per agent/check
	BatchDelay         time.Duration // how long the result writer waits to group writes: one commit starts per BatchDelay at most; default 2ms
	BatchSize          int           // max results per transaction; default 1000
	OpenTimeout        time.Duration // wait for the file lock; default 1s
	PruneInterval      time.Duration // how often the pruner runs Prune; default 10 minutes, negative never
}

func (o Options) withDefaults() Options {
	if o.HistoryMaxAge <= 0 {
		o.HistoryMaxAge = 30 * 24 * time.Hour
	}
	if o.HistoryMaxPerCheck <= 0 {
		o.HistoryMaxPerCheck = 10000
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = 2 * time.Millisecond
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = time.Second
	}
	if o.PruneInterval == 0 {
		o.PruneInterval = 10 * time.Minute
	}
	return o
}

// Store is what helen needs from its state; *DB implements it. It is an
// interface so that a distributed backend can come later.
type Store interface {
	AgentSeen(a Agent) error
	SetConnected(name string, connected bool, at time.Time) error
	Agent(name string) (Agent, error)
	Agents() ([]Agent, error)
	AgentsPage(after string, limit int) ([]Agent, error)
	DisconnectAll(at time.Time) error

	Revoke(name string, at time.Time) error
	Revoked(name string) (bool, error)
	CheckCert(name, fingerprint string) error
	PinCert(name, fingerprint string, now time.Time) error
	RenewCert(name, current, next string, now time.Time, minInterval time.Duration) error

	CreateToken(spec TokenSpec, now time.Time) (secret string, t Token, err error)
	Enroll(secret string, a Agent, now time.Time) error
	Tokens() ([]Token, error)

	AddResult(ctx context.Context, r Result) error
	History(agent, check string, limit int, since, until time.Time) ([]Result, error)
	HistoryPage(agent, check string, q Query) ([]Result, []string, error)
	Latest(agent string) ([]Result, error)
	CheckStates(agent string) ([]CheckState, error)
	Prune(now time.Time) (int, error)

	PutSchedule(s Schedule) error
	Schedule(name string) (Schedule, error)
	Schedules() ([]Schedule, error)
	DeleteSchedule(name string) error
	PutStatuses(sts ...Status) error
	Statuses(agent string) ([]Status, error)
	DeleteStatus(agent, schedule string) error
	SetAgentDown(agent string, at time.Time) error
	AgentsDown() (map[string]time.Time, error)
	AddEvents(evs ...Event) error
	Events(since, until time.Time, limit int) ([]Event, error)
	EventsPage(q Query) ([]Event, []string, error)
	PruneEvents(before time.Time) (int, error)

	Path() string
	Size() (int64, error)
	Close() error
}

var _ Store = (*DB)(nil)

// DB is the bbolt store. Its methods are safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	path string
	opt  Options

	// mu guards closed and the sends on queue, so that Close can close queue
	// with no sender in flight.
	mu     sync.RWMutex
	closed bool
	queue  chan *pending
	done   chan struct{} // closed when the writer has returned

	stopPruner chan struct{} // closed by Close
	prunerDone chan struct{} // closed when the pruner has returned

	pending atomic.Int64 // results enqueued and not yet answered
}

// Open opens (or creates, mode 0600) the database at path, creates missing
// buckets, checks the schema version, and starts the result writer. It fails
// after opt.OpenTimeout with ErrLocked when another process has the file open.
func Open(path string, opt Options) (*DB, error) {
	opt = opt.withDefaults()
	b, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opt.OpenTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (waited %v for its lock)", path, ErrLocked, opt.OpenTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := b.Update(initTx); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{
		bolt:  b,
		path:  path,
		opt:   opt,
		queue: make(chan *pending, opt.BatchSize),
		done:  make(chan struct{}),

		stopPruner: make(chan struct{}),
		prunerDone: make(chan struct{}),
	}
	go db.write()
	if opt.PruneInterval > 0 {
		go db.pruner()
	} else {
		close(db.prunerDone)
	}
	return db, nil
}

// initTx creates the buckets a file lacks and checks the schema version,
// writing it into a new file.
func initTx(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchema)
	if v == nil {
		return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion))
	}
	if len(v) != 8 {
		return fmt.Errorf("%w: malformed version %x", ErrSchema, v)
	}
	if got := binary.BigEndian.Uint64(v); got != schemaVersion {
		return fmt.Errorf("%w: file has %d, this program knows %d", ErrSchema, got, schemaVersion)
	}
	return nil
}

// Close stops accepting results, commits those already queued, answers their
// callers, and closes the file. Closing twice is harmless.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.queue)
	close(db.stopPruner)
	db.mu.Unlock()
	<-db.done
	<-db.prunerDone
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close %s: %w", db.path, err)
	}
	return nil
}

// Path returns the file name of the database.
func (db *DB) Path() string { return db.path }

// Size returns the size of the database in bytes.
func (db *DB) Size() (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}
