// Package pgstore is helen's store on PostgreSQL, for many helens that
// share one state: a second implementation of state.Store beside the bbolt
// one, chosen with helen serve --store postgres://... . The same suite
// (state/storetest) tests both, so that they cannot drift.
//
// The schema is versioned (migrations/NNN_name.sql, applied in order at
// Open under an advisory lock, so that helens starting at once migrate it
// once).
package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/equus-monitoring/equus/state"
)

// Options tune a Store. The zero value gives the defaults, which are
// those of the bbolt store.
type Options struct {
	HistoryMaxAge      time.Duration // default 30 days
	HistoryMaxPerCheck int           // default 10000 results per agent, check and schedule
	BatchSize          int           // most results in one statement of the writer; default 1024
	NotificationsKept  int           // default state.MaxNotificationsKept
	MaxConns           int32         // most connections in the pool; default 16
	// Helen is this helen's id in the cluster: its claims of agents and
	// of notifications in delivery are in its name. Default a random one.
	Helen string
	// ConnectTimeout bounds Open's wait for the server; default 10 s.
	ConnectTimeout time.Duration
	// DeliveryLease is how long NextDue's hold of a group of the outbox
	// lasts without an attempt recorded; default DeliveryLease.
	DeliveryLease time.Duration
}

func (o Options) withDefaults() Options {
	if o.HistoryMaxAge <= 0 {
		o.HistoryMaxAge = 30 * 24 * time.Hour
	}
	if o.HistoryMaxPerCheck <= 0 {
		o.HistoryMaxPerCheck = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1024
	}
	if o.NotificationsKept <= 0 {
		o.NotificationsKept = state.MaxNotificationsKept
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.Helen == "" {
		var b [8]byte
		rand.Read(b[:])
		o.Helen = "helen-" + hex.EncodeToString(b[:])
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.DeliveryLease <= 0 {
		o.DeliveryLease = DeliveryLease
	}
	return o
}

// Store is the PostgreSQL store. Its methods are safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	url  string // redacted, for Path and errors
	opt  Options
	held held    // this store's claims (claims.go)
	mon  monitor // the monitor area's (monitor.go)
}

var _ state.Store = (*Store)(nil)

// Open connects to the database at rawURL (postgres://...), and brings
// its schema to this program's version.
func Open(ctx context.Context, rawURL string, opt Options) (*Store, error) {
	opt = opt.withDefaults()
	red := Redact(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: store %s: %v", state.ErrInvalid, red, err)
	}
	cfg.MaxConns = opt.MaxConns
	ctx, cancel := context.WithTimeout(ctx, opt.ConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", red, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store %s: %w", red, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store %s: %w", red, err)
	}
	s := &Store{pool: pool, url: red, opt: opt}
	return s, nil
}

// Path returns the store's URL, without its password.
func (s *Store) Path() string { return s.url }

// Size returns the size of the database on the server.
func (s *Store) Size() (int64, error) {
	var n int64
	err := s.pool.QueryRow(context.Background(), "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}

// Close closes the store's connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// IsURL reports whether a --store value names a PostgreSQL database.
func IsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

// Redact returns a database URL without its password, to show.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// errUnimplemented marks what is not built yet.
var errUnimplemented = errors.New("pgstore: not implemented")
