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
	// writing reports whether a worker or the writer holds the write:
	// one at a time writes to helen. quitting reports whether the writer
	// has been told to stop: it takes the write back from a worker.
	writing, quitting bool
	// ready hands the write on to the writer.
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
	ok, _ := o.add(m, false)
	return ok
}

// putOrWrite is put for a caller that writes m itself when no one holds
// the write: it reports mine then, and the caller, holding the write now,
// writes m and calls letGo. m counts in the outbox until sent, as a
// queued result does.
func (o *outbox) putOrWrite(m wire.Message) (ok, mine bool) {
	return o.add(m, true)
}

func (o *outbox) add(m wire.Message, mayWrite bool) (ok, mine bool) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false, false
	}
	wasFull := o.fullLocked()
	o.n++
	o.bytes += resultSize(m)
	if !wasFull && o.fullLocked() {
		o.room = make(chan struct{})
	}
	if mayWrite && !o.writing && !o.quitting {
		o.writing = true
		o.mu.Unlock()
		return true, true
	}
	o.msgs = append(o.msgs, m)
	hand := !o.writing
	o.writing = true
	o.mu.Unlock()
	if hand {
		o.ready <- struct{}{} // the only hand-off: no one holds the write
	}
	return true, false
}

// letGo is called by a worker that holds the write once it is done: what
// was queued meanwhile, or a writer told to stop, gets the write.
func (o *outbox) letGo() {
	o.mu.Lock()
	hand := len(o.msgs) > 0 || o.quitting
	o.writing = hand
	o.mu.Unlock()
	if hand {
		o.ready <- struct{}{}
	}
}

// idle is called by the writer with nothing left to send: it lets go of
// the write and reports true, unless more came meanwhile.
func (o *outbox) idle() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) > 0 {
		return false
	}
	o.writing = false
	return true
}

// quit tells the outbox the writer is stopping, and reports whether
// another holds the write, which it then hands on to the writer (ready).
func (o *outbox) quit() (held bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.quitting = true
	held = o.writing
	o.writing = true
	return held
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
