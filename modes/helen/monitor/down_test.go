package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// TestAgentDownAndUp: an agent gone longer than the grace period is down
// (an event, and its statuses say unknown), and up again when it returns;
// one back within the grace period is neither.
func TestAgentDownAndUp(t *testing.T) {
	const grace, every = 300 * time.Millisecond, 100 * time.Millisecond
	h := newHarness(t, Config{DownAfter: grace})
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	a := h.connect("web-1", behavior{})
	h.put(state.Schedule{Name: "s", Check: "c", Every: every})
	h.settle(tickers + 1)
	h.step(every, tickers+1)
	if ev := event(t, events, "of the first result"); ev.Schedule != "s" || ev.To != "ok" {
		t.Fatalf("event %+v, want the first result of s", ev)
	}

	// Back within the grace period: its timer stopped, no event. The
	// loop of the connection gone gives way to the grace period.
	h.disconnect(a)
	h.settle(tickers + 1)
	if !h.m.Waiting("web-1") {
		t.Fatal("web-1 gone, not in its grace period")
	}
	h.step(grace-time.Millisecond, tickers+1)
	a = h.connect("web-1", behavior{})
	h.settle(tickers + 1)
	if h.m.Waiting("web-1") {
		t.Error("web-1 back, still in its grace period")
	}
	h.steps(6, every, tickers+1) // twice the grace period
	if n := a.count("c"); n != 6 {
		t.Errorf("%d runs on the new connection in 6 intervals, want 6", n)
	}
	noEvent(t, events, "a reconnection within the grace period")

	// Gone for longer: down, once the grace period is over and not before.
	h.disconnect(a)
	h.settle(tickers + 1)
	gone := h.clk.Now()
	h.step(grace-time.Nanosecond, tickers+1)
	if !h.m.Waiting("web-1") {
		t.Fatal("the grace period ended before its time")
	}
	noEvent(t, events, "a grace period not over")
	h.step(time.Nanosecond, tickers)
	down := nextEvent(t, events, "agent down")
	if down.Agent != "web-1" || down.Schedule != "" || down.From != "up" || down.To != "down" || !down.Time.Equal(gone.Add(grace)) {
		t.Errorf("down event = %+v, want web-1 up -> down at %v", down, gone.Add(grace))
	}
	sts := h.m.Statuses(false)
	if len(sts) != 1 || sts[0].Status.Status != string(result.Unknown) || sts[0].Kind != KindAgentDown || sts[0].Folded != 1 || !sts[0].Since.Equal(down.Time) {
		t.Errorf("statuses of an agent down = %+v", sts)
	}
	sts = h.m.Statuses(true)
	if len(sts) != 2 || sts[1].Kind != KindFolded || sts[1].Status.Status != string(result.Unknown) || sts[1].Previous != "ok" {
		t.Errorf("statuses of an agent down, unfolded = %+v", sts)
	}
	if stored, err := h.db.AgentsDown(); err != nil || !stored["web-1"].Equal(down.Time) {
		t.Errorf("stored agents down = %v, %v; want web-1 since %v", stored, err, down.Time)
	}

	// Up again, a minute later: an event at once.
	h.step(time.Minute, tickers)
	a = h.connect("web-1", behavior{})
	up := event(t, events, "agent up")
	if up.Agent != "web-1" || up.From != "down" || up.To != "up" || up.Message != "agent up after 1m0s down" {
		t.Errorf("up event = %+v", up)
	}
	h.settle(tickers + 1)
	if sts := h.m.Statuses(false); len(sts) != 1 || sts[0].Status.Status != "ok" || sts[0].Kind != KindSchedule {
		t.Errorf("statuses of the agent up = %+v", sts)
	}
	// The statuses were ok before and after: no change of status.
	h.steps(3, every, tickers+1)
	if n := a.count("c"); n != 3 {
		t.Errorf("%d runs after the agent came back, want 3", n)
	}
	noEvent(t, events, "the agent came back")
	if down, err := h.db.AgentsDown(); err != nil || len(down) != 0 {
		t.Errorf("agents down after it came back: %v, %v", down, err)
	}
}

