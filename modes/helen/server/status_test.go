package server

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	testingclock "k8s.io/utils/clock/testing"
)

// TestStatusChangeIsOneEvent: the first result and each change of status
// are one event each; results that do not change the status are none.
func TestStatusChangeIsOneEvent(t *testing.T) {
	h := startHelen(t, Config{})
	events, unsubscribe := h.srv.Subscribe(64)
	defer unsubscribe()
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	sch := state.Schedule{Name: "s", Check: "c", Every: 100 * time.Millisecond, Args: json.RawMessage(`{"status":"ok"}`)}
	if _, err := h.srv.PutSchedule(sch); err != nil {
		t.Fatal(err)
	}
	first := waitEvent(t, events, "new -> ok", func(ev state.Event) bool { return ev.Schedule == "s" })
	if first.From != "" || first.To != "ok" || first.Agent != "web-1" || first.Check != "c" {
		t.Errorf("first event = %+v", first)
	}
	poll(t, "3 more runs", func() bool { return a.CountChecks("c") >= 4 })
	sch.Args = json.RawMessage(`{"status":"critical","tag":"on fire"}`)
	if _, err := h.srv.PutSchedule(sch); err != nil {
		t.Fatal(err)
	}
	change := waitEvent(t, events, "ok -> critical", func(ev state.Event) bool { return ev.Schedule == "s" })
	if change.From != "ok" || change.To != "critical" || change.Message != "c on fire" {
		t.Errorf("change event = %+v", change)
	}
	n := a.CountChecks("c")
	poll(t, "3 more runs", func() bool { return a.CountChecks("c") >= n+3 })
	select {
	case ev := <-events:
		t.Errorf("an event with no change of status: %+v", ev)
	default:
	}
	stored, err := h.srv.DB().Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || stored[0].To != "ok" || stored[1].To != "critical" {
		t.Errorf("stored events = %+v, want new->ok and ok->critical", stored)
	}
	sts := h.srv.Statuses(false)
	if len(sts) != 1 {
		t.Fatalf("statuses = %+v", sts)
	}
	st := sts[0]
	if st.Status.Status != "critical" || st.Previous != "ok" || !st.Since.Equal(change.Time) || st.Message != "c on fire" || st.Time.Before(st.Since) {
		t.Errorf("status = %+v", st)
	}
}

// TestAgentDownAndUp: an agent gone longer than the grace period is down
// (an event, and its statuses say unknown), and up again when it returns;
// one back within the grace period is neither. The grace periods run on a
// fake clock: the test says when they end.
func TestAgentDownAndUp(t *testing.T) {
	const grace = 300 * time.Millisecond
	clk := testingclock.NewFakeClock(time.Now())
	h := startHelen(t, Config{DownAfter: grace, downClock: clk})
	events, unsubscribe := h.srv.Subscribe(64)
	defer unsubscribe()
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "s", Check: "c", Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, "first result", func(ev state.Event) bool { return ev.Schedule == "s" })

	// Back within the grace period: its timer stopped, no event.
	a.Close()
	poll(t, "the grace period begins", clk.HasWaiters)
	clk.Step(grace - time.Millisecond)
	a = startAgent(t, h, "web-1", behavior{})
	a.Ready()
	poll(t, "the reconnection ends the grace period", func() bool { return !clk.HasWaiters() })
	clk.Step(2 * grace)
	select {
	case ev := <-events:
		t.Fatalf("event for a reconnection within the grace period: %+v", ev)
	default:
	}

	// Gone for longer: down, once the grace period is over and not before.
	a.Close()
	poll(t, "the grace period begins", clk.HasWaiters)
	gone := clk.Now()
	clk.Step(grace - time.Millisecond)
	if !clk.HasWaiters() {
		t.Fatal("the grace period ended before its time")
	}
	clk.Step(time.Millisecond)
	down := waitEvent(t, events, "agent down", func(ev state.Event) bool { return ev.Schedule == "" })
	if down.Agent != "web-1" || down.From != "up" || down.To != "down" || down.Time.Sub(gone) < grace {
		t.Errorf("down event = %+v, %v after the disconnection", down, down.Time.Sub(gone))
	}
	sts := h.srv.Statuses(false)
	if len(sts) != 1 || sts[0].Status.Status != string(result.Unknown) || sts[0].Kind != monitor.KindAgentDown || sts[0].Folded != 1 {
		t.Errorf("statuses of an agent down = %+v", sts)
	}
	sts = h.srv.Statuses(true)
	if len(sts) != 2 || sts[1].Kind != monitor.KindFolded || sts[1].Status.Status != string(result.Unknown) || sts[1].Previous != "ok" {
		t.Errorf("statuses of an agent down, unfolded = %+v", sts)
	}

	a = startAgent(t, h, "web-1", behavior{})
	a.Ready()
	up := waitEvent(t, events, "agent up", func(ev state.Event) bool { return ev.Schedule == "" })
	if up.From != "down" || up.To != "up" {
		t.Errorf("up event = %+v", up)
	}
	poll(t, "status ok again", func() bool {
		sts := h.srv.Statuses(false)
		return len(sts) == 1 && sts[0].Status.Status == "ok" && sts[0].Kind == monitor.KindSchedule
	})
	// The statuses were ok before and after: no change of status.
	time.Sleep(200 * time.Millisecond)
	select {
	case ev := <-events:
		t.Errorf("unexpected event after the agent came back: %+v", ev)
	default:
	}
	if down, err := h.srv.DB().AgentsDown(); err != nil || len(down) != 0 {
		t.Errorf("agents down after it came back: %v, %v", down, err)
	}
}

