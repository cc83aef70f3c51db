package monitor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// Statuses of results, short.
const (
	ok   = result.OK
	warn = result.Warning
	crit = result.Critical
	unkn = result.Unknown
)

// eventLine is an event of a schedule as the tests below compare it.
func eventLine(ev state.Event) string {
	line := fmt.Sprintf("%s>%s %s %d/%d", ev.From, ev.To, ev.StateType, ev.Attempt, ev.MaxAttempts)
	if ev.HardChange {
		line += " hard-from-" + ev.HardFrom
	}
	if ev.Flapping {
		line += " flapping"
	}
	if d := ev.Decisions(); len(d) > 0 {
		line += fmt.Sprintf(" %v", d)
	}
	return line
}

// drain returns the events ch holds now.
func drain(ch <-chan state.Event) []state.Event {
	var out []state.Event
	for {
		select {
		case ev := <-ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// TestConfirmedStates: a problem is soft until the schedule's attempts of
// problems in a row, run RetryEvery apart meanwhile, then hard (one hard
// change); ok is hard at once and resets the count; every change of
// status is an event, soft ones too.
func TestConfirmedStates(t *testing.T) {
	const every = time.Minute
	for _, tc := range []struct {
		name     string
		attempts int
		retry    time.Duration // 0: the default, every
		script   []result.Status
		runs     []int // seconds after the first, on the fake clock
		events   []string
	}{
		{
			name: "attempts-3", attempts: 3, retry: 10 * time.Second,
			script: []result.Status{ok, crit, crit, crit, crit, ok, crit, ok},
			// A retry 10s after each soft result, back on the minute's
			// ticks once hard, or ok.
			runs: []int{0, 60, 70, 80, 120, 180, 240, 250, 300},
			events: []string{
				">ok hard 1/3",
				"ok>critical soft 1/3",
				"critical>critical hard 3/3 hard-from-ok [hard_change]",
				"critical>ok hard 1/3 hard-from-critical [hard_change]",
				"ok>critical soft 1/3",
				"critical>ok hard 1/3", // a soft problem gone: no hard change
			},
		},
		{
			name: "attempts-1", attempts: 1,
			script: []result.Status{ok, crit, warn, ok},
			runs:   []int{0, 60, 120, 180, 240},
			events: []string{
				">ok hard 1/1",
				"ok>critical hard 1/1 hard-from-ok [hard_change]",
				"critical>warning hard 1/1 hard-from-critical [hard_change]",
				"warning>ok hard 1/1 hard-from-warning [hard_change]",
			},
		},
		{
			// Problems in a row confirm whichever they are, as the last
			// one says; a hard problem that turns into another is hard.
			name: "mixed-problems", attempts: 3, retry: 5 * time.Second,
			script: []result.Status{ok, warn, crit, unkn, crit, crit},
			runs:   []int{0, 60, 65, 70, 120, 180},
			events: []string{
				">ok hard 1/3",
				"ok>warning soft 1/3",
				"warning>critical soft 2/3",
				"critical>unknown hard 3/3 hard-from-ok [hard_change]",
				"unknown>critical hard 3/3 hard-from-unknown [hard_change]",
			},
		},
		{
			name: "retry-default-is-every", attempts: 2,
			script: []result.Status{crit, crit, crit, crit},
			runs:   []int{0, 60, 120, 180},
			events: []string{
				">critical soft 1/2",
				"critical>critical hard 2/2 hard-from-ok [hard_change]",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			events, unsubscribe := h.m.Subscribe(64)
			defer unsubscribe()
			a := h.connect("web-1", behavior{Script: map[string][]result.Status{"c": tc.script}})
			sch := h.put(state.Schedule{Name: "s", Check: "c", Every: every, Attempts: tc.attempts, RetryEvery: tc.retry})
			if want := cmpOr(tc.retry, every); sch.Attempts != tc.attempts || sch.RetryEvery != want {
				t.Fatalf("schedule stored as %+v: want %d attempts, retried every %v", sch, tc.attempts, want)
			}
			h.settle(tickers + 1)
			first := h.tick("web-1", every)
			h.stepTo(first, tickers+1)
			last := time.Duration(tc.runs[len(tc.runs)-1]) * time.Second
			for h.clk.Now().Before(first.Add(last)) {
				h.step(5*time.Second, tickers+1)
			}
			var got []int
			for _, at := range a.times("c") {
				got = append(got, int(at.Sub(first)/time.Second))
			}
			if !slices.Equal(got, tc.runs) {
				t.Errorf("runs at %v s after the first, want %v", got, tc.runs)
			}
			var lines []string
			for _, ev := range drain(events) {
				lines = append(lines, eventLine(ev))
			}
			if !slices.Equal(lines, tc.events) {
				t.Errorf("events\n\t%s\nwant\n\t%s", join(lines), join(tc.events))
			}
			stored, err := h.db.Events(time.Time{}, time.Time{}, 0)
			if err != nil || len(stored) != len(tc.events) {
				t.Fatalf("stored events %+v, %v: want %d", stored, err, len(tc.events))
			}
			for i, ev := range stored {
				if line := eventLine(ev); line != tc.events[i] {
					t.Errorf("stored event %d: %s, want %s", i, line, tc.events[i])
				}
			}
		})
	}
}

func cmpOr(d, otherwise time.Duration) time.Duration {
	if d == 0 {
		return otherwise
	}
	return d
}

func join(lines []string) string {
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += "\n\t"
		}
		out += l
	}
	return out
}

// icingaPercent is Icinga 2's computation as its code has it, a ring of
// 20 bits and the index of the oldest, over a sequence of changes (true:
// the result's status differs from the one before): the reference that
// flapPercent must match.
func icingaPercent(changes []bool) float64 {
	var buf [20]bool
	oldest := 0
	var value float64
	for _, c := range changes {
		buf[oldest] = c
		oldest = (oldest + 1) % 20
		sum := 0.0
		for i := range 20 {
			if buf[(oldest+i)%20] {
				sum += 0.8 + 0.02*float64(i)
			}
		}
		value = 100.0 * sum / 20.0
	}
	return value
}

// seq makes a sequence of statuses: runs of n of one status.
func seq(parts ...any) []result.Status {
	var out []result.Status
	for i := 0; i < len(parts); i += 2 {
		for range parts[i].(int) {
			out = append(out, parts[i+1].(result.Status))
		}
	}
	return out
}

// alternate is n results that alternate between ok and critical,
// beginning with critical.
func alternate(n int) []result.Status {
	out := make([]result.Status, n)
	for i := range out {
		out[i] = crit
		if i%2 == 1 {
			out[i] = ok
		}
	}
	return out
}

// TestFlapping: the flap percentage of a sequence of results as Icinga 2
// computes it, and the results that start and end flapping (above the
// start threshold; at or below the end one), each one event, with the
// hard changes in between marked as during flapping.
func TestFlapping(t *testing.T) {
	const every = time.Second
	// Six changes as the newest of 20 results: 0.8·6 + 0.02·(14+...+19)
	// = 6.78, 33.9%; the first result is no change.
	six := append(seq(14, ok), alternate(6)...)
	for _, tc := range []struct {
		name    string
		flap    *Flapping
		script  []result.Status
		percent float64
		started []int // the results (from 0) that start flapping
		ended   []int // that end it
	}{
		{name: "steady", script: seq(25, ok), percent: 0},
		{name: "one-change-newest", script: seq(19, ok, 1, crit), percent: 5.9}, // 1.18 of 20
		{name: "one-change-oldest", script: seq(1, ok, 1, crit, 19, crit), percent: 4},
		{name: "one-change-gone", script: seq(1, ok, 1, crit, 20, crit), percent: 0},
		{name: "five-changes", script: append(seq(15, ok), alternate(5)...), percent: 28.5}, // 5.7 of 20: not above 30
		{name: "sixth-change-starts", script: six, percent: 33.9, started: []int{19}},
		// 14 results without a change take the six to the oldest
		// places: 4.8 + 0.02·(0+...+5) = 5.1, 25.5%, flapping still;
		// the 15th drops one: 4.2, 21%, and ends it.
		{name: "still-flapping-at-25.5", script: append(six, seq(14, ok)...), percent: 25.5, started: []int{19}},
		{name: "ends-at-21", script: append(six, seq(15, ok)...), percent: 21, started: []int{19}, ended: []int{34}},
		{name: "every-result-a-change", script: append(seq(1, ok), alternate(20)...), percent: 99, started: []int{6}}, // 19.8 of 20
		{name: "again-after-the-end", script: append(append(six, seq(15, ok)...), alternate(6)...),
			percent: 33.9, started: []int{19, 40}, ended: []int{34}},
		// Thresholds of this helen: four changes (4.6, 23%) are above
		// 20; it ends at 10 or less: with two changes left in the
		// oldest places (1.62, 8.1%), not three (2.46, 12.3%).
		{name: "own-thresholds", flap: &Flapping{Start: 20, End: 10}, script: append(append(seq(16, ok), alternate(4)...), seq(17, ok)...),
			percent: 12.3, started: []int{19}},
		{name: "own-thresholds-end", flap: &Flapping{Start: 20, End: 10}, script: append(append(seq(16, ok), alternate(4)...), seq(18, ok)...),
			percent: 8.1, started: []int{19}, ended: []int{37}},
		{name: "never", flap: &Flapping{Start: 100, End: 100}, script: append(seq(1, ok), alternate(20)...), percent: 99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var changes []bool
			for i, s := range tc.script {
				changes = append(changes, i > 0 && s != tc.script[i-1])
			}
			if ref := icingaPercent(changes); math.Abs(ref-tc.percent) > 1e-9 {
				t.Fatalf("the table says %v%%, Icinga's computation %v%%", tc.percent, ref)
			}
			h := newHarness(t, Config{Flapping: tc.flap})
			events, unsubscribe := h.m.Subscribe(128)
			defer unsubscribe()
			h.connect("web-1", behavior{Script: map[string][]result.Status{"c": tc.script}})
			h.put(state.Schedule{Name: "s", Check: "c", Every: every})
			h.settle(tickers + 1)
			first := h.tick("web-1", every)
			h.stepTo(first, tickers+1)
			h.steps(len(tc.script)-1, every, tickers+1)
			sts := h.m.Statuses(false)
			if len(sts) != 1 {
				t.Fatalf("statuses %+v", sts)
			}
			st := sts[0].Status
			if math.Abs(st.FlapPercent-tc.percent) > 1e-9 {
				t.Errorf("flap percent %v, want %v", st.FlapPercent, tc.percent)
			}
			if flapping := len(tc.started) > len(tc.ended); st.Flapping != flapping {
				t.Errorf("flapping %v at the end, want %v", st.Flapping, flapping)
			}
			var started, ended []int
			flapping := false
			for _, ev := range drain(events) {
				i := int(ev.Time.Sub(first) / every)
				switch ev.Flap {
				case state.FlapStarted:
					started = append(started, i)
				case state.FlapEnded:
					ended = append(ended, i)
				}
				// A change of status is a hard one here (1 attempt); it
				// notifies, unless during flapping.
				if changes[i] && !ev.HardChange {
					t.Errorf("result %d, a change: not a hard change: %s", i, eventLine(ev))
				}
				want := []string(nil)
				switch {
				case ev.Flap == state.FlapStarted:
					want = []string{state.DecisionFlappingStart}
				case ev.Flap == state.FlapEnded:
					want = []string{state.DecisionFlappingEnd}
				case ev.HardChange && !flapping:
					want = []string{state.DecisionHardChange}
				}
				if ev.Flap != "" {
					flapping = ev.Flap == state.FlapStarted
				}
				if ev.Flapping != flapping {
					t.Errorf("result %d: flapping %v, want %v: %s", i, ev.Flapping, flapping, eventLine(ev))
				}
				if got := ev.Decisions(); !slices.Equal(got, want) {
					t.Errorf("result %d: decisions %v, want %v", i, got, want)
				}
			}
			if !slices.Equal(started, tc.started) || !slices.Equal(ended, tc.ended) {
				t.Errorf("flapping started at results %v and ended at %v; want %v and %v", started, ended, tc.started, tc.ended)
			}
		})
	}
}