// TestAgentDownIsOneLine: an agent down is one line of the status list,
// its schedules folded under it; unfolded, they follow it, unknown, with
// what they said before; the status metrics still have each schedule's
// series, unknown.
func TestAgentDownIsOneLine(t *testing.T) {
	const grace, every, schedules = time.Second, time.Minute, 4
	h := newHarness(t, Config{DownAfter: grace})
	gone := h.connect("gone-1", behavior{})
	h.connect("live-1", behavior{})
	for i := range schedules {
		h.put(state.Schedule{Name: fmt.Sprint("s", i), Check: "c", Every: every})
	}
	h.settle(tickers + 2*schedules)
	h.step(every, tickers+2*schedules)
	if evs, err := h.db.Events(time.Time{}, time.Time{}, 0); err != nil || len(evs) != 2*schedules {
		t.Fatalf("%d events, %v; want the first of every schedule on both agents", len(evs), err)
	}
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	h.disconnect(gone)
	h.settle(tickers + schedules + 1)
	h.step(grace, tickers+schedules)
	if down := nextEvent(t, events, "gone-1 down"); down.Agent != "gone-1" || down.To != "down" {
		t.Fatalf("event %+v, want gone-1 down", down)
	}

	var lines []StatusView
	list := h.m.Statuses(false)
	for _, v := range list {
		if v.Agent == "gone-1" {
			lines = append(lines, v)
		}
	}
	if len(list) != schedules+1 || len(lines) != 1 || lines[0].Kind != KindAgentDown || lines[0].Status.Status != "unknown" || lines[0].Folded != schedules ||
		!strings.HasSuffix(lines[0].Message, fmt.Sprintf("; %d schedules folded", schedules)) {
		t.Errorf("statuses: %d lines, of gone-1 %+v; want %d lines, one of gone-1, kind agent_down, %d folded", len(list), lines, schedules+1, schedules)
	}
	kinds := map[string]int{}
	for _, v := range h.m.Statuses(true) {
		if v.Agent == "gone-1" {
			kinds[v.Kind]++
			if v.Kind == KindFolded && (v.Status.Status != "unknown" || v.Previous != "ok") {
				t.Errorf("statuses unfolded: folded line %+v", v)
			}
		}
	}
	if kinds[KindAgentDown] != 1 || kinds[KindFolded] != schedules {
		t.Errorf("statuses unfolded: lines of gone-1 by kind %v, want one agent_down and %d folded", kinds, schedules)
	}

	// Each schedule keeps its series, unknown (3) while its agent is down.
	got := map[string]float64{}
	if f := h.page()["equus_check_status"]; f != nil {
		for _, s := range f.Series {
			got[s.Labels["agent"]+"/"+s.Labels["schedule"]] = s.Value
		}
	}
	for i := range schedules {
		if v, ok := got[fmt.Sprint("gone-1/s", i)]; !ok || v != 3 {
			t.Errorf("equus_check_status of gone-1 s%d = %v, %v; want 3", i, v, ok)
		}
		if v, ok := got[fmt.Sprint("live-1/s", i)]; !ok || v != 0 {
			t.Errorf("equus_check_status of live-1 s%d = %v, %v; want 0", i, v, ok)
		}
	}
}

// TestReconnectTakesOver: a new connection of an agent takes the place of
// its older one as the link to the agents tells it, the new one connected
// before the old one is gone. The schedules run on the new one alone, and
// the old one's end starts no grace period.
func TestReconnectTakesOver(t *testing.T) {
	const every = 100 * time.Millisecond
	h := newHarness(t, Config{DownAfter: time.Second})
	events, unsubscribe := h.m.Subscribe(64)
	defer unsubscribe()
	old := h.connect("web-1", behavior{})
	h.put(state.Schedule{Name: "s", Check: "c", Every: every})
	h.settle(tickers + 1)
	h.step(every, tickers+1)
	event(t, events, "of the first result")

	cur := h.connect("web-1", behavior{})
	h.armed(1) // the new connection's, once the old one's has ended
	h.settle(tickers + 1)
	h.replaced(old)
	h.settle(tickers + 1)
	if h.m.Waiting("web-1") {
		t.Error("the end of a replaced connection started a grace period")
	}
	h.steps(20, every, tickers+1) // twice the grace period
	if o, c := old.count("c"), cur.count("c"); o != 1 || c != 20 {
		t.Errorf("runs on the old connection %d (want 1), on the new %d (want 20)", o, c)
	}
	noEvent(t, events, "a reconnection")
	if sts := h.m.Statuses(false); len(sts) != 1 || sts[0].Kind != KindSchedule || sts[0].Status.Status != "ok" {
		t.Errorf("statuses = %+v", sts)
	}
}
