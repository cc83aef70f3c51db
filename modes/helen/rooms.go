package helen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// Run sends check to agent with args (a JSON object, or empty) and waits up
// to timeout for the result, which is on disk when Run returns it
// (monitor.Monitor.Run).
func (s *Server) Run(ctx context.Context, agent, check string, args []byte, timeout time.Duration) (result.Doc, error) {
	ss, ok := s.session(agent)
	if !ok {
		return result.Doc{}, fmt.Errorf("%w: %s", ErrNotConnected, agent)
	}
	return s.monitor.Run(ctx, ss, check, args, timeout)
}

// AdminToken returns the operators' admin token, and reports whether it
// was created by this start (so that it is printed once).
func (s *Server) AdminToken() (token string, created bool) {
	return s.adminToken, s.tokenCreated
}

// PutSchedule creates or replaces a schedule and starts running it at
// once. It returns the schedule as stored, defaults filled in.
func (s *Server) PutSchedule(sch state.Schedule) (state.Schedule, error) {
	return s.monitor.PutSchedule(sch)
}

// DeleteSchedule stops a schedule and forgets it and its statuses.
func (s *Server) DeleteSchedule(name string) error { return s.monitor.DeleteSchedule(name) }

// Schedules returns the schedules, by name.
func (s *Server) Schedules() []state.Schedule { return s.monitor.Schedules() }

// Statuses returns the status list (monitor.Monitor.Statuses).
func (s *Server) Statuses(unfold bool) []monitor.StatusView { return s.monitor.Statuses(unfold) }

// Subscribe returns a channel of the events from now on
// (monitor.Monitor.Subscribe).
func (s *Server) Subscribe(buf int) (<-chan state.Event, func()) { return s.monitor.Subscribe(buf) }

// The session is what the monitor knows of an agent: monitor.Agent.
var _ monitor.Agent = (*session)(nil)

// Name is the agent's name.
func (ss *session) Name() string { return ss.name }

// Done is closed when the session has ended.
func (ss *session) Done() <-chan struct{} { return ss.done }

// Log is the logger of the session's lines.
func (ss *session) Log() *slog.Logger { return ss.log }

// Check sends a check and waits for its result until ctx ends.
func (ss *session) Check(ctx context.Context, check string, args []byte) (result.Doc, error) {
	start := time.Now()
	m, err := ss.call(ctx, check, args)
	return ss.settle(check, start, m.Blob, err)
}

// settle turns the outcome of a call into a result: the agent's, or status
// unknown for one that did not come in time. The agent's is capped as the
// store keeps it (state.Cap, CapLongOutput), so that the status table, the
// events and the answer of a run hold what is stored, not the megabyte an
// agent may send.
func (ss *session) settle(check string, start time.Time, blob []byte, err error) (result.Doc, error) {
	switch {
	case err == nil:
		doc := result.Parse(blob)
		doc.Message, doc.Metrics = state.Cap(doc.Message, doc.Metrics)
		doc.LongOutput = state.CapLongOutput(doc.LongOutput)
		return doc, nil
	case errors.Is(err, context.DeadlineExceeded):
		return result.Unknownf("no result from %s within %s", ss.name, time.Since(start).Round(time.Millisecond)), nil
	default:
		return result.Doc{}, fmt.Errorf("run %s on %s: %w", check, ss.name, err)
	}
}
