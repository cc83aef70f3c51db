package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/wire"
)

// errSessionClosed ends the calls outstanding on a session that closed.
var errSessionClosed = errors.New("helen: agent connection closed")

// errTooManyChecks refuses a check when every message id is taken.
var errTooManyChecks = errors.New("helen: too many checks outstanding")

// deliver hands a result to the check waiting for it.
func (ss *Session) deliver(m wire.Message) {
	ss.hub.metrics.resultsReceived.Inc()
	c, err := ss.calls.Deliver(m)
	switch {
	case errors.Is(err, wire.ErrNoCall):
		ss.log.Info("dropped a result with no check outstanding", "id", m.ID, "check", m.Name)
		ss.hub.metrics.resultsDropped.Inc()
	case errors.Is(err, wire.ErrNameMismatch):
		ss.log.Warn("dropped a result whose check name does not match", "id", m.ID, "check", m.Name, "sent", c.Name())
		ss.hub.metrics.resultsDropped.Inc()
	default:
		ss.hub.metrics.roundTrip.Update(time.Since(c.Sent()).Seconds())
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
func (ss *Session) begin(ctx context.Context, check string, args []byte) (*wire.Call, error) {
	if len(args) > wire.MaxBlob {
		// The writer would refuse it, and the caller wait in vain.
		return nil, errArgsTooLarge
	}
	c, err := ss.calls.Begin(check)
	if errors.Is(err, wire.ErrTooManyCalls) {
		return nil, errTooManyChecks
	}
	if err != nil {
		return nil, err // errSessionClosed, once closeWith ran
	}
	alone := ss.outstanding.Add(1) == 1
	if err := ss.send(ctx, outMsg{m: wire.Check(check, c.ID(), args)}, alone); err != nil {
		ss.outstanding.Add(-1)
		ss.calls.Forget(c)
		return nil, err
	}
	ss.hub.metrics.checksSent.Inc()
	return c, nil
}

// await waits for the result of a check that begin sent; the check is no
// longer outstanding when it returns, so a later result is dropped as late.
// A wait that ctx ended returns ctx's cause: a deadline that the caller's
// own timer put (context.WithCancelCause) is context.DeadlineExceeded, as
// context.WithTimeout's is.
func (ss *Session) await(ctx context.Context, c *wire.Call) (wire.Message, error) {
	m, err := ss.calls.Await(ctx, c)
	ss.outstanding.Add(-1)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = context.Cause(ctx)
	}
	return m, err
}
