package hub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/equus-monitoring/equus/wire"
)

// errSessionClosed ends the calls outstanding on a session that closed.
var errSessionClosed = errors.New("helen: agent connection closed")

// A call is a check waiting for its result.
type call struct {
	id   int32
	name string
	sent time.Time
	ch   chan wire.Message // buffered: one result
}

// deliver hands a result to the check waiting for it.
func (ss *Session) deliver(m wire.Message) {
	ss.hub.metrics.resultsReceived.Inc()
	ss.mu.Lock()
	c, ok := ss.pending[m.ID]
	if ok && c.name == m.Name {
		delete(ss.pending, m.ID)
	}
	ss.mu.Unlock()
	switch {
	case !ok:
		ss.log.Info("dropped a result with no check outstanding", "id", m.ID, "check", m.Name)
		ss.hub.metrics.resultsDropped.Inc()
	case c.name != m.Name:
		ss.log.Warn("dropped a result whose check name does not match", "id", m.ID, "check", m.Name, "sent", c.name)
		ss.hub.metrics.resultsDropped.Inc()
	default:
		ss.hub.metrics.roundTrip.Observe(time.Since(c.sent).Seconds())
		c.ch <- m
	}
}

// nextIDLocked returns the next free message id: a counter from 1 that
// wraps past the largest int32 back to 1 and skips ids outstanding.
func (ss *Session) nextIDLocked() (int32, bool) {
	if len(ss.pending) >= math.MaxInt32-1 {
		return 0, false
	}
	for {
		if ss.next == math.MaxInt32 {
			ss.next = 0
		}
		ss.next++
		if _, busy := ss.pending[ss.next]; !busy {
			return ss.next, true
		}
	}
}

// errArgsTooLarge refuses a check whose args do not fit in a blob.
var errArgsTooLarge = fmt.Errorf("helen: check args over the %d-byte limit of the protocol", wire.MaxBlob)

// call sends a check and waits for its result until ctx ends.
func (ss *Session) call(ctx context.Context, check string, args []byte) (wire.Message, error) {
	c, err := ss.begin(ctx, check, args)
	if err != nil {
		return wire.Message{}, err
	}
	return ss.await(ctx, c)
}

// begin queues a check for the writer under a fresh message id.
func (ss *Session) begin(ctx context.Context, check string, args []byte) (*call, error) {
	if len(args) > wire.MaxBlob {
		// The writer would refuse it, and the caller wait in vain.
		return nil, errArgsTooLarge
	}
	c := &call{name: check, ch: make(chan wire.Message, 1)}
	ss.mu.Lock()
	id, ok := ss.nextIDLocked()
	if ok {
		c.id = id
		ss.pending[id] = c
	}
	ss.mu.Unlock()
	if !ok {
		return nil, errors.New("helen: too many checks outstanding")
	}
	c.sent = time.Now()
	if err := ss.send(ctx, outMsg{m: wire.Check(check, id, args)}); err != nil {
		ss.forget(c)
		return nil, err
	}
	ss.hub.metrics.checksSent.Inc()
	return c, nil
}

// await waits for the result of a check that begin sent.
func (ss *Session) await(ctx context.Context, c *call) (wire.Message, error) {
	defer ss.forget(c)
	select {
	case m := <-c.ch:
		return m, nil
	case <-ctx.Done():
		return wire.Message{}, ctx.Err()
	case <-ss.done:
		return wire.Message{}, errSessionClosed
	}
}

// forget drops c from the outstanding checks; a result for it that comes
// later is dropped as late.
func (ss *Session) forget(c *call) {
	ss.mu.Lock()
	if ss.pending[c.id] == c {
		delete(ss.pending, c.id)
	}
	ss.mu.Unlock()
}
