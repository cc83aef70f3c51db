package monitor

import (
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/state"
	"k8s.io/utils/clock"
)

// grace is the wait before a disconnected agent is declared down.
type grace struct {
	t     clock.Timer
	since time.Time
}

// connected notes that an agent connected: an agent that was down is up
// again, an event, and one forgotten is remembered.
func (t *statusTable) connected(agent string, now time.Time) {
	t.writes.RLock()
	defer t.writes.RUnlock()
	t.mu.Lock()
	delete(t.forgotten, agent)
	if g := t.gone[agent]; g != nil {
		g.t.Stop()
		delete(t.gone, agent)
	}
	downSince, wasDown := t.down[agent]
	delete(t.down, agent)
	t.mu.Unlock()
	if !wasDown {
		return
	}
	if err := t.db.SetAgentDown(agent, time.Time{}); err != nil {
		t.log.Error("record agent up", "agent", agent, "err", err)
	}
	t.event(state.Event{Time: now, Agent: agent, From: "down", To: "up",
		Message: fmt.Sprintf("agent up after %s down", now.Sub(downSince).Round(time.Second))})
}

// disconnected starts the grace period of an agent whose session ended.
func (t *statusTable) disconnected(agent string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.disconnectedLocked(agent, now)
}

func (t *statusTable) disconnectedLocked(agent string, now time.Time) {
	if t.closed || t.forgotten[agent] {
		return
	}
	if _, down := t.down[agent]; down {
		return
	}
	if g := t.gone[agent]; g != nil {
		g.t.Stop()
	}
	g := &grace{since: now}
	t.gone[agent] = g
	// Set under the lock, which expire takes first, so g.t is set before
	// expire can look at it. Expire runs in a goroutine of its own: a
	// fake clock calls back with its lock held, which expire's look at
	// the clock would wait for.
	g.t = t.clock.AfterFunc(t.downAfter, func() { go t.expire(agent, g) })
}

// expire declares an agent down when its grace period ends with no new
// session.
func (t *statusTable) expire(agent string, g *grace) {
	t.writes.RLock()
	defer t.writes.RUnlock()
	t.mu.Lock()
	if t.closed || t.gone[agent] != g {
		t.mu.Unlock()
		return
	}
	delete(t.gone, agent)
	now := t.clock.Now()
	t.down[agent] = now
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	if err := t.db.SetAgentDown(agent, now); err != nil {
		t.log.Error("record agent down", "agent", agent, "err", err)
	}
	t.event(state.Event{Time: now, Agent: agent, From: "up", To: "down",
		Message: fmt.Sprintf("agent down: no connection for %s", now.Sub(g.since).Round(time.Millisecond))})
}

// forget forgets an agent, which helen has checked is not connected or
// is revoked: its statuses, its grace period or mark as down, in memory
// and in the store (state.Forget, with ev), and what its last session, if
// still ending, records. It returns an error wrapping state.ErrNotFound
// when there is nothing to forget.
func (t *statusTable) forget(agent string, ev state.Event) error {
	t.writes.Lock()
	defer t.writes.Unlock()
	if err := t.db.Forget(agent, ev.Time, ev); err != nil {
		return err
	}
	t.mu.Lock()
	for k := range t.rows {
		if k.agent == agent {
			delete(t.rows, k)
			delete(t.dirty, k)
		}
	}
	delete(t.down, agent)
	if g := t.gone[agent]; g != nil {
		g.t.Stop()
		delete(t.gone, agent)
	}
	t.forgotten[agent] = true
	t.mu.Unlock()
	t.publish(ev)
	return nil
}
