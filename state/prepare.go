package state

import (
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/result"
)

// What another Store (state/pgstore) needs of this package's rules, so
// that the two check and cap alike.

// PrepareResult checks r as AddResult does, and returns it as a store
// keeps it: capped (Cap, CapLongOutput). A bad result is an error
// wrapping ErrInvalid.
func PrepareResult(r Result) (Result, error) {
	switch {
	case !agentname.Valid(r.Agent):
		return r, fmt.Errorf("%w: agent name %q", ErrInvalid, r.Agent)
	case !validName(r.Check):
		return r, fmt.Errorf("%w: check name %q", ErrInvalid, r.Check)
	case r.Schedule != "" && !validName(r.Schedule):
		return r, fmt.Errorf("%w: schedule name %q", ErrInvalid, r.Schedule)
	case !result.Status(r.Status).Valid():
		return r, fmt.Errorf("%w: status %q", ErrInvalid, r.Status)
	case r.Time.Before(time.Unix(0, 0)) || r.Time.After(time.Unix(0, 1<<63-1)):
		// Outside these, UnixNano does not fit in the key.
		return r, fmt.Errorf("%w: time %v", ErrInvalid, r.Time)
	}
	r.Message, r.Metrics = Cap(r.Message, r.Metrics)
	r.LongOutput = CapLongOutput(r.LongOutput)
	return r, nil
}

// ValidName reports whether s can name a check or a schedule.
func ValidName(s string) bool { return validName(s) }

// CheckPoint refuses, with an error wrapping ErrInvalid, a metric of a
// name or value that a graph's series cannot be made of (Feed skips it).
func CheckPoint(name string, v float64) error { return checkPoint(name, v) }

// CheckSeries refuses, with an error wrapping ErrInvalid, names no
// graph's series has (Series, SeriesNames).
func CheckSeries(agent, schedule, metric string) error {
	if err := checkAgent("series", agent); err != nil {
		return err
	}
	if !validName(schedule) {
		return fmt.Errorf("series %s: %w: schedule name %q", agent, ErrInvalid, schedule)
	}
	if err := checkMetricName(metric); err != nil {
		return fmt.Errorf("series %s %s: %w", agent, schedule, err)
	}
	return nil
}
