package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/wire"
)

// The pinger sends equus.ping on an idle connection every ping interval
// and closes the connection after two unanswered in a row. It runs from a
// timer rather than a goroutine of its own, so that an idle session costs
// no stack for it.
type pinger struct {
	mu      sync.Mutex // held while a tick runs
	timer   *time.Timer
	missed  int
	stopped bool
}

func (ss *Session) startPinger() {
	// The lock orders this assignment before the first tick reads it.
	ss.ping.mu.Lock()
	defer ss.ping.mu.Unlock()
	ss.ping.timer = time.AfterFunc(ss.hub.cfg.PingInterval, ss.pingTick)
}

// stopPinger stops the timer and waits for a tick that is running; the
// Session is closed by then, so the tick ends at once.
func (ss *Session) stopPinger() {
	ss.ping.mu.Lock()
	defer ss.ping.mu.Unlock()
	ss.ping.stopped = true
	ss.ping.timer.Stop()
}

func (ss *Session) pingTick() {
	p := &ss.ping
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	every := ss.hub.cfg.PingInterval
	if idle := time.Since(time.Unix(0, ss.lastRead.Load())); idle < every {
		p.missed = 0
		p.timer.Reset(every - idle)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), every)
	_, err := ss.call(ctx, wire.PingCheck, nil)
	cancel()
	switch {
	case err == nil:
		p.missed = 0
	case errors.Is(err, context.DeadlineExceeded):
		p.missed++
		ss.log.Warn("ping unanswered", "in_a_row", p.missed)
		if p.missed >= 2 {
			ss.log.Warn("closing: two pings unanswered")
			ss.close()
			return
		}
	default:
		return
	}
	p.timer.Reset(every)
}
