package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
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
	// ErrFull refuses a new item of a kind whose count is bounded
	// (MaxRoutes, MaxSilences, MaxAcks) when the bound is reached.
	ErrFull   = errors.New("state: limit reached")
	ErrClosed = errors.New("state: closed")
	// ErrExists refuses a new item whose name is taken (AddUser).
	ErrExists = errors.New("state: exists already")
	ErrLocked = errors.New("state: database in use by another process")
	ErrSchema = errors.New("state: unsupported schema version")
	// ErrCorrupt is a damaged database file: one the consistency check
	// of Open finds a problem in, that bbolt cannot read, or that makes it
	// panic in a transaction. Its error names the file.
	ErrCorrupt = errors.New("state: database damaged")
	// ErrNoDatabase is a database file missing or empty where
	// Options.Existing says there must be one.
	ErrNoDatabase = errors.New("state: no database")
)

// Options tune a DB. The zero value gives the defaults.
type Options struct {
	HistoryMaxAge      time.Duration // default 30 days (0 means default)
	HistoryMaxPerCheck int           // default 10000 results per agent, check and schedule
	BatchDelay         time.Duration // how long bolt's batches (statuses, events) wait for company; default 2ms. The result writer waits for none (group commit)
	BatchSize          int           // max results per transaction of the writer (group commit), and how many wait in its queue; default 8192
	OpenTimeout        time.Duration // wait for the file lock; default 1s
	PruneInterval      time.Duration // how often the pruner runs Prune; default 10 minutes, negative never
	// CheckTimeout bounds the consistency check of Open: default 1
	// minute, negative no check. A check that runs out of time is not
	// finished (CheckReport), not failed.
	CheckTimeout time.Duration
	// CheckWhole is the size of a file up to which the check of Open
	// checks it in one part, whole, ties between its buckets included:
	// bbolt copies the whole free list for each part it checks, which
	// for a file of many agents cost more than the check itself. Larger
	// files are checked in parts, as the deadline needs. Default
	// DefaultCheckWhole, negative always in parts.
	CheckWhole int64
	// Existing reports whether the file must hold a database already:
	// Open refuses a missing or empty one with ErrNoDatabase instead of
	// making a new database.
	Existing bool
	// NotificationsKept is the most delivered and expired notifications
	// kept (default MaxNotificationsKept).
	NotificationsKept int
	// OnCorrupt, if set, is called with the error of each transaction
	// that a damaged page made fail (ErrCorrupt), on its goroutine, so
	// that the owner can report it wherever the error goes.
	OnCorrupt func(err error)

	now func() time.Time // the clock of the check; default time.Now
	// beforeCommit, if set, is called with the size of each batch of
	// results before it is committed, on the goroutine that commits it (a
	// caller's or the writer's): a test counts batches with it, or holds
	// the commit in it. beforeGather, if set, is called by the caller that
	// finds no commit under way and commits itself, before it gathers the
	// results queued meanwhile into its batch.
	beforeCommit func(n int)
	beforeGather func()
	// compact bounds the results log and its compactor; zero fields
	// take defaultCompact's.
	compact compactBounds
	// rollupFlush is how often the graphs' points are flushed: default
	// RollupFlushInterval, negative never (a test flushes them itself).
	rollupFlush time.Duration
}