// TestStatusAfterRestart: statuses are kept across a restart, and an agent
// that does not come back after it is declared down, once. The grace
// periods run on a fake clock per helen: the test says when they end.
func TestStatusAfterRestart(t *testing.T) {
	dir := t.TempDir()
	const grace = 200 * time.Millisecond
	h := startHelen(t, Config{DataDir: dir, DownAfter: grace, downClock: testingclock.NewFakeClock(time.Now())})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "s", Check: "c", Every: 100 * time.Millisecond, Args: json.RawMessage(`{"status":"warning"}`)}); err != nil {
		t.Fatal(err)
	}
	poll(t, "a status", func() bool { return len(h.srv.Statuses(false)) == 1 })
	a.Close()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h.srv.Close()

	clk2 := testingclock.NewFakeClock(time.Now())
	h2 := startHelen(t, Config{DataDir: dir, DownAfter: grace, downClock: clk2})
	sts := h2.srv.Statuses(false)
	if len(sts) != 1 || sts[0].Status.Status != "warning" || sts[0].Check != "c" {
		t.Fatalf("statuses after restart = %+v", sts)
	}
	poll(t, "the grace period after restart begins", clk2.HasWaiters)
	clk2.Step(grace)
	poll(t, "agent down after restart", func() bool {
		evs, _ := h2.srv.DB().Events(time.Time{}, time.Time{}, 0)
		return len(evs) > 0 && evs[len(evs)-1].To == "down"
	})
	// web-2, up when helen stops, shows the next start's grace periods
	// have begun.
	b := startAgent(t, h2, "web-2", behavior{})
	b.Ready()
	poll(t, "a status of web-2", func() bool {
		return slices.ContainsFunc(h2.srv.Statuses(false), func(st monitor.StatusView) bool { return st.Agent == "web-2" })
	})
	b.Close()
	h2.stop()
	h2.srv.Close()

	// Known down already: no second down event on the next start.
	clk3 := testingclock.NewFakeClock(time.Now())
	h3 := startHelen(t, Config{DataDir: dir, DownAfter: grace, downClock: clk3})
	poll(t, "the grace period of web-2 begins", clk3.HasWaiters)
	clk3.Step(3 * grace)
	poll(t, "web-2 down", func() bool {
		evs, _ := h3.srv.DB().Events(time.Time{}, time.Time{}, 0)
		return len(evs) > 0 && evs[len(evs)-1].Agent == "web-2" && evs[len(evs)-1].To == "down"
	})
	evs, err := h3.srv.DB().Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	downs := 0
	for _, ev := range evs {
		if ev.Agent == "web-1" && ev.To == "down" {
			downs++
		}
	}
	if downs != 1 {
		t.Errorf("%d down events of web-1, want 1: %+v", downs, evs)
	}
	sts = h3.srv.Statuses(false)
	i := slices.IndexFunc(sts, func(st monitor.StatusView) bool { return st.Agent == "web-1" })
	if len(sts) != 2 || i < 0 || sts[i].Kind != monitor.KindAgentDown || sts[i].Status.Status != "unknown" {
		t.Errorf("statuses = %+v", sts)
	}
}

// TestStatusesOfRemovedSchedulesGo: a status whose schedule was removed,
// or changed to other agents, while helen was not running does not come
// back at the next start.
func TestStatusesOfRemovedSchedulesGo(t *testing.T) {
	dir := t.TempDir()
	h := startHelen(t, Config{DataDir: dir})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	for _, name := range []string{"kept", "removed", "moved"} {
		if _, err := h.srv.PutSchedule(state.Schedule{Name: name, Check: "c", Every: 100 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, "three statuses", func() bool { return len(h.srv.Statuses(false)) == 3 })
	a.Close()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h.srv.Close()

	db, err := openStore(dir, state.Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.DeleteSchedule(db, "removed"); err != nil {
		t.Fatal(err)
	}
	if _, err := monitor.PutSchedule(db, state.Schedule{Name: "moved", Check: "c", Every: time.Minute, Agents: "db-*"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	h2 := startHelen(t, Config{DataDir: dir})
	if sts := h2.srv.Statuses(false); len(sts) != 1 || sts[0].Schedule != "kept" {
		t.Errorf("statuses after restart = %+v, want kept alone", sts)
	}
	if sts, err := h2.srv.DB().Statuses(""); err != nil || len(sts) != 1 {
		t.Errorf("stored statuses after restart = %+v, %v", sts, err)
	}
}
