package hub

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/semver"
)

// rollout brings agents to the version helen offers. An agent that says
// hello with an older version gets reload, once for each pair of versions:
// if it comes back at the same version (its stage0 rolled a broken release
// back, or it runs without stage0), helen accepts it rather than locking it
// out with reload after reload. Agents already connected when a newer
// version appears get reload too, each at a stable offset within the
// spread, so a fleet does not download the release all at once.
type rollout struct {
	spread time.Duration

	mu      sync.Mutex
	tried   map[string]string    // agent -> "from to" it was asked to reload for
	pending map[string]time.Time // connected outdated agent -> when to ask it
}

// DefaultRolloutSpread is the window over which connected agents are asked
// to take a new version.
const DefaultRolloutSpread = 2 * time.Minute

func newRollout(spread time.Duration) *rollout {
	if spread <= 0 {
		spread = DefaultRolloutSpread
	}
	return &rollout{spread: spread, tried: map[string]string{}, pending: map[string]time.Time{}}
}

// first reports whether agent has not yet been asked to reload from
// version to offered, and records that it now is.
func (r *rollout) first(agent, version, offered string) bool {
	key := version + " " + offered
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, agent)
	if r.tried[agent] == key {
		return false
	}
	r.tried[agent] = key
	return true
}

// due reports whether a connected agent at version should be asked to
// reload to offered now, given when it was first seen outdated.
func (r *rollout) due(agent, version, offered string, now time.Time) bool {
	r.mu.Lock()
	if r.tried[agent] == version+" "+offered {
		r.mu.Unlock()
		return false
	}
	at, ok := r.pending[agent]
	if !ok {
		at = now.Add(spreadOffset(agent, r.spread))
		r.pending[agent] = at
	}
	r.mu.Unlock()
	return !now.Before(at) && r.first(agent, version, offered)
}

// spreadOffset is a stable offset in [0, spread) for a name.
func spreadOffset(name string, spread time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(spread))
}

// rolloutLoop asks outdated connected agents to reload, until ctx ends.
func (h *Hub) rolloutLoop(ctx context.Context) {
	every := min(h.rollout.spread/4, 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.rolloutTick(ctx, now)
		}
	}
}

func (h *Hub) rolloutTick(ctx context.Context, now time.Time) {
	rel, err := h.offers.Current()
	if err != nil || rel.Version == "" {
		return
	}
	for _, ss := range h.Sessions() {
		if c, err := semver.Compare(ss.version, rel.Version); err != nil || c >= 0 {
			continue
		}
		if !h.rollout.due(ss.name, ss.version, rel.Version, now) {
			continue
		}
		ss.log.Info("newer version offered: asking the agent to reload", "version", ss.version, "offered", rel.Version)
		if err := h.Reload(ctx, ss.name); err != nil {
			ss.log.Info("rollout reload", "err", err)
		}
	}
}