// defaultBatchSize bounds a transaction of the writer. Under load the
// fsyncs of a commit, not its size, set the pace (with 8,192 callers on a
// virtual disk: 12,000-17,000 results/s at 1,000 a transaction,
// 32,000-36,000 at 8,192), while a transaction of 8,192 results of as
// many series dirties some 100 MiB of pages at most.
const defaultBatchSize = 8192

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
		o.BatchSize = defaultBatchSize
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = time.Second
	}
	if o.PruneInterval == 0 {
		o.PruneInterval = 10 * time.Minute
	}
	if o.CheckTimeout == 0 {
		o.CheckTimeout = time.Minute
	}
	if o.CheckWhole == 0 {
		o.CheckWhole = DefaultCheckWhole
	}
	if o.NotificationsKept <= 0 {
		o.NotificationsKept = MaxNotificationsKept
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.rollupFlush == 0 {
		o.rollupFlush = RollupFlushInterval
	}
	o.compact = o.compact.withDefaults()
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

	Revoke(name string, at time.Time, evs ...Event) error
	Forget(name string, at time.Time, evs ...Event) error
	Revoked(name string) (bool, error)
	CheckCert(name, fingerprint string) error
	PinCert(name, fingerprint string, now time.Time) error
	RenewCert(name, current, next string, now time.Time, minInterval time.Duration) error

	CreateToken(spec TokenSpec, now time.Time) (secret string, t Token, err error)
	Enroll(secret string, a Agent, now time.Time) error
	Tokens() ([]Token, error)

	AddResult(ctx context.Context, r Result) error
	History(agent, check string, limit int, since, until time.Time) ([]Result, error)
	HistoryPage(agent string, f Filter, q Query) ([]Result, []string, error)
	Latest(agent string) ([]Result, error)
	CheckStates(agent string) ([]CheckState, error)
	Prune(now time.Time) (int, error)

	Feed(r Result) error
	Series(agent, schedule, metric string, from, to time.Time) ([]Bucket, error)
	SeriesNames(agent, schedule string) ([]string, error)

	PutSchedule(s Schedule) error
	Schedule(name string) (Schedule, error)
	Schedules() ([]Schedule, error)
	DeleteSchedule(name string) error
	PutStatuses(sts ...Status) error
	Statuses(agent string) ([]Status, error)
	DeleteStatus(agent, schedule string) error
	DeleteStatuses(keys []StatusKey) error
	SetAgentDown(agent string, at time.Time) error
	AgentsDown() (map[string]time.Time, error)
	AddEvents(evs ...Event) error
	Events(since, until time.Time, limit int) ([]Event, error)
	EventsPage(q Query) ([]Event, []string, error)
	PruneEvents(before time.Time) (int, error)

	PutRoute(r Route) error
	Route(name string) (Route, error)
	Routes() ([]Route, error)
	DeleteRoute(name string) error
	AddSilence(s Silence) (Silence, error)
	Silences() ([]Silence, error)
	DeleteSilence(id string) error
	EndSilence(id string, at time.Time) error
	Ack(a Ack) error
	AckWithNotifications(a Ack, notify ...Outgoing) error
	Unack(agent, schedule string) error
	Acks() ([]Ack, error)
	NotifyGeneration() uint64

	AddUser(u User) error
	User(name string) (User, error)
	Users() ([]User, error)
	DeleteUser(name string) error

	AddEventsWithNotifications(ens ...EventNotifications) error
	NextDue(now time.Time, limit int) ([]Notification, error)
	Release(id string) error
	RecordAttempt(id string, a Attempt, outcome Outcome, nextAt time.Time) error
	RecordAttempts(recs ...AttemptRecord) error
	Expire(now time.Time, maxAge time.Duration) (int, error)
	Notifications(q NotificationQuery) ([]Notification, []string, error)
	Notification(id string) (Notification, error)
	OutboxStats() (OutboxStats, error)
	PruneNotifications(before time.Time) (int, error)

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

	// The group commit of results (writer.go). mu guards closed, queued
	// and committing.
	mu         sync.Mutex
	closed     bool
	queued     []*pending     // waiting for the next commit, in the order they came
	committing bool           // a commit is under way: a caller's, or the writer's
	slots      chan struct{}  // buffered BatchSize: a result in queued holds one
	kick       chan struct{}  // buffered 1: hands the commits on to the writer
	callers    sync.WaitGroup // the callers let in and not yet queued or done committing, that Close waits for
	stopWriter chan struct{}  // closed by Close once no caller commits
	done       chan struct{}  // closed when the writer has returned

	stopPruner chan struct{} // closed by Close
	prunerDone chan struct{} // closed when the pruner has returned

	pending atomic.Int64 // results enqueued and not yet answered

	// The results log (log.go, compact.go): logLen counts its entries,
	// moved or not; logMu guards compactErr (the last round's outcome)
	// and logRoom, where the writer waits for room in a full log.
	// compactMu makes rounds one at a time.
	logLen      atomic.Int64
	logMu       sync.Mutex
	logRoom     *sync.Cond
	compactErr  error
	compactMu   sync.Mutex
	compactWake chan struct{} // buffered 1: a round is asked for
	stopCompact chan struct{} // closed by Close once the writer is done
	compactDone chan struct{} // closed when the compactor has returned

	checked CheckReport // how the check of Open went

	tail *tail // the file's written tail, kept by the writer (tail.go)

	claims claims // of the outbox's groups, by NextDue
	// notifyGen counts the writes of routes, silences and
	// acknowledgements (NotifyGeneration).
	notifyGen atomic.Uint64

	rollups *rollups // the graphs' points not flushed yet (rollup.go)
}