// TestFlapPercentIsIcingas: flapPercent of random windows is Icinga 2's
// computation of the same changes.
func TestFlapPercentIsIcingas(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var changes []bool
		var w uint32
		for range 1 + r.IntN(40) {
			c := r.IntN(3) == 0
			changes = append(changes, c)
			w <<= 1
			if c {
				w |= 1
			}
			w &= window
		}
		if got, want := flapPercent(w), icingaPercent(changes); math.Abs(got-want) > 1e-9 {
			t.Fatalf("flapPercent(%020b) = %v, Icinga's %v", w, got, want)
		}
	}
}

// TestRestartKeepsConfirmation: a restart keeps a soft problem's count and
// retry, and the flap window with its flapping: the count goes on, and
// flapping that started before does not start again.
func TestRestartKeepsConfirmation(t *testing.T) {
	const every, retry = time.Minute, 10 * time.Second
	h := newHarness(t, Config{})
	script := []result.Status{ok, crit, crit}
	a := h.connect("web-1", behavior{Script: map[string][]result.Status{"c": script}})
	h.put(state.Schedule{Name: "s", Check: "c", Every: every, Attempts: 3, RetryEvery: retry})
	h.settle(tickers + 1)
	first := h.tick("web-1", every)
	h.stepTo(first, tickers+1)
	h.step(every, tickers+1)
	h.step(retry, tickers+1)
	if n := a.count("c"); n != 3 {
		t.Fatalf("%d runs, want 3", n)
	}
	check := func(when string, typ string, attempt int, window uint32) {
		t.Helper()
		sts, err := h.db.Statuses("web-1")
		if err != nil || len(sts) != 1 {
			t.Fatalf("%s: stored statuses %+v, %v", when, sts, err)
		}
		st := sts[0]
		if st.StateType != typ || st.Attempt != attempt || st.FlapWindow != window || st.Status != "critical" {
			t.Errorf("%s: stored %s %s %d/%d, window %b; want critical %s %d/3, window %b", when, st.Status, st.StateType, st.Attempt, st.MaxAttempts, st.FlapWindow, typ, attempt, window)
		}
	}
	// Written at once, whether the periodic write has come or not: a soft
	// attempt is what a restart must not lose.
	check("soft 2/3", state.Soft, 2, 0b010)
	h.restart(nil)
	check("after the restart", state.Soft, 2, 0b010)
	events, unsubscribe := h.m.Subscribe(8)
	defer unsubscribe()
	b := h.connect("web-1", behavior{Script: map[string][]result.Status{"c": {crit}}})
	h.settle(tickers + 1)
	h.step(retry, tickers+1) // the retry where the last result put it
	if got := b.times("c"); len(got) != 1 || !got[0].Equal(first.Add(every+2*retry)) {
		t.Fatalf("runs after the restart at %v, want one at %v", got, first.Add(every+2*retry))
	}
	if ev := event(t, events, "the hard change"); eventLine(ev) != "critical>critical hard 3/3 hard-from-ok [hard_change]" {
		t.Errorf("event %s, want the third critical's hard change", eventLine(ev))
	}
	check("hard 3/3", state.Hard, 3, 0b0100)
}

