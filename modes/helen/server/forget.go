package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// Revoke refuses an agent from now on and closes its connection, with an
// event (once: revoking it again changes nothing).
func (s *Server) Revoke(name string) error {
	from := "down"
	if _, ok := s.hub.Session(name); ok {
		from = "up"
	}
	revoked, err := s.db.Revoked(name)
	if err != nil {
		return err
	}
	ev := revokeEvent(name, from, time.Now())
	if err := revokeWith(s.db, ev); err != nil {
		return err
	}
	s.hub.Disconnect(name)
	s.log.Info("agent revoked", "agent", name)
	if !revoked {
		s.monitor.Published(ev)
	}
	return nil
}

// Forget forgets an agent (forget): one revoked, or not connected. The
// sessions' lock keeps it from connecting meanwhile.
func (s *Server) Forget(name string) error {
	if err := agentname.Check(name); err != nil {
		return err
	}
	return s.hub.Hold(func() error {
		revoked, err := s.db.Revoked(name)
		if err != nil {
			return err
		}
		if _, ok := s.hub.Session(name); ok && !revoked {
			return fmt.Errorf("%w: %s is connected; revoke it first (equus helen revoke %s), or stop it", web.ErrConnected, name, name)
		}
		err = s.monitor.Forget(name, forgetEvent(name, revoked, time.Now()))
		if errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("%w: %s", web.ErrUnknownAgent, name)
		}
		if err == nil {
			s.log.Info("agent forgotten", "agent", name)
		}
		return err
	})
}

// forget forgets an agent offline: no helen runs, so it is not
// connected.
func forget(db state.Store, name string) error {
	if err := agentname.Check(name); err != nil {
		return err
	}
	revoked, err := db.Revoked(name)
	if err != nil {
		return err
	}
	now := time.Now()
	err = db.Forget(name, now, forgetEvent(name, revoked, now))
	if errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("%w: %s", web.ErrUnknownAgent, name)
	}
	return err
}

func forgetEvent(name string, revoked bool, now time.Time) state.Event {
	from := "down"
	if revoked {
		from = "revoked"
	}
	return state.Event{Time: now, Agent: name, From: from, To: "forgotten",
		Message: "agent forgotten: its statuses removed, its history kept until pruned"}
}