// Open opens (or creates, mode 0600) the database at path, checks its
// consistency (within opt.CheckTimeout) and its schema version, creates
// missing buckets, and starts the result writer. It fails after
// opt.OpenTimeout with ErrLocked when another process has the file open,
// and with an error wrapping ErrCorrupt, naming the file, when it is
// damaged.
func Open(path string, opt Options) (*DB, error) {
	opt = opt.withDefaults()
	if opt.Existing {
		if err := mustExist(path); err != nil {
			return nil, err
		}
	}
	b, err := openBolt(path, opt)
	if err != nil {
		return nil, err
	}
	// The writes that share bolt's batches (statuses, events and their
	// notifications, ...) wait BatchDelay for company, not bolt's 10 ms:
	// a hard change waits on two of them before its notification can go
	// out. (Results wait for none: their writer is a group commit.)
	b.MaxBatchDelay = opt.BatchDelay
	db := &DB{
		bolt:       b,
		path:       path,
		opt:        opt,
		slots:      make(chan struct{}, opt.BatchSize),
		kick:       make(chan struct{}, 1),
		stopWriter: make(chan struct{}),
		done:       make(chan struct{}),

		stopPruner: make(chan struct{}),
		prunerDone: make(chan struct{}),

		compactWake: make(chan struct{}, 1),
		stopCompact: make(chan struct{}),
		compactDone: make(chan struct{}),

		rollups: newRollups(opt.rollupFlush),
	}
	db.logRoom = sync.NewCond(&db.logMu)
	if err := db.prepare(); err != nil {
		b.Close()
		return nil, err
	}
	if err := db.view(func(tx *bolt.Tx) error { db.logLen.Store(countLogTx(tx)); return nil }); err != nil {
		b.Close()
		return nil, err
	}
	db.tail = openTail(path)
	go db.write()
	go db.compactor()
	db.wakeCompactor()
	db.startRollups()
	if opt.PruneInterval > 0 {
		go db.pruner()
	} else {
		close(db.prunerDone)
	}
	return db, nil
}

// mustExist refuses a missing or empty file.
func mustExist(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s is missing", ErrNoDatabase, path)
	case err != nil:
		return fmt.Errorf("open %s: %w", path, err)
	case fi.Size() == 0:
		return fmt.Errorf("%w: %s is empty", ErrNoDatabase, path)
	}
	return nil
}

// openBolt opens the file with bolt, which reads its meta pages and its
// free list: a file it finds invalid, or that makes it panic, is damaged.
func openBolt(path string, opt Options) (b *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, corruptError(path, panicDetail(r))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	b, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opt.OpenTimeout,
		FreelistType: bolt.FreelistMapType,
		// Not NoFreelistSync, although writing the free list is about a
		// seventh of a commit under load: a file without one makes Open
		// rebuild it by walking the tree on a goroutine of bbolt's own,
		// where a damaged page panics out of reach of the recover above
		// and kills helen instead of failing Open with ErrCorrupt.
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w (waited %v for its lock)", path, ErrLocked, opt.OpenTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, corruptError(path, err.Error())
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return b, nil
}

// prepare checks the file, before anything writes to it, then its schema
// version, and creates the buckets it lacks.
func (db *DB) prepare() error {
	if err := db.view(checkSize); err != nil {
		return err
	}
	rep, err := db.checkFile()
	db.checked = rep
	if err != nil {
		return err
	}
	if err := db.update(initTx); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("open %s: %w", db.path, err)
	}
	return nil
}

// Checked returns how the consistency check of Open went.
func (db *DB) Checked() CheckReport { return db.checked }

// initTx creates the buckets a file lacks and checks the schema version,
// writing it into a new file and migrating an older file to it. A file that has buckets but no schema
// version is not new but damaged (or not helen's).
func initTx(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta) == nil {
		if k, _ := tx.Cursor().First(); k != nil {
			return corruptError(tx.DB().Path(), fmt.Sprintf("bucket %q but no %q bucket: no schema version", k, bucketMeta))
		}
		if err := createBucketsTx(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion))
	}
	v := tx.Bucket(bucketMeta).Get(keySchema)
	switch {
	case v == nil:
		return corruptError(tx.DB().Path(), "no schema version")
	case len(v) != 8:
		return corruptError(tx.DB().Path(), fmt.Sprintf("malformed schema version %x", v))
	}
	got := binary.BigEndian.Uint64(v)
	if got < 1 || got > schemaVersion {
		return fmt.Errorf("%w: file has %d, this program knows 1 to %d", ErrSchema, got, schemaVersion)
	}
	if err := createBucketsTx(tx); err != nil {
		return err
	}
	return migrateTx(tx, got)
}

// createBucketsTx creates the buckets the file lacks: adding one does not
// change the schema version.
func createBucketsTx(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
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
	close(db.stopPruner)
	db.mu.Unlock()
	// No caller comes in now. Those in queue their results, or commit
	// and hand what is queued on to the writer, which commits it all
	// before it returns.
	db.callers.Wait()
	close(db.stopWriter)
	<-db.done
	// The compactor outlives the writer, which may wait for room in the
	// log; it stops between two steps of its round, which the next Open
	// goes on with.
	close(db.stopCompact)
	<-db.compactDone
	<-db.prunerDone
	flushErr := db.closeRollups()
	db.tail.close()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close %s: %w", db.path, err)
	}
	if flushErr != nil {
		return fmt.Errorf("close %s: graphs' points: %w", db.path, flushErr)
	}
	return nil
}

// Path returns the file name of the database.
func (db *DB) Path() string { return db.path }

// Size returns the size of the database in bytes.
func (db *DB) Size() (int64, error) {
	var n int64
	err := db.view(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}
