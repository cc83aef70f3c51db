package state

import (
	"context"
	"errors"
	"time"
)

// What a store shared by many helens offers beside Store. The bbolt store
// is one helen's and does not implement Cluster; state/pgstore does. Helen
// asks its store for it with a type assertion: a store that is a Cluster
// makes helen one of many.

// ErrFenced refuses a write for an agent made under a claim that another
// helen has taken over since: no write from a stale owner lands.
var ErrFenced = errors.New("state: agent claimed by another helen since")

// Helen is one helen of those that share a store.
type Helen struct {
	ID string `json:"id"`
	// Addr is where other helens reach it (host:port of its peer
	// listener, mutual TLS with certificates of the shared CA).
	Addr    string    `json:"addr"`
	Started time.Time `json:"started"`
	Beat    time.Time `json:"beat"` // its last heartbeat
	Version string    `json:"version,omitempty"`
}

// Claim is a helen's hold on an agent's session. Epoch grows by one with
// every claim of the agent by any helen: it is the fencing token of the
// writes made for the agent by the helen holding it.
type Claim struct {
	Agent string    `json:"agent"`
	Helen string    `json:"helen"`
	Epoch int64     `json:"epoch"`
	At    time.Time `json:"at"`   // when claimed, or when released
	Held  bool      `json:"held"` // false once released (Unclaim)
}

// Change is what another helen changed that this one must act on at once.
type Change struct {
	// Kind is what changed: "claim" (Claim says which), "schedules",
	// "silences", "acks", "routes", "users", "helens".
	Kind  string
	Claim Claim
}

// Cluster is what a store shared by many helens adds to Store.
type Cluster interface {
	Store
	// Beat records h's heartbeat at h.Beat: an upsert of its row.
	Beat(ctx context.Context, h Helen) error
	// Helens returns every helen that has a row, with its last beat,
	// by ID; the caller decides which are alive by their beats' age.
	Helens(ctx context.Context) ([]Helen, error)
	// Claim makes helen the holder of agent's session with an epoch
	// one more than the agent's last, and tells the other helens
	// (Watch). From then on writes for agent under an older claim are
	// refused with ErrFenced.
	Claim(ctx context.Context, agent, helen string, at time.Time) (Claim, error)
	// Unclaim releases c at at if it is still the agent's claim; a claim
	// taken over since is left alone.
	Unclaim(ctx context.Context, c Claim, at time.Time) error
	// Owner returns agent's last claim, held or released; ErrNotFound
	// when no helen ever claimed it.
	Owner(ctx context.Context, agent string) (Claim, error)
	// Watch delivers the changes made through the store by any helen,
	// this one too, until ctx ends; the channel is closed then. A watcher
	// too slow to take them loses none silently: it gets a Change of
	// Kind "resync" and must reload what it keeps.
	Watch(ctx context.Context) (<-chan Change, error)
	// PutSecret stores value under name unless a value is there already,
	// and returns the value stored: of helens that make a secret at once
	// (the CA), the first wins and all use its.
	PutSecret(ctx context.Context, name string, value []byte) ([]byte, error)
	// Secret returns the value stored under name; ErrNotFound for none.
	Secret(ctx context.Context, name string) ([]byte, error)
	// MarkDown records agent down since at, with ens (its event and
	// notifications) in the same transaction, if it is not down already
	// and no helen has held it for unheld: won reports whether this call
	// did it, so that of helens that decide at once one does.
	MarkDown(ctx context.Context, agent string, at time.Time, unheld time.Duration, ens ...EventNotifications) (won bool, err error)
	// MarkUp clears agent's mark of down, with ens, and returns since
	// when it was down: won reports whether this call cleared it.
	MarkUp(ctx context.Context, agent string, at time.Time, ens ...EventNotifications) (since time.Time, won bool, err error)
}
