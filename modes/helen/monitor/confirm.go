package monitor

import (
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// Flapping says when a schedule flaps on an agent: from the result that
// takes the weighted share of changes among its last state.FlapWindow
// results (flapPercent) above Start percent, until one that takes it to
// End or below.
type Flapping struct{ Start, End float64 }

// DefaultFlapping is Icinga 2's: above 30%, until 25% or less.
var DefaultFlapping = Flapping{Start: 30, End: 25}

// Check reports what is wrong with f: it needs 0 <= End <= Start <= 100.
// A Start of 100 or more is never reached: no schedule flaps.
func (f Flapping) Check() error {
	if !(0 <= f.End && f.End <= f.Start && f.Start <= 100) {
		return fmt.Errorf("flapping thresholds: want 0 <= end (%v) <= start (%v) <= 100", f.End, f.Start)
	}
	return nil
}

// flapPercent is the measure of flapping of Icinga 2
// (Checkable::UpdateFlappingStatus in lib/icinga/checkable-flapping.cpp):
// of the last 20 results, the i-th from the oldest (i from 0) weighs
// 0.8 + 0.02·i when its status differs from the one before it, and the
// sum is a percentage of 20. Summed in Icinga's order, oldest first, so
// that the value is the same to the last bit. window holds the results
// newest in bit 0 (state.Status.FlapWindow).
func flapPercent(window uint32) float64 {
	changes := 0.0
	for i := range state.FlapWindow {
		if window&(1<<(state.FlapWindow-1-i)) != 0 {
			changes += 0.8 + 0.02*float64(i)
		}
	}
	return 100.0 * changes / state.FlapWindow
}

// verdict is what a result made of a status.
type verdict struct {
	first   bool   // the first result of the schedule on the agent
	changed bool   // its status differs from the result's before
	hard    bool   // it changed the confirmed status, from hardFrom
	flap    string // state.FlapStarted, state.FlapEnded or ""
	// moved reports whether the state type, attempt, confirmed status or
	// flapping changed: what a restart must not lose is written at once.
	moved    bool
	hardFrom string
}

// eventful reports whether the result is an event: a first result, a
// change of status, of confirmed status, or of flapping.
func (v verdict) eventful() bool { return v.first || v.changed || v.hard || v.flap != "" }

// window is the bits of state.Status.FlapWindow.
const window = 1<<state.FlapWindow - 1

// evaluate applies a result of status, come at now, to st (a zero Status
// for a schedule's first result on an agent, first true), for a schedule
// of attempts, and says what it made of it.
//
// As in Icinga 2: a problem (warning, critical, unknown) is soft until
// attempts problems in a row, whichever they are, and the status of the
// one that confirms it is the hard one; a hard problem that turns into
// another stays hard, a change of confirmed status; ok is hard at once,
// its first result after a confirmed problem a recovery. A schedule's
// confirmed status before its first result is ok. Flapping is measured
// first, so that the hard change of a result that starts flapping is one
// during flapping.
func evaluate(st *state.Status, first bool, status string, now time.Time, attempts int, fl Flapping) verdict {
	v := verdict{first: first}
	attempts = max(attempts, 1)
	before := *st
	if first {
		st.StateType, st.HardStatus = state.Hard, string(result.OK)
	}
	v.changed = !first && st.Status != status

	var bit uint32
	if v.changed {
		bit = 1
	}
	st.FlapWindow = (st.FlapWindow<<1 | bit) & window
	st.FlapPercent = flapPercent(st.FlapWindow)
	if st.Flapping {
		st.Flapping = st.FlapPercent > fl.End
	} else {
		st.Flapping = st.FlapPercent > fl.Start
	}
	switch {
	case st.Flapping && !before.Flapping:
		v.flap = state.FlapStarted
	case !st.Flapping && before.Flapping:
		v.flap = state.FlapEnded
	}

	st.MaxAttempts = attempts
	switch {
	case status == string(result.OK):
		st.StateType, st.Attempt = state.Hard, 1
	case first || st.Status == string(result.OK):
		st.Attempt = 1
		st.StateType = softUnder(st.Attempt, attempts)
	case st.StateType == state.Soft:
		st.Attempt = min(st.Attempt+1, attempts)
		st.StateType = softUnder(st.Attempt, attempts)
	}
	if st.StateType == state.Hard && st.HardStatus != status {
		v.hard, v.hardFrom = true, st.HardStatus
		st.HardStatus = status
	}

	if first {
		st.Status, st.Since = status, now
	} else if v.changed {
		st.Previous, st.Status, st.Since = st.Status, status, now
	}
	v.moved = st.StateType != before.StateType || st.Attempt != before.Attempt || st.MaxAttempts != before.MaxAttempts ||
		st.HardStatus != before.HardStatus || st.Flapping != before.Flapping
	return v
}

// softUnder is the state type of a problem at attempt of attempts.
func softUnder(attempt, attempts int) string {
	if attempt >= attempts {
		return state.Hard
	}
	return state.Soft
}

// eventOf is the event of a result that v says is one, st the status it
// made.
func eventOf(st *state.Status, v verdict, from string, msg string, now time.Time) state.Event {
	return state.Event{
		Time: now, Agent: st.Agent, Schedule: st.Schedule, Check: st.Check, From: from, To: st.Status, Message: msg,
		StateType: st.StateType, Attempt: st.Attempt, MaxAttempts: st.MaxAttempts,
		HardChange: v.hard, HardFrom: v.hardFrom,
		Flapping: st.Flapping, FlapPercent: st.FlapPercent, Flap: v.flap,
	}
}
