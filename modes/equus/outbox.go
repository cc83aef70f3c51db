package equus

import (
	"sync"

	"github.com/equus-monitoring/equus/wire"
)

// resultOverhead is what a result's command line and terminators add to
// its name and document, in bytes, at most: "result", a message id of ten
// digits, a length of seven, three spaces and two "\n".
const resultOverhead = 27

// resultSize is the number of bytes m takes on the wire, at most.
func resultSize(m wire.Message) int64 {
	return int64(len(m.Name) + len(m.Blob) + resultOverhead)
}

// outbox holds the results that wait for the session's writer. How long
// they wait is helen's to decide (it reads when it likes), so the outbox is
// where a session would grow without end: past maxMsgs results or
// maxBytes bytes it is full, and the session stops reading checks and
// starting queued ones until the writer has sent enough. TCP then tells
// helen to slow down.
type outbox struct {
	maxMsgs  int
	maxBytes int64

	mu sync.Mutex
	// msgs wait for the writer.
	msgs []wire.Message
	// n and bytes count msgs and the batch the writer is sending: a
	// result counts until it is written.
	n     int
	bytes int64
	// room is closed while the outbox is not full. Filling it puts a new
	// channel in its place, which the writer closes when it has sent
	// enough: waiters select on it.
	room chan struct{}
	// closed reports whether the writer has stopped: later results are
	// dropped.
	closed bool
	// ready wakes the writer when a result comes.
	ready chan struct{}
}

func newOutbox(maxMsgs int, maxBytes int64) *outbox {
	room := make(chan struct{})
	close(room)
	return &outbox{maxMsgs: maxMsgs, maxBytes: maxBytes, room: room, ready: make(chan struct{}, 1)}
}

// fullLocked reports whether the outbox has reached one of its bounds.
func (o *outbox) fullLocked() bool { return o.n >= o.maxMsgs || o.bytes >= o.maxBytes }

// put queues m for the writer and reports whether it did: once the
// writer has stopped, m is dropped. put never waits, and never refuses
// for a full outbox: the bound is kept by those who wait for room before
// they make a result (see waitRoom).
func (o *outbox) put(m wire.Message) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	wasFull := o.fullLocked()
	o.msgs = append(o.msgs, m)
	o.n++
	o.bytes += resultSize(m)
	if !wasFull && o.fullLocked() {
		o.room = make(chan struct{})
	}
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
	return true
}

// roomChan returns a channel that is closed once the outbox is not full,
// at once when it is not full now.
func (o *outbox) roomChan() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.room
}

// counts returns the results held and their bytes.
func (o *outbox) counts() (n int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n, o.bytes
}

// take hands the writer the waiting results, in the order they came,
// swapping in buf (emptied) for the next ones. They still count until
// sent is called for each.
func (o *outbox) take(buf []wire.Message) []wire.Message {
	clear(buf)
	o.mu.Lock()
	defer o.mu.Unlock()
	batch := o.msgs
	o.msgs = buf[:0]
	return batch
}

// sent tells that the writer is done with m, written or not.
func (o *outbox) sent(m wire.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	wasFull := o.fullLocked()
	o.n--
	o.bytes -= resultSize(m)
	if wasFull && !o.fullLocked() {
		close(o.room)
	}
}

// close drops the results still waiting, makes later ones dropped too,
// and returns how many it dropped. Call it once the writer has stopped.
func (o *outbox) close() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0
	}
	o.closed = true
	dropped := len(o.msgs)
	clear(o.msgs)
	o.msgs = nil
	if o.fullLocked() {
		close(o.room)
	}
	o.n, o.bytes = 0, 0
	return dropped
}
