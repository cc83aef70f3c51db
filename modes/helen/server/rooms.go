package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/hub"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// Run sends check to agent with args (a JSON object, or empty) and waits up
// to timeout for the result, which is on disk when Run returns it
// (monitor.Monitor.Run).
func (s *Server) Run(ctx context.Context, agent, check string, args []byte, timeout time.Duration) (result.Doc, error) {
	ss, ok := s.hub.Session(agent)
	if !ok {
		// Another helen of a shared store may hold it (forward.go).
		h, err := s.holder(ctx, agent)
		if err != nil {
			return result.Doc{}, err
		}
		return s.peers.run(ctx, h, agent, check, args, timeout)
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

// A hub session is what the monitor knows of an agent: monitor.Agent.
var _ monitor.Agent = (*hub.Session)(nil)

// ErrNotConnected is returned for a check or a reload sent to an agent
// with no session.
var ErrNotConnected = web.ErrNotConnected

// Reload sends reload to the connected agent name (hub.Hub.Reload), or
// has the helen that holds it do so.
func (s *Server) Reload(ctx context.Context, name string) error {
	if _, ok := s.hub.Session(name); !ok && s.peers != nil {
		h, err := s.holder(ctx, name)
		if err != nil {
			return fmt.Errorf("reload %s: %w", name, err)
		}
		return s.peers.reload(ctx, h, name)
	}
	return s.reloadHere(ctx, name)
}

// reloadHere sends reload to the agent name if this helen holds it.
func (s *Server) reloadHere(ctx context.Context, name string) error {
	err := s.hub.Reload(ctx, name)
	if errors.Is(err, hub.ErrNotConnected) {
		return fmt.Errorf("reload %s: %w", name, ErrNotConnected)
	}
	return err
}

// Hub is the server's link to its agents.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Monitor is the server's monitoring: schedules, statuses, events.
func (s *Server) Monitor() *monitor.Monitor { return s.monitor }
