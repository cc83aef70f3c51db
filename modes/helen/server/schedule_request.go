package server

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/equus-monitoring/equus/lua"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// MinRequestEvery is the shortest interval an operator may give a
// schedule: each run is a check sent to every agent the schedule matches.
const MinRequestEvery = time.Second

// errNoCheck is a schedule of a check that no agent of helen has.
var errNoCheck = errors.New("no such check")

// CheckTiming fills in the timeout of a schedule an operator asks for, the
// shorter of monitor.DefaultTimeout and the interval, and refuses an interval
// or a retry interval under MinRequestEvery, a retry interval longer than
// the interval, or a timeout longer than the interval: a run still
// going at the next tick makes the schedule skip it, so it would run less
// often than it says.
//
// These rules, and checkRequest's, are for what operators ask (helen
// schedule add, POST /v1/schedules); checkSchedule's are for every stored
// schedule, so that those stored before and the ones made in process run
// as they are.
func CheckTiming(s *state.Schedule) error {
	if s.Timeout == 0 {
		s.Timeout = min(monitor.DefaultTimeout, s.Every)
	}
	switch {
	case s.Every < MinRequestEvery:
		return fmt.Errorf("schedule %s: interval %v is under the minimum of %v", s.Name, s.Every, MinRequestEvery)
	case s.Timeout > s.Every:
		return fmt.Errorf("schedule %s: timeout %v is longer than the interval %v: a run still going at the next tick would skip it; give a timeout of at most the interval",
			s.Name, s.Timeout, s.Every)
	case s.RetryEvery != 0 && s.RetryEvery < MinRequestEvery:
		return fmt.Errorf("schedule %s: retry interval %v is under the minimum of %v", s.Name, s.RetryEvery, MinRequestEvery)
	case s.RetryEvery > s.Every:
		return fmt.Errorf("schedule %s: retry interval %v is longer than the interval %v: give one of at most the interval", s.Name, s.RetryEvery, s.Every)
	}
	return nil
}

// checkRequest checks a schedule an operator asks for: CheckTiming's rules
// and checkSchedule's, and a check that helen's agents have, one of
// checks (knownChecks).
func checkRequest(s *state.Schedule, checks []string) error {
	if err := CheckTiming(s); err != nil {
		return err
	}
	if err := monitor.CheckSchedule(s); err != nil {
		return err
	}
	if !slices.Contains(checks, s.Check) {
		err := fmt.Errorf("schedule %s: %w %q in the built-in checks, the embedded library and the check bundle", s.Name, errNoCheck, s.Check)
		if near := setup.Nearest(checks, s.Check); near != "" {
			err = fmt.Errorf("%w (nearest: %s)", err, near)
		}
		return err
	}
	return nil
}

// knownChecks returns the checks that agents of a helen with the check
// bundle dir ("" for none) have: the built-in ones, the embedded library
// and the bundle.
func knownChecks(dir string) ([]string, error) {
	names, err := lua.CheckNames(dir)
	if err != nil {
		return nil, fmt.Errorf("check bundle: %w", err)
	}
	return append(wire.Builtins(), names...), nil
}

// AddSchedule stores a schedule an operator asks for (checkRequest) and
// starts it.
func (s *Server) AddSchedule(sch state.Schedule) (state.Schedule, error) {
	checks, err := knownChecks(s.cfg.ChecksDir)
	if err != nil {
		return sch, err
	}
	if err := checkRequest(&sch, checks); err != nil {
		return sch, err
	}
	return s.PutSchedule(sch)
}
