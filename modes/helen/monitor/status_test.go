package monitor

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/state"
)

func TestStatusViewsOrder(t *testing.T) {
	rows := []state.Status{
		{Agent: "b", Schedule: "x", Status: "ok"},
		{Agent: "a", Schedule: "y", Status: "unknown"},
		{Agent: "c", Schedule: "x", Status: "critical"},
		{Agent: "a", Schedule: "x", Status: "warning"},
		{Agent: "a", Schedule: "z", Status: "ok"},
		{Agent: "d", Schedule: "x", Status: "critical"},
	}
	for _, unfold := range []bool{false, true} {
		got := statusViews(rows, map[string]time.Time{"d": time.Unix(0, 0)}, unfold)
		want := []string{"c/x critical", "a/x warning", "a/y unknown", "d/ unknown", "a/z ok", "b/x ok"}
		if unfold {
			want = slices.Insert(want, 4, "d/x unknown")
		}
		var rows []string
		for _, v := range got {
			rows = append(rows, v.Agent+"/"+v.Schedule+" "+v.Status.Status)
		}
		if !slices.Equal(rows, want) {
			t.Errorf("unfold %v: rows %v, want %v", unfold, rows, want)
		}
	}
}

// TestStatusChangeIsOneEvent: the first result and each change of status
// are one event each; results that do not change the status are none.
func TestStatusChangeIsOneEvent(t *testing.T) {
	h := newHarness(t, Config{})
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	a := h.connect("web-1", behavior{})
	const every = 100 * time.Millisecond
	sch := state.Schedule{Name: "s", Check: "c", Every: every, Args: json.RawMessage(`{"status":"ok"}`)}
	h.put(sch)
	h.settle(tickers + 1)
	h.stepTo(h.tick("web-1", every), tickers+1)
	first := event(t, events, "new -> ok")
	if first.From != "" || first.To != "ok" || first.Agent != "web-1" || first.Schedule != "s" || first.Check != "c" || !first.Time.Equal(h.clk.Now()) {
		t.Errorf("first event = %+v, want new -> ok of web-1 s (c) at %v", first, h.clk.Now())
	}
	h.steps(3, every, tickers+1)
	if n := a.count("c"); n != 4 {
		t.Fatalf("%d runs, want 4", n)
	}
	noEvent(t, events, "three runs that did not change the status")

	sch.Args = json.RawMessage(`{"status":"critical","tag":"on fire"}`)
	h.put(sch)
	h.armed(1)
	h.settle(tickers + 1)
	h.step(every, tickers+1)
	change := event(t, events, "ok -> critical")
	if change.From != "ok" || change.To != "critical" || change.Message != "c on fire" || !change.Time.Equal(h.clk.Now()) {
		t.Errorf("change event = %+v", change)
	}
	h.steps(3, every, tickers+1)
	if n := a.count("c"); n != 8 {
		t.Fatalf("%d runs, want 8", n)
	}
	noEvent(t, events, "three runs that did not change the status")

	stored, err := h.db.Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || stored[0].To != "ok" || stored[1].To != "critical" {
		t.Errorf("stored events = %+v, want new->ok and ok->critical", stored)
	}
	sts := h.m.Statuses(false)
	if len(sts) != 1 {
		t.Fatalf("statuses = %+v", sts)
	}
	st := sts[0]
	if st.Status.Status != "critical" || st.Previous != "ok" || !st.Since.Equal(change.Time) || st.Message != "c on fire" || !st.Time.Equal(h.clk.Now()) {
		t.Errorf("status = %+v, want critical since %v, previous ok, last result at %v", st, change.Time, h.clk.Now())
	}
}

// TestStatusWrites: a result that does not change the status is written
// with the next periodic write, on the monitor's clock, and not before;
// one that changes it is written at once.
func TestStatusWrites(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect("web-1", behavior{})
	const every = time.Second
	h.put(state.Schedule{Name: "s", Check: "c", Every: every})
	h.settle(tickers + 1)
	h.stepTo(h.tick("web-1", every), tickers+1)
	changed := h.clk.Now()
	h.step(every, tickers+1)
	stored := func() time.Time {
		sts, err := h.db.Statuses("web-1")
		if err != nil || len(sts) != 1 {
			t.Fatalf("stored statuses = %+v, %v", sts, err)
		}
		return sts[0].Time
	}
	if at := stored(); !at.Equal(changed) {
		t.Errorf("stored status of the result at %v, want that of the first result, at %v", at, changed)
	}
	// The first write comes statusFlushEvery after the start, past the
	// two results.
	h.stepTo(epoch.Add(statusFlushEvery-time.Nanosecond), tickers+1)
	if at := stored(); !at.Equal(changed) {
		t.Fatalf("stored status of the result at %v before the periodic write, want that of %v", at, changed)
	}
	last := h.clk.Now() // of the last result: the schedule ran on until here
	h.step(time.Nanosecond, tickers+1)
	wait.Until(t, "the periodic write", waitFor, time.Millisecond, func() bool { return stored().Equal(last) })
}

