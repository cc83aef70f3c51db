package shell

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/utils/clock"
)

// The defaults of the agent's bounds of a session (see Config).
const (
	DefaultIdleTimeout = 15 * time.Minute
	DefaultMaxDuration = 8 * time.Hour
	DefaultSessions    = 4
	// Grace is how long a session's processes have between SIGHUP and
	// SIGKILL when the agent ends the session.
	Grace = 2 * time.Second
	// DialTimeout bounds the dial of the shell connection and the write
	// of its hello; helen gives up on a session not joined in 15 s.
	DialTimeout = 10 * time.Second
)

// MaxTerm bounds the TERM a session asks for.
const MaxTerm = 64

// Config is the agent's side of its shell sessions.
type Config struct {
	// Users may be asked for; empty: the agent's own user only.
	Users []string
	// IdleTimeout ends a session with no input and no output for that
	// long, MaxDuration one that lasted that long; helen may ask for less.
	IdleTimeout time.Duration
	MaxDuration time.Duration
	// Sessions bounds the sessions at once.
	Sessions int
	// Grace is the time between SIGHUP and SIGKILL; zero: Grace.
	Grace time.Duration
	// Clock times the idle timeout and the duration; nil: the real one.
	Clock clock.WithTicker
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.Sessions <= 0 {
		c.Sessions = DefaultSessions
	}
	if c.Grace <= 0 {
		c.Grace = Grace
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	return c
}

// Validate reports a bound that cannot be.
func (c Config) Validate() error {
	switch {
	case c.IdleTimeout < 0:
		return fmt.Errorf("--shell-idle-timeout %s: want more than 0", c.IdleTimeout)
	case c.MaxDuration < 0:
		return fmt.Errorf("--shell-max-duration %s: want more than 0", c.MaxDuration)
	case c.Sessions < 0:
		return errors.New("--shell-sessions: want at least 1")
	}
	return nil
}
