package hub

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// errShuttingDown refuses a session that comes as helen shuts down.
var errShuttingDown = errors.New("helen: shutting down")

// errFull refuses a session past Config.MaxSessions.
var errFull = errors.New("helen: at its most sessions")

// fullLocked reports whether a session of name would pass MaxSessions:
// one that replaces name's does not. The caller holds h.mu.
func (h *Hub) fullLocked(name string) bool {
	_, replaces := h.sessions[name]
	return h.cfg.MaxSessions > 0 && !replaces && len(h.sessions) >= h.cfg.MaxSessions
}

// full is fullLocked for a caller that does not hold h.mu.
func (h *Hub) full(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fullLocked(name)
}

// sendElsewhere tells the agent of c, which said hello, to try another
// helen, and closes c.
func (h *Hub) sendElsewhere(c net.Conn, name string, plog *slog.Logger) {
	var addrs []string
	if h.cfg.Elsewhere != nil {
		addrs = h.cfg.Elsewhere()
	}
	plog.Info("agent sent elsewhere: helen holds its most sessions", "agent", name, "remote", c.RemoteAddr().String(),
		"max_sessions", h.cfg.MaxSessions, "helens", strings.Join(addrs, ","))
	h.refuseWith(c, wire.TryElsewhere(addrs))
}

// register makes ss the session of its agent, closing an older one. It
// returns errShuttingDown, or an error that is state.ErrRevoked for an
// agent revoked since its certificate was checked: the revocation either
// came before SetConnected, which then refuses, or after ss was in the
// map, where revoking finds it and closes it. In a cluster, a claim by
// another helen since ss's is likewise either before SetConnected, which
// returns state.ErrFenced, or after, and found in the map (claimed).
func (h *Hub) register(ss *Session) error {
	h.connMu.RLock()
	defer h.connMu.RUnlock()
	defer h.names.lock(ss.name)()
	h.mu.Lock()
	if h.closing.Load() {
		h.mu.Unlock()
		return errShuttingDown
	}
	if h.fullLocked(ss.name) {
		h.mu.Unlock()
		return errFull
	}
	old := h.sessions[ss.name]
	h.sessions[ss.name] = ss
	h.mu.Unlock()
	if old != nil {
		old.log.Info("closing the older connection of a reconnected agent")
		old.close()
	}
	err := h.store.SetConnected(ss.name, true, time.Now())
	if errors.Is(err, state.ErrRevoked) || errors.Is(err, state.ErrFenced) {
		h.mu.Lock()
		if h.sessions[ss.name] == ss {
			delete(h.sessions, ss.name)
		}
		h.mu.Unlock()
		return err
	}
	if err != nil {
		ss.log.Error("record agent connected", "err", err)
	}
	h.metrics.agentsConnected.Inc()
	h.watchMu.Lock()
	h.watch.Connected(ss)
	h.watchMu.Unlock()
	return nil
}

func (h *Hub) unregister(ss *Session) {
	h.connMu.RLock()
	defer h.connMu.RUnlock()
	defer h.names.lock(ss.name)()
	h.metrics.agentsConnected.Dec()
	h.mu.Lock()
	current := h.sessions[ss.name] == ss
	if current {
		delete(h.sessions, ss.name)
	}
	h.mu.Unlock()
	// A session another helen took over is not its agent's current one:
	// the agent is connected there.
	if ss.takenOver.Load() {
		current = false
	}
	// A session that ends as helen shuts down is recorded with all the
	// others, in one transaction, once the last has ended (recordEnds):
	// one synced transaction each would make the shutdown of 10,000
	// agents seconds long. Nothing registers meanwhile.
	if current && !h.closing.Load() {
		if err := h.store.SetConnected(ss.name, false, time.Now()); err != nil {
			ss.log.Error("record agent disconnected", "err", err)
		}
	}
	if current {
		h.unclaim(ss.claim, ss.log)
	}
	h.watchMu.Lock()
	h.watch.Disconnected(ss, current)
	h.watchMu.Unlock()
}

// recordEnds records every agent disconnected, in one transaction, once
// the sessions have ended at shutdown.
func (h *Hub) recordEnds() {
	if err := h.store.DisconnectAll(time.Now()); err != nil {
		h.log.Error("record agents disconnected", "err", err)
	}
}

// Sessions returns the sessions open now.
func (h *Hub) Sessions() []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	open := make([]*Session, 0, len(h.sessions))
	for _, ss := range h.sessions {
		open = append(open, ss)
	}
	return open
}

// Session returns the open session of an agent.
func (h *Hub) Session(name string) (*Session, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ss, ok := h.sessions[name]
	return ss, ok
}

// Disconnect closes the session of an agent, if any.
func (h *Hub) Disconnect(name string) {
	if ss, ok := h.Session(name); ok {
		ss.fail(wire.CodeNotAuthorized, "agent revoked")
	}
	h.closeShells(name)
}

// CertReplaced closes the session of an agent that uses another
// certificate than the one with the given fingerprint, which helen has
// just given it.
func (h *Hub) CertReplaced(name, fingerprint string) {
	if ss, ok := h.Session(name); ok && ss.cert != fingerprint {
		ss.log.Info("closing: the agent's certificate was replaced")
		ss.fail(wire.CodeNotAuthorized, "certificate replaced")
	}
}

// Hold runs fn with no agent connecting or disconnecting meanwhile: what
// fn sees of the sessions stays true until it returns.
func (h *Hub) Hold(fn func() error) error {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	return fn()
}

// nameLocks are a lock for each agent name in use; its zero value is
// ready. An entry lives while someone holds or waits for it, so the map
// holds at most the agents connecting or disconnecting now.
type nameLocks struct {
	mu sync.Mutex
	m  map[string]*nameLock
}

type nameLock struct {
	sync.Mutex
	refs int // under nameLocks.mu
}

// lock locks name and returns the function that unlocks it.
func (l *nameLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*nameLock{}
	}
	nl := l.m[name]
	if nl == nil {
		nl = &nameLock{}
		l.m[name] = nl
	}
	nl.refs++
	l.mu.Unlock()
	nl.Lock()
	return func() {
		nl.Unlock()
		l.mu.Lock()
		if nl.refs--; nl.refs == 0 {
			delete(l.m, name)
		}
		l.mu.Unlock()
	}
}
