package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// An acknowledgement says that someone took a problem: it is stored with
// its notification (kind acknowledgement, with its author and comment)
// to every route that takes the problem, in one transaction, so the team
// sees who took it. What it may take is what an operator sees as a
// problem: the hard problem of a schedule on an agent (a soft one may
// still come to nothing), or an agent down (schedule ""). Anything else
// is refused and nothing is stored, since an acknowledgement waiting for
// a problem to come would keep that problem's re-notifications from
// ever starting. A silence in force over the problem wins: the
// acknowledgement is stored and tells nobody, as the problem did not.

// ErrNoProblem refuses an acknowledgement of what has no problem to take:
// a schedule not in a hard problem on the agent, an agent that is not
// down.
var ErrNoProblem = errors.New("helen: nothing to acknowledge")

// Ack stores a, the acknowledgement of the problem of a.Schedule on
// a.Agent (a.Schedule "": of the agent being down), with the
// notifications that tell it, and returns it as stored. It returns an
// error wrapping ErrNoProblem when there is no such problem, one
// wrapping state.ErrInvalid for a bad acknowledgement.
func (m *Monitor) Ack(a state.Ack) (state.Ack, error) {
	if err := state.CheckAck(a); err != nil {
		return a, err
	}
	t := m.status
	look := func() (*state.Status, time.Time, bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		var st *state.Status
		if r := t.rows[pair{a.Agent, a.Schedule}]; r != nil {
			c := *r
			st = &c
		}
		since, down := t.down[a.Agent]
		return st, since, down
	}
	st, since, down := look()
	if a.Schedule == "" {
		st = nil
	}
	if err := storeAck(m.store, t.engine, a, st, since, down, m.cfg.Log); err != nil {
		return a, err
	}
	if t.notified != nil {
		t.notified()
	}
	// A recovery decided while the acknowledgement was being stored did
	// not see it to clear it: clear it now, or it would keep the next
	// problem of the schedule from being told again.
	now, nowSince, nowDown := look()
	if a.Schedule == "" {
		now = nil
	}
	if !sameProblem(st, since, now, nowSince, nowDown) {
		if err := m.store.Unack(a.Agent, a.Schedule); err != nil && !errors.Is(err, state.ErrNotFound) {
			return a, err
		}
		return a, fmt.Errorf("%w: %s recovered meanwhile", ErrNoProblem, what(a))
	}
	return a, nil
}

// StoredAck is Ack for a helen that is not running, over its store: the
// problem as the store has it, its notifications left in the outbox for
// the next start to deliver.
func StoredAck(store state.Store, a state.Ack, log *slog.Logger) (state.Ack, error) {
	if err := state.CheckAck(a); err != nil {
		return a, err
	}
	eng, err := newEngine(store, log)
	if err != nil {
		return a, err
	}
	var st *state.Status
	if a.Schedule != "" {
		rows, err := store.Statuses(a.Agent)
		if err != nil {
			return a, err
		}
		for _, r := range rows {
			if r.Schedule == a.Schedule {
				st = &r
			}
		}
	}
	down, err := store.AgentsDown()
	if err != nil {
		return a, err
	}
	since, isDown := down[a.Agent]
	return a, storeAck(store, eng, a, st, since, isDown, log)
}

// storeAck stores a with its notifications, as eng decides them, if st
// (the status of a's schedule, nil for none) is a hard problem or, for
// the agent (schedule ""), it is down since since.
func storeAck(store state.Store, eng *engine, a state.Ack, st *state.Status, since time.Time, down bool, log *slog.Logger) error {
	switch {
	case a.Schedule == "" && !down:
		return fmt.Errorf("%w: agent %s is not down", ErrNoProblem, a.Agent)
	case a.Schedule != "" && st == nil:
		return fmt.Errorf("%w: %s has no status", ErrNoProblem, what(a))
	case a.Schedule != "" && !hardProblem(*st):
		s := st.HardStatus
		if st.StateType == state.Soft {
			s += ", its " + st.Status + " not confirmed yet"
		}
		return fmt.Errorf("%w: %s is %s", ErrNoProblem, what(a), s)
	}
	outs, silenced := eng.ack(a, st, since)
	if err := store.AckWithNotifications(a, outs...); err != nil {
		return err
	}
	args := []any{"agent", a.Agent, "schedule", a.Schedule, "author", a.Author, "comment", a.Comment, "notifications", len(outs)}
	if silenced != "" {
		args = append(args, "silence", silenced)
	}
	log.Info("acknowledged", args...)
	return nil
}

// hardProblem reports whether st's last confirmed status is a problem.
func hardProblem(st state.Status) bool {
	return st.HardStatus != "" && st.HardStatus != string(result.OK)
}

// sameProblem reports whether the problem looked at before (st, or the
// agent down since since) is still there after (a schedule's, still a
// hard problem; the agent, down since the same time).
func sameProblem(st *state.Status, since time.Time, after *state.Status, afterSince time.Time, afterDown bool) bool {
	if st == nil {
		return afterDown && afterSince.Equal(since)
	}
	return after != nil && hardProblem(*after)
}

// what names the problem a acknowledges.
func what(a state.Ack) string {
	if a.Schedule == "" {
		return "agent " + a.Agent
	}
	return fmt.Sprintf("%s on %s", a.Schedule, a.Agent)
}

// ack returns the notifications of acknowledgement a of the problem st
// (nil: of the agent down since since) to the routes that take the
// problem, and the silence in force that keeps them from being told ("":
// none).
func (e *engine) ack(a state.Ack, st *state.Status, since time.Time) ([]state.Outgoing, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.freshLocked()
	if ss := e.silencesLocked(a.Agent, a.Schedule, a.Time); len(ss) > 0 {
		return nil, ss[0].ID
	}
	ev := state.Event{Time: a.Time, Agent: a.Agent, Schedule: a.Schedule, To: notify.StatusDown}
	n := notify.Notification{Kind: notify.Acknowledgement, Agent: a.Agent, Schedule: a.Schedule,
		Status: notify.StatusDown, Previous: notify.StatusUp, Message: downMessage(since), Since: since,
		Time: a.Time, Author: a.Author, Comment: a.Comment}
	if st != nil {
		ev.Check, ev.From, ev.To, ev.Message = st.Check, st.Previous, st.HardStatus, st.Message
		n.Check, n.Status, n.Previous, n.Message, n.Since = st.Check, st.HardStatus, "", st.Message, st.Since
		n.Metrics = st.Metrics[:min(len(st.Metrics), MaxMetrics)]
	}
	n.ID = notificationID(notify.Acknowledgement, ev)
	outs := e.outgoingDocLocked(notify.Acknowledgement, ev, nil, func() (json.RawMessage, error) { return json.Marshal(n) })
	return outs, ""
}
