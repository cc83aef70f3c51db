package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/wire"
	"k8s.io/utils/clock"
)

// The pinger sends equus.ping on an idle connection every ping interval
// and closes the connection after two unanswered in a row. It runs from a
// timer rather than a goroutine of its own, so that an idle session costs
// no stack for it.
//
// The pings are what keeps a live idle agent heard: the monitor declares
// down an agent silent for its down-after (Session.Silence), connection
// open or not, and the ping interval is at most half of that, by default
// a third. Closing is not how an agent is found down, then, but how a
// connection that brings nothing is let go: its resources freed, and the
// agent, if it was only cut off, made to reconnect. With the default
// interval the close comes at four intervals of silence, after the down;
// a shorter interval closes sooner, and the monitor still counts the
// silence from the last message, not from the close.
type pinger struct {
	mu      sync.Mutex // held while a tick runs
	timer   clock.Timer
	missed  int
	stopped bool
}

func (ss *Session) startPinger() {
	// The lock orders this assignment before the first tick reads it.
	ss.ping.mu.Lock()
	defer ss.ping.mu.Unlock()
	ss.ping.arm(ss, ss.hub.cfg.PingInterval)
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
	clk := ss.hub.clock
	if idle := clk.Since(time.Unix(0, ss.lastRead.Load())); idle < every {
		p.missed = 0
		p.arm(ss, every-idle)
		return
	}
	// The ping's wait is on the hub's clock too: a deadline of its own
	// that cancels the call.
	ctx, cancel := context.WithCancelCause(context.Background())
	expire := clk.AfterFunc(every, func() { cancel(context.DeadlineExceeded) })
	_, err := ss.call(ctx, wire.PingCheck, nil)
	expire.Stop()
	cancel(nil)
	switch {
	case err == nil:
		p.missed = 0
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
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
	p.arm(ss, every)
}

// arm sets the next tick of ss's pinger d from now. It makes a timer each
// time rather than resetting one: a fake clock's timer made by AfterFunc
// fires only once. The tick runs on a goroutine of its own, as a fake
// clock calls back with its lock held, which the tick's look at the clock
// would wait for. Call it with p.mu held.
func (p *pinger) arm(ss *Session, d time.Duration) {
	p.timer = ss.hub.clock.AfterFunc(d, func() { go ss.pingTick() })
}