// TestStatusAfterRestart: statuses are kept across a restart, and an agent
// that does not come back after it is declared down, once.
func TestStatusAfterRestart(t *testing.T) {
	const grace, every = 200 * time.Millisecond, 100 * time.Millisecond
	h := newHarness(t, Config{DownAfter: grace})
	a := h.connect("web-1", behavior{})
	h.put(state.Schedule{Name: "s", Check: "c", Every: every, Args: json.RawMessage(`{"status":"warning"}`)})
	h.settle(tickers + 1)
	h.step(every, tickers+1)
	if sts := h.m.Statuses(false); len(sts) != 1 {
		t.Fatalf("statuses = %+v", sts)
	}
	h.disconnect(a)
	h.restart(nil)

	sts := h.m.Statuses(false)
	if len(sts) != 1 || sts[0].Status.Status != "warning" || sts[0].Check != "c" {
		t.Fatalf("statuses after restart = %+v", sts)
	}
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	// The grace period of web-1 after the restart.
	h.settle(tickers + 1)
	h.step(grace, tickers)
	if down := nextEvent(t, events, "web-1 down after restart"); down.Agent != "web-1" || down.To != "down" {
		t.Fatalf("event %+v, want web-1 down", down)
	}
	// web-2, up when the monitor stops, shows the next start's grace
	// periods have begun.
	b := h.connect("web-2", behavior{})
	h.settle(tickers + 1)
	h.step(every, tickers+1)
	if !slices.ContainsFunc(h.m.Statuses(false), func(st StatusView) bool { return st.Agent == "web-2" }) {
		t.Fatalf("no status of web-2: %+v", h.m.Statuses(false))
	}
	h.disconnect(b)
	h.restart(nil)

	// Known down already, web-1 has no grace period: the one waiter
	// besides the tickers is web-2's.
	events, unsubscribe = h.m.Subscribe(64)
	defer unsubscribe()
	h.settle(tickers + 1)
	if h.m.Waiting("web-1") || !h.m.Waiting("web-2") {
		t.Errorf("in their grace periods: web-1 %v, web-2 %v; want web-2 alone", h.m.Waiting("web-1"), h.m.Waiting("web-2"))
	}
	h.step(3*grace, tickers)
	if down := nextEvent(t, events, "web-2 down"); down.Agent != "web-2" || down.To != "down" {
		t.Fatalf("event %+v, want web-2 down", down)
	}
	evs, err := h.db.Events(time.Time{}, time.Time{}, 0)
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
	sts = h.m.Statuses(false)
	i := slices.IndexFunc(sts, func(st StatusView) bool { return st.Agent == "web-1" })
	if len(sts) != 2 || i < 0 || sts[i].Kind != KindAgentDown || sts[i].Status.Status != "unknown" {
		t.Errorf("statuses = %+v", sts)
	}
}

// TestStatusesOfRemovedSchedulesGo: a status whose schedule was removed,
// or changed to other agents, while helen was not running does not come
// back at the next start.
func TestStatusesOfRemovedSchedulesGo(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect("web-1", behavior{})
	const every = 100 * time.Millisecond
	for _, name := range []string{"kept", "removed", "moved"} {
		h.put(state.Schedule{Name: name, Check: "c", Every: every})
	}
	h.settle(tickers + 3)
	h.step(every, tickers+3)
	if sts := h.m.Statuses(false); len(sts) != 3 {
		t.Fatalf("statuses = %+v, want three", sts)
	}
	h.restart(func(db state.Store) {
		if err := DeleteSchedule(db, "removed"); err != nil {
			t.Fatal(err)
		}
		if _, err := PutSchedule(db, state.Schedule{Name: "moved", Check: "c", Every: time.Minute, Agents: "db-*"}, epoch); err != nil {
			t.Fatal(err)
		}
	})
	if sts := h.m.Statuses(false); len(sts) != 1 || sts[0].Schedule != "kept" {
		t.Errorf("statuses after restart = %+v, want kept alone", sts)
	}
	if sts, err := h.db.Statuses(""); err != nil || len(sts) != 1 || sts[0].Schedule != "kept" {
		t.Errorf("stored statuses after restart = %+v, %v, want kept alone", sts, err)
	}
}
