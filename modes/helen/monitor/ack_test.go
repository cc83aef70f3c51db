package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/state"
)

// failing is a schedule of check c every minute whose results are
// status.
func failing(name, status string) state.Schedule {
	return state.Schedule{Name: name, Check: "c", Every: time.Minute, Args: json.RawMessage(`{"status":"` + status + `"}`)}
}

// delivered waits until the outbox holds nothing still to deliver.
func (h *harness) delivered() {
	h.t.Helper()
	wait.Until(h.t, "the outbox delivered", waitFor, time.Millisecond, func() bool {
		st, err := h.db.OutboxStats()
		return err == nil && st.Count[state.NotifyPending]+st.Count[state.NotifyRetrying] == 0
	})
}

// count returns how many of the notifications received are of kind
// about schedule.
func (hk *hook) count(kind notify.Kind, schedule string) int {
	hk.mu.Lock()
	defer hk.mu.Unlock()
	n := 0
	for _, got := range hk.got {
		if got.Kind == kind && got.Schedule == schedule {
			n++
		}
	}
	return n
}

// An acknowledged problem is told once, then its acknowledgement once
// (with its author and comment), and never again while it lasts; a
// problem not acknowledged on another schedule is told again every
// re-notify interval. The acknowledgement clears itself when its problem
// recovers, and the next problem is told and told again.
func TestAckStopsRenotify(t *testing.T) {
	hk := newHook(t)
	h := newNotifyHarness(t, hk, time.Hour, Config{})
	const waiters = notifyWaiters + 1 // a loop of each schedule
	h.connect("web-1", behavior{})
	h.put(failing("s", "critical"))
	h.put(failing("u", "warning"))
	h.settle(waiters)
	h.steps(2, time.Minute, waiters)
	h.delivered()
	if s, u := hk.count(notify.Problem, "s"), hk.count(notify.Problem, "u"); s != 1 || u != 1 {
		t.Fatalf("problems told: s %d, u %d; want 1 each", s, u)
	}

	ack, err := h.m.Ack(state.Ack{Agent: "web-1", Schedule: "s", Author: "ann", Comment: "replacing the disk", Time: h.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	h.delivered()
	// Re-notifications come with the status writes, on a ticker the
	// steps do not wait for (a tick that finds the monitor busy waits
	// for it, and the clock may be ahead by then): wait for each of u's,
	// an hour apart, before the next hour, each with a look at s.
	for i := range 3 {
		h.steps(60, time.Minute, waiters)
		wait.Until(t, fmt.Sprintf("u told again %d times", i+1), waitFor, time.Millisecond, func() bool { return hk.count(notify.Problem, "u") >= i+2 })
	}
	h.delivered()
	if s, u, a := hk.count(notify.Problem, "s"), hk.count(notify.Problem, "u"), hk.count(notify.Acknowledgement, "s"); s != 1 || u != 4 || a != 1 {
		t.Errorf("after 3 h: problems of s %d (acknowledged), of u %d, acknowledgements %d; want 1, 4 (told and again each hour), 1", s, u, a)
	}
	hk.mu.Lock()
	for _, n := range hk.got {
		if n.Kind == notify.Acknowledgement &&
			(n.Author != "ann" || n.Comment != "replacing the disk" || n.Agent != "web-1" || n.Status != "critical" || !n.Time.Equal(ack.Time) || n.Check != "c") {
			t.Errorf("acknowledgement received: %+v", n)
		}
	}
	hk.mu.Unlock()

	// It recovers: the acknowledgement goes; the next problem is told,
	// and told again an hour later.
	// The schedule's new loop takes the old one's place once that has
	// ended: its first run may be a minute later.
	h.put(failing("s", "ok"))
	h.settle(waiters)
	for range 3 {
		if acks, err := h.db.Acks(); err == nil && len(acks) == 0 {
			break
		}
		h.step(time.Minute, waiters)
	}
	if acks, err := h.db.Acks(); err != nil || len(acks) != 0 {
		t.Fatalf("acks after the recovery: %+v, %v; want none", acks, err)
	}
	h.put(failing("s", "critical"))
	h.settle(waiters)
	h.steps(62, time.Minute, waiters)
	wait.Until(t, "the new problem told again", waitFor, time.Millisecond, func() bool { return hk.count(notify.Problem, "s") >= 3 })
	h.delivered()
	if s, r := hk.count(notify.Problem, "s"), hk.count(notify.Recovery, "s"); s != 3 || r != 1 {
		t.Errorf("after the recovery: problems of s %d, recoveries %d; want 3 (the first, the new one and its re-notification), 1", s, r)
	}
}

// What has no problem to take is refused, and nothing is stored; a
// silenced problem's acknowledgement is stored and tells nobody; an
// agent down is acknowledged with schedule "".
func TestAckWhat(t *testing.T) {
	const grace = 3 * time.Minute
	hk := newHook(t)
	h := newNotifyHarness(t, hk, time.Hour, Config{DownAfter: grace})
	const waiters = notifyWaiters + 2
	a := h.connect("web-1", behavior{})
	h.put(failing("fine", "ok"))
	h.put(failing("bad", "critical"))
	h.put(failing("quiet", "warning"))
	if _, err := h.db.AddSilence(state.Silence{Agents: "web-1", Schedules: "quiet", Created: epoch, End: epoch.Add(24 * time.Hour), Comment: "known"}); err != nil {
		t.Fatal(err)
	}
	h.settle(waiters)
	h.steps(2, time.Minute, waiters)
	h.delivered()
	before := len(hk.kinds())

	now := h.clk.Now()
	for name, ack := range map[string]state.Ack{
		"ok":        {Agent: "web-1", Schedule: "fine", Comment: "x", Time: now},
		"no-status": {Agent: "web-1", Schedule: "nothing", Comment: "x", Time: now},
		"up":        {Agent: "web-1", Comment: "x", Time: now},
		"no-agent":  {Agent: "db-1", Comment: "x", Time: now},
	} {
		if _, err := h.m.Ack(ack); !errors.Is(err, ErrNoProblem) {
			t.Errorf("%s: %v, want ErrNoProblem", name, err)
		}
	}
	if _, err := h.m.Ack(state.Ack{Agent: "web-1", Schedule: "bad", Time: now}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("no comment: %v, want ErrInvalid", err)
	}
	if acks, _ := h.db.Acks(); len(acks) != 0 {
		t.Errorf("refused acks stored: %+v", acks)
	}
	if _, err := h.m.Ack(state.Ack{Agent: "web-1", Schedule: "quiet", Comment: "mine", Time: now}); err != nil {
		t.Fatal(err)
	}
	if acks, _ := h.db.Acks(); len(acks) != 1 {
		t.Errorf("the silenced problem's ack not stored: %+v", acks)
	}
	st, _ := h.db.OutboxStats()
	if n := st.Count[state.NotifyPending] + st.Count[state.NotifyRetrying] + st.Count[state.NotifyDelivered]; n != before {
		t.Errorf("%d notifications in the outbox, want %d: none for the silenced problem's ack", n, before)
	}

	// The agent goes: down after its grace period; its acknowledgement
	// is the agent's.
	h.disconnect(a)
	h.settle(notifyWaiters)
	h.step(grace, notifyWaiters-1)
	wait.Until(t, "agent down told", waitFor, time.Millisecond, func() bool { return hk.count(notify.AgentDown, "") == 1 })
	if _, err := h.m.Ack(state.Ack{Agent: "web-1", Author: "bob", Comment: "rebooting", Time: h.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	h.delivered()
	hk.mu.Lock()
	defer hk.mu.Unlock()
	last := hk.got[len(hk.got)-1]
	if last.Kind != notify.Acknowledgement || last.Schedule != "" || last.Status != notify.StatusDown || last.Author != "bob" || last.Comment != "rebooting" {
		t.Errorf("last notification %+v, want the agent down's acknowledgement by bob", last)
	}
}

// StoredAck, for a helen not running, decides as a running one: a
// problem as the store has it, refused without one; its notification
// waits in the outbox and is delivered by the next start.
func TestStoredAck(t *testing.T) {
	hk := newHook(t)
	h := newNotifyHarness(t, hk, 0, Config{})
	h.connect("web-1", behavior{})
	h.put(failing("s", "critical"))
	h.put(failing("t", "ok"))
	h.settle(notifyWaiters + 1)
	h.steps(2, time.Minute, notifyWaiters+1)
	h.delivered()
	var refused error
	h.restart(func(db state.Store) {
		if _, refused = StoredAck(db, state.Ack{Agent: "web-1", Schedule: "t", Comment: "x", Time: h.clk.Now()}, logtest.Logger(t)); refused == nil {
			return
		}
		if _, err := StoredAck(db, state.Ack{Agent: "web-1", Schedule: "s", Author: "ann", Comment: "offline", Time: h.clk.Now()}, logtest.Logger(t)); err != nil {
			t.Error(err)
		}
	})
	if !errors.Is(refused, ErrNoProblem) {
		t.Errorf("an ok schedule acknowledged offline: %v", refused)
	}
	h.settle(notifyWaiters) // the delivery workers again, web-1's grace period
	h.delivered()
	if n := hk.count(notify.Acknowledgement, "s"); n != 1 {
		t.Errorf("%d acknowledgements received after the restart, want 1", n)
	}
}

// A problem that outlasts a restart is told again an interval after the
// start (the start is taken as when it was last told): not at the
// start, and not never.
func TestRenotifyAfterRestart(t *testing.T) {
	hk := newHook(t)
	h := newNotifyHarness(t, hk, time.Hour, Config{})
	h.connect("web-1", behavior{})
	h.put(failing("s", "critical"))
	h.settle(notifyWaiters)
	h.steps(30, time.Minute, notifyWaiters)
	h.delivered()
	if n := hk.count(notify.Problem, "s"); n != 1 {
		t.Fatalf("%d problems told before the restart, want 1", n)
	}
	h.restart(nil)
	h.connect("web-1", behavior{})
	h.settle(notifyWaiters)
	h.steps(59, time.Minute, notifyWaiters)
	h.delivered()
	if n := hk.count(notify.Problem, "s"); n != 1 {
		t.Fatalf("%d problems told in the hour after the restart, want 1 (none again yet)", n)
	}
	h.steps(3, time.Minute, notifyWaiters)
	wait.Until(t, "the problem told again an hour after the start", waitFor, time.Millisecond, func() bool { return hk.count(notify.Problem, "s") >= 2 })
	h.delivered()
	if n := hk.count(notify.Problem, "s"); n != 2 {
		t.Errorf("%d problems told, want 2", n)
	}
}