// TestRestartKeepsFlapping: a schedule that flaps before a restart flaps
// after it, its window kept: no second start, and it ends when the
// window says.
func TestRestartKeepsFlapping(t *testing.T) {
	const every = time.Second
	h := newHarness(t, Config{})
	events, unsubscribe := h.m.Subscribe(64)
	script := append(seq(1, ok), alternate(6)...)
	h.connect("web-1", behavior{Script: map[string][]result.Status{"c": script}})
	h.put(state.Schedule{Name: "s", Check: "c", Every: every})
	h.settle(tickers + 1)
	h.stepTo(h.tick("web-1", every), tickers+1)
	h.steps(len(script)-1, every, tickers+1)
	evs := drain(events)
	unsubscribe()
	if len(evs) != 7 || evs[6].Flap != state.FlapStarted {
		t.Fatalf("events before the restart: %d, the last %+v; want 7, the last starting flapping", len(evs), evs[len(evs)-1])
	}
	h.restart(nil)
	sts := h.m.Statuses(false)
	if len(sts) != 1 || !sts[0].Flapping || sts[0].FlapWindow != 0b111111 {
		t.Fatalf("statuses after the restart %+v: want flapping, window 111111", sts)
	}
	events, unsubscribe = h.m.Subscribe(64)
	defer unsubscribe()
	// Two more changes, then results without one, until it ends.
	after := append(alternate(2), seq(20, ok)...)
	h.connect("web-1", behavior{Script: map[string][]result.Status{"c": after}})
	h.settle(tickers + 1)
	h.steps(len(after), every, tickers+1)
	var flaps []string
	for _, ev := range drain(events) {
		if ev.Flap != "" {
			flaps = append(flaps, ev.Flap)
		}
	}
	if !slices.Equal(flaps, []string{state.FlapEnded}) {
		t.Errorf("flapping after the restart: %v, want only its end", flaps)
	}
}

