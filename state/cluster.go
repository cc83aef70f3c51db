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

// DeadHelen is how old a helen's heartbeat is when it is dead: its claims
// hold no agent any longer.
const DeadHelen = 10 * time.Second

// Helen is one helen of those that share a store.
type Helen struct {
	ID string `json:"id"`
	// Addr is where other helens reach it (host:port of its peer
	// listener, mutual TLS with certificates of the shared CA).
	Addr string `json:"addr"`
	// Agents is where agents reach it (HOST:PORT of its agents' port, as
	// its join commands name it): the others name it in theirs, and send
	// agents there when they hold all the sessions they may.
	Agents  string    `json:"agents,omitempty"`
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
	// MarkDown records agent down since at, if it is not down already
	// and no other helen has held it for unheld: its claim released, or
	// its holder's heartbeat stopped (DeadHelen), that long before at;
	// an agent never claimed, or last claimed by this store's helen,
	// which decides for itself, is not held. What events returns (the
	// event and its notifications) is stored in the same transaction:
	// won reports whether this call did it, so that of helens that
	// decide at once one does, and only its event is stored. events is
	// called only then, inside the transaction, and must not use the
	// store.
	MarkDown(ctx context.Context, agent string, at time.Time, unheld time.Duration, events func() []EventNotifications) (won bool, err error)
	// MarkUp clears agent's mark of down, storing what events returns
	// for the time it was down since in the same transaction, and
	// returns that time: won reports whether this call cleared it
	// (events is called only then, as MarkDown's).
	MarkUp(ctx context.Context, agent string, at time.Time, events func(since time.Time) []EventNotifications) (since time.Time, won bool, err error)
	// Unheld returns the agents not down that no helen has held for
	// unheld at at, as MarkDown decides it, whose claim says so (an
	// agent never claimed is not among them, nor one forgotten): at most
	// limit, by name.
	// Their down is any helen's to decide, their holder being gone.
	Unheld(ctx context.Context, at time.Time, unheld time.Duration, limit int) ([]string, error)
}
