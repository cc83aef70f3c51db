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

// An agent is down when nothing was heard from it for downAfter: its
// connection ended, or it is still open and the agent does not answer (a
// process stopped, a host frozen, a link that drops everything). The
// silence is counted from the last message its link heard, so a hung
// agent is down at that deadline whatever its socket says, rather than
// once the link has given up on the connection and a grace period has run
// after that. A connected agent's silence is looked at by a sweep, as
// Kubernetes' node controller looks at the nodes' heartbeats: one timer
// for all the agents, at most a second behind a deadline, instead of a
// timer reset on every message.

// sweepEvery is how often the agents connected are looked at for silence:
// a tenth of downAfter, at least 10 ms and at most a second.
func sweepEvery(downAfter time.Duration) time.Duration {
	return max(10*time.Millisecond, min(time.Second, downAfter/10))
}

// connected notes that an agent connected: an agent that was down is up
// again, an event, and one forgotten is remembered.
func (t *statusTable) connected(a Agent, now time.Time) {
	agent := a.Name()
	t.writes.RLock()
	defer t.writes.RUnlock()
	if t.cluster != nil {
		defer t.lockMarks(agent)()
		t.load(agent, now)
	}
	t.mu.Lock()
	delete(t.forgotten, agent)
	t.conns[agent] = a
	if g := t.gone[agent]; g != nil {
		g.t.Stop()
		delete(t.gone, agent)
	}
	downSince, wasDown := t.down[agent]
	delete(t.down, agent)
	t.mu.Unlock()
	// In a cluster another helen may have marked it down: the store
	// says.
	if wasDown || t.cluster != nil {
		t.up(agent, downSince, now)
	}
}

// disconnected starts the grace period of an agent whose session ended,
// counted from the last message heard on it.
func (t *statusTable) disconnected(a Agent, now time.Time) {
	agent := a.Name()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns[agent] == a {
		delete(t.conns, agent)
	}
	t.disconnectedLocked(agent, now, a.Silence())
}

// disconnectedLocked starts the grace period of an agent silent for
// silence at now.
func (t *statusTable) disconnectedLocked(agent string, now time.Time, silence time.Duration) {
	if t.closed || t.forgotten[agent] {
		return
	}
	if _, down := t.down[agent]; down {
		return
	}
	if g := t.gone[agent]; g != nil {
		g.t.Stop()
	}
	silence = min(max(silence, 0), t.downAfter)
	g := &grace{since: now.Add(-silence)}
	t.gone[agent] = g
	// Set under the lock, which expire takes first, so g.t is set before
	// expire can look at it. Expire runs in a goroutine of its own: a
	// fake clock calls back with its lock held, which expire's look at
	// the clock would wait for.
	g.t = t.clock.AfterFunc(t.downAfter-silence, func() { go t.expire(agent, g) })
}

// expire declares an agent down when its grace period ends with no new
// session.
func (t *statusTable) expire(agent string, g *grace) {
	t.writes.RLock()
	defer t.writes.RUnlock()
	if t.cluster != nil {
		defer t.lockMarks(agent)()
	}
	t.mu.Lock()
	if t.closed || t.gone[agent] != g {
		t.mu.Unlock()
		return
	}
	delete(t.gone, agent)
	now := t.clock.Now()
	if t.cluster == nil {
		t.down[agent] = now
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	t.declareDown(agent, now, fmt.Sprintf("agent down: no connection, nothing heard for %s", now.Sub(g.since).Round(time.Millisecond)))
}

// armSweepLocked sets the next sweep, unless the table is closed. Like
// expire, the sweep runs in a goroutine of its own.
func (t *statusTable) armSweepLocked() {
	if !t.closed {
		t.sweep = t.clock.AfterFunc(sweepEvery(t.downAfter), func() { go t.sweepSilent() })
	}
}

// sweepSilent declares down the agents connected that have been silent for
// downAfter, and up again those it declared down that have spoken since,
// then sets the next sweep.
func (t *statusTable) sweepSilent() {
	type change struct {
		agent   string
		silence time.Duration
		since   time.Time // down since, for an agent up again
	}
	t.writes.RLock()
	defer t.writes.RUnlock()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	now := t.clock.Now()
	var downs, ups []change
	for agent, a := range t.conns {
		if t.forgotten[agent] {
			continue
		}
		silence := a.Silence()
		since, down := t.down[agent]
		switch {
		case !down && silence >= t.downAfter:
			if t.cluster == nil {
				t.down[agent] = now
			}
			downs = append(downs, change{agent: agent, silence: silence})
		case down && silence < t.downAfter:
			delete(t.down, agent)
			ups = append(ups, change{agent: agent, since: since})
		}
	}
	t.wg.Add(1)
	t.mu.Unlock()
	mark := func(agent string) func() {
		if t.cluster == nil {
			return func() {}
		}
		return t.lockMarks(agent)
	}
	for _, c := range downs {
		unlock := mark(c.agent)
		t.declareDown(c.agent, now, fmt.Sprintf("agent down: connected, nothing heard for %s", c.silence.Round(time.Millisecond)))
		unlock()
	}
	for _, c := range ups {
		unlock := mark(c.agent)
		t.up(c.agent, c.since, now)
		unlock()
	}
	t.mu.Lock()
	t.armSweepLocked()
	t.mu.Unlock()
	t.wg.Done()
}

// declareDown stores that agent is down since now, marked in memory
// already, with its event. In a cluster the store decides it
// (markDown), and the agent is marked in memory if this helen's decision
// won.
func (t *statusTable) declareDown(agent string, now time.Time, message string) {
	ev := state.Event{Time: now, Agent: agent, From: "up", To: "down", Message: message}
	if t.cluster != nil {
		t.markDown(ev)
		return
	}
	if err := t.db.SetAgentDown(agent, now); err != nil {
		t.log.Error("record agent down", "agent", agent, "err", err)
	}
	t.event(ev)
}

// up stores that agent, down since downSince, is up again at now, its
// mark in memory gone already, with its event. In a cluster the store
// decides it, and says since when it was down (markUp).
func (t *statusTable) up(agent string, downSince, now time.Time) {
	if t.cluster != nil {
		t.markUp(agent, now)
		return
	}
	if err := t.db.SetAgentDown(agent, time.Time{}); err != nil {
		t.log.Error("record agent up", "agent", agent, "err", err)
	}
	t.event(upEvent(agent, downSince, now))
}

// upEvent is the event of agent up at now after it was down since since.
func upEvent(agent string, since, now time.Time) state.Event {
	return state.Event{Time: now, Agent: agent, From: "down", To: "up",
		Message: fmt.Sprintf("agent up after %s down", now.Sub(since).Round(time.Second))}
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