// BenchmarkRecord is the cost of recording one result that changes
// nothing on disk: the evaluation of its status, confirmation and flap
// window, under the table's lock.
func BenchmarkRecord(b *testing.B) {
	db, err := state.Open(b.TempDir()+"/helen.db", state.Options{PruneInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	t, err := newStatusTable(db, nil, time.Minute, DefaultFlapping, nil, newMetrics(metricset.New(false)))
	if err != nil {
		b.Fatal(err)
	}
	sch := state.Schedule{Name: "s", Check: "c", Every: time.Minute, Attempts: 3, RetryEvery: time.Minute}
	ctx := b.Context()
	now := epoch
	// A window with changes in it, flapping: the result that follows
	// shifts it and weighs it again.
	for _, s := range append(seq(1, ok), alternate(8)...) {
		now = now.Add(time.Second)
		t.record(ctx, "web-1", sch, result.Doc{Status: s, Message: "m"}, now)
	}
	doc := result.Doc{Status: ok, Message: "m"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Second)
		t.record(ctx, "web-1", sch, doc, now)
	}
}

// BenchmarkEvaluate is evaluate alone, a window full of changes.
func BenchmarkEvaluate(b *testing.B) {
	st := state.Status{Agent: "web-1", Schedule: "s", Status: "ok", StateType: state.Hard, HardStatus: "ok", Attempt: 1, MaxAttempts: 3, FlapWindow: window}
	statuses := []string{"critical", "ok"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		evaluate(&st, false, statuses[i&1], epoch, 3, DefaultFlapping)
		i++
	}
}

// TestFlappingThresholds: a monitor refuses thresholds out of order or
// out of 0 to 100.
func TestFlappingThresholds(t *testing.T) {
	for _, tc := range []struct {
		f  Flapping
		ok bool
	}{
		{DefaultFlapping, true},
		{Flapping{Start: 100, End: 0}, true},
		{Flapping{Start: 20, End: 30}, false},
		{Flapping{Start: 101, End: 25}, false},
		{Flapping{Start: 30, End: -1}, false},
		{Flapping{Start: math.NaN(), End: 25}, false},
	} {
		db, err := state.Open(t.TempDir()+"/helen.db", state.Options{PruneInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(db, Config{Flapping: &tc.f}, metricset.New(false))
		if (err == nil) != tc.ok {
			t.Errorf("New with %+v: %v, want ok %v", tc.f, err, tc.ok)
		}
		db.Close()
	}
}
