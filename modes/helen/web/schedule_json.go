package web

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// ScheduleView is a schedule as the API and the helen commands read and
// write it, with durations as Go durations ("10s", "1m30s"). In a request,
// only Name, Check and Every are needed; an answer has every field, but
// Args when there are none.
type ScheduleView struct {
	Name    string          `json:"name"`
	Check   string          `json:"check"`
	Args    json.RawMessage `json:"args,omitempty"`
	Every   Duration        `json:"every"`
	Timeout Duration        `json:"timeout"`
	Agents  string          `json:"agents"` // a path.Match pattern; default "*"
	// Attempts is how many problems in a row confirm one (default 1),
	// RetryEvery how often it runs meanwhile (default Every).
	Attempts   int       `json:"attempts"`
	RetryEvery Duration  `json:"retry_every"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

// Duration is a time.Duration that is a string in JSON ("10s"). It also
// reads a number, as seconds.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string, or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration: want a string such as \"10s\" or a number of seconds, not %s", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

func viewOf(s state.Schedule) ScheduleView {
	return ScheduleView{
		Name: s.Name, Check: s.Check, Args: s.Args,
		Every: Duration(s.Every), Timeout: Duration(s.Timeout), Agents: s.Agents,
		Attempts: s.Attempts, RetryEvery: Duration(s.RetryEvery),
		Created: s.Created, Updated: s.Updated,
	}
}

func viewsOf(ss []state.Schedule) []ScheduleView {
	out := make([]ScheduleView, len(ss))
	for i, s := range ss {
		out[i] = viewOf(s)
	}
	return out
}

func (v ScheduleView) Schedule() state.Schedule {
	return state.Schedule{
		Name: v.Name, Check: v.Check, Args: v.Args,
		Every: time.Duration(v.Every), Timeout: time.Duration(v.Timeout), Agents: v.Agents,
		Attempts: v.Attempts, RetryEvery: time.Duration(v.RetryEvery),
	}
}
