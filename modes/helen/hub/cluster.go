package hub

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// With several helens on one store (Config.Cluster), an agent has one
// session across all of them, as with one helen: the helen it says hello
// to claims it (an epoch one more than its last), and a helen that holds
// a session of it under an older epoch closes that session when it hears
// of the claim (Watch). What the hello, the claim and the registration
// leave between them the fencing closes: the older holder's writes for the
// agent, its SetConnected at registration first, are refused with
// state.ErrFenced once another helen claimed it.

// claimTimeout bounds each claim and release of an agent in the store.
const claimTimeout = 10 * time.Second

// watchRetry is the wait before the hub asks the store again for its
// changes when it could not have them.
const watchRetry = 2 * time.Second

// claim claims agent name for this helen, and reports false, having
// closed c, when the store could not: a session whose claim is not in the
// store would write unfenced beside the agent's session on another
// helen. The agent retries with backoff. Without a cluster it does
// nothing.
func (h *Hub) claim(name string, plog *slog.Logger) (state.Claim, bool) {
	if h.cfg.Cluster == nil {
		return state.Claim{}, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	c, err := h.cfg.Cluster.Claim(ctx, name, h.cfg.Helen, time.Now())
	if err != nil {
		plog.Error("claim agent: refusing its session", "agent", name, "err", err)
		return state.Claim{}, false
	}
	return c, true
}

// unclaim releases c, if it is still the agent's claim.
func (h *Hub) unclaim(c state.Claim, log *slog.Logger) {
	if h.cfg.Cluster == nil || c.Epoch == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	if err := h.cfg.Cluster.Unclaim(ctx, c, time.Now()); err != nil {
		log.Error("release agent's claim", "err", err)
	}
}

// claimsLoop closes the sessions whose agent another helen claimed, as
// the store tells, until ctx ends.
func (h *Hub) claimsLoop(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := h.cfg.Cluster.Watch(ctx)
		if err != nil {
			h.log.Error("watch the claims of other helens", "err", err, "retry_in", watchRetry)
			select {
			case <-ctx.Done():
			case <-time.After(watchRetry):
			}
			continue
		}
		for c := range ch {
			switch c.Kind {
			case "claim":
				h.claimed(c.Claim)
			case "resync":
				h.recheckClaims(ctx)
			}
		}
	}
}

// claimed closes the session of c's agent if this helen holds it under an
// older claim. The agent's lock orders it with the session's registration.
func (h *Hub) claimed(c state.Claim) {
	h.connMu.RLock()
	defer h.connMu.RUnlock()
	defer h.names.lock(c.Agent)()
	h.mu.Lock()
	ss := h.sessions[c.Agent]
	h.mu.Unlock()
	if ss == nil || ss.claim.Epoch >= c.Epoch {
		return
	}
	ss.takenOver.Store(true)
	ss.log.Info("closing: the agent connected to another helen", "helen", c.Helen, "epoch", c.Epoch, "held_epoch", ss.claim.Epoch)
	ss.close()
}

// recheckClaims asks the store for the claim of every agent this helen
// holds a session of, after changes were lost.
func (h *Hub) recheckClaims(ctx context.Context) {
	for _, ss := range h.Sessions() {
		qctx, cancel := context.WithTimeout(ctx, claimTimeout)
		c, err := h.cfg.Cluster.Owner(qctx, ss.name)
		cancel()
		switch {
		case errors.Is(err, state.ErrNotFound):
		case err != nil:
			if ctx.Err() == nil {
				h.log.Error("recheck the claims of the agents held", "err", err)
			}
			return
		default:
			h.claimed(c)
		}
	}
}
