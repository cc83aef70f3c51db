package wire

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// MaxCalls is how many calls a Caller holds outstanding at most: one short
// of the message ids there are, 1 to 2147483647.
const MaxCalls = math.MaxInt32 - 1

// Errors of a Caller.
var (
	// ErrTooManyCalls refuses a call when MaxCalls are outstanding.
	ErrTooManyCalls = errors.New("wire: every message id is taken by a call outstanding")
	// ErrNoCall drops a result whose id has no call outstanding: it came
	// after its call was given up, or for an id never sent.
	ErrNoCall = errors.New("wire: result for no call outstanding")
	// ErrNameMismatch drops a result whose check name is not the one its
	// call sent; the call stays outstanding.
	ErrNameMismatch = errors.New("wire: result's check name does not match its call")
	// ErrClosed is what Close gives the calls when it is given no error.
	ErrClosed = errors.New("wire: caller closed")
)

// Caller keeps the checks one side of a connection has sent and waits for
// their results: it gives each check a message id unique among those
// outstanding, and hands each result to the call of its id and name. It
// does no I/O: the session sends the check Begin numbers, on its own
// writer, and gives Deliver the results its reader reads.
//
// Ids come from a counter starting at 1 that wraps past 2147483647 back to
// 1 and skips the ids outstanding, as the protocol says.
//
// The zero Caller is ready to use. A Caller is safe for concurrent use; it
// must not be copied after first use.
type Caller struct {
	// Now is the clock of Call.Sent; nil means time.Now. Set it before the
	// first Begin.
	Now func() time.Time

	mu      sync.Mutex
	next    int32 // the last id handed out
	maxID   int32 // the largest id; 0 means math.MaxInt32 (tests make it small)
	pending map[int32]*Call
	// closed is made with pending, by the first Begin (or by Close if
	// none came), and never changes after: Await, which follows a Begin,
	// reads it without the lock.
	closed chan struct{}
	err    error // why closed, set before closed is closed
}

// A Call is one check waiting for its result.
type Call struct {
	id   int32
	name string
	sent time.Time
	res  Message       // written before done is closed
	done chan struct{} // closed when res is delivered
}

// ID returns the message id of the check.
func (c *Call) ID() int32 { return c.id }

// Name returns the check's name.
func (c *Call) Name() string { return c.name }

// Sent returns when Begin numbered the check, by the Caller's clock.
func (c *Call) Sent() time.Time { return c.sent }

// Begin numbers a check named name and holds it outstanding. The caller
// then sends Check(c.Name(), c.ID(), args), and calls Forget if it cannot.
// Begin returns ErrTooManyCalls when MaxCalls are outstanding, and the
// error given to Close once the Caller is closed.
func (cl *Caller) Begin(name string) (*Call, error) {
	now := cl.Now
	if now == nil {
		now = time.Now
	}
	// Stamped before the call can be found: Deliver reads it.
	c := &Call{name: name, sent: now(), done: make(chan struct{})}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err != nil {
		return nil, cl.err
	}
	id, ok := cl.nextIDLocked()
	if !ok {
		return nil, ErrTooManyCalls
	}
	if cl.pending == nil {
		cl.pending = map[int32]*Call{}
		cl.closed = make(chan struct{})
	}
	c.id = id
	cl.pending[id] = c
	return c, nil
}

// nextIDLocked returns the next free message id: a counter from 1 that
// wraps past the largest id back to 1 and skips ids outstanding.
func (cl *Caller) nextIDLocked() (int32, bool) {
	maxID := cl.maxID
	if maxID == 0 {
		maxID = math.MaxInt32
	}
	if len(cl.pending) >= int(maxID)-1 {
		return 0, false
	}
	for {
		if cl.next >= maxID {
			cl.next = 0
		}
		cl.next++
		if _, busy := cl.pending[cl.next]; !busy {
			return cl.next, true
		}
	}
}

// Deliver hands the result m to the call outstanding with its id and
// check name, and returns that call. It drops a result with ErrNoCall when
// no call has its id (the returned call is then nil), and with
// ErrNameMismatch when the call of its id sent another check (the call is
// returned, and stays outstanding). The Caller does not look at m.Kind.
func (cl *Caller) Deliver(m Message) (*Call, error) {
	cl.mu.Lock()
	c, ok := cl.pending[m.ID]
	if ok && c.name == m.Name {
		delete(cl.pending, m.ID)
	}
	cl.mu.Unlock()
	switch {
	case !ok:
		return nil, ErrNoCall
	case c.name != m.Name:
		return c, ErrNameMismatch
	}
	// Only this Deliver took c out of pending: no other writes res.
	c.res = m
	close(c.done)
	return c, nil
}

// Await waits for the result of c until it comes, ctx ends (ctx.Err()) or
// the Caller is closed (the error given to Close). Either way c is no
// longer outstanding when Await returns: a result that comes later is
// dropped with ErrNoCall. When a result and the end of the wait come
// together, either may win.
func (cl *Caller) Await(ctx context.Context, c *Call) (Message, error) {
	defer cl.Forget(c)
	select {
	case <-c.done:
		return c.res, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	case <-cl.closed:
		// err was set before closed was closed.
		return Message{}, cl.err
	}
}

// Forget drops c from the calls outstanding, so that a result for it that
// comes later is dropped with ErrNoCall, and its id may be handed out
// again. Forgetting a call no longer outstanding does nothing.
func (cl *Caller) Forget(c *Call) {
	cl.mu.Lock()
	if cl.pending[c.id] == c {
		delete(cl.pending, c.id)
	}
	cl.mu.Unlock()
}

// Close fails every call waiting in Await, and every Begin after it, with
// err (ErrClosed if err is nil). The first Close decides the error; later
// ones do nothing. The calls stay outstanding until their Await or Forget,
// as if the link closed while they waited.
func (cl *Caller) Close(err error) {
	if err == nil {
		err = ErrClosed
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err != nil {
		return
	}
	cl.err = err
	if cl.closed == nil {
		cl.closed = make(chan struct{})
	}
	close(cl.closed)
}
